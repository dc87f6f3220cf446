"""NASA Ames PCoE readers: the MATLAB file of each cell, and the third-party per-discharge summary.

The 21 ``.mat`` files and the summary are read in place from ``../shared/realdata`` (skipped
when absent); a tiny ``.mat`` in the same struct layout is written by the test with scipy, so the
reader's logic is tested offline too. The summary excerpt in ``tests/data/cyclers/nasa/`` is
described in its ``SOURCE.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io

from batteryops.core import schema
from batteryops.core.config import CycleIngestParams
from batteryops.ingest.cycle_files import ingest_cycle_files, read_cycle_file
from batteryops.ingest.cyclers import head, identify, nasa
from batteryops.ingest.files import UnusableFile
from batteryops.ingest.records import cycles_from_records
from tests.batteryops.ingest.cyclers import realdata

REALDATA = realdata.REALDATA
MAT_DIR = REALDATA / "cycling" / "nasa_pcoe" / "raw_mat"
SUMMARY = REALDATA / "cycling" / "nasa_pcoe" / "cycle_summary.csv"
DATA = Path(__file__).resolve().parents[3] / "data" / "cyclers" / "nasa"
EXCERPT = DATA / "cycle_summary_excerpt.csv"

# Checked by eye against each file: samples kept, samples quarantined (NaN at the end of one
# charge), cycles (discharges, plus one for a charge after the last), discharges, ambient °C, and
# the range of the file's own discharge Capacity (Ah).
MAT_FILES = [
    ("B0025", 104118, 2, 29, 28, (24.0,), (1.768, 1.849)),
    ("B0026", 104118, 2, 29, 28, (24.0,), (1.386, 1.817)),
    ("B0027", 104118, 2, 29, 28, (24.0,), (1.770, 1.823)),
    ("B0028", 104118, 2, 29, 28, (24.0,), (1.717, 1.805)),
    ("B0029", 110487, 0, 41, 40, (43.0,), (1.612, 1.845)),
    ("B0030", 110487, 0, 41, 40, (43.0,), (1.563, 1.782)),
    ("B0031", 110487, 0, 41, 40, (43.0,), (1.667, 1.833)),
    ("B0032", 110487, 0, 41, 40, (43.0,), (1.636, 1.894)),
    ("B0038", 138422, 1, 48, 47, (24.0, 44.0), (0.898, 1.786)),
    ("B0039", 138422, 1, 48, 47, (24.0, 44.0), (0.119, 1.772)),
    ("B0040", 138422, 1, 48, 47, (24.0, 44.0), (0.426, 1.734)),
    ("B0041", 138237, 57, 68, 67, (4.0, 24.0), (0.044, 1.216)),
    ("B0045", 125484, 0, 73, 72, (4.0, 24.0), (0.000, 1.082)),
    ("B0046", 125484, 0, 73, 72, (4.0, 24.0), (0.000, 1.728)),
    ("B0047", 125484, 0, 73, 72, (4.0, 24.0), (0.000, 1.674)),
    ("B0048", 125484, 0, 73, 72, (4.0, 24.0), (0.000, 1.658)),
    ("B0049", 82410, 1, 26, 25, (4.0, 24.0), (0.000, 2.379)),
    ("B0050", 82410, 1, 26, 25, (4.0, 24.0), (0.000, 2.640)),
    ("B0051", 82410, 1, 26, 25, (4.0, 24.0), (0.000, 2.331)),
    ("B0052", 82410, 1, 26, 25, (4.0, 24.0), (0.861, 1.418)),
    ("B0053", 120623, 0, 56, 56, (4.0, 24.0), (0.000, 1.154)),
]


def _real(path: Path) -> Path:
    return realdata.real(path)


# --- a tiny file in the PCoE layout, written here -----------------------------------------------

START = [2009, 2, 13, 0, 0, 0.0]  # the first operation (an EIS)


def _at(seconds: float) -> np.ndarray:
    """A MATLAB date vector ``seconds`` after START (all within one day)."""
    hours, rest = divmod(seconds, 3600)
    return np.array([2009, 2, 13, hours, rest // 60, rest % 60], dtype=float)


def _run(time_s: list, current: list, voltage: list, **extra: object) -> dict:
    """A charge or discharge's data; ``current`` as the file has it (+ while charging)."""
    return {
        "Voltage_measured": np.array(voltage, dtype=object if "abc" in voltage else float),
        "Current_measured": np.array(current, dtype=float),
        "Temperature_measured": np.linspace(25.0, 30.0, len(time_s)),
        "Time": np.array(time_s, dtype=float),
        **extra,
    }


