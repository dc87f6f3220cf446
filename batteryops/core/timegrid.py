"""Per-module regular 1 Hz grids and NaN-aware rolling windows on them.

Canonical telemetry has one row per module per second but may have gaps. Placing a module's rows
on a regular grid (gaps as NaN) turns every time window into an index window, so rolling
statistics are cumulative-sum arithmetic, and no row is invented: only the original rows are
read back from the grid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from batteryops.core import schema


def epoch_seconds(timestamps: pd.Series) -> np.ndarray:
    """UTC timestamps (naive ones taken as UTC) as float seconds since the epoch; NaT -> NaN.

    Datetime columns skip ``pd.to_datetime``, which first turns hundreds of values into Python
    timestamps to decide whether to cache (a sixth of generalize's time, a call per module).
    """
    dtype = getattr(timestamps, "dtype", None)
    if isinstance(dtype, pd.DatetimeTZDtype):
        values = pd.DatetimeIndex(timestamps).tz_convert("UTC")
    elif dtype is not None and pd.api.types.is_datetime64_dtype(dtype):
        values = pd.DatetimeIndex(timestamps).tz_localize("UTC")
    else:
        values = pd.DatetimeIndex(pd.to_datetime(timestamps, utc=True))
    milliseconds = values.tz_localize(None).as_unit("ms").asi8
    return np.where(values.isna(), np.nan, milliseconds / 1000.0)


def grid_positions(timestamps: pd.Series) -> tuple[np.ndarray, int]:
    """Whole seconds since a module's first row, and the grid length.

    Args:
        timestamps: One module's timestamps, sorted ascending.

    Returns:
        Each row's position on the grid, and the number of grid seconds.
    """
    seconds = np.floor(epoch_seconds(timestamps)).astype(np.int64)
    positions = seconds - seconds[0]
    return positions, int(positions[-1]) + 1


def to_grid(values: np.ndarray, positions: np.ndarray, length: int) -> np.ndarray:
    """Place row values on a regular grid, NaN where no row exists."""
    grid = np.full(length, np.nan)
    grid[positions] = values
    return grid


def rolling_mean(grid: np.ndarray, window_s: int) -> np.ndarray:
    """Mean of the valid values in the trailing ``window_s`` seconds (NaN if none)."""
    valid = ~np.isnan(grid)
    sums = np.concatenate([[0.0], np.cumsum(np.where(valid, grid, 0.0))])
    counts = np.concatenate([[0], np.cumsum(valid)])
    end = np.arange(1, len(grid) + 1)
    start = np.maximum(end - window_s, 0)
    n = counts[end] - counts[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[end] - sums[start]) / n, np.nan)


def rolling_std(grid: np.ndarray, window_s: int) -> np.ndarray:
    """Population standard deviation of the valid values in the trailing window.

    Computed as E[x^2] - E[x]^2 from cumulative sums, on values centred on the grid's mean so
    that the sums stay small; variances below the float64 noise floor of those sums are zero.
    """
    centred = grid - np.nanmean(grid) if np.isfinite(grid).any() else grid
    mean = rolling_mean(centred, window_s)
    mean_sq = rolling_mean(centred * centred, window_s)
    variance = mean_sq - mean * mean
    noise_floor = (
        1e-12 * (1.0 + np.nanmax(np.abs(centred)) ** 2) if np.isfinite(centred).any() else 0
    )
    return np.sqrt(
        np.where(variance > noise_floor, variance, np.where(np.isnan(variance), np.nan, 0.0))
    )


def unchanged_for(grid: np.ndarray, window_s: int) -> np.ndarray:
    """True where the last ``window_s`` seconds all hold one same reading (a stuck sensor).

    Missing readings (dropouts) neither break nor make a run: the last valid reading carries
    through them. The first ``window_s - 1`` seconds of a grid are never flagged.
    """
    filled = pd.Series(grid).ffill().to_numpy()
    known = ~np.isnan(filled)
    changed = np.concatenate([[True], (filled[1:] != filled[:-1]) | ~known[1:] | ~known[:-1]])
    counts = np.concatenate([[0], np.cumsum(changed)])
    end = np.arange(1, len(grid) + 1)
    start = end - window_s + 1  # changes inside the window, not at its first reading
    enough = start >= 1
    start = np.clip(start, 0, len(grid))
    return enough & known & (counts[end] - counts[start] == 0)


def lagged(grid: np.ndarray, lag_s: int) -> np.ndarray:
    """The value ``lag_s`` seconds earlier (negative lag: later), NaN outside the grid."""
    shifted = np.full_like(grid, np.nan)
    if lag_s >= 0:
        shifted[lag_s:] = grid[: len(grid) - lag_s]
    else:
        shifted[:lag_s] = grid[-lag_s:]
    return shifted


def module_groups(frame: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """Row indices of each module, assuming rows are sorted by module then timestamp."""
    codes, uniques = pd.factorize(frame[schema.MODULE_ID], sort=False)
    boundaries = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(codes)]])
    return [(str(uniques[codes[s]]), np.arange(s, e)) for s, e in zip(starts, ends, strict=True)]


def module_rows(frame: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """Row indices of each module, wherever its rows lie, in their order in the frame.

    For frames put together from partitions (a rack's days one after another): a module's rows
    are then several runs, each in time order, the runs in file (and so time) order.
    """
    codes, uniques = pd.factorize(frame[schema.MODULE_ID], sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return [(str(uniques[codes[rows[0]]]), rows) for rows in np.split(order, bounds) if len(rows)]


def sort_canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort rows by module then timestamp (the order every per-module function expects).

    Files written a time chunk at a time hold each module's rows in time order already: then a
    stable sort on the module alone gives the same order, several times faster than sorting on
    both columns (equal rows keep their order either way).
    """
    codes, _ = pd.factorize(frame[schema.MODULE_ID], sort=True)
    order = np.argsort(codes, kind="stable")
    stamps = pd.DatetimeIndex(frame[schema.TIMESTAMP])
    ticks = stamps.asi8[order]
    same = codes[order][1:] == codes[order][:-1]
    if len(frame) and not stamps.hasnans and bool(np.all(ticks[1:][same] >= ticks[:-1][same])):
        ordered = frame.take(order)
        ordered.index = pd.RangeIndex(len(ordered))  # reset_index would copy every column
        return ordered
    return frame.sort_values([schema.MODULE_ID, schema.TIMESTAMP], kind="stable", ignore_index=True)
