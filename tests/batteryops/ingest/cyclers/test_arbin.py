"""Arbin (CSV and .res) and Battery Data Hub readers on real exports (tests/data/cyclers/arbin/
SOURCE.md); the whole files and the binary .res are read in place from ../shared/realdata."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.ingest.cyclers import arbin, head
from batteryops.ingest.files import UnusableFile
from batteryops.ingest.records import CycleSummary, Records, cycles_from_records
from tests.batteryops.ingest.cyclers import realdata

DATA = Path(__file__).resolve().parents[3] / "data" / "cyclers" / "arbin"
REALDATA = realdata.REALDATA
FORMATS = REALDATA / "formats"
MDB_MISSING = "mdb-export (Debian package mdbtools) is not installed: apt-get install -y mdbtools"
needs_mdbtools = pytest.mark.skipif(shutil.which("mdb-export") is None, reason=MDB_MISSING)


def real(relative: str) -> Path:
    """A file under ../shared/realdata/formats, or skip naming the path."""
    return realdata.real(relative, FORMATS)


@functools.cache
def read_res(relative: str) -> Records:
    """A real .res file read once per test session (each takes most of a second)."""
    return arbin.read_arbin_res(real(relative))


def reader_of(path: Path) -> str | None:
    """The name of the first reader of this module that claims the file."""
    head_bytes = head(path)
    return next((r.name for r in arbin.READERS if r.detect(path, head_bytes)), None)


def assert_counters_rise_within_cycles(frame: pd.DataFrame) -> None:
    same_cycle = frame["cycle"].diff().eq(0)
    for column in ("charge_capacity_ah", "discharge_capacity_ah"):
        steps = frame[column].diff()[same_cycle]
        assert (steps >= -1e-9).all(), f"{column} falls within a cycle"


def assert_charge_is_negative(frame: pd.DataFrame) -> None:
    """Current < 0 while the charge counter grows, > 0 while the discharge counter grows."""
    same_cycle = frame["cycle"].diff().eq(0)
    threshold = 1e-3 * frame["current_a"].abs().max()
    charging = same_cycle & (frame["current_a"] < -threshold)
    discharging = same_cycle & (frame["current_a"] > threshold)
    charge_gain = frame["charge_capacity_ah"].diff().where(same_cycle, 0.0)
    discharge_gain = frame["discharge_capacity_ah"].diff().where(same_cycle, 0.0)
    assert charge_gain[charging].sum() > 0.95 * charge_gain.clip(lower=0).sum() > 0
    assert discharge_gain[charging].sum() < 0.01 * charge_gain[charging].sum()
    if discharge_gain.clip(lower=0).sum() > 0:
        assert discharge_gain[discharging].sum() > 0.95 * discharge_gain.clip(lower=0).sum()


def damage(source: Path, target: Path, line: int, column: str, value: str) -> Path:
    """A copy of a CSV with one value replaced (line is 1-based, the header is line 1)."""
    lines = source.read_text().splitlines()
    header = lines[0].split(",")
    fields = lines[line - 1].split(",")
    fields[header.index(column)] = value
    lines[line - 1] = ",".join(fields)
    target.write_text("\n".join(lines) + "\n")
    return target


# --- Arbin CSV ----------------------------------------------------------------------------------


def test_arbin_csv_without_cycle_index_is_rejected_naming_the_column():
    path = DATA / "2017-05-09_test-TC-contact_CH33.csv"
    assert reader_of(path) == "arbin_csv"
    with pytest.raises(
        UnusableFile, match=r"'Cycle_Index' is empty on every row \(287 rows\)"
    ) as e:
        arbin.read_arbin_csv(path)
    assert (e.value.column, e.value.line) == ("Cycle_Index", 2)
    assert "cycle index" in e.value.expected


def test_arbin_csv_rest_with_sidecar_reads_cell_and_metadata():
    records = arbin.read_arbin_csv(DATA / "FastCharge_000025_CH8.csv")
    frame = records.frame
    assert records.cell_id == "EL150800453116"  # the sidecar's Item_ID (the cell barcode)
    assert records.source_format == "arbin_csv"
    assert len(frame) == 248 and records.quarantined.empty
    assert frame["cycle"].unique().tolist() == [0] and frame["step"].unique().tolist() == [0]
    assert (frame["current_a"] == 0).all()  # the 30-minute rest before the first charge
    assert frame["temperature_c"].between(28.98, 30.14).all()
    assert frame["line"].tolist() == list(range(2, 250))
    assert records.metadata["channel"] == 8  # IV_Ch_ID 7, counted from 0; the file says CH8
    assert records.metadata["procedure"].endswith("20170512-4_4C-80PER_4_4C.SDU")
    assert records.metadata["start_time"] == "2017-05-13T03:13:34+00:00"
    assert "nominal_capacity_ah" not in records.metadata  # the files do not state one
    cycles = cycles_from_records(records)
    assert cycles["cycle"].tolist() == [0] and cycles["capacity_ah"].isna().all()  # a rest


def test_arbin_csv_two_cycles_read_whole():
    records = arbin.read_arbin_csv(real("xcel_batterydatahub/arbin_example.csv"))
    frame = records.frame
    assert records.cell_id == "arbin_example"  # no sidecar: the file stem
    assert len(frame) == 2142 and records.quarantined.empty
    assert records.metadata["start_time"] == "2017-07-02T14:39:13+00:00"
    assert frame["temperature_c"].between(28.0, 32.3).all()
    assert frame["current_a"].min() == pytest.approx(-6.642, abs=1e-3)  # 6C fast charge
    assert_charge_is_negative(frame)
    assert_counters_rise_within_cycles(frame)
    cycles = cycles_from_records(records)
    assert cycles["cycle"].tolist() == [1, 2]
    assert cycles["capacity_ah"].to_numpy() == pytest.approx([1.07236, 1.07291], abs=1e-5)
    assert cycles["charge_capacity_ah"].to_numpy() == pytest.approx([1.07190, 1.07253], abs=1e-5)
    assert cycles["discharge_current_a"].to_numpy() == pytest.approx([4.4, 4.4], abs=1e-3)


def test_arbin_csv_excerpt_charge_then_discharge():
    records = arbin.read_arbin_csv(DATA / "arbin_example.csv")
    frame = records.frame
    assert len(frame) == 440 and frame["cycle"].unique().tolist() == [1]
    by_step = frame.groupby("step")["current_a"].median()
    assert by_step[11] == pytest.approx(-0.3464, abs=1e-3)  # Arbin's +1.1 A charge, flipped
    assert by_step[12] == pytest.approx(4.40, abs=1e-2)  # the discharge
    assert_charge_is_negative(frame)
    assert_counters_rise_within_cycles(frame)


def test_arbin_csv_units_in_headers_are_converted(tmp_path):
    path = tmp_path / "mits.csv"
    path.write_text(
        "Data_Point,Test_Time(s),Step_Index,Cycle_Index,Current(mA),Voltage(V),"
        "Charge_Capacity(mAh),Discharge_Capacity(mAh),Aux_Temperature_1(C)\n"
        "1,0,1,1,500,3.5,0,0,25\n"
        "2,60,1,1,500,3.6,8.3,0,25.5\n"
    )
    assert reader_of(path) == "arbin_csv"
    records = arbin.read_arbin_csv(path)
    assert records.frame["current_a"].tolist() == [-0.5, -0.5]
    assert records.frame["charge_capacity_ah"].tolist() == pytest.approx([0.0, 0.0083])
    assert records.frame["temperature_c"].tolist() == [25.0, 25.5]
    assert records.metadata["units"]["current_a"] == "ma"


def test_arbin_csv_without_a_voltage_column_is_rejected(tmp_path):
    path = tmp_path / "no_voltage.csv"
    path.write_text(
        "Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Charge_Capacity\n1,0,1,1,0.1,0\n"
    )
    with pytest.raises(UnusableFile, match="no voltage_v column") as e:
        arbin.read_arbin_csv(path)
    assert e.value.column == "voltage"


# --- damaged rows -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "read", "line", "column", "rows"),
    [
        ("arbin_example.csv", arbin.read_arbin_csv, 10, "Voltage", 440),
        ("p492-13-raw.csv", arbin.read_batterydatahub_raw, 30, "Current_A", 220),
        ("p492-13-summary.csv", arbin.read_batterydatahub_summary, 5, "Q_dis", 100),
    ],
)
def test_a_damaged_value_quarantines_its_row_only(tmp_path, name, read, line, column, rows):
    path = damage(DATA / name, tmp_path / name, line, column, "abc")
    result = read(path)
    assert len(result.frame) == rows - 1
    assert result.quarantined["line"].tolist() == [line]
    reason = result.quarantined["reason"].iloc[0]
    assert (
        reason.startswith(f"line {line}: ")
        and f"(column '{column}'): 'abc' is not a number" in reason
    )
    assert result.quarantined[column].iloc[0] == "abc"  # the row's own values are kept as text
    if isinstance(result, Records):
        assert line not in result.frame["line"].tolist()
    else:
        assert 4 not in result.frame["cycle"].tolist()  # line 5 holds cycle 4


def test_missing_cycle_and_short_row_are_quarantined(tmp_path):
    path = damage(DATA / "arbin_example.csv", tmp_path / "a.csv", 20, "Cycle_Index", "")
    lines = path.read_text().splitlines()
    lines[29] = "29,1.0,2.0"  # line 30: three fields
    path.write_text("\n".join(lines) + "\n")
    records = arbin.read_arbin_csv(path)
    assert records.quarantined["line"].tolist() == [20, 30]
    reasons = records.quarantined["reason"].tolist()
    assert (
        "cycle (column 'Cycle_Index'): missing (expected an integer cycle index >= 0)" in reasons[0]
    )
    assert "row has 3 fields, the header has 15" in reasons[1]
    assert len(records.frame) == 438
    assert records.metadata["rows_read"] == 440 and records.metadata["rows_quarantined"] == 2


def test_a_fractional_cycle_index_is_quarantined(tmp_path):
    path = damage(DATA / "arbin_example.csv", tmp_path / "a.csv", 12, "Cycle_Index", "1.5")
    records = arbin.read_arbin_csv(path)
    assert records.quarantined["line"].tolist() == [12]
    assert "'1.5' is not an integer >= 0" in records.quarantined["reason"].iloc[0]


# --- Arbin .res ---------------------------------------------------------------------------------

RES_FILES = [
    # file, records, cycles, test name, capacity range (Ah) checked against mdb-export's output
    (
        "cellpy/arbin_res_coin_cells/20230221_CLP001_1_02_cc_01.res",
        31070,
        30,
        "20230221_RASUM011_1_02_cc_01-01-026",
        (0.002229, 0.006443),
    ),
    (
        "cellpy/arbin_res_coin_cells/20230221_CLP001_1_03_cc_01.res",
        30927,
        30,
        "20230221_RASUM011_1_03_cc_01-01-027",
        (0.002252, 0.006460),
    ),
    (
        "cellpy/arbin_res_coin_cells/20230221_CLP001_1_04_cc_01.res",
        30206,
        30,
        "20230221_RASUM011_1_04_cc_01-01-028",
        (0.001850, 0.006388),
    ),
    (
        "cellpy/misc_cyclers/20160805_test001_45_cc_01.res",
        10261,
        18,
        "20160805_sic006_45_cc_01-01-003",
        (0.000239, 0.001756),
    ),
]


@needs_mdbtools
@pytest.mark.parametrize(("relative", "size", "cycle_count", "name", "capacity"), RES_FILES)
def test_arbin_res_coin_cells(relative, size, cycle_count, name, capacity):
    assert reader_of(real(relative)) == "arbin_res"
    records = read_res(relative)
    frame = records.frame
    assert records.cell_id == name  # Global_Table's Test_Name, not the file name
    assert len(frame) == size and records.quarantined.empty
    assert frame["line"].tolist() == list(range(1, size + 1))  # Data_Point order
    assert frame["test_time_s"].is_monotonic_increasing  # mdb-export's storage order undone
    assert frame["temperature_c"].isna().all()  # no auxiliary channels
    assert_charge_is_negative(frame)
    assert_counters_rise_within_cycles(frame)
    cycles = cycles_from_records(records)
    assert len(cycles) == cycle_count
    assert cycles["capacity_ah"].min() == pytest.approx(capacity[0], abs=1e-6)
    assert cycles["capacity_ah"].max() == pytest.approx(capacity[1], abs=1e-6)
    assert records.metadata["procedure"].endswith(".sdu")
    assert "nominal_capacity_ah" not in records.metadata  # Global_Table's Capacity is 0


@needs_mdbtools
def test_arbin_res_skipped_cycle_index_is_kept_as_written():
    records = read_res(RES_FILES[0][0])
    cycles = sorted(records.frame["cycle"].unique())
    assert cycles == [1, 2, 3, *range(5, 32)]  # Arbin's index jumps from 3 to 5 in this test
    assert records.metadata["channel"] == 26
    assert records.metadata["start_time"] == "2023-02-21T16:34:50"
    assert records.metadata["mass"] == pytest.approx(0.00428237)


@needs_mdbtools
def test_arbin_res_auxiliary_temperatures_of_a_module():
    records = arbin.read_arbin_res(real("cellpy/misc_cyclers/aux_multi_x.res"))
    frame = records.frame
    assert records.cell_id == "multi_aux"
    assert len(frame) == 3552 and frame["cycle"].unique().tolist() == [1]
    assert (frame["current_a"] == 0).all()  # an hour of rest: nothing to charge or discharge
    assert frame["voltage_v"].between(34.68, 34.74).all()  # a module, not a cell
    assert frame["temperature_c"].notna().all()
    assert frame["temperature_c"].between(25.3, 28.8).all()
    assert frame["temperature_c"].mean() == pytest.approx(26.872, abs=1e-3)
    assert "mean of 8 temperature channel(s)" in records.metadata["temperature_from"]
    assert cycles_from_records(records)["capacity_ah"].isna().all()  # an hour of rest


def test_arbin_res_without_mdbtools_says_how_to_install(tmp_path, monkeypatch):
    path = tmp_path / "x.res"
    path.write_bytes(b"\x00\x01\x00\x00Standard Jet DB\x00" + bytes(100))
    assert reader_of(path) == "arbin_res"
    monkeypatch.setattr(arbin.shutil, "which", lambda name: None)
    with pytest.raises(UnusableFile, match="mdb-tables and mdb-export not installed") as e:
        arbin.read_arbin_res(path)
    assert "apt-get install -y mdbtools" in e.value.expected


@needs_mdbtools
def test_arbin_res_that_is_not_a_database_is_rejected(tmp_path):
    path = tmp_path / "broken.res"
    path.write_bytes(b"\x00\x01\x00\x00Standard Jet DB\x00" + b"\x17" * 5000)
    with pytest.raises(UnusableFile, match="mdb-tables failed"):
        arbin.read_arbin_res(path)


# --- Battery Data Hub ---------------------------------------------------------------------------


def test_batterydatahub_raw_read_whole():
    records = arbin.read_batterydatahub_raw(real("xcel_batterydatahub/p492-13-raw.csv"))
    frame = records.frame
    assert records.cell_id == "p492-13"
    assert len(frame) == 2021 and records.quarantined.empty
    assert frame["temperature_c"].notna().sum() == 1943  # the 78 impedance rows have none
    assert frame["temperature_c"].dropna().between(29.58, 29.98).all()
    assert records.metadata["impedance_rows"] == 78
    assert records.metadata["start_time"] == "2020-01-02T10:37:00"
    labels = records.metadata["cycle_labels"]
    assert (labels["Capacity check"], labels["HPPC"], labels["EIS"]) == ([2], [5], [7])
    assert_charge_is_negative(frame)
    assert_counters_rise_within_cycles(frame)
    cycles = cycles_from_records(records).set_index("cycle")
    assert cycles.index.tolist() == list(range(1, 10))
    assert cycles["capacity_ah"].max() == pytest.approx(0.02173834, abs=1e-8)  # capacity check
    assert cycles.loc[2, "charge_capacity_ah"] == pytest.approx(0.02187029, abs=1e-8)
    assert np.isnan(cycles.loc[3, "capacity_ah"])  # a charge-only cycle
    # Cycle 4 charges twice: the larger charge is its capacity (as the summary's Q_chg says),
    # both are its throughput.
    assert cycles.loc[4, "charge_capacity_ah"] == pytest.approx(0.019642, abs=1e-6)
    assert cycles["charge_throughput_ah"].diff().loc[4] == pytest.approx(0.03076214, abs=1e-8)


def test_batterydatahub_raw_excerpt_first_charge():
    records = arbin.read_batterydatahub_raw(DATA / "p492-13-raw.csv")
    frame = records.frame
    assert len(frame) == 220 and frame["cycle"].unique().tolist() == [1, 2]
    charge = frame[(frame["cycle"] == 2) & (frame["step"] == 10)]
    assert charge["current_a"].median() == pytest.approx(-0.00095, abs=1e-6)  # C/20 charge
    assert charge["voltage_v"].is_monotonic_increasing
    assert_charge_is_negative(frame)
    assert_counters_rise_within_cycles(frame)
    assert cycles_from_records(records)["capacity_ah"].iloc[0] == pytest.approx(0.00071952)


def check_summary(summary: CycleSummary, rows: int) -> pd.DataFrame:
    frame = summary.frame
    assert list(frame.columns) == schema.CYCLE_COLUMNS + [schema.CHARGE_CAPACITY, "line"]
    assert frame["line"].tolist() == list(range(2, rows + 2))  # one header line, in order
    assert frame["cell_id"].unique().tolist() == ["p492-13"]
    assert frame["cycle"].tolist() == list(range(1, rows + 1))
    assert frame["temperature_c"].dropna().between(29.79, 30.08).all()
    assert frame["charge_throughput_ah"].is_monotonic_increasing
    assert frame["discharge_throughput_ah"].is_monotonic_increasing
    assert frame[["charge_c_rate", "resistance_ohm"]].isna().all().all()  # the file states neither
    return frame.set_index("cycle")


def test_batterydatahub_summary_read_whole():
    summary = arbin.read_batterydatahub_summary(real("xcel_batterydatahub/p492-13-summary.csv"))
    frame = check_summary(summary, 267)
    checks = summary.metadata["cycle_labels"]["Capacity check"]
    assert checks == [2, 36, 95, 153, 262]
    assert frame.loc[checks, "capacity_ah"].to_numpy() == pytest.approx(
        [0.02173834, 0.02149, 0.021323, 0.021175, 0.020887], abs=1e-6
    )
    assert frame["capacity_ah"].isna().sum() == 13  # cycles without a discharge
    assert frame["capacity_ah"].min() == pytest.approx(0.00064, abs=1e-6)
    assert frame.loc[267, "charge_throughput_ah"] == pytest.approx(5.20398, abs=1e-5)
    assert frame.loc[267, "discharge_throughput_ah"] == pytest.approx(4.64131, abs=1e-5)
    assert frame.loc[1, "time_s"] == pytest.approx(6359.85)
    assert frame.loc[267, "time_s"] == pytest.approx(4256004.636)


def test_batterydatahub_summary_excerpt_and_raw_agree():
    frame = check_summary(arbin.read_batterydatahub_summary(DATA / "p492-13-summary.csv"), 100)
    raw = cycles_from_records(arbin.read_batterydatahub_raw(DATA / "p492-13-raw.csv"))
    assert frame.loc[1, "capacity_ah"] == pytest.approx(raw["capacity_ah"].iloc[0])
    assert frame.loc[1, "time_s"] == pytest.approx(raw["time_s"].iloc[0])
    assert frame.loc[[2, 36, 95], "capacity_ah"].is_monotonic_decreasing


def test_batterydatahub_summary_repeated_cycle_sets_both_rows_aside(tmp_path):
    path = damage(
        DATA / "p492-13-summary.csv", tmp_path / "p492-13-summary.csv", 4, "Cycle_Index", "2"
    )
    summary = arbin.read_batterydatahub_summary(path)
    assert summary.quarantined["line"].tolist() == [3, 4]
    assert "2 appears on more than one row" in summary.quarantined["reason"].iloc[0]
    assert 2 not in summary.frame["cycle"].tolist() and len(summary.frame) == 98


# --- detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("2017-05-09_test-TC-contact_CH33.csv", "arbin_csv"),
        ("FastCharge_000025_CH8.csv", "arbin_csv"),
        ("arbin_example.csv", "arbin_csv"),
        ("p492-13-raw.csv", "batterydatahub_raw"),
        ("p492-13-summary.csv", "batterydatahub_summary"),
        ("2017-05-09_test-TC-contact_CH33_Metadata.csv", None),
        ("FastCharge_000025_CH8_Metadata.csv", None),
    ],
)
def test_detect_claims_own_files(name, reader):
    path = DATA / name
    assert reader_of(path) == reader
    is_sidecar = any(sidecar(path, head(path)) for sidecar in arbin.SIDECARS)
    assert is_sidecar == name.endswith("_Metadata.csv")


@pytest.mark.parametrize(
    "relative",
    [
        "cellpy/arbin_res_coin_cells/20230221_CLP001_1_03_cc_01.res",
        "cellpy/misc_cyclers/aux_multi_x.res",
    ],
)
def test_detect_claims_res_files(relative):
    assert reader_of(real(relative)) == "arbin_res"


OTHER_FAMILIES = [
    "beep/maccor/xTESLADIAG_000019_CH70.070",
    "beep/novonix/test_Nova_Form-CH01-01_short.csv",
    "beep/novonix/test_Nova_Form-CH01-01_short_metadata.csv",
    "beep/biologic/test_loopsnewoutput_MB_CE1_short10k.csv",
    "beep/indigo/indigo_test_sample.h5",
    "beep/structured/PreDiag_000233_00021F_truncated_structure.json",
    "xcel_batterydatahub/maccor_example.001",
    "cellpy/misc_cyclers/neware_uio.csv",
    "cellpy/misc_cyclers/nw_regular_export_ife_example.csv",
    "cellpy/misc_cyclers/maccor_001.txt",
    "cellpy/misc_cyclers/pec.csv",
    "cellpy/misc_cyclers/biol.mpr",
    "cellpy/misc_cyclers/20260302_IFE_BTS85_2_9_8_1.ndax",
    "../cycling/severson_mit_lfp/batch_values.csv",
    "../cycling/nasa_pcoe/cycle_summary.csv",
]


@pytest.mark.parametrize("relative", OTHER_FAMILIES)
def test_detect_leaves_other_families_alone(relative):
    path = real(relative)
    assert reader_of(path) is None
    assert not any(sidecar(path, head(path)) for sidecar in arbin.SIDECARS)


def test_detect_needs_the_res_suffix_and_the_database_magic(tmp_path):
    jet = b"\x00\x01\x00\x00Standard Jet DB\x00" + bytes(64)
    assert arbin.detect_arbin_res(Path("a.RES"), jet)
    assert not arbin.detect_arbin_res(Path("a.mdb"), jet)  # another Access database
    assert not arbin.detect_arbin_res(Path("a.res"), b"Data_Point,Test_Time\n")
    assert not arbin.detect_arbin_csv(Path("a.csv"), np.zeros(16, np.uint8).tobytes())