def _write_tiny_mat(path: Path) -> Path:
    """Seven operations: EIS, charge 1 Ah, discharge 2 Ah with a voltage 'abc', a damaged charge
    (a voltage short of one value), a failed EIS (complex Re, 250 ohm Rct), discharge 1 Ah at
    4 °C, a last charge.
    """
    operations = [
        ("impedance", 24, np.array(START), {"Re": 0.05, "Rct": 0.10}),
        ("charge", 24, _at(600), _run([0, 1800, 3600], [1.0] * 3, [3.6, 4.0, 4.2])),
        (
            "discharge",
            24,
            _at(7200),
            _run([0, 900, 1800, 2700, 3600], [-2.0] * 5, [4.1, 3.9, "abc", 3.2, 2.6], Capacity=1.9),
        ),
        ("charge", 24, _at(14400), _run([0, 1800, 3600], [1.0] * 3, [3.6, 4.0])),
        ("impedance", 24, _at(18000), {"Re": 0.05 + 0.01j, "Rct": 250.0}),
        (
            "discharge",
            4,
            _at(19000),
            _run([0, 1800, 3600], [-1.0] * 3, [4.1, 3.6, 3.0], Capacity=np.array([])),
        ),
        ("charge", 4, _at(30000), _run([0, 3600], [0.5, 0.5], [3.7, 4.0])),
    ]
    fields = [("type", "O"), ("ambient_temperature", "O"), ("time", "O"), ("data", "O")]
    array = np.zeros((1, len(operations)), dtype=fields)
    for position, operation in enumerate(operations):
        array[0, position] = operation
    scipy.io.savemat(path, {"B9999": {"cycle": array}})
    return path


@pytest.fixture
def tiny_mat(tmp_path: Path) -> Path:
    return _write_tiny_mat(tmp_path / "B9999.mat")


def test_tiny_file_numbers_cycles_by_discharge(tiny_mat: Path) -> None:
    records = nasa.read_nasa_mat(tiny_mat)
    frame = records.frame
    assert records.cell_id == "B9999"
    assert records.source_format == "nasa_pcoe_mat"
    # Charge (op 2) and discharge (op 3) make cycle 1; op 4 (damaged) and discharge op 6 cycle 2;
    # the charge after the last discharge (op 7) is cycle 3.
    assert frame.groupby("step")[schema.CYCLE].first().to_dict() == {2: 1, 3: 1, 6: 2, 7: 3}
    assert frame["line"].tolist() == [1, 2, 3, 4, 5, 7, 8, 12, 13, 14, 15, 16]
    assert (frame["record"] == frame["line"] - 1).all()
    # Test time from the date vectors: the charge starts 600 s, the discharge 7200 s after the EIS.
    assert frame.loc[frame["step"] == 2, "test_time_s"].tolist() == [600.0, 2400.0, 4200.0]
    assert frame.loc[frame["step"] == 3, "test_time_s"].iloc[0] == 7200.0
    # The file's current is + while charging: here - on charge, + on discharge.
    assert (frame.loc[frame["step"].isin([2, 7]), "current_a"] < 0).all()
    assert (frame.loc[frame["step"].isin([3, 6]), "current_a"] > 0).all()


