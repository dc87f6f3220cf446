"""batteryops.core.timegrid: regular per-module grids and NaN-aware rolling windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema, timegrid

GRID = np.array([1.0, 2.0, np.nan, 4.0, np.nan, np.nan, np.nan, 8.0, 9.0, 10.0, np.nan, 3.0])


def _naive(grid: np.ndarray, window_s: int, reduce) -> np.ndarray:
    out = np.full(len(grid), np.nan)
    for t in range(len(grid)):
        values = [v for v in grid[max(0, t - window_s + 1) : t + 1] if not np.isnan(v)]
        if values:
            out[t] = reduce(values)
    return out


@pytest.mark.parametrize("window_s", [1, 2, 3, 5, 20])
def test_rolling_mean_matches_naive_loop(window_s: int) -> None:
    expected = _naive(GRID, window_s, np.mean)
    np.testing.assert_allclose(timegrid.rolling_mean(GRID, window_s), expected, equal_nan=True)


@pytest.mark.parametrize("window_s", [1, 2, 3, 5, 20])
def test_rolling_std_matches_naive_loop(window_s: int) -> None:
    expected = _naive(GRID, window_s, lambda v: np.std(v, ddof=0))
    np.testing.assert_allclose(
        timegrid.rolling_std(GRID, window_s), expected, atol=1e-7, equal_nan=True
    )


def test_rolling_mean_all_nan_window_is_nan() -> None:
    mean = timegrid.rolling_mean(GRID, 3)
    # Seconds 4..6 are NaN: the window ending at 6 holds only NaN.
    assert np.isnan(mean[6])
    assert mean[7] == 8.0


def test_rolling_std_of_a_constant_is_zero() -> None:
    grid = np.full(50, 3.0)
    assert np.all(timegrid.rolling_std(grid, 10) == 0.0)


def test_rolling_std_of_a_single_value_is_zero() -> None:
    grid = np.array([np.nan, 5.0, np.nan, np.nan])
    std = timegrid.rolling_std(grid, 2)
    assert np.isnan(std[0])
    assert std[1] == 0.0 and std[2] == 0.0
    assert np.isnan(std[3])


def test_rolling_std_of_a_constant_window_after_a_long_history() -> None:
    rng = np.random.default_rng(0)
    grid = 25.0 + rng.normal(0.0, 0.2, 9000)
    grid[4500:] = float(np.float32(25.37))  # a sensor stuck at one float32 reading
    std = timegrid.rolling_std(grid, 300)
    assert np.all(std[4800:] < 1e-6), std[4800:].max()


def test_rolling_mean_random_grid_matches_naive() -> None:
    rng = np.random.default_rng(0)
    grid = rng.normal(30.0, 5.0, 300)
    grid[rng.random(300) < 0.2] = np.nan
    np.testing.assert_allclose(
        timegrid.rolling_mean(grid, 17), _naive(grid, 17, np.mean), equal_nan=True
    )
    np.testing.assert_allclose(
        timegrid.rolling_std(grid, 17), _naive(grid, 17, np.std), atol=1e-6, equal_nan=True
    )


def test_lagged_positive_looks_back() -> None:
    grid = np.arange(6, dtype=float)
    np.testing.assert_array_equal(timegrid.lagged(grid, 2), [np.nan, np.nan, 0, 1, 2, 3])


def test_lagged_negative_looks_ahead() -> None:
    grid = np.arange(6, dtype=float)
    np.testing.assert_array_equal(timegrid.lagged(grid, -2), [2, 3, 4, 5, np.nan, np.nan])


def test_lagged_zero_is_identity_and_copy() -> None:
    grid = np.arange(4, dtype=float)
    shifted = timegrid.lagged(grid, 0)
    np.testing.assert_array_equal(shifted, grid)
    shifted[0] = 99.0
    assert grid[0] == 0.0


def test_lagged_beyond_the_grid_is_all_nan() -> None:
    grid = np.arange(3, dtype=float)
    assert np.all(np.isnan(timegrid.lagged(grid, 5)))
    assert np.all(np.isnan(timegrid.lagged(grid, -5)))


def test_grid_positions_with_a_gap() -> None:
    stamps = pd.Series(
        pd.to_datetime(
            ["2026-07-01 00:00:00", "2026-07-01 00:00:01", "2026-07-01 00:00:05"], utc=True
        )
    )
    positions, length = timegrid.grid_positions(stamps)
    np.testing.assert_array_equal(positions, [0, 1, 5])
    assert length == 6
    grid = timegrid.to_grid(np.array([1.0, 2.0, 3.0]), positions, length)
    np.testing.assert_array_equal(grid, [1.0, 2.0, np.nan, np.nan, np.nan, 3.0])


def test_grid_positions_floor_subsecond_stamps() -> None:
    stamps = pd.Series(
        pd.to_datetime(["2026-07-01 00:00:00.4", "2026-07-01 00:00:02.9"], format="ISO8601")
    )
    positions, length = timegrid.grid_positions(stamps)
    np.testing.assert_array_equal(positions, [0, 2])
    assert length == 3


def test_epoch_seconds_of_tz_aware_timestamps() -> None:
    berlin = pd.Series(pd.to_datetime(["1970-01-01 01:00:00", "1970-01-01 01:00:30"]))
    berlin = berlin.dt.tz_localize("Europe/Berlin")  # UTC+1 in January 1970
    np.testing.assert_array_equal(timegrid.epoch_seconds(berlin), [0.0, 30.0])
    utc = pd.Series([pd.Timestamp("2026-07-01 08:00:00Z")])
    assert timegrid.epoch_seconds(utc)[0] == pd.Timestamp("2026-07-01 08:00:00Z").timestamp()


def test_epoch_seconds_of_naive_timestamps_are_utc() -> None:
    stamps = pd.Series(
        pd.to_datetime(["1970-01-01 00:00:10", "1970-01-01 00:00:10.5"], format="ISO8601")
    )
    np.testing.assert_array_equal(timegrid.epoch_seconds(stamps), [10.0, 10.5])


def test_epoch_seconds_nat_is_nan() -> None:
    stamps = pd.Series([pd.Timestamp("1970-01-01 00:00:01", tz="UTC"), pd.NaT])
    seconds = timegrid.epoch_seconds(stamps)
    assert seconds[0] == 1.0
    assert np.isnan(seconds[1])


def test_epoch_seconds_all_nat_and_float_nan() -> None:
    # Truth columns hold NaN for modules that never vent; they read back as NaN.
    seconds = timegrid.epoch_seconds(pd.Series([np.nan, np.nan]))
    assert np.all(np.isnan(seconds))


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_epoch_seconds_of_datetime_columns_as_pandas_parses_them(unit: str) -> None:
    # The fast path for datetime columns gives what pd.to_datetime(utc=True) gives.
    naive = pd.Series(pd.to_datetime([0, 1_500, 86_400_250, None], unit="ms").as_unit(unit))
    for stamps in (naive, naive.dt.tz_localize("UTC"), naive.dt.tz_localize("Asia/Kolkata")):
        parsed = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True)).tz_localize(None)
        expected = np.where(parsed.isna(), np.nan, parsed.as_unit("ms").asi8 / 1000.0)
        np.testing.assert_array_equal(timegrid.epoch_seconds(stamps), expected)
        as_objects = pd.Series(list(stamps), dtype=object)
        np.testing.assert_array_equal(timegrid.epoch_seconds(as_objects), expected)


def test_module_groups_and_sort_canonical() -> None:
    frame = pd.DataFrame(
        {
            schema.MODULE_ID: ["B", "A", "B", "A"],
            schema.TIMESTAMP: pd.to_datetime([2, 1, 1, 2], unit="s", utc=True),
            "x": [4, 1, 3, 2],
        }
    )
    ordered = timegrid.sort_canonical(frame)
    assert ordered["x"].tolist() == [1, 2, 3, 4]
    assert ordered.index.tolist() == [0, 1, 2, 3]
    groups = timegrid.module_groups(ordered)
    assert [(name, rows.tolist()) for name, rows in groups] == [("A", [0, 1]), ("B", [2, 3])]
