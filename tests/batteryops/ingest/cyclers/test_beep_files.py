"""beep's files (structured JSON summaries, Indigo HDF5), and the Severson per-cycle summary.

The short structured JSON is copied whole into ``tests/data/cyclers/beep_files/`` (18 KB); the
1,612-cycle JSON and the Indigo HDF5 are read in place from ``../shared/realdata`` (skipped when
absent), and tiny files in the same layouts are written by the tests. The Severson et al. 2019
summary (data.matr.io, the source of beep's test cells) is read by the existing per-cycle ingest,
from an excerpt and in place. Sources and licences: ``tests/data/cyclers/beep_files/SOURCE.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import load_params
from batteryops.ingest.cycle_files import read_cycle_file
from batteryops.ingest.cyclers import beep_files, head, identify
from batteryops.ingest.files import UnusableFile
from batteryops.ingest.records import cycles_from_records
from tests.batteryops.ingest.cyclers import realdata
from tests.conftest import ROOT

REALDATA = realdata.REALDATA
BEEP = REALDATA / "formats" / "beep"
DATA = Path(__file__).resolve().parents[3] / "data" / "cyclers" / "beep_files"
SHORT_JSON = DATA / "PredictionDiagnostics_000107_0001B9_structure_short.json"
LONG_JSON = BEEP / "structured" / "PreDiag_000233_00021F_truncated_structure.json"
INDIGO = BEEP / "indigo" / "indigo_test_sample.h5"
SEVERSON_EXCERPT = DATA / "severson_batch_values_excerpt.csv"
SEVERSON = REALDATA / "cycling" / "severson_mit_lfp" / "batch_values.csv"
DIAGNOSTIC_TYPES = ["reset", "hppc", "rpt_0.2C", "rpt_1C", "rpt_2C"]


def _real(path: Path) -> Path:
    return realdata.real(path)


# --- beep structured JSON -----------------------------------------------------------------------


def test_short_structured_json_reads_with_its_diagnostic_cycles() -> None:
    summary = beep_files.read_beep_structured(SHORT_JSON)
    frame = summary.frame
    assert summary.source_format == "beep_structured_json"
    assert summary.quarantined.empty
    # 56 summary cycles (0, 6-35, 41-65) and 15 diagnostic ones (1-5, 36-40, 66-70).
    assert frame[schema.CELL_ID].unique().tolist() == ["0001B9"]
    assert frame[schema.CYCLE].tolist() == list(range(71))
    assert frame["capacity_ah"].min() == pytest.approx(1.8405682695)
    assert frame["capacity_ah"].max() == pytest.approx(4.8746651274)
    assert frame.set_index(schema.CYCLE).loc[0, "capacity_ah"] == pytest.approx(4.7429470283)
    diagnostic = summary.metadata["diagnostic_cycles"]
    assert diagnostic[schema.CYCLE].tolist() == [*range(1, 6), *range(36, 41), *range(66, 71)]
    assert diagnostic["cycle_type"].tolist() == DIAGNOSTIC_TYPES * 3
    assert not diagnostic["in_summary"].any()
    assert summary.metadata["nominal_capacity_ah"] == 4.84
    assert frame["depth_of_discharge"].between(0.38, 1.0).all()
    assert summary.metadata["protocol"] == "PredictionDiagnostics_000107.000"


def test_short_structured_json_says_what_it_lacks() -> None:
    summary = beep_files.read_beep_structured(SHORT_JSON)
    frame = summary.frame
    assert frame["resistance_ohm"].isna().all()  # the file's dc_internal_resistance is 0
    assert frame["temperature_c"].isna().all()
    assert frame[["charge_c_rate", "discharge_c_rate"]].isna().all().all()
    notes = " ".join(summary.metadata["notes"])
    assert "dc_internal_resistance is 0 in 56 rows" in notes and "no temperature" in notes
    # time_s: the next cycle's start, from the first cycle's start; the last cycle has none.
    assert frame["time_s"].iloc[0] == 56681.0  # 2019-10-11 01:14:37 -> 16:59:18
    assert frame["time_s"].iloc[:-1].is_monotonic_increasing and np.isnan(frame["time_s"].iloc[-1])
    throughput = frame["charge_throughput_ah"].to_numpy()
    np.testing.assert_allclose(throughput, frame["charge_capacity_ah"].cumsum())


def test_long_structured_json_reads_1612_cycles() -> None:
    summary = beep_files.read_beep_structured(_real(LONG_JSON))
    frame = summary.frame.set_index(schema.CYCLE)
    assert summary.quarantined.empty
    assert frame.index.tolist() == list(range(1613))  # cycle 1612 is only a diagnostic one
    assert frame.loc[0, "capacity_ah"] == pytest.approx(4.7443021417)
    assert frame["capacity_ah"].min() == pytest.approx(1.9059175962)
    assert frame["capacity_ah"].max() == pytest.approx(4.8368064208)
    diagnostic = summary.metadata["diagnostic_cycles"]
    assert (len(diagnostic), int(diagnostic["in_summary"].sum())) == (82, 81)
    regular = frame.drop(index=diagnostic[schema.CYCLE].astype(int))
    assert regular.loc[1500:1608, "capacity_ah"].between(1.90, 2.00).all()  # fast cycles
    # Cycles 1609 and 1610 are full (4.2 Ah) cycles that diagnostic_summary does not list.
    assert regular.loc[1609:, "capacity_ah"].between(4.2, 4.3).all()
    # Our cumulative charge equals beep's own charge_throughput (it counts every cycle here).
    extras = summary.metadata["cycle_extras"].set_index(schema.CYCLE)
    assert frame.loc[1611, "charge_throughput_ah"] == pytest.approx(
        float(extras.loc[1611, "charge_throughput"]), rel=1e-6
    )
    assert summary.metadata["beep_version"] == "2020.9.29.19"


def _damaged_json(path: Path) -> Path:
    data = json.loads(SHORT_JSON.read_text())
    summary = data["summary"]
    summary["discharge_capacity"][3] = "abc"
    summary["cycle_index"][5] = None
    summary["discharge_capacity"][7] = 0.0
    summary["cycle_index"][9] = summary["cycle_index"][8]  # two rows of one cycle
    path.write_text(json.dumps(data))
    return path


def test_damaged_summary_rows_are_quarantined_with_their_row(tmp_path: Path) -> None:
    summary = beep_files.read_beep_structured(_damaged_json(tmp_path / "damaged.json"))
    quarantined = summary.quarantined
    assert quarantined["line"].tolist() == [4, 6, 8, 9, 10]
    assert quarantined["reason"].tolist()[:3] == [
        "summary row 4: discharge_capacity 'abc' is not a number "
        "(expected a discharge capacity in Ah)",
        "summary row 6: cycle_index None is not an integer >= 0 (expected the cycle's index)",
        "summary row 8: discharge_capacity 0.0 is not > 0 (expected a discharge capacity in Ah)",
    ]
    assert (
        quarantined["reason"]
        .iloc[3]
        .endswith("appears in more than one row (expected one row per cycle)")
    )
    assert len(summary.frame) == 71 - 5
    assert 13 not in summary.frame[schema.CYCLE].tolist()  # both of its rows set aside
    assert summary.frame[schema.CYCLE].is_unique


def test_unusable_structured_json_names_what_is_missing(tmp_path: Path) -> None:
    unstructured = tmp_path / "raw.json"
    unstructured.write_text(json.dumps({"@module": "beep.structure.arbin", "summary": None}))
    with pytest.raises(UnusableFile, match="no 'summary' object"):
        beep_files.read_beep_structured(unstructured)
    uneven = tmp_path / "uneven.json"
    uneven.write_text(json.dumps({"summary": {"cycle_index": [0, 1], "discharge_capacity": [1.0]}}))
    with pytest.raises(UnusableFile, match="differ in length"):
        beep_files.read_beep_structured(uneven)
    no_capacity = tmp_path / "no_capacity.json"
    no_capacity.write_text(json.dumps({"summary": {"cycle_index": [0, 1]}}))
    with pytest.raises(UnusableFile, match=r"no list \['discharge_capacity'\]"):
        beep_files.read_beep_structured(no_capacity)
    broken = tmp_path / "broken.json"
    broken.write_text('{"@module": "beep.structure", "summary": {')
    with pytest.raises(UnusableFile, match="not JSON"):
        beep_files.read_beep_structured(broken)


# --- Indigo HDF5 --------------------------------------------------------------------------------

# cycle, half cycle, time (s), current (A, + charging as Indigo writes it), voltage, counter (C)
TINY_INDIGO = [
    (1, 1, 0.0, -2.0, 4.1, 0.0),
    (1, 1, 1800.0, -2.0, 3.8, -3600.0),
    (1, 1, 3600.0, -2.0, 3.5, -7200.0),
    (1, 1, 3700.0, 0.0, 3.6, 0.0),  # a rest: the counter restarts inside the half cycle
    (1, 1, 5500.0, -2.0, 3.3, -3600.0),
    (1, 2, 6000.0, 2.0, 3.4, 0.0),
    (1, 2, 7800.0, 2.0, np.nan, 3600.0),  # no voltage
    (1, 2, 9600.0, 2.0, 4.1, 7200.0),
    (2, 3, 10000.0, -2.0, 4.0, -1800.0),  # a sampled file: the first row is past 0
    (2, 3, 11800.0, -2.0, 3.4, -5400.0),
    (2, 4, 12000.0, 2.0, 3.5, 1800.0),
    (2, 4, 13800.0, 2.0, 4.0, 5400.0),
]


def _write_indigo(path: Path, rows: list[tuple], drop: str | None = None) -> Path:
    """A pandas "fixed" frame under time_series_data, as Indigo's export and beep's sample."""
    values = np.array(rows, dtype=float)
    ints = {
        "cell_id": np.full(len(rows), 7),
        "cycle_count": values[:, 0].astype(np.int32),
        "half_cycle_count": values[:, 1].astype(np.int32),
    }
    floats = {
        "time_s": values[:, 2],
        "cell_current_a": values[:, 3],
        "cell_voltage_v": values[:, 4],
        "cell_coulomb_count_c": values[:, 5],
        "cell_temperature_c": np.full(len(rows), 25.0),
    }
    blocks = [{k: v for k, v in block.items() if k != drop} for block in (ints, floats)]
    with h5py.File(path, "w") as handle:
        group = handle.create_group("time_series_data")
        group.attrs["pandas_type"] = b"frame"
        group.attrs["nblocks"] = len(blocks)
        group["axis0"] = np.array([name.encode() for block in blocks for name in block])
        group["axis1"] = np.arange(len(rows)) * 10
        for number, block in enumerate(blocks):
            group[f"block{number}_items"] = np.array([name.encode() for name in block])
            group[f"block{number}_values"] = np.column_stack(list(block.values()))
    return path


def test_tiny_indigo_counts_from_its_restarting_counter(tmp_path: Path) -> None:
    records = beep_files.read_indigo(_write_indigo(tmp_path / "tiny.h5", TINY_INDIGO))
    assert records.cell_id == "7"
    frame = records.frame
    assert frame["line"].tolist() == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12]
    assert (frame.loc[frame["step"] % 2 == 0, "current_a"] < 0).all()  # charging
    cycles = cycles_from_records(records).set_index(schema.CYCLE)
    # Cycle 1: 2 Ah out, a restart, 1 Ah more; 2 Ah in. Cycle 2 starts its counters past 0.
    np.testing.assert_allclose(cycles["capacity_ah"], [3.0, 1.5])
    np.testing.assert_allclose(cycles["charge_capacity_ah"], [2.0, 1.5])
    np.testing.assert_allclose(frame["discharge_capacity_ah"].iloc[:5], [0, 1, 2, 2, 3])
    assert records.quarantined["reason"].tolist() == [
        "line 7: cell_voltage_v nan is not a number (expected a voltage in V)"
    ]
    assert "sample" in records.metadata["source_rows"]


def test_indigo_without_a_needed_column_is_unusable(tmp_path: Path) -> None:
    path = _write_indigo(tmp_path / "no_counter.h5", TINY_INDIGO, drop="cell_coulomb_count_c")
    with pytest.raises(UnusableFile, match=r"has no column \['cell_coulomb_count_c'\]"):
        beep_files.read_indigo(path)
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as handle:
        handle.create_group("other")
    with pytest.raises(UnusableFile, match="no readable 'time_series_data' frame"):
        beep_files.read_indigo(empty)


def test_indigo_sample_reads() -> None:
    records = beep_files.read_indigo(_real(INDIGO))
    frame = records.frame
    assert (records.cell_id, len(frame), len(records.quarantined)) == ("452", 20000, 0)
    cycles = cycles_from_records(records).set_index(schema.CYCLE)
    assert cycles.index.tolist() == list(range(1, 85))
    # An ~18.8 Ah cell: 5 A reference cycles and 50 A fast cycles; cycle 1 starts below full.
    assert cycles.loc[1, "capacity_ah"] == pytest.approx(17.43, abs=0.01)
    assert cycles.loc[2:83, "capacity_ah"].between(17.7, 19.0).all()
    # Two discharges under one half-cycle count: the larger is the capacity, both the throughput.
    assert cycles.loc[84, "capacity_ah"] == pytest.approx(18.505, abs=1e-3)
    assert cycles["discharge_throughput_ah"].diff().loc[84] > 30
    assert cycles.loc[1:83, "charge_capacity_ah"].between(18.6, 19.1).all()
    charging = frame["step"] % 2 == 0
    assert frame.loc[charging, "current_a"].median() < -4.9
    assert frame.loc[~charging & (frame["step"] == 1), "current_a"].median() > 4.9
    for column in ("charge_capacity_ah", "discharge_capacity_ah"):
        assert (frame.groupby(schema.CYCLE)[column].diff().dropna() >= -1e-9).all()
    assert frame["temperature_c"].between(32.0, 38.0).all()
    metadata = records.metadata
    assert metadata["start_time"].startswith("2019-10-10T22:26")
    assert metadata["experiments"]["experiment_type"].tolist() == [1, 2] * 4


# --- the Severson et al. summary, through the existing per-cycle ingest -------------------------


def _cycle_params():
    return load_params(ROOT / "params.yaml").cycle_ingest


def test_severson_excerpt_reads_through_the_cycle_ingest() -> None:
    result = read_cycle_file(SEVERSON_EXCERPT, _cycle_params())
    frame = result.frame
    assert result.summary["layout"] == "matr"
    assert frame.groupby(schema.CELL_ID).size().to_dict() == {
        "cell_0": 44,
        "cell_1": 14,
        "cell_18": 11,
    }
    assert result.quarantined["line"].tolist() == [2, 47]  # the cycle-1 rows of zeros
    assert result.quarantined["reason"].str.contains("0 Ah is not a measurement").all()
    cell_0 = frame[frame[schema.CELL_ID] == "cell_0"].set_index(schema.CYCLE)
    assert cell_0.loc[2, "capacity_ah"] == pytest.approx(1.0706892)
    assert cell_0.loc[2, "resistance_ohm"] == pytest.approx(0.016742354)
    assert cell_0.loc[2, "temperature_c"] == pytest.approx(31.875010776448963)
    assert cell_0["time_s"].isna().all()  # chargetime is a duration, not test time


def test_severson_zero_resistance_is_missing() -> None:
    # The MATR layout read IR = 0 (no measurement) as 0 ohm.
    frame = read_cycle_file(SEVERSON_EXCERPT, _cycle_params()).frame
    cell_1 = frame[frame[schema.CELL_ID] == "cell_1"].set_index(schema.CYCLE)
    assert np.isnan(cell_1.loc[12, "resistance_ohm"])


def test_severson_batch_reads_in_place() -> None:
    result = read_cycle_file(_real(SEVERSON), _cycle_params())
    frame = result.frame
    assert frame[schema.CELL_ID].nunique() == 46
    assert (len(frame), len(result.quarantined)) == (38765, 46)
    assert result.summary["quarantine_reasons"] == {"capacity_ah: zero": 46}
    last = frame.groupby(schema.CELL_ID)["capacity_ah"].last()
    # 36 cells end within 0.4 % of the 0.88 Ah end of life, 10 end above 0.91 Ah.
    assert ((last < 0.8835).sum(), (last > 0.91).sum()) == (36, 10)
    assert frame["capacity_ah"].between(0.88, 1.1).mean() > 0.999  # two glitches, 1.54 and 2.88


# --- detection ----------------------------------------------------------------------------------

OTHER_FAMILIES = [
    "cycling/nasa_pcoe/raw_mat/B0025.mat",
    "cycling/nasa_pcoe/cycle_summary.csv",
    "cycling/severson_mit_lfp/batch_values.csv",
    "formats/beep/arbin/FastCharge_000025_CH8.csv",
    "formats/beep/maccor/xTESLADIAG_000038.078",
    "formats/beep/novonix/test_Nova_Form-CH01-01_short.csv",
    "formats/beep/biologic/test_loopsnewoutput_MB_CE1_short10k.csv",
    "formats/cellpy/misc_cyclers/20260302_IFE_BTS85_2_9_8_1.ndax",
    "formats/cellpy/misc_cyclers/biol.mpr",
    "formats/cellpy/arbin_res_coin_cells/20230221_CLP001_1_02_cc_01.res",
    "thermal/samsung_30q/S001/S001_Strain_AllRates.mat",
]


def test_detect_claims_its_own_files(tmp_path: Path) -> None:
    assert beep_files.detect_beep_structured(SHORT_JSON, head(SHORT_JSON))
    assert not beep_files.detect_indigo(SHORT_JSON, head(SHORT_JSON))
    tiny = _write_indigo(tmp_path / "tiny.h5", TINY_INDIGO)
    assert beep_files.detect_indigo(tiny, head(tiny))
    assert not beep_files.detect_beep_structured(tiny, head(tiny))
    other_hdf5 = tmp_path / "other.h5"
    with h5py.File(other_hdf5, "w") as handle:
        handle["x"] = np.arange(3)
    assert not beep_files.detect_indigo(other_hdf5, head(other_hdf5))
    assert not beep_files.detect_beep_structured(SEVERSON_EXCERPT, head(SEVERSON_EXCERPT))
    names = [reader.name for reader in beep_files.READERS]
    assert names == ["beep_structured_json", "indigo_hdf5"]
    assert beep_files.SIDECARS == []


@pytest.mark.parametrize("path", [LONG_JSON, INDIGO], ids=["structured", "indigo"])
def test_detect_claims_the_real_files(path: Path) -> None:
    path = _real(path)
    claims = [reader.name for reader in beep_files.READERS if reader.detect(path, head(path))]
    assert claims == ["beep_structured_json" if path.suffix == ".json" else "indigo_hdf5"]


@pytest.mark.parametrize("relative", OTHER_FAMILIES)
def test_detect_leaves_other_families_alone(relative: str) -> None:
    path = _real(REALDATA / relative)
    sample = head(path)
    assert not beep_files.detect_beep_structured(path, sample)
    assert not beep_files.detect_indigo(path, sample)


def test_frames_keep_the_contract_types() -> None:
    summary = beep_files.read_beep_structured(SHORT_JSON)
    assert summary.frame[schema.CYCLE].dtype == np.int64
    assert list(summary.frame.columns) == [*schema.CYCLE_COLUMNS, schema.CHARGE_CAPACITY, "line"]
    # line: the summary's rows (56), then the diagnostic summary's (57-71).
    lines = summary.frame.set_index(schema.CYCLE)["line"]
    assert (lines[0], lines[6], lines[1], lines[70]) == (1, 2, 57, 71)
    assert isinstance(summary.metadata["cycle_extras"], pd.DataFrame)


def test_the_registry_routes_beep_files_here(tmp_path: Path) -> None:
    assert identify(SHORT_JSON).name == "beep_structured_json"
    assert identify(_write_indigo(tmp_path / "tiny.h5", TINY_INDIGO)).name == "indigo_hdf5"
    assert identify(SEVERSON_EXCERPT) is None  # a per-cycle CSV: the generic cycle ingest's