def test_tiny_file_counts_charge_per_cycle(tiny_mat: Path) -> None:
    records = nasa.read_nasa_mat(tiny_mat)
    cycles = cycles_from_records(records).set_index(schema.CYCLE)
    # 1 A for 1 h in, then 2 A for 1 h out (the 'abc' row set aside does not change a constant
    # current's integral); cycle 2 lost its charge to quarantine; cycle 3 is a 0.5 Ah charge.
    np.testing.assert_allclose(cycles["charge_capacity_ah"], [1.0, np.nan, 0.5])
    np.testing.assert_allclose(cycles["capacity_ah"], [2.0, 1.0, np.nan])
    # Cycle 1's EIS Re lands on its first record after it; cycle 2's Re is complex: none.
    np.testing.assert_allclose(cycles["resistance_ohm"], [0.05, np.nan, np.nan])
    resistance = records.frame["resistance_ohm"]
    assert resistance.notna().sum() == 1 and resistance.iloc[0] == 0.05
    assert cycles["temperature_c"].between(25.0, 30.0).all()
    for column in ("charge_capacity_ah", "discharge_capacity_ah"):
        steps = records.frame.groupby(schema.CYCLE)[column].diff().dropna()
        assert (steps >= -1e-12).all()


def test_tiny_file_ambient_is_each_operations_chamber(tiny_mat: Path) -> None:
    records = nasa.read_nasa_mat(tiny_mat)
    by_step = records.frame.groupby("step")["ambient_c"].agg(["min", "max"])
    assert by_step.to_dict("index") == {
        2: {"min": 24.0, "max": 24.0},
        3: {"min": 24.0, "max": 24.0},
        6: {"min": 4.0, "max": 4.0},
        7: {"min": 4.0, "max": 4.0},
    }
    cycles = cycles_from_records(records)
    # Cycle 2's charge at 24 C was set aside; its discharge ran at 4 C.
    assert cycles["ambient_c"].tolist() == [24.0, 4.0, 4.0]
    assert cycles["temperature_c"].between(25.0, 30.0).all()  # the cells' own, apart


def test_tiny_file_ingests_with_its_chamber(tiny_mat: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ingest_cycle_files(
        [tiny_mat], out / "cycles.parquet", out / "quarantine", CycleIngestParams(), out / "r.pq"
    )
    cycles = pd.read_parquet(out / "cycles.parquet")
    assert list(cycles.columns) == schema.CYCLE_COLUMNS
    # Cycle 3 has no discharge: set aside. Cycles 1 and 2 keep their chambers.
    assert cycles[[schema.CYCLE, "ambient_c"]].values.tolist() == [[1, 24.0], [2, 4.0]]
    assert pd.read_parquet(out / "r.pq")["ambient_c"].notna().all()


def test_tiny_file_quarantines_damaged_samples_and_records(tiny_mat: Path) -> None:
    quarantined = nasa.read_nasa_mat(tiny_mat).quarantined
    assert quarantined["line"].tolist() == [6, 9, 10, 11]
    abc = quarantined.iloc[0]
    assert abc["reason"] == (
        "line 6: cycle(3) discharge, sample 3: Voltage_measured 'abc' is not a number "
        "(expected a voltage in V)"
    )
    assert abc["Voltage_measured"] == "abc" and abc["Time"] == "1800.0"
    damaged = quarantined.iloc[1:]
    assert (damaged["operation"] == "cycle(4) charge").all()
    assert (
        damaged["reason"]
        .str.contains(
            "fields of different lengths .*Voltage_measured 2.*expected one value per sample"
        )
        .all()
    )


def test_tiny_file_metadata_per_cycle(tiny_mat: Path) -> None:
    metadata = nasa.read_nasa_mat(tiny_mat).metadata
    cycles = metadata["cycles"].set_index(schema.CYCLE)
    assert cycles["discharge_operation"].tolist() == [3, 6, -1]
    assert cycles["ambient_temperature_c"].tolist() == [24.0, 4.0, 4.0]
    np.testing.assert_allclose(cycles["capacity_file_ah"], [1.9, np.nan, np.nan])
    np.testing.assert_allclose(cycles["capacity_difference_ah"], [0.1, np.nan, np.nan])
    # Cycle 1's EIS is usable; cycle 2's failed: its Re is complex, its Rct 250 ohm.
    np.testing.assert_allclose(
        cycles[["re_ohm", "rct_ohm"]].iloc[:2], [[0.05, 0.10], [np.nan, np.nan]]
    )
    assert cycles["impedance_count"].tolist() == [1, 1, 0]
    impedance = metadata["impedance"]
    assert impedance["problem"].tolist() == [
        "",
        "Re is complex (0.05+0.01j); Rct 250 ohm is above 1 ohm: a failed fit",
    ]
    assert impedance["test_time_s"].tolist() == [0.0, 18000.0]
    assert metadata["start_time"] == "2009-02-13T00:00:00"
    assert metadata["operations"] == {"impedance": 2, "charge": 3, "discharge": 2}


def test_a_mat_file_without_the_cycle_array_is_unusable(tmp_path: Path) -> None:
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"Strain_1C": np.arange(3.0)})
    with pytest.raises(
        UnusableFile, match="no struct with a field 'cycle' among \\['Strain_1C'\\]"
    ):
        nasa.read_nasa_mat(other)
    text = tmp_path / "B0001.mat"
    text.write_text("not a MATLAB file\n")
    with pytest.raises(UnusableFile, match="cannot read as a MATLAB file"):
        nasa.read_nasa_mat(text)


