"""batteryops.mlops.drift: the reference and current samples drawn from partitioned features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import DriftParams
from batteryops.mlops import drift

FEATURES = ["temp_max_c", "slope_c_per_min"]


def _table(rows: int = 300) -> pd.DataFrame:
    """One row a second; the first half trains, the rest tests; every tenth row an incident."""
    position = np.arange(rows)
    return pd.DataFrame(
        {
            schema.TIMESTAMP: pd.Timestamp("2026-07-01", tz="UTC")
            + pd.to_timedelta(position, unit="s"),
            schema.MODULE_ID: np.where(position < 250, "R01-M01", "R01-M01@served"),
            schema.SPLIT: np.where(position < rows // 2, "train", "test"),
            schema.TRAINABLE: position % 10 != 0,
            "temp_max_c": 25.0 + position,  # the row's own position, to trace it
            "slope_c_per_min": -position.astype(float),
        }
    )


def _partitions(table: pd.DataFrame, tmp_path: Path, sizes: list[int]) -> list[Path]:
    files, start = [], 0
    for k, size in enumerate(sizes):
        path = tmp_path / f"R{k + 1:02d}.parquet"
        table.iloc[start : start + size].to_parquet(path)
        files.append(path)
        start += size
    return files


def _params(**update: object) -> DriftParams:
    values = {
        "reference_rows": 40,
        "current_rows": 30,
        "current_window_s": 60,
        "method": "psi",
        "seed": 5,
        "max_drift_share": 0.5,
    }
    return DriftParams(**(values | update))


def test_samples_across_partitions_are_the_tables_rows(tmp_path: Path) -> None:
    table = _table()
    files = _partitions(table, tmp_path, [120, 0, 100, 80])
    params = _params()
    reference, current = drift.sample_partitions(files, FEATURES, params)
    reference_at, current_at = drift.sample_positions(
        table, params.current_window_s, params.reference_rows, params.current_rows, params.seed
    )
    # The same rows, in the sample's order, as sampling the whole table in memory.
    expected = table[FEATURES]
    pd.testing.assert_frame_equal(reference, expected.iloc[reference_at].reset_index(drop=True))
    pd.testing.assert_frame_equal(current, expected.iloc[current_at].reset_index(drop=True))
    assert list(reference.columns) == FEATURES
    assert (len(reference), len(current)) == (40, 30)


def test_samples_leave_out_incidents_and_keep_to_their_side(tmp_path: Path) -> None:
    table = _table()
    files = _partitions(table, tmp_path, [100, 100, 100])
    reference, current = drift.sample_partitions(files, FEATURES, _params())
    positions = {"reference": reference["temp_max_c"] - 25.0, "current": current["temp_max_c"] - 25}
    assert (positions["reference"] < 150).all()  # the training split only
    assert (positions["current"] >= 299 - 60).all()  # the newest minute only
    for side in positions.values():
        assert (side % 10 != 0).all()  # never an incident row
        assert side.is_unique


def test_a_window_of_incidents_only_gives_an_empty_current_sample(tmp_path: Path) -> None:
    table = _table()
    table.loc[table.index >= 250, schema.TRAINABLE] = False
    files = _partitions(table, tmp_path, [150, 150])
    reference, current = drift.sample_partitions(files, FEATURES, _params(current_window_s=30))
    assert len(reference) == 40
    assert current.empty
    assert list(current.columns) == FEATURES


@pytest.mark.parametrize("rows", [20, 100])
def test_sample_sizes_are_capped_by_the_rows_there_are(tmp_path: Path, rows: int) -> None:
    table = _table(rows)
    files = _partitions(table, tmp_path, [rows])
    reference, _ = drift.sample_partitions(files, FEATURES, _params(reference_rows=1000))
    trainable_train = (table[schema.SPLIT] == "train") & table[schema.TRAINABLE]
    assert len(reference) == trainable_train.sum()


def test_served_episodes_are_the_newest_data_and_leave_the_reference(tmp_path: Path) -> None:
    table = _table()
    table[schema.SPLIT] = "train"  # collected served episodes train (rows 250 on here)
    files = _partitions(table, tmp_path, [150, 150])
    params = _params(current_window_s=10**6)  # the window would take every row: unused
    reference, current = drift.sample_partitions(files, FEATURES, params, {"R01-M01@served"})
    assert ((current["temp_max_c"] - 25.0) >= 250).all() and len(current) == 30
    assert ((reference["temp_max_c"] - 25.0) < 250).all() and len(reference) == 40
