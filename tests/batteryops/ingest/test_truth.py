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