# --- the real files, read in place --------------------------------------------------------------


def test_b0025_reads_with_its_capacity_and_temperatures() -> None:
    records = nasa.read_nasa_mat(_real(MAT_DIR / "B0025.mat"))
    frame = records.frame
    cycles = cycles_from_records(records)
    complete = cycles[cycles[schema.CYCLE] <= 28]
    # Cycle 29 is the charge after the last discharge: no capacity (ingest sets it aside).
    assert cycles[schema.CYCLE].max() == 29 and np.isnan(cycles["capacity_ah"].iloc[-1])
    assert complete["capacity_ah"].between(1.80, 1.91).all()
    assert complete["capacity_ah"].iloc[0] > complete["capacity_ah"].iloc[-1] + 0.09  # fading
    assert frame["temperature_c"].between(25.0, 42.0).all()
    assert records.metadata["ambient_temperature_c"] == [24.0]
    assert "square wave" in records.metadata["procedure"]
    operations = records.metadata["cycles"]["discharge_operation"]
    charging = ~frame["step"].isin(operations)
    # Charges: 1.5 A CC then CV, negative here; discharges: a 4 A square wave, positive.
    assert frame.loc[charging, "current_a"].quantile(0.05) == pytest.approx(-1.51, abs=0.01)
    assert (frame.loc[charging, "current_a"] > 0.1).mean() < 0.001  # a start-up blip per charge
    assert frame.loc[~charging, "current_a"].quantile(0.9) == pytest.approx(4.03, abs=0.01)
    for column in ("charge_capacity_ah", "discharge_capacity_ah"):
        assert (frame.groupby(schema.CYCLE)[column].diff().dropna() >= -1e-12).all()
    assert records.quarantined["line"].tolist() == [104117, 104120]
    assert records.quarantined["reason"].str.contains("cycle\\(80\\) charge").all()


@pytest.mark.parametrize(
    ("name", "chambers", "cell_median_c", "measured_c"),
    [
        ("B0025", {24.0: 29}, 24.0, (28.0, 29.0)),
        ("B0029", {43.0: 41}, 43.0, (45.5, 46.5)),
        # Its cycle 13 charged at 24 C and discharged at 44 C: a 44 C cycle.
        ("B0038", {24.0: 12, 44.0: 36}, 44.0, (40.5, 41.5)),
        ("B0041", {4.0: 68}, 4.0, (6.0, 6.5)),  # its EIS ran at 24 C: not a cycle's chamber
    ],
)
def test_real_cells_carry_their_chamber_apart_from_their_heating(
    name: str, chambers: dict, cell_median_c: float, measured_c: tuple
) -> None:
    cycles = cycles_from_records(nasa.read_nasa_mat(_real(MAT_DIR / f"{name}.mat")))
    assert cycles["ambient_c"].value_counts().to_dict() == chambers
    assert cycles["ambient_c"].median() == cell_median_c
    # The cells run warmer than their chamber: the mean measured temperature is not it.
    assert measured_c[0] < cycles["temperature_c"].mean() < measured_c[1]


