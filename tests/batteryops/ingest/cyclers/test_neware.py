"""Neware readers on real exports: the flat CSV, the regular export and the .ndax.

Excerpts of the CSVs are in tests/data/cyclers/neware (SOURCE.md); the whole files and the
binary .ndax are read in place from ../shared/realdata.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batteryops.ingest.cyclers import head, neware
from batteryops.ingest.files import UnusableFile
from batteryops.ingest.records import Records, cycles_from_records
from tests.batteryops.ingest.cyclers import realdata

DATA = Path(__file__).resolve().parents[3] / "data" / "cyclers" / "neware"
REALDATA = realdata.REALDATA
MISC = REALDATA / "formats" / "cellpy" / "misc_cyclers"
FLAT = "neware_uio.csv"
REGULAR = "nw_regular_export_ife_example.csv"
NDAX = "20260302_IFE_BTS85_2_9_8_1.ndax"
# Other cyclers' exports that no Neware reader may claim (read in place when present).
OTHERS = [
    "formats/beep/arbin/FastCharge_000025_CH8.csv",
    "formats/beep/arbin/FastCharge_000025_CH8_Metadata.csv",
    "formats/beep/maccor/xTESLADIAG_000038.078",
    "formats/beep/novonix/test_Nova_Form-CH01-01_short.csv",
    "formats/beep/biologic/test_loopsnewoutput_MB_CE1_short10k.csv",
    "formats/cellpy/misc_cyclers/maccor_001.txt",
    "formats/cellpy/misc_cyclers/pec.csv",
    "formats/cellpy/misc_cyclers/biol.mpr",
    "formats/cellpy/misc_cyclers/20160805_test001_45_cc_01.res",
    "formats/xcel_batterydatahub/arbin_example.csv",
    "formats/xcel_batterydatahub/p492-13-raw.csv",
    "cycling/severson_mit_lfp/batch_values.csv",
]


def _real(name: str) -> Path:
    return realdata.real(name, MISC)


def _claims(path: Path) -> list[str]:
    return [reader.name for reader in neware.READERS if reader.detect(path, head(path))]


def _assert_counters_rise_within_cycles(records: Records) -> None:
    steps = records.frame.groupby("cycle")[["charge_capacity_ah", "discharge_capacity_ah"]].diff()
    assert (steps.fillna(0.0) >= -1e-12).all().all()


def _damaged(source: Path, target: Path, line: int, column: int, value: str) -> Path:
    """A copy of ``source`` with one field of one line (1-based) replaced."""
    lines = source.read_text().splitlines(keepends=True)
    fields = lines[line - 1].rstrip("\n").split(",")
    fields[column] = value
    lines[line - 1] = ",".join(fields) + "\n"
    target.write_text("".join(lines))
    return target


@pytest.fixture(scope="module")
def flat_full() -> Records:
    return neware.read_flat_csv(_real(FLAT))


@pytest.fixture(scope="module")
def regular_full() -> Records:
    return neware.read_regular_csv(_real(REGULAR))


@pytest.fixture(scope="module")
def ndax() -> Records:
    return neware.read_ndax(_real(NDAX))


# --- flat CSV -----------------------------------------------------------------------------------


def test_flat_excerpt_reads_the_rest_at_the_start() -> None:
    records = neware.read_flat_csv(DATA / FLAT)
    frame = records.frame
    assert (records.cell_id, records.source_format) == ("neware_uio", "neware_csv")
    assert len(frame) == 310 and records.quarantined.empty
    assert frame["line"].tolist() == list(range(2, 312))
    np.testing.assert_allclose(frame["test_time_s"], np.arange(310) * 60.0)  # 'hh:mm:ss'
    assert set(frame["cycle"]) == {1} and set(frame["step"]) == {1}
    assert (frame["current_a"] == 0.0).all() and not np.signbit(frame["current_a"]).any()
    assert frame["voltage_v"].iloc[0] == pytest.approx(2.917)
    assert frame["temperature_c"].isna().all()  # the file has no temperature column
    assert records.metadata["start_time"] == "2022-05-18 16:27:52"
    assert records.metadata["columns"]["time"] == "Cumulative Time"


def test_flat_whole_file_cycles_signs_and_capacities(flat_full: Records) -> None:
    frame = flat_full.frame
    assert len(frame) == 9065 and flat_full.quarantined.empty
    assert sorted(frame["cycle"].unique()) == [1, 2, 3, 4]
    # Steps 2, 4, 6, 11 are CC DChg, 8 and 13 CC Chg (a silicon half cell, lithiated first).
    assert (frame.loc[frame["step"].isin([2, 4, 6, 11]), "current_a"] > 0).all()
    assert (frame.loc[frame["step"].isin([8, 13]), "current_a"] < 0).all()
    assert frame["current_a"].abs().max() == pytest.approx(0.000992, rel=1e-3)
    _assert_counters_rise_within_cycles(flat_full)
    cycles = cycles_from_records(flat_full).set_index("cycle")
    # Cycle 1: 4.680 + 0.282 + 0.124 mAh out over three discharge steps, 4.249 mAh in.
    assert cycles.loc[1, "capacity_ah"] == pytest.approx(0.005086, abs=2e-6)
    assert cycles.loc[1, "charge_capacity_ah"] == pytest.approx(0.004249, abs=1e-6)
    # Cycle 3 holds two discharge/charge blocks (steps 2-9 and 11-14): the cycler never
    # advanced its index between them. The larger discharge is the capacity, both the throughput.
    assert cycles.loc[3, "capacity_ah"] == pytest.approx(0.004332, abs=3e-6)
    assert cycles["discharge_throughput_ah"].diff().loc[3] == pytest.approx(
        0.004332 + 0.003642, abs=3e-6
    )
    assert cycles["capacity_ah"].between(0.0033, 0.0080).all()
    assert cycles["temperature_c"].isna().all()


def test_flat_damaged_rows_are_quarantined_with_their_lines(tmp_path: Path) -> None:
    path = _damaged(DATA / FLAT, tmp_path / "neware.csv", line=11, column=7, value="abc")
    path = _damaged(path, path, line=21, column=1, value="x")
    records = neware.read_flat_csv(path)
    assert len(records.frame) == 308
    assert records.quarantined["line"].tolist() == [11, 21]
    reasons = records.quarantined["reason"].tolist()
    assert reasons[0].startswith("line 11: voltage_v (column 'Voltage(V)'): 'abc' is not a number")
    assert "cycle (column 'Cycle Index'): 'x' is not a number" in reasons[1]
    assert records.quarantined.loc[0, "Voltage(V)"] == "abc"
    assert not records.frame["line"].isin([11, 21]).any()


def test_flat_row_of_the_wrong_width_is_quarantined(tmp_path: Path) -> None:
    lines = (DATA / FLAT).read_text().splitlines(keepends=True)
    lines[4] = lines[4].rstrip("\n") + ",surplus\n"
    (tmp_path / "wide.csv").write_text("".join(lines))
    records = neware.read_flat_csv(tmp_path / "wide.csv")
    assert records.quarantined["line"].tolist() == [5]
    assert "row has 27 fields, the header has 26" in records.quarantined.loc[0, "reason"]
    assert len(records.frame) == 309


def _tiny_flat(path: Path, current_header: str, currents: list[str]) -> Path:
    header = (
        f"DataPoint,Cycle Index,Step Index,Step Type,Time,Total Time,{current_header},"
        "Voltage(V),Capacity(mAh)\n"
    )
    rows = [
        f"1,1,1,CC Chg,00:00:00,00:00:00,{currents[0]},3.5,0",
        f"2,1,1,CC Chg,00:00:10,00:00:10,{currents[0]},3.6,500",
        f"3,1,2,CC DChg,00:00:00,00:00:10,{currents[1]},3.4,0",
        f"4,1,2,CC DChg,00:00:10,00:00:20,{currents[1]},3.3,400",
    ]
    path.write_text(header + "\n".join(rows) + "\n")
    return path


def test_flat_units_in_ma_and_mah_become_a_and_ah(tmp_path: Path) -> None:
    records = neware.read_flat_csv(_tiny_flat(tmp_path / "t.csv", "Current(mA)", ["200", "-100"]))
    frame = records.frame
    np.testing.assert_allclose(frame["current_a"], [-0.2, -0.2, 0.1, 0.1])
    np.testing.assert_allclose(frame["charge_capacity_ah"], [0.0, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(frame["discharge_capacity_ah"], [0.0, 0.0, 0.0, 0.4])


def test_flat_unsigned_currents_take_the_step_type_direction(tmp_path: Path) -> None:
    records = neware.read_flat_csv(_tiny_flat(tmp_path / "u.csv", "Current(A)", ["1.5", "1.5"]))
    np.testing.assert_allclose(records.frame["current_a"], [-1.5, -1.5, 1.5, 1.5])


def test_flat_gap_in_the_step_index_does_not_count_a_step_twice(tmp_path: Path) -> None:
    header = "DataPoint,Cycle Index,Step Index,Step Type,Total Time,Current(A),Voltage(V),"
    rows = [
        "1,1,1,CC Chg,0,1.0,3.5,0.0",
        "2,1,,CC Chg,900,1.0,3.6,0.25",  # the step index is missing
        "3,1,1,CC Chg,1800,1.0,3.7,0.5",
    ]
    (tmp_path / "gap.csv").write_text(header + "Capacity(Ah)\n" + "\n".join(rows) + "\n")
    frame = neware.read_flat_csv(tmp_path / "gap.csv").frame
    assert frame["step"].tolist() == [1, -1, 1]
    np.testing.assert_allclose(frame["charge_capacity_ah"], [0.0, 0.25, 0.5])


def test_flat_without_a_voltage_column_is_unusable(tmp_path: Path) -> None:
    text = (DATA / FLAT).read_text().replace("Voltage(V)", "Volts", 1)
    (tmp_path / "novolt.csv").write_text(text)
    with pytest.raises(UnusableFile, match=r"no voltage_v column") as caught:
        neware.read_flat_csv(tmp_path / "novolt.csv")
    assert "Voltage(V)" in caught.value.expected


def test_flat_current_in_an_unknown_unit_is_unusable(tmp_path: Path) -> None:
    path = _tiny_flat(tmp_path / "kw.csv", "Current(kW)", ["1", "1"])
    with pytest.raises(UnusableFile, match=r"unit 'kw' cannot be read as current_a"):
        neware.read_flat_csv(path)


# --- regular export -----------------------------------------------------------------------------


def test_regular_excerpt_reads_the_first_cycle_with_temperature() -> None:
    records = neware.read_regular_csv(DATA / REGULAR)
    frame = records.frame
    assert records.source_format == "neware_regular_csv" and records.quarantined.empty
    assert len(frame) == 368  # 376 lines less 3 header lines, 1 cycle row and 4 step rows
    assert frame["line"].iloc[0] == 5  # line 4 is the first cycle row with its first step row
    assert set(frame["cycle"]) == {1} and sorted(frame["step"].unique()) == [1, 2, 3, 4, 5]
    charging = frame["step"] == 2  # CC Chg at 0.5 A, then 0.474 A
    assert (frame.loc[charging & (frame["current_a"] != 0), "current_a"] < 0).all()
    assert (frame.loc[frame["step"] == 4, "current_a"] > 0).all()  # CC DChg
    _assert_counters_rise_within_cycles(records)
    # The cycle row says: Chg. Cap. 0.02256 Ah, DChg. Cap. 0.33067 Ah.
    assert frame["charge_capacity_ah"].max() == pytest.approx(0.02256, abs=1e-5)
    assert frame["discharge_capacity_ah"].max() == pytest.approx(0.33067, abs=1e-5)
    assert frame["temperature_c"].between(26.5, 27.1).all()
    assert "'T1(?)'" in records.metadata["temperature_unit"]
    assert records.metadata["start_time"] == "2026-03-06 12:37:25"


def test_regular_whole_file_twenty_cycles(regular_full: Records) -> None:
    frame = regular_full.frame
    assert len(frame) == 9295 and regular_full.quarantined.empty
    assert sorted(frame["cycle"].unique()) == list(range(1, 21))
    _assert_counters_rise_within_cycles(regular_full)
    assert (frame.loc[frame["current_a"] < 0, "voltage_v"] > 4.1).mean() > 0.5  # charging high
    cycles = cycles_from_records(regular_full).set_index("cycle")
    # Against the file's own cycle rows (5 decimals): cycle 2 and cycle 20.
    assert cycles.loc[2, "charge_capacity_ah"] == pytest.approx(0.32780, abs=1e-5)
    assert cycles.loc[2, "capacity_ah"] == pytest.approx(0.33172, abs=1e-5)
    assert cycles.loc[20, "capacity_ah"] == pytest.approx(0.26320, abs=1e-5)
    assert cycles["capacity_ah"].between(0.263, 0.332).all()
    assert cycles["temperature_c"].between(26.5, 27.1).all()
    assert frame["test_time_s"].max() == 100543.0  # Total Time 27:55:43


def test_regular_damaged_record_is_quarantined(tmp_path: Path) -> None:
    path = _damaged(DATA / REGULAR, tmp_path / "regular.csv", line=10, column=6, value="abc")
    records = neware.read_regular_csv(path)
    assert records.quarantined["line"].tolist() == [10]
    assert (
        "voltage_v (column 'Voltage(V)'): 'abc' is not a number"
        in (records.quarantined.loc[0, "reason"])
    )
    assert len(records.frame) == 367 and 10 not in set(records.frame["line"])


def test_regular_without_the_step_header_is_unusable(tmp_path: Path) -> None:
    lines = (DATA / REGULAR).read_text().splitlines(keepends=True)
    (tmp_path / "flat.csv").write_text("".join([lines[0], *lines[2:]]))
    with pytest.raises(UnusableFile, match="no cycle, step and record header lines"):
        neware.read_regular_csv(tmp_path / "flat.csv")


# --- .ndax --------------------------------------------------------------------------------------


def test_ndax_formation_charge(ndax: Records) -> None:
    frame = ndax.frame
    assert (ndax.cell_id, ndax.source_format) == ("20260302_IFE_BTS85_2_9_8_1", "neware_ndax")
    assert len(frame) == 252951 and ndax.quarantined.empty
    assert set(frame["cycle"]) == {1}  # one formation charge, never discharged
    assert (frame["current_a"] <= 0).all() and (
        frame.loc[frame["step"] == 5, "current_a"] < 0
    ).all()
    assert frame["voltage_v"].max() == pytest.approx(4.7487, abs=1e-3)
    _assert_counters_rise_within_cycles(ndax)
    cycles = cycles_from_records(ndax)
    # Steps 2-5 charge 0.33 + 0.00001 + 27.85 + 1390.57 mAh; nothing comes out.
    assert cycles.loc[0, "charge_capacity_ah"] == pytest.approx(1.41876, abs=1e-4)
    assert np.isnan(cycles.loc[0, "capacity_ah"])  # nothing comes out
    assert frame["test_time_s"].iloc[-1] == pytest.approx(252946.0)  # step times added up


def test_ndax_temperature_comes_from_the_thermocouple_file(ndax: Records) -> None:
    # NewareNDA's own pairing puts a zero aux voltage in 'T1'; the ChlType-103 file is 25-27 °C.
    assert ndax.frame["temperature_c"].between(25.5, 27.1).all()
    assert ndax.metadata["temperature_source"].startswith("data_AUX_144_3_1.ndc")


def test_ndax_metadata(ndax: Records) -> None:
    metadata = ndax.metadata
    assert metadata["channel"] == "2-0-72"
    assert metadata["start_time"] == "2026-02-27 11:17:33"
    assert metadata["procedure"] == "LNMO-C_Formation_1Ah feb 2026.xml"
    assert metadata["records_with_stored_time"] == 4373
    assert metadata["records_interpolated"] == 252951 - 4373
    assert "nominal_capacity_ah" not in metadata  # only a procedure name mentions 1 Ah


def test_ndax_without_data_is_unusable(tmp_path: Path) -> None:
    path = tmp_path / "empty.ndax"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("TestInfo.xml", "<root><config/></root>")
    assert _claims(path) == ["neware_ndax"]
    with pytest.raises(UnusableFile, match="NewareNDA cannot read it"):
        neware.read_ndax(path)


# --- detection ----------------------------------------------------------------------------------


def test_detect_claims_each_neware_file_with_its_own_reader() -> None:
    assert _claims(DATA / FLAT) == ["neware_csv"]
    assert _claims(DATA / REGULAR) == ["neware_regular_csv"]
    assert neware.SIDECARS == []


def test_detect_claims_the_real_ndax() -> None:
    assert _claims(_real(NDAX)) == ["neware_ndax"]


def test_detect_leaves_other_cyclers_files_alone(tmp_path: Path) -> None:
    local = sorted((DATA.parent / "biologic").glob("*"))
    present = [REALDATA / name for name in OTHERS if (REALDATA / name).is_file()]
    a_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(a_zip, "w") as archive:
        archive.writestr("TestInfo.xml", "<root/>")
    assert len(local) >= 2
    for path in [*local, *present, a_zip]:
        assert _claims(path) == [], path


def test_records_frame_is_in_the_contract_types() -> None:
    frame = neware.read_flat_csv(DATA / FLAT).frame
    assert frame.dtypes["cycle"] == np.int64 and frame.dtypes["line"] == np.int64
    assert pd.api.types.is_float_dtype(frame["temperature_c"])
