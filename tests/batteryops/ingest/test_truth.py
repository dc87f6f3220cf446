"""batteryops.ingest.truth: the truth of ingested modules, from a table beside the files or none."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.ingest import truth

TELEMETRY = pd.DataFrame(
    {
        schema.RACK_ID: ["R01", "R01", "R01", "R02"],
        schema.MODULE_ID: ["R01-M01", "R01-M01", "R01-M02", "R02-M01"],
    }
)


def test_given_truth_is_joined_per_module_and_the_rest_never_runs_away(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            schema.MODULE_ID: ["R01-M02", "R09-M09"],  # a module not in the telemetry is dropped
            "pnr_time": ["2026-07-01T08:30:00Z", "2026-07-01T09:00:00Z"],
            "fault_type": ["internal_short", "overcharge"],
        }
    ).to_csv(tmp_path / "truth.csv", index=False)
    given = truth.read_truth_file(tmp_path)
    table = truth.file_truth(TELEMETRY, given, str(tmp_path))
    assert list(table.columns) == schema.TRUTH_COLUMNS
    assert table[schema.MODULE_ID].tolist() == ["R01-M01", "R01-M02", "R02-M01"]
    assert table["position"].tolist() == [0, 1, 0]
    assert table["fault_type"].tolist() == ["none", "internal_short", "none"]
    assert table["pnr_time"].iloc[1] == pd.Timestamp("2026-07-01T08:30:00Z")
    assert table["pnr_time"].iloc[[0, 2]].isna().all()
    assert table["vent_time"].isna().all()


def test_without_a_truth_file_every_module_never_runs_away(tmp_path: Path, caplog) -> None:
    assert truth.read_truth_file(tmp_path) is None
    table = truth.file_truth(TELEMETRY, None, str(tmp_path))
    assert (table["fault_type"] == "none").all() and table["pnr_time"].isna().all()
    assert "has no truth.parquet or truth.csv" in caplog.text


def test_a_truth_table_without_module_ids_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"raw/truth: no module_id column \(columns: \['asset'\]\)"
    ):
        truth.file_truth(TELEMETRY, pd.DataFrame({"asset": ["R01-M01"]}), "raw")


def test_a_runaway_without_fault_start_gets_the_look_back_window() -> None:
    # fault_start is optional; without it every runaway was undetectable (NaN window).
    given = pd.DataFrame({schema.MODULE_ID: ["R01-M02"], "pnr_time": ["2026-07-01T08:30:00Z"]})
    table = truth.file_truth(TELEMETRY, given, "raw", fault_lookback_s=1800)
    assert table["fault_start"].iloc[1] == pd.Timestamp("2026-07-01T08:00:00Z")
    assert table["fault_start"].iloc[[0, 2]].isna().all()  # no PNR, no window
    assert table.attrs["fault_start_assumed"] == 1
    stated = given.assign(fault_start=["2026-07-01T08:20:00Z"])
    table = truth.file_truth(TELEMETRY, stated, "raw", fault_lookback_s=1800)
    assert table["fault_start"].iloc[1] == pd.Timestamp("2026-07-01T08:20:00Z")
    assert table.attrs["fault_start_assumed"] == 0


def test_a_given_rack_position_is_kept() -> None:
    # The rack's order, not the file's: M02 sits first, so M01 neighbours nothing at position 2.
    given = pd.DataFrame({schema.MODULE_ID: ["R01-M01", "R01-M02"], "position": [2, 0]})
    table = truth.file_truth(TELEMETRY, given, "raw")
    assert table.set_index(schema.MODULE_ID)["position"].to_dict() == {
        "R01-M01": 2,
        "R01-M02": 0,
        "R02-M01": 0,  # not given: placed in order of appearance
    }


def test_a_position_that_is_not_a_whole_number_is_refused_by_module() -> None:
    given = pd.DataFrame({schema.MODULE_ID: ["R01-M01"], "position": ["left"]})
    with pytest.raises(ValueError, match=r"'position' must hold whole numbers.*'R01-M01'"):
        truth.file_truth(TELEMETRY, given, "raw")