def _capacity_to_2v7(discharge: pd.DataFrame) -> float:
    """The current integrated until (and with) the first sample below 2.7 V, as NASA did."""
    below = np.flatnonzero(discharge["voltage_v"].to_numpy() < 2.7)
    stop = below[0] + 1 if below.size else len(discharge)
    part = discharge.iloc[:stop]
    current, time = part["current_a"].to_numpy(), part["test_time_s"].to_numpy()
    return float(np.sum((current[1:] + current[:-1]) / 2 * np.diff(time)) / 3600.0)


@pytest.mark.parametrize(
    ("name", "kept", "quarantined", "cycles", "discharges", "ambient", "capacity"), MAT_FILES
)
def test_every_mat_file_reads(
    name: str,
    kept: int,
    quarantined: int,
    cycles: int,
    discharges: int,
    ambient: tuple,
    capacity: tuple,
) -> None:
    path = _real(MAT_DIR / f"{name}.mat")
    assert nasa.detect_nasa_mat(path, head(path))
    records = nasa.read_nasa_mat(path)
    assert (records.cell_id, len(records.frame), len(records.quarantined)) == (
        name,
        kept,
        quarantined,
    )
    table = records.metadata["cycles"]
    assert (table[schema.CYCLE].max(), int((table["discharge_operation"] > 0).sum())) == (
        cycles,
        discharges,
    )
    assert tuple(records.metadata["ambient_temperature_c"]) == ambient
    # Every record's chamber is its operation's: the cycle table's (its discharge's, else its
    # last operation's) wherever the cycle has a discharge.
    cycle_ambient = cycles_from_records(records).set_index(schema.CYCLE)["ambient_c"]
    assert cycle_ambient.notna().all()
    with_discharge = table[table["discharge_operation"] > 0]
    np.testing.assert_array_equal(
        cycle_ambient.reindex(with_discharge[schema.CYCLE]),
        with_discharge["ambient_temperature_c"],
    )
    file_capacity = with_discharge["capacity_file_ah"]
    assert file_capacity.min() == pytest.approx(capacity[0], abs=5e-4)
    assert file_capacity.max() == pytest.approx(capacity[1], abs=5e-4)
    # The file's Capacity is the discharge integrated down to 2.7 V: ours agrees within 0.02 mAh.
    frame = records.frame
    for operation, expected in zip(
        with_discharge["discharge_operation"], file_capacity, strict=True
    ):
        if expected > 0:
            counted = _capacity_to_2v7(frame[frame["step"] == operation])
            assert counted == pytest.approx(expected, abs=2e-5)  # 0.02 mAh
    counted = cycles_from_records(records).set_index(schema.CYCLE)["capacity_ah"]
    assert (
        counted.reindex(with_discharge[schema.CYCLE]).fillna(0.0)  # no current: no discharge
        >= file_capacity.fillna(0).to_numpy() - 2e-5
    ).all()


# --- the per-discharge summary ------------------------------------------------------------------


def test_the_per_cycle_ingest_alone_rejects_the_summary() -> None:
    with pytest.raises(UnusableFile, match="no capacity_ah column .*capacity_ahr"):
        read_cycle_file(EXCERPT, CycleIngestParams())


def test_summary_excerpt_reads_with_cycles_renumbered() -> None:
    summary = nasa.read_nasa_summary(EXCERPT)
    frame = summary.frame
    assert summary.source_format == "nasa_pcoe_summary"
    counts = frame.groupby(schema.CELL_ID)[schema.CYCLE].agg(["size", "min", "max"])
    assert counts.to_dict("index") == {
        "B0025": {"size": 28, "min": 1, "max": 28},
        "B0045": {"size": 70, "min": 1, "max": 72},
        "B0052": {"size": 4, "min": 1, "max": 4},
    }
    b0025 = frame[frame[schema.CELL_ID] == "B0025"]
    assert b0025["capacity_ah"].iloc[0] == pytest.approx(1.847011162956716)
    assert b0025["capacity_ah"].between(1.76, 1.85).all()
    extras = summary.metadata["cycles"]
    assert extras.loc[extras[schema.CELL_ID] == "B0025", "cycle_number"].iloc[:3].tolist() == [
        4,
        6,
        8,
    ]
    assert (extras["mean_current_a"] > 0).all()  # + on discharge
    chambers = frame.groupby(schema.CELL_ID)["ambient_c"].agg(["min", "max"])
    assert chambers.to_dict("index") == {
        "B0025": {"min": 24.0, "max": 24.0},
        "B0045": {"min": 4.0, "max": 4.0},
        "B0052": {"min": 4.0, "max": 4.0},
    }
    assert frame["temperature_c"].isna().all()  # the file has no mean cell temperature


