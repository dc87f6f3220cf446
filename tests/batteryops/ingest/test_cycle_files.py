"""batteryops.ingest.cycle_files: cycler exports built here, in each layout, and what comes out."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from batteryops.core import schema
from batteryops.core.config import CycleIngestParams
from batteryops.ingest import cycle_files
from batteryops.ingest.cycle_files import check_cycle_order, read_cycle_file
from batteryops.ingest.files import UnusableFile
from batteryops.mlops import validation
from tests.conftest import ROOT

PARAMS = CycleIngestParams()
GENERIC_HEADER = (
    "Battery,Cycle Number,Discharge Capacity (mAh),DCIR (mOhm),Temperature [K],DoD (%),"
    "Test Time (h),Charge Capacity (mAh),Operator"
)
GENERIC_ROWS = [
    "A1,1,2500,25,298.15,80,1.5,2510,kim",
    "A1,2,2490,25.5,299.15,80,3,2500,kim",
    "A1,3,2480,26,300.15,80,4.5,2490,kim",
]
MATR_HEADER = "cycle,QDischarge,QCharge,IR,Tmax,Tavg,Tmin,chargetime"
MATR_ROWS = [
    "0,0,0,0,0,0,0,0",  # the cycle-0 artefact of the MATR summaries
    "1,1.0707,1.0801,0.016744,35.1,31.2,29.9,13.34",
    "2,1.0712,1.0723,0.016732,35.0,31.0,29.8,13.34",
    "3,1.0708,1.0719,0.016705,34.9,31.1,29.7,13.35",
]


def _write(path: Path, lines: list[str], newline: str = "\n", encoding: str = "utf-8") -> Path:
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def _run(tmp_path: Path, *files: Path, params: CycleIngestParams = PARAMS):
    out = tmp_path / "out" / "cycles.parquet"
    summary = cycle_files.ingest_cycle_files(list(files), out, tmp_path / "quarantine", params)
    return pd.read_parquet(out), summary


def _column(frame: pd.DataFrame, name: str) -> list[float]:
    return frame[name].tolist()


# --- layouts and units --------------------------------------------------------------------------


def test_generic_csv_units_are_converted(tmp_path) -> None:
    path = _write(tmp_path / "fleet.csv", [GENERIC_HEADER, *GENERIC_ROWS])
    result = read_cycle_file(path, PARAMS)
    frame = result.frame
    assert list(frame.columns) == schema.CYCLE_COLUMNS
    assert frame[schema.CELL_ID].tolist() == ["A1"] * 3
    assert frame[schema.CYCLE].dtype == np.int64 and _column(frame, "cycle") == [1, 2, 3]
    np.testing.assert_allclose(frame["capacity_ah"], [2.50, 2.49, 2.48])
    np.testing.assert_allclose(frame["resistance_ohm"], [0.025, 0.0255, 0.026])
    np.testing.assert_allclose(frame["temperature_c"], [25.0, 26.0, 27.0])
    np.testing.assert_allclose(frame["depth_of_discharge"], [0.8] * 3)
    np.testing.assert_allclose(frame["time_s"], [5400.0, 10800.0, 16200.0])
    # No throughput columns: cumulative sums of the per-cycle charge and discharge capacities.
    np.testing.assert_allclose(frame["charge_throughput_ah"], [2.51, 5.01, 7.50])
    np.testing.assert_allclose(frame["discharge_throughput_ah"], [2.50, 4.99, 7.47])
    assert frame[["charge_c_rate", "discharge_c_rate"]].isna().all().all()
    summary = result.summary
    assert summary["layout"] == "generic"
    assert summary["cell_id_from"] == "column 'Battery'"
    assert summary["unmapped_columns"] == ["Operator"]
    assert summary["unit_conversions"]["Discharge Capacity (mAh)"].startswith("mah -> capacity_ah")
    assert set(summary["unit_conversions"]) == {
        "Discharge Capacity (mAh)",
        "DCIR (mOhm)",
        "Temperature [K]",
        "DoD (%)",
        "Test Time (h)",
        "Charge Capacity (mAh)",
    }
    assert set(summary["derived"]) == {"charge_throughput_ah", "discharge_throughput_ah"}
    assert (summary["rows_read"], summary["rows_kept"], summary["rows_quarantined"]) == (3, 3, 0)
    assert result.quarantined.empty


def test_semicolon_decimal_comma_underscore_units_and_percent_by_value(tmp_path) -> None:
    lines = [
        "sep=;",
        "cell_id;cycle_index;capacity_Ah;IR [mΩ];Temp (°F);dod;elapsed_time_days;Cum. Charge [Ah]",
        "C7;1;2,5;30,5;77;75;0,5;2,6",
        "C7;2;2,4;31,0;86;80;1,0;5,1",
        "C7;-1;2,4;31,0;86;80;1,5;7,6",
    ]
    path = _write(tmp_path / "c7.csv", lines, newline="\r\n", encoding="utf-8-sig")
    result = read_cycle_file(path, PARAMS)
    frame = result.frame
    assert _column(frame, "cycle") == [1, 2]
    np.testing.assert_allclose(frame["capacity_ah"], [2.5, 2.4])
    np.testing.assert_allclose(frame["resistance_ohm"], [0.0305, 0.031])
    np.testing.assert_allclose(frame["temperature_c"], [25.0, 30.0])
    np.testing.assert_allclose(frame["depth_of_discharge"], [0.75, 0.80])  # > 1.5: percent
    np.testing.assert_allclose(frame["time_s"], [43200.0, 86400.0])
    np.testing.assert_allclose(frame["charge_throughput_ah"], [2.6, 5.1])  # given: kept as is
    assert "depth_of_discharge" in result.summary["unit_conversions"]["dod"]
    assert result.summary["derived"] == {
        "discharge_throughput_ah": "cumulative sum of 'capacity_Ah' per cell over kept rows"
    }
    # The `sep=` line counts: the negative cycle is on line 5 of the file.
    assert result.quarantined["line"].tolist() == [5]
    assert result.quarantined["reason"][0] == (
        "line 5: cycle (column 'cycle_index'): '-1' is negative (expected an integer >= 0)"
    )


def test_matr_summary_layout(tmp_path) -> None:
    path = _write(tmp_path / "b1c0.csv", [MATR_HEADER, *MATR_ROWS])
    frame, summary = _run(tmp_path, path)
    assert frame[schema.CELL_ID].tolist() == ["b1c0"] * 3
    assert _column(frame, "cycle") == [1, 2, 3]
    np.testing.assert_allclose(frame["capacity_ah"], [1.0707, 1.0712, 1.0708])
    np.testing.assert_allclose(frame["resistance_ohm"], [0.016744, 0.016732, 0.016705])
    np.testing.assert_allclose(frame["temperature_c"], [31.2, 31.0, 31.1])  # Tavg
    np.testing.assert_allclose(frame["charge_throughput_ah"], np.cumsum([1.0801, 1.0723, 1.0719]))
    np.testing.assert_allclose(
        frame["discharge_throughput_ah"], np.cumsum([1.0707, 1.0712, 1.0708])
    )
    assert frame["time_s"].isna().all()  # chargetime is a charge duration, not test time
    entry = summary["files"][0]
    assert entry["layout"] == "matr"
    assert entry["cell_id_from"] == "file name ('b1c0')"
    assert entry["unmapped_columns"] == ["Tmin"]
    np.testing.assert_allclose(frame["temperature_max_c"], [35.1, 35.0, 34.9])  # Tmax
    np.testing.assert_allclose(frame["charge_time_s"], [800.4, 800.4, 801.0])  # minutes -> s
    assert entry["unit_conversions"]["chargetime"] == "min -> charge_time_s (x 60)"
    assert summary["quarantine_reasons"] == {"capacity_ah: zero": 1}
    quarantined = pd.read_csv(tmp_path / "quarantine" / "b1c0.cycles.csv")
    assert quarantined["line"].tolist() == [2]
    assert quarantined["reason"][0] == (
        "line 2: capacity_ah (column 'QDischarge'): 0 Ah is not a measurement "
        "(expected a capacity > 0)"
    )
    assert quarantined["QDischarge"].tolist() == [0]
    reason = json.loads((tmp_path / "quarantine" / "b1c0.cycles.csv.reason.json").read_text())
    assert reason["file"] == str(path) and reason["rows"] == 1


def test_matr_layout_forced_on_another_file_is_unusable(tmp_path) -> None:
    path = _write(tmp_path / "fleet.csv", ["cycle,discharge_capacity", "1,2.5"])
    with pytest.raises(UnusableFile, match=r"no capacity_ah column .* \(layout matr\)"):
        read_cycle_file(path, CycleIngestParams(layout="matr"))


def test_gzip_and_parquet_inputs(tmp_path) -> None:
    text = "\n".join([GENERIC_HEADER, *GENERIC_ROWS]) + "\n"
    zipped = tmp_path / "zipped.csv.gz"
    zipped.write_bytes(gzip.compress(text.encode()))
    parquet = tmp_path / "cells.parquet"
    pd.DataFrame(
        {
            "cell": [7, 7],
            "cycle": [1, 2],
            "capacity_ah": [4.9, np.nan],
            "temperature_c": [25.0, np.nan],
        }
    ).to_parquet(parquet)
    frame, summary = _run(tmp_path, zipped, parquet)
    assert frame[schema.CELL_ID].tolist() == ["7", "A1", "A1", "A1"]
    np.testing.assert_allclose(frame["capacity_ah"], [4.9, 2.50, 2.49, 2.48])
    assert summary["files_accepted"] == 2
    # A missing capacity in Parquet quarantines the row; its line is the row number.
    assert summary["quarantine_reasons"] == {"capacity_ah: missing": 1}
    quarantined = pd.read_csv(tmp_path / "quarantine" / "cells.cycles.csv")
    assert quarantined["line"].tolist() == [2]
    assert "capacity_ah (column 'capacity_ah'): missing" in quarantined["reason"][0]


def test_cell_id_from_file_name_and_preferred_time_column(tmp_path) -> None:
    lines = [
        "Cycle,Time,Test Time (min),Capacity (Ah)",
        "1,2024-05-01 10:00,60,3.0",
        "2,2024-05-01 12:00,120,2.9",
    ]
    path = tmp_path / "cell_42.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    result = read_cycle_file(path, PARAMS)
    assert result.frame[schema.CELL_ID].tolist() == ["cell_42"] * 2
    assert result.summary["cell_id_from"] == "file name ('cell_42')"
    np.testing.assert_allclose(result.frame["time_s"], [3600.0, 7200.0])
    assert result.summary["unmapped_columns"] == ["Time"]
    assert "column 'Time' also matches time_s; left unmapped" in result.summary["column_problems"]


def test_user_aliases_and_c_rates_from_currents(tmp_path) -> None:
    lines = [
        "Zelle,Zyklus,Kapazitaet [mAh],Charge Current (mA),I_discharge [A]",
        "Z1,1,2500,1250,-5",
        "Z1,2,2400,1250,-60",
    ]
    path = _write(tmp_path / "z.csv", lines)
    aliases = {"cell_id": ["Zelle"], "cycle": ["Zyklus"], "capacity_ah": ["Kapazitaet"]}
    with_nominal = CycleIngestParams(aliases=aliases, nominal_capacity_ah=2.5)
    result = read_cycle_file(path, with_nominal)
    np.testing.assert_allclose(result.frame["capacity_ah"], [2.5])
    np.testing.assert_allclose(result.frame["charge_c_rate"], [0.5])
    np.testing.assert_allclose(result.frame["discharge_c_rate"], [2.0])
    assert "nominal_capacity_ah (2.5 Ah)" in result.summary["derived"]["charge_c_rate"]
    # 60 A on a 2.5 Ah cell is 24 C: outside the C-rate limits.
    assert result.quarantined["reason"][0] == (
        "line 3: discharge_c_rate (column 'I_discharge [A]'): 24 is outside the allowed range "
        "[0, 20] (cycle_ingest.limits)"
    )
    without = read_cycle_file(path, CycleIngestParams(aliases=aliases))
    assert without.frame[["charge_c_rate", "discharge_c_rate"]].isna().all().all()
    assert len(without.frame) == 2
    assert any("nominal_capacity_ah" in note for note in without.summary["notes"])


@pytest.mark.parametrize(
    ("header", "value", "expected_c"),
    [
        ("Ambient Temperature (C)", "24", 24.0),
        ("chamber_temperature [K]", "297.15", 24.0),
        ("ambient_c", "24", 24.0),
        ("Chamber Temp (°F)", "75.2", 24.0),
        ("T_amb", "24", 24.0),
    ],
)
def test_a_chamber_temperature_column_is_ambient_not_the_cells(
    tmp_path, header: str, value: str, expected_c: float
) -> None:
    lines = [f"cell,cycle,capacity_ah,Temperature (C),{header}", f"A,1,2.5,28.5,{value}"]
    result = read_cycle_file(_write(tmp_path / "chamber.csv", lines), PARAMS)
    assert result.frame["ambient_c"].tolist() == pytest.approx([expected_c])
    assert result.frame["temperature_c"].tolist() == [28.5]  # the cell's stays the cell's
    assert result.summary["columns"][header] == "ambient_c"


def test_without_a_chamber_column_ambient_is_missing(tmp_path) -> None:
    frame = read_cycle_file(_write(tmp_path / "fleet.csv", [GENERIC_HEADER, *GENERIC_ROWS]), PARAMS)
    assert frame.frame["ambient_c"].isna().all()


# --- bad rows -----------------------------------------------------------------------------------


def test_bad_rows_are_quarantined_with_line_and_column(tmp_path) -> None:
    lines = [
        "cell,cycle,capacity (Ah),resistance (Ohm),temperature (C)",
        "A,1,2.5,0.02,25",
        "A,2,2.5,n.a.,25",  # optional column not a number: missing, counted
        "A,two,2.5,0.02,25",  # line 4
        "A,3.5,2.5,0.02,25",
        "A,4,1500,0.02,25",
        "A,5,,0.02,25",
        ",6,2.5,0.02,25",
        "A,7,2.5,0.02,25,extra",
        "cell,cycle,capacity (Ah),resistance (Ohm),temperature (C)",  # repeated header
        "A,8,2.5,0.02,150",
        "A,9,2.5,0.02,25",
    ]
    path = _write(tmp_path / "bad.csv", lines)
    result = read_cycle_file(path, PARAMS)
    assert _column(result.frame, "cycle") == [1, 2, 9]
    assert np.isnan(result.frame["resistance_ohm"][1])
    reasons = dict(zip(result.quarantined["line"], result.quarantined["reason"], strict=True))
    assert reasons == {
        4: "line 4: cycle (column 'cycle'): 'two' is not a number (expected an integer >= 0)",
        5: "line 5: cycle (column 'cycle'): '3.5' is not an integer (expected an integer >= 0)",
        6: "line 6: capacity_ah (column 'capacity (Ah)'): 1500 is outside the allowed range "
        "[0, 1000] (cycle_ingest.limits)",
        7: "line 7: capacity_ah (column 'capacity (Ah)'): missing (expected a discharge capacity)",
        8: "line 8: cell_id (column 'cell'): missing (expected a cell name)",
        9: "line 9: row has 6 fields, the header has 5 (expected one value per column)",
        11: "line 11: temperature_c (column 'temperature (C)'): 150 is outside the allowed range "
        "[-60, 120] (cycle_ingest.limits)",
    }
    assert result.quarantined.loc[result.quarantined["line"] == 4, "cycle"].item() == "two"
    assert result.quarantined.loc[result.quarantined["line"] == 9, "temperature (C)"].item() == (
        "25,extra"
    )
    summary = result.summary
    assert summary["values_not_a_number"] == {"resistance_ohm": 1}
    assert summary["repeated_headers"] == 1
    assert summary["rows_read"] == 11
    assert summary["rows_read"] == (
        summary["rows_kept"] + summary["rows_quarantined"] + summary["repeated_headers"]
    )
    assert sum(summary["quarantine_reasons"].values()) == summary["rows_quarantined"] == 7


def test_a_chamber_outside_the_limits_quarantines_its_row(tmp_path) -> None:
    lines = ["cell,cycle,capacity_ah,ambient_temperature", "A,1,2.5,25", "A,2,2.5,999", "A,3,2.5,"]
    result = read_cycle_file(_write(tmp_path / "chamber.csv", lines), PARAMS)
    assert _column(result.frame, "cycle") == [1, 3]  # a missing chamber is no reason
    assert result.quarantined["reason"].tolist() == [
        "line 3: ambient_c (column 'ambient_temperature'): 999 is outside the allowed range "
        "[-60, 120] (cycle_ingest.limits)"
    ]
    wider = PARAMS.model_copy(update={"limits": {**PARAMS.limits, "ambient_c": (-60.0, 1000.0)}})
    assert _column(read_cycle_file(tmp_path / "chamber.csv", wider).frame, "cycle") == [1, 2, 3]


def test_duplicate_keys_across_files(tmp_path) -> None:
    header = "cell,cycle,capacity_ah"
    first = _write(tmp_path / "a.csv", [header, "A,1,2.50", "A,2,2.49"])
    second = _write(tmp_path / "b.csv", [header, "A,1,2.50", "A,2,2.40", "A,3,2.47"])
    frame, summary = _run(tmp_path, first, second)
    assert _column(frame, "cycle") == [1, 3]
    assert summary["duplicate_rows_dropped"] == 1  # A,1 is in both files with the same values
    assert summary["conflicting_keys"] == ["cell_id='A', cycle=2"]
    assert summary["quarantine_reasons"] == {"duplicate key with different values": 2}
    for name, line, capacity in (("a", 3, 2.49), ("b", 3, 2.40)):
        rows = pd.read_csv(tmp_path / "quarantine" / f"{name}.cycles.csv")
        assert rows["line"].tolist() == [line]
        assert rows["capacity_ah"].tolist() == [capacity]
        assert rows["reason"][0].startswith(
            f"line {line}: duplicate key cell_id='A', cycle=2 with different values in 2 rows "
            "(a.csv line 3; b.csv line 3)"
        )
    assert summary["rows_read"] == (
        summary["rows_out"] + summary["rows_quarantined"] + summary["duplicate_rows_dropped"]
    )
    assert check_cycle_order(frame) == []


def test_derived_throughput_continues_across_files_of_one_cell(tmp_path) -> None:
    header = "cell,cycle,discharge_capacity,charge_capacity"
    second = _write(tmp_path / "part2.csv", [header, "C,3,1.0,1.1", "C,4,1.0,1.1"])
    first = _write(tmp_path / "part1.csv", [header, "C,1,1.0,1.1", "C,2,1.0,1.1"])
    repeated = _write(tmp_path / "copy_of_part1.csv", [header, "C,1,1.0,1.1", "C,2,1.0,1.1"])
    frame, summary = _run(tmp_path, second, first, repeated)
    assert _column(frame, "cycle") == [1, 2, 3, 4]
    np.testing.assert_allclose(frame["discharge_throughput_ah"], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(frame["charge_throughput_ah"], [1.1, 2.2, 3.3, 4.4])
    assert summary["duplicate_rows_dropped"] == 2 and summary["conflicting_keys"] == []


def test_a_file_with_every_throughput_keeps_them_in_cycle_order(tmp_path) -> None:
    header = "cell,cycle,capacity_ah,charge_throughput_ah,discharge_throughput_ah"
    path = _write(tmp_path / "full.csv", [header, "C,2,0.9,2.2,2.0", "C,1,1.0,1.1,1.0"])
    frame, summary = _run(tmp_path, path)
    assert _column(frame, "cycle") == [1, 2]
    np.testing.assert_allclose(frame["charge_throughput_ah"], [1.1, 2.2])
    np.testing.assert_allclose(frame["discharge_throughput_ah"], [1.0, 2.0])
    assert summary["rows_out"] == 2


# --- unusable files -----------------------------------------------------------------------------


def test_unusable_file_is_quarantined_and_the_run_goes_on(tmp_path) -> None:
    good = _write(tmp_path / "b1c0.csv", [MATR_HEADER, *MATR_ROWS])
    no_cycle = _write(tmp_path / "no_cycle.csv", ["cell,capacity_ah", "A,2.5"])
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    frame, summary = _run(tmp_path, good, no_cycle, empty)
    assert len(frame) == 3
    assert (summary["files_accepted"], summary["files_rejected"]) == (1, 2)
    quarantine = tmp_path / "quarantine"
    copied = quarantine / "001_no_cycle.csv"
    assert copied.read_bytes() == no_cycle.read_bytes()
    reason = json.loads((quarantine / "001_no_cycle.csv.reason.json").read_text())
    assert reason["file"] == str(no_cycle)
    assert reason["line"] == 1
    assert reason["reason"].startswith("no cycle column among ['cell', 'capacity_ah']")
    assert "'cycle'" in reason["expected"] and "cycle_ingest.aliases" in reason["expected"]
    empty_reason = json.loads((quarantine / "002_empty.csv.reason.json").read_text())
    assert empty_reason["reason"] == "empty file"
    rejected = [entry for entry in summary["files"] if not entry["accepted"]]
    assert [entry["quarantined_as"] for entry in rejected] == ["001_no_cycle.csv", "002_empty.csv"]
    json.dumps(summary)  # JSON-ready


def test_no_usable_row_anywhere_names_the_files(tmp_path) -> None:
    no_cycle = _write(tmp_path / "no_cycle.csv", ["cell,capacity_ah", "A,2.5"])
    all_bad = _write(tmp_path / "zeros.csv", ["cell,cycle,capacity_ah", "A,0,0", "A,1,0"])
    with pytest.raises(ValueError, match=r"no cycle rows in any input file: .*no_cycle\.csv, .*"):
        _run(tmp_path, no_cycle, all_bad)
    assert (tmp_path / "quarantine" / "zeros.cycles.csv").is_file()
    assert not (tmp_path / "out" / "cycles.parquet").exists()


def test_header_only_file_is_unusable(tmp_path) -> None:
    path = _write(tmp_path / "header.csv", ["cell,cycle,capacity_ah"])
    with pytest.raises(UnusableFile, match="no data rows"):
        read_cycle_file(path, PARAMS)


# --- order --------------------------------------------------------------------------------------


def test_check_cycle_order() -> None:
    good = pd.DataFrame({"cell_id": ["a", "a", "b", "b"], "cycle": [1, 5, 0, 1]})
    assert check_cycle_order(good) == []
    bad = pd.DataFrame({"cell_id": ["a", "a", "a", "b", "a"], "cycle": [1, 3, 3, 2, 0]})
    assert check_cycle_order(bad) == [
        "cell 'a': cycle 3 at row 2 repeats",
        "cell 'a' (cycle 0) at row 4 comes after cell 'b': rows must be sorted by cell_id",
    ]
    backwards = pd.DataFrame({"cell_id": ["a"] * 30, "cycle": np.arange(30)[::-1]})
    problems = check_cycle_order(backwards, limit=3)
    assert problems[0] == "cell 'a': cycle 28 at row 1 comes after cycle 29"
    assert problems[-1] == "... and 26 more"


def test_output_is_sorted_by_cell_and_cycle(tmp_path) -> None:
    lines = ["cell,cycle,capacity_ah", "B,2,1.0", "A,3,1.0", "B,1,1.0", "A,1,1.0"]
    frame, _ = _run(tmp_path, _write(tmp_path / "mixed.csv", lines))
    assert list(zip(frame["cell_id"], frame["cycle"], strict=True)) == [
        ("A", 1),
        ("A", 3),
        ("B", 1),
        ("B", 2),
    ]
    assert check_cycle_order(frame) == []


# --- params -------------------------------------------------------------------------------------


def test_params_defaults_merge_and_names() -> None:
    assert PARAMS.limits["capacity_ah"] == (0.0, 1000.0)
    assert PARAMS.layout == "auto" and PARAMS.nominal_capacity_ah is None
    merged = CycleIngestParams(limits={"capacity_ah": (0.0, 10.0)})
    assert merged.limits["capacity_ah"] == (0.0, 10.0)
    assert merged.limits["resistance_ohm"] == (0.0, 1000.0)
    with pytest.raises(ValidationError, match="did you mean 'capacity_ah'"):
        CycleIngestParams(aliases={"capacity_a": ["Cap"]})
    with pytest.raises(ValidationError, match="low 5.0 must be below high 1.0"):
        CycleIngestParams(limits={"temperature_c": (5.0, 1.0)})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CycleIngestParams.model_validate({"layuot": "matr"})
    with pytest.raises(ValidationError, match="'auto', 'generic' or 'matr'"):
        CycleIngestParams(layout="arbin")


def test_importing_the_module_does_not_import_telemetry_ingest() -> None:
    # Cycle ingest shares batteryops.ingest.columns and .files with telemetry ingest, not
    # telemetry_files itself (which once closed an import circle through batteryops.core.config).
    code = (
        "import sys, batteryops.ingest.cycle_files; "
        "print('batteryops.ingest.telemetry_files' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# --- the Great Expectations suite ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cycle_findings(tmp_path_factory) -> dict[str, list[validation.Finding]]:
    tmp_path = tmp_path_factory.mktemp("cycles")
    good, _ = _run(
        tmp_path,
        _write(tmp_path / "b1c0.csv", [MATR_HEADER, *MATR_ROWS]),
        _write(tmp_path / "fleet.csv", [GENERIC_HEADER, *GENERIC_ROWS]),
    )
    duplicate = pd.concat([good, good.iloc[[1]]], ignore_index=True)
    warm = good.copy()
    warm.loc[0, "resistance_ohm"] = 1200.0  # a warning, not a stop
    chamber = good.assign(ambient_c=25.0)
    hot_chamber = chamber.copy()
    hot_chamber.loc[0, "ambient_c"] = 150.0  # outside cycle_ingest.limits: a warning
    suite = validation.with_limits(
        validation.load_suite(ROOT / "expectations" / "cycles.json"),
        PARAMS.limits,
        "cycle_ingest.limits",
    )
    batches = {
        "good": good,
        "duplicate": duplicate,
        "warm": warm,
        "chamber": chamber,
        "hot_chamber": hot_chamber,
    }
    by_batch: dict[str, list[validation.Finding]] = {}
    for finding in validation.validate_frames(suite, batches):
        by_batch.setdefault(finding.batch, []).append(finding)
    return by_batch


def test_suite_passes_ingested_cycle_data(cycle_findings) -> None:
    assert [f.describe() for f in cycle_findings["good"] if not f.success] == []
    assert validation.summarise("cycles", cycle_findings["good"])["success"]


def test_suite_stops_on_a_duplicate_cell_and_cycle(cycle_findings) -> None:
    failed = [f for f in cycle_findings["duplicate"] if not f.success]
    assert [(f.expectation, f.column, f.critical) for f in failed] == [
        ("expect_compound_columns_to_be_unique", "cell_id,cycle", True)
    ]
    assert not validation.summarise("cycles", cycle_findings["duplicate"])["success"]


def test_suite_warns_on_a_high_resistance(cycle_findings) -> None:
    failed = [f for f in cycle_findings["warm"] if not f.success]
    assert [(f.column, f.critical) for f in failed] == [("resistance_ohm", False)]
    assert validation.summarise("cycles", cycle_findings["warm"])["success"]


def test_suite_checks_the_chamber_temperature_against_the_limits(cycle_findings) -> None:
    assert [f.describe() for f in cycle_findings["chamber"] if not f.success] == []
    failed = [f for f in cycle_findings["hot_chamber"] if not f.success]
    assert [(f.expectation, f.column, f.critical) for f in failed] == [
        ("expect_column_values_to_be_between", "ambient_c", False)
    ]
    assert validation.summarise("cycles", cycle_findings["hot_chamber"])["success"]
