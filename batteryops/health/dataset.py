"""State of health and remaining life: labels, features, leak-free splits and metrics.

Rows are one per cell per cycle (:data:`batteryops.core.schema.CYCLE_COLUMNS`). SOH is the capacity
over the cell's reference capacity (the median of its first ``reference_cycles`` cycles); for
simulated cells it is the true low-rate capacity ratio from the simulator's truth. RUL at cycle n
is the number of cycles from n until the SOH first falls to ``eol_soh``.

Features of a row use only the cell's history up to that cycle:

- **summary**: equivalent full cycles, days, temperature and its Arrhenius term, C-rates, depth
  of discharge, the capacity ratio now and its mean over the last cycles, the fade per 100 cycles
  over recent and longer windows, the resistance ratio and its trend;
- **incremental capacity** (:mod:`batteryops.health.incremental_capacity`): the dQ/dV peaks of the
  last
  low-rate curve measured at or before the cycle, and ΔQ(V) against the cell's first curve
  (Severson et al. 2019, Nature Energy 4, 383), carried forward between checkpoints;
- for RUL, the empirical fade fit's own estimate (:mod:`batteryops.health.fade_fit`).

Splits are by cell: a temperature holdout (train on some chamber temperatures, test on another)
and cells held out in folds (:func:`cell_folds`). :func:`assert_no_leak` is called wherever a
split is used.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from batteryops.core import bounds, schema

SOH = "soh"
RUL = "rul_cycles"
REFERENCE_CAPACITY = "reference_capacity_ah"
EA_SEI_J_PER_MOL = 30000.0
GAS_CONSTANT = 8.314462618


def reference_capacity(cycles: pd.DataFrame, reference_cycles: int) -> pd.Series:
    """Per cell, the median capacity of its first ``reference_cycles`` cycles (Ah)."""
    first = cycles.groupby(schema.CELL_ID, sort=False).head(reference_cycles)
    return first.groupby(schema.CELL_ID, sort=False)["capacity_ah"].median()


def soh_labels(
    cycles: pd.DataFrame, reference_cycles: int, truth: pd.DataFrame | None = None
) -> pd.Series:
    """SOH per row: the simulator's truth where given, else capacity over the reference."""
    if truth is not None:
        merged = cycles[schema.CYCLE_KEYS].merge(truth[[*schema.CYCLE_KEYS, SOH]], how="left")
        return pd.Series(merged[SOH].to_numpy(), index=cycles.index, name=SOH)
    reference = cycles[schema.CELL_ID].map(reference_capacity(cycles, reference_cycles))
    return (cycles["capacity_ah"] / reference).rename(SOH)


def rul_labels(cycles: pd.DataFrame, soh: pd.Series, eol_soh: float) -> pd.Series:
    """Cycles from each row until the cell's SOH first reaches ``eol_soh`` (NaN if never)."""
    frame = pd.DataFrame({schema.CELL_ID: cycles[schema.CELL_ID], "c": cycles[schema.CYCLE]})
    frame["end"] = np.where(soh.to_numpy() <= eol_soh, frame["c"], np.nan)
    eol = frame.groupby(schema.CELL_ID, sort=False)["end"].transform("min")
    rul = eol - frame["c"]
    return rul.where(rul >= 0).rename(RUL)