def test_summary_excerpt_quarantines_zero_and_missing_capacities() -> None:
    summary = nasa.read_nasa_summary(EXCERPT)
    quarantined = summary.quarantined
    assert quarantined["line"].tolist()[:3] == [49, 95, 106]
    assert len(quarantined) == 2 + 21
    assert quarantined["reason"].iloc[0] == (
        "line 49: capacity_ahr 0 (the file's 0 for a discharge that stopped above 2.7 V; "
        "min_voltage 2.94 V): not a measurement (expected a capacity > 0)"
    )
    assert quarantined["reason"].iloc[2] == (
        "line 106: capacity_ahr: missing (expected a capacity in Ah > 0)"
    )
    assert (
        quarantined["battery_id"].iloc[2] == "B0052" and quarantined["cycle_number"].iloc[2] == "11"
    )
    # A quarantined discharge keeps its number: B0045's cycle_number 51 (0 Ah) is its 20th.
    kept = summary.metadata["cycles"]
    b0045 = kept[kept[schema.CELL_ID] == "B0045"].set_index("cycle_number")[schema.CYCLE]
    assert (b0045.loc[49], b0045.loc[53]) == (19, 21)
    lines = summary.frame.set_index([schema.CELL_ID, schema.CYCLE])["line"]
    assert (lines["B0025", 1], lines["B0045", 21]) == (2, 50)


def test_damaged_summary_rows_are_quarantined(tmp_path: Path) -> None:
    text = EXCERPT.read_text().splitlines()
    text[1] = text[1].replace(",4,", ",four,", 1)  # B0025's first discharge
    text[2] = text[2] + ",extra"
    damaged = tmp_path / "cycle_summary.csv"
    damaged.write_text("\n".join(text) + "\n")
    summary = nasa.read_nasa_summary(damaged)
    first = summary.quarantined.iloc[:2]
    assert first["line"].tolist() == [2, 3]
    assert first["reason"].tolist() == [
        "line 2: cycle_number 'four' is not an integer >= 0 (expected the discharge's index)",
        "line 3: row has 10 fields, the header has 9 (expected one value per column)",
    ]
    b0025 = summary.frame[summary.frame[schema.CELL_ID] == "B0025"]
    assert b0025[schema.CYCLE].tolist() == list(range(1, 27))  # 26 kept, renumbered from 1
    assert len(summary.frame) == 26 + 70 + 4


