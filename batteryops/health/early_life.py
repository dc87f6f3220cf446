"""Cycle life predicted early, from the first cycles' summary (in the spirit of Severson 2019).

Severson et al. (2019, Nature Energy 4, 383) predicted the cycle life of fast-charged LFP cells
from their first 100 cycles. Their "summary" features need only what a cycler's per-cycle summary
holds (:func:`summary_features`): discharge capacity at cycle 2 and 100 and its largest gain,
linear fits of the fade over cycles 2-100 and 91-100, the first five charge times, the cell
temperature's extremes and integral, and the resistance at cycle 2, its minimum and its change.
A regularised linear model of log10(cycle life) (:func:`cross_validated`) is judged by leaving
one cell out at a time, its hyper-parameters chosen by an inner cross-validation on the other
cells only, beside two baselines: the training cells' mean life, and the early fade extrapolated
linearly to end of life.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from batteryops.core import schema

EARLY_CYCLES = 100  # cycles 2..100 (cycle 1 of the MATR summaries is a formation artefact)
FIRST = 2
FEATURES = [
    "capacity_2",
    "capacity_max_minus_2",
    "capacity_100",
    "fade_slope_2_100",
    "fade_intercept_2_100",
    "fade_slope_91_100",
    "fade_intercept_91_100",
    "charge_time_2_6",
    "temperature_max",
    "temperature_min",
    "temperature_integral",
    "resistance_2",
    "resistance_min",
    "resistance_change",
]
L1_RATIOS = [0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0]
LIFE_CAP = 100_000  # cycles: where a prediction that never ends (a flat fade line) is scored


def cycle_life(cycles: pd.DataFrame, end_of_life_ah: float, tolerance: float = 0.005) -> pd.Series:
    """Each cell's cycle life: its first cycle at or below ``end_of_life_ah`` (+ ``tolerance``).

    Tests that stop at end of life log their last cycle just above it (the MATR cells end at
    0.880-0.883 Ah for 0.88 Ah), hence the tolerance. A cell that never gets there stopped early
    (censored): NaN.
    """
    cycles = cycles.sort_values(schema.CYCLE_KEYS)
    reached = cycles[cycles["capacity_ah"] <= end_of_life_ah * (1.0 + tolerance)]
    life = reached.groupby(schema.CELL_ID)[schema.CYCLE].min()
    return life.reindex(cycles[schema.CELL_ID].unique()).astype(float)


def summary_features(cycles: pd.DataFrame, early: int = EARLY_CYCLES) -> pd.DataFrame:
    """One row per cell with every cycle from 2 to ``early``: the :data:`FEATURES`.

    Args:
        cycles: Canonical cycle data (capacity, resistance, mean and highest temperature, charge
            time; a missing resistance or temperature leaves its features NaN).
        early: The last cycle read.
    """
    rows = {}
    span = np.arange(FIRST, early + 1)
    for cell, part in cycles.groupby(schema.CELL_ID, sort=True):
        part = part.set_index(schema.CYCLE).sort_index().reindex(span)
        capacity = part["capacity_ah"].interpolate(limit_direction="both").to_numpy()
        if not np.isfinite(capacity).all():
            continue  # fewer than two measured cycles in the window
        slope, intercept = np.polyfit(span, capacity, 1)
        late_slope, late_intercept = np.polyfit(span[-10:], capacity[-10:], 1)
        resistance = part["resistance_ohm"].dropna()
        rows[cell] = {
            "capacity_2": capacity[0],
            "capacity_max_minus_2": capacity.max() - capacity[0],
            "capacity_100": capacity[-1],
            "fade_slope_2_100": slope,
            "fade_intercept_2_100": intercept,
            "fade_slope_91_100": late_slope,
            "fade_intercept_91_100": late_intercept,
            "charge_time_2_6": part["charge_time_s"].iloc[:5].mean(),
            "temperature_max": part["temperature_max_c"].max(),
            "temperature_min": part["temperature_c"].min(),
            "temperature_integral": part["temperature_c"].sum(),
            "resistance_2": resistance.iloc[0] if len(resistance) else np.nan,
            "resistance_min": resistance.min(),
            "resistance_change": resistance.iloc[-1] - resistance.iloc[0]
            if len(resistance)
            else np.nan,
        }
    return pd.DataFrame.from_dict(rows, orient="index", columns=FEATURES)


def linear_extrapolation(features: pd.DataFrame, end_of_life_ah: float) -> np.ndarray:
    """Baseline: the cycle where the fade line of cycles 2-100 reaches end of life."""
    slope = features["fade_slope_2_100"].to_numpy()
    intercept = features["fade_intercept_2_100"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        cycle = (end_of_life_ah - intercept) / slope
    # A flat or rising line never gets there: the longest life a cell of the set could have.
    return np.where((slope < 0) & (cycle > EARLY_CYCLES), cycle, np.inf)


def cross_validated(
    features: pd.DataFrame, life: pd.Series, inner_folds: int = 5
) -> dict[str, np.ndarray]:
    """Leave-one-cell-out predictions of cycle life: the elastic net and the mean baseline.

    The baseline is the training cells' geometric mean life (the mean of log10 life).

    The elastic net (standardised inputs, log10 cycle life) chooses its penalty and L1 share by
    an inner ``inner_folds``-fold cross-validation of the training cells only; missing inputs
    take the training cells' median.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import ElasticNetCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = features[FEATURES].to_numpy(dtype=float)
    y = np.log10(life.reindex(features.index).to_numpy(dtype=float))
    model_pred, mean_pred = np.empty(len(y)), np.empty(len(y))
    for held in range(len(y)):
        train = np.arange(len(y)) != held
        model = make_pipeline(
            SimpleImputer(strategy="median"),
            StandardScaler(),
            ElasticNetCV(l1_ratio=L1_RATIOS, cv=inner_folds, max_iter=200_000),
        )
        model.fit(x[train], y[train])
        model_pred[held] = model.predict(x[held : held + 1])[0]
        mean_pred[held] = y[train].mean()
    return {"elastic_net": 10**model_pred, "mean_of_training_cells": 10**mean_pred}


def errors(predicted: np.ndarray, actual: np.ndarray, seed: int = 0) -> dict[str, float]:
    """MAPE (%) with a 95 % bootstrap interval over cells, and RMSE in cycles."""
    predicted = np.minimum(predicted, LIFE_CAP)  # an infinite extrapolation stays finite
    relative = np.abs(predicted - actual) / actual
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(actual), size=(2000, len(actual)))
    low, high = np.percentile(relative[draws].mean(axis=1) * 100, [2.5, 97.5])
    return {
        "mape_pct": float(relative.mean() * 100),
        "mape_pct_95": [float(low), float(high)],
        "rmse_cycles": float(np.sqrt(np.mean((predicted - actual) ** 2))),
    }