def _slope_per_100(
    values: pd.Series, cycles: pd.Series, cells: pd.Series, window: int
) -> pd.Series:
    """Least-squares slope of ``values`` against cycle over the last ``window`` rows, per 100."""
    x = cycles.astype(float)

    def mean(series: pd.Series) -> pd.Series:
        return series.groupby(cells, sort=False).transform(
            lambda s: s.rolling(window, min_periods=max(5, window // 5)).mean()
        )

    cov = mean(x * values) - mean(x) * mean(values)
    var = mean(x * x) - mean(x) ** 2
    return 100.0 * cov / var.where(var > 0)


def _running_reference(values: pd.Series, cells: pd.Series, reference_cycles: int) -> pd.Series:
    """Per cell, the median of its first ``reference_cycles`` rows, as known at each row.

    Rows among the first see the median of those up to themselves (no look-ahead); later rows
    the median of all of them.
    """

    def running(series: pd.Series) -> pd.Series:
        early = np.arange(len(series)) < reference_cycles
        return series.expanding().median().where(early).ffill()

    return values.groupby(cells, sort=False).transform(running)


def summary_features(
    cycles: pd.DataFrame, reference_cycles: int, nominal_capacity_ah: float
) -> pd.DataFrame:
    """Summary features per row from the cell's history up to that cycle (no look-ahead)."""
    cells = cycles[schema.CELL_ID]
    by_cell = cycles.groupby(schema.CELL_ID, sort=False)
    capacity_ref = _running_reference(cycles["capacity_ah"], cells, reference_cycles)
    first_r = _running_reference(cycles["resistance_ohm"], cells, reference_cycles)
    ratio = cycles["capacity_ah"] / capacity_ref
    r_ratio = cycles["resistance_ohm"] / first_r
    kelvin = cycles["temperature_c"] + 273.15
    out = pd.DataFrame(index=cycles.index)
    out["cycle_count"] = cycles[schema.CYCLE].astype(float)
    out["efc"] = cycles["discharge_throughput_ah"] / nominal_capacity_ah
    out["days"] = cycles["time_s"] / 86400.0
    out["temperature_c"] = by_cell["temperature_c"].transform(lambda s: s.expanding().mean())
    out["arrhenius"] = np.exp(-EA_SEI_J_PER_MOL / GAS_CONSTANT * (1.0 / kelvin - 1.0 / 298.15))
    for name in ("charge_c_rate", "discharge_c_rate", "depth_of_discharge"):
        out[name] = cycles[name]
    out["reference_capacity_ah"] = capacity_ref
    out["capacity_ratio"] = ratio
    out["capacity_ratio_mean_10"] = ratio.groupby(cells, sort=False).transform(
        lambda s: s.rolling(10, min_periods=1).mean()
    )
    out["capacity_ratio_min_10"] = ratio.groupby(cells, sort=False).transform(
        lambda s: s.rolling(10, min_periods=1).min()
    )
    out["fade_per_100_last_50"] = _slope_per_100(ratio, cycles[schema.CYCLE], cells, 50)
    out["fade_per_100_last_200"] = _slope_per_100(ratio, cycles[schema.CYCLE], cells, 200)
    out["resistance_ratio"] = r_ratio.groupby(cells, sort=False).transform(
        lambda s: s.rolling(10, min_periods=1).mean()
    )
    out["resistance_per_100_last_100"] = _slope_per_100(r_ratio, cycles[schema.CYCLE], cells, 100)
    return out


def carry_curve_features(cycles: pd.DataFrame, curve_features: pd.DataFrame) -> pd.DataFrame:
    """The curve features of the last checkpoint at or before each row's cycle, per cell.

    Returns a frame aligned with ``cycles`` (NaN before a cell's first checkpoint) with
    ``cycles_since_curve``.
    """
    keys = cycles[schema.CYCLE_KEYS].reset_index()
    feats = curve_features.rename(columns={schema.CYCLE: "curve_cycle"})
    feats = feats.sort_values("curve_cycle")
    merged = pd.merge_asof(
        keys.sort_values(schema.CYCLE),
        feats,
        left_on=schema.CYCLE,
        right_on="curve_cycle",
        by=schema.CELL_ID,
        direction="backward",
    ).set_index("index")
    merged["cycles_since_curve"] = merged[schema.CYCLE] - merged["curve_cycle"]
    drop = [schema.CELL_ID, schema.CYCLE, "curve_cycle"]
    return merged.drop(columns=drop).reindex(cycles.index)


def temperature_holdout(
    cells: pd.DataFrame, train_c: list[float], test_c: list[float], tolerance_c: float = 2.5
) -> dict[str, str]:
    """Split cells by chamber temperature: ``train`` near ``train_c``, ``test`` near ``test_c``.

    ``cells`` has ``cell_id`` and ``temperature_c`` (the cell's mean). Cells near neither are
    left out of both (``unused``).
    """

    def near(temp: float, temps: list[float]) -> bool:
        return any(abs(temp - t) <= tolerance_c for t in temps)

    split = {}
    for cell, temp in zip(cells[schema.CELL_ID], cells["temperature_c"], strict=True):
        split[cell] = "test" if near(temp, test_c) else "train" if near(temp, train_c) else "unused"
    return split


def cell_folds(cells: list[str], folds: int) -> Iterator[tuple[list[str], list[str]]]:
    """(train cells, test cells) of each fold, every cell held out exactly once.

    The sorted cells are dealt round robin into ``min(folds, len(cells))`` folds (cell ids that
    sort by chamber or protocol spread over the folds); as many folds as cells is
    leave-one-cell-out.
    """
    ordered = sorted(cells)
    count = min(folds, len(ordered))
    for k in range(count):
        held = ordered[k::count]
        yield [c for c in ordered if c not in held], held


def assert_no_leak(train_cells: object, test_cells: object) -> None:
    """Raise if any cell is in both the training and the test side of a split."""
    shared = set(train_cells) & set(test_cells)
    if shared:
        raise AssertionError(f"cells in both train and test: {sorted(shared)[:5]}")


def soh_metrics(
    true: np.ndarray, pred: np.ndarray, cells: np.ndarray | None = None
) -> dict[str, float]:
    """RMSE, MAE and MAPE in SOH percentage points and %, R2, and shares within ±3 and ±5 points.

    With ``cells`` (each row's cell id), also the cells whose every row is within ±3 points and
    the 95 % lower bound of that share: the cells, not their correlated rows, are the
    independent units.
    """
    true, pred = np.asarray(true, dtype=float), np.asarray(pred, dtype=float)
    err = pred - true
    total = np.sum((true - true.mean()) ** 2)
    per_cell: dict[str, float] = {}
    if cells is not None:
        held = pd.Series(np.abs(err) <= 0.03).groupby(np.asarray(cells)).all()
        per_cell = {
            "cells": int(held.size),
            "cells_within_3pct": int(held.sum()),
            "cells_within_3pct_lower95": bounds.share_lower(int(held.sum()), int(held.size)),
        }
    return per_cell | {
        "rmse_pct": float(np.sqrt(np.mean(err**2)) * 100),
        "mae_pct": float(np.mean(np.abs(err)) * 100),
        "mape_pct": float(np.mean(np.abs(err) / true) * 100),
        "r2": float(1 - np.sum(err**2) / total) if total > 0 else float("nan"),
        "within_3pct": float(np.mean(np.abs(err) <= 0.03)),
        "within_5pct": float(np.mean(np.abs(err) <= 0.05)),
        "n": int(true.size),
    }


def rul_metrics(true: np.ndarray, pred: np.ndarray, one_per_cell: bool = False) -> dict[str, float]:
    """RUL RMSE (cycles) and MAPE (%) over rows with a known RUL above zero.

    With ``one_per_cell`` (the rows are independent cells, e.g. all at one cycle), also the
    MAPE's one-sided 95 % upper bound (Student t over the cells).
    """
    true, pred = np.asarray(true, dtype=float), np.asarray(pred, dtype=float)
    keep = np.isfinite(true) & (true > 0)
    err = pred[keep] - true[keep]
    if not keep.any():
        return {"rmse_cycles": float("nan"), "mape_pct": float("nan"), "n": 0}
    ape = np.abs(err) / true[keep] * 100
    bound = {"mape_pct_upper95": bounds.mean_upper(ape)} if one_per_cell else {}
    return {
        "rmse_cycles": float(np.sqrt(np.mean(err**2))),
        "mape_pct": float(np.mean(ape)),
        "n": int(keep.sum()),
    } | bound


def health_class(soh: np.ndarray, watch_below: float, replace_below: float) -> np.ndarray:
    """``healthy`` / ``watch`` / ``replace`` by SOH thresholds (``unknown`` without an SOH)."""
    soh = np.asarray(soh, dtype=float)
    graded = np.where(
        soh < replace_below, "replace", np.where(soh < watch_below, "watch", "healthy")
    )
    return np.where(np.isnan(soh), "unknown", graded)