def test_summary_without_its_columns_is_unusable(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("battery_id,cycle_number,capacity\nB1,1,2.0\n")
    with pytest.raises(UnusableFile, match=r"no column \['capacity_ahr'\]"):
        nasa.read_nasa_summary(other)


def test_real_summary_reads_and_matches_the_mat_files() -> None:
    summary = nasa.read_nasa_summary(_real(SUMMARY))
    frame = summary.frame
    assert frame[schema.CELL_ID].nunique() == 34
    assert (len(frame), len(summary.quarantined)) == (2750, 44)
    reasons = summary.quarantined["reason"]
    assert (
        reasons.str.contains("capacity_ahr 0 ").sum(),
        reasons.str.contains("missing").sum(),
    ) == (
        19,
        25,
    )
    mat = nasa.read_nasa_mat(_real(MAT_DIR / "B0025.mat")).metadata["cycles"]
    mine = mat.set_index(schema.CYCLE)["capacity_file_ah"]
    theirs = frame[frame[schema.CELL_ID] == "B0025"].set_index(schema.CYCLE)["capacity_ah"]
    np.testing.assert_allclose(theirs, mine.reindex(theirs.index), rtol=1e-12)


# --- detection ----------------------------------------------------------------------------------

OTHER_FAMILIES = [
    "thermal/samsung_30q/S001/S001_Strain_AllRates.mat",  # MATLAB too, but not PCoE's layout
    "formats/beep/arbin/FastCharge_000025_CH8.csv",
    "formats/beep/maccor/maccor_test_file_4267-66-6519.041",
    "formats/beep/structured/PreDiag_000233_00021F_truncated_structure.json",
    "formats/beep/indigo/indigo_test_sample.h5",
    "formats/cellpy/misc_cyclers/neware_uio.csv",
    "cycling/severson_mit_lfp/batch_values.csv",
]


def test_detect_claims_its_own_files(tiny_mat: Path) -> None:
    assert nasa.detect_nasa_mat(tiny_mat, head(tiny_mat))
    assert nasa.detect_nasa_summary(EXCERPT, head(EXCERPT))
    assert not nasa.detect_nasa_mat(EXCERPT, head(EXCERPT))
    assert not nasa.detect_nasa_summary(tiny_mat, head(tiny_mat))
    assert [reader.name for reader in nasa.READERS] == ["nasa_pcoe_mat", "nasa_pcoe_summary"]
    assert [nasa.is_nasa_readme] == nasa.SIDECARS


def test_readme_is_a_sidecar() -> None:
    readme = _real(MAT_DIR / "2._BatteryAgingARC_25_26_27_28_P1__README.txt")
    assert nasa.is_nasa_readme(readme, head(readme))
    assert not nasa.detect_nasa_mat(readme, head(readme))
    assert not nasa.is_nasa_readme(EXCERPT, head(EXCERPT))


@pytest.mark.parametrize("relative", OTHER_FAMILIES)
def test_detect_leaves_other_families_alone(relative: str) -> None:
    path = _real(REALDATA / relative)
    sample = head(path)
    assert not nasa.detect_nasa_mat(path, sample)
    assert not nasa.detect_nasa_summary(path, sample)
    assert not nasa.is_nasa_readme(path, sample)


def test_the_registry_routes_nasa_files_here(tiny_mat: Path) -> None:
    assert identify(tiny_mat).name == "nasa_pcoe_mat"
    assert identify(EXCERPT).name == "nasa_pcoe_summary"
    readme = _real(MAT_DIR / "3._BatteryAgingARC_25-44__README_41_42_43_44.txt")
    assert identify(readme) == "sidecar"


def test_a_cell_with_its_records_is_read_from_them_and_the_summary_keeps_the_others(
    tiny_mat: Path, tmp_path: Path
) -> None:
    # The summary holds the .mat's cell (as B9999) and another cell: without a rule both
    # versions of B9999 clashed on every cycle and all of them were quarantined.
    excerpt = pd.read_csv(EXCERPT)
    mine = excerpt[excerpt["battery_id"] == "B0025"].head(3).assign(battery_id="B9999")
    other = excerpt[excerpt["battery_id"] == "B0045"].head(4)
    summary = tmp_path / "cycle_summary.csv"
    pd.concat([mine, other]).to_csv(summary, index=False)
    out = tmp_path / "out"
    report = ingest_cycle_files(
        [tiny_mat, summary], out / "cycles.parquet", out / "quarantine", CycleIngestParams()
    )
    cycles = pd.read_parquet(out / "cycles.parquet")
    alone = _alone(tiny_mat)
    mat_rows = cycles[cycles[schema.CELL_ID] == "B9999"].reset_index(drop=True)
    pd.testing.assert_frame_equal(mat_rows, alone, check_dtype=False)
    assert (cycles[schema.CELL_ID] == "B0045").sum() == len(other) - int(
        (other["capacity_ahr"].fillna(0) <= 0).sum()
    )
    assert report["conflicting_keys"] == []
    set_aside = pd.read_csv(out / "quarantine" / "cycle_summary.cycles.csv")
    superseded = set_aside[set_aside["reason"].str.contains("B9999.mat, which holds its records")]
    assert len(superseded) == 3
    assert report["quarantine_reasons"]["cell's records read from another file"] == 3


def _alone(path: Path) -> pd.DataFrame:
    """The .mat file's cycles ingested alone."""
    out = path.parent / "alone"
    ingest_cycle_files([path], out / "cycles.parquet", out / "quarantine", CycleIngestParams())
    return pd.read_parquet(out / "cycles.parquet")
