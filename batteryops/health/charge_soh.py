"""SOH from charge features: ridge and XGBoost, chosen by cross-validation over training cells.

The rows are those of :func:`batteryops.health.nasa_soh.label_rows` (any table with the same
columns will do). Feature sets (:data:`FEATURE_SETS`), hyper-parameters (:data:`GRIDS`) and
the target (SOH itself, or SOH minus the coulomb-count ratio of the last charge, ``base``) are
chosen by leave-one-cell-out cross-validation of the training cells alone
(:func:`select`): each training cell is predicted by a model of the others, and the choice with
the lowest pooled RMSE wins. The test cells are not touched until :func:`fit_predict`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.health import dataset

SOH = dataset.SOH
COULOMB_COUNT = "charge_ah_ratio"  # the last charge's charge over the reference's
_WINDOWS = ("window_ah_3p80_4p00_ratio", "window_ah_3p90_4p10_ratio", "window_ah_4p00_4p15_ratio")
_CHARGE = (
    *_WINDOWS,
    "window_ah_3p80_4p15_ratio",
    COULOMB_COUNT,
    "cc_ah_ratio",
    "cv_ah_ratio",
    "cv_s_ratio",
    "cc_start_v_change",
)
_SHAPE = ("ic_peak_v_change", "ic_peak_ah_per_v_ratio", "temperature_rise_c_change")
_COUNTERS = ("discharges_since_reference", "equivalent_full_cycles", "days_since_reference")
FEATURE_SETS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "window_3p9_4p1": ("window_ah_3p90_4p10_ratio",),
        "windows": _WINDOWS,
        "charge": _CHARGE,
        "charge_shape": (*_CHARGE, *_SHAPE),
        "charge_counters": (*_CHARGE, *_COUNTERS),
        "charge_counters_impedance": (*_CHARGE, *_COUNTERS, "re_ohm_ratio", "rct_ohm_ratio"),
        "all": (
            *_CHARGE,
            *_SHAPE,
            *_COUNTERS,
            "re_ohm_ratio",
            "rct_ohm_ratio",
            "temperature_mean_c_change",
            "ambient_temperature_c",
        ),
    }
)
GRIDS: Mapping[str, tuple[dict[str, Any], ...]] = MappingProxyType(
    {
        "ridge": tuple({"alpha": alpha} for alpha in (0.01, 0.1, 1.0, 10.0, 100.0)),
        "xgboost": tuple(
            {"max_depth": depth, "n_estimators": trees, "learning_rate": 0.05}
            for depth, trees in itertools.product((2, 3), (100, 300))
        ),
    }
)
BASES = (None, COULOMB_COUNT)


@dataclass(frozen=True)
class Choice:
    """A model as cross-validation picks it: kind, features, hyper-parameters, target base."""

    kind: str
    feature_set: str
    hyper: dict[str, Any] = field(default_factory=dict)
    base: str | None = None

    @property
    def features(self) -> tuple[str, ...]:
        """The columns the model reads."""
        return FEATURE_SETS[self.feature_set]


def make_model(kind: str, hyper: Mapping[str, Any], seed: int) -> Any:
    """An unfitted regressor: ``ridge`` (median imputation, scaling) or ``xgboost`` (2 threads).

    Raises:
        ValueError: If ``kind`` is neither.
    """
    if kind == "ridge":
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            Ridge(**hyper),
        )
    if kind == "xgboost":
        from xgboost import XGBRegressor

        return XGBRegressor(**hyper, random_state=seed, n_jobs=2, tree_method="hist")
    raise ValueError(f"unknown model kind {kind!r} (expected one of {sorted(GRIDS)})")


def fit_predict(train: pd.DataFrame, test: pd.DataFrame, choice: Choice, seed: int) -> np.ndarray:
    """Fit ``choice`` on the training rows and predict the SOH of the test rows.

    Raises:
        AssertionError: If a cell is in both.
    """
    dataset.assert_no_leak(train[schema.CELL_ID], test[schema.CELL_ID])
    columns = list(choice.features)
    target = train[SOH].to_numpy(dtype=float)
    if choice.base is not None:
        target = target - train[choice.base].to_numpy(dtype=float)
    model = make_model(choice.kind, choice.hyper, seed)
    model.fit(train[columns].to_numpy(dtype=float), target)
    predicted = model.predict(test[columns].to_numpy(dtype=float))
    if choice.base is not None:
        predicted = predicted + test[choice.base].to_numpy(dtype=float)
    return np.asarray(predicted, dtype=float)


def cross_validated(rows: pd.DataFrame, choice: Choice, seed: int) -> np.ndarray:
    """Leave-one-cell-out predictions of every row (each cell by a model of the others)."""
    predicted = np.full(len(rows), np.nan)
    cells = rows[schema.CELL_ID].to_numpy()
    for train_cells, held in dataset.cell_folds(sorted(set(cells)), len(set(cells))):
        inside, out = np.isin(cells, train_cells), np.isin(cells, held)
        predicted[out] = fit_predict(rows[inside], rows[out], choice, seed)
    return predicted


def select(
    rows: pd.DataFrame,
    kind: str,
    seed: int,
    feature_sets: Sequence[str] | None = None,
) -> tuple[Choice, pd.DataFrame]:
    """The choice of ``kind`` with the lowest leave-one-cell-out RMSE on ``rows``, and every score.

    ``rows`` must hold training cells only. The scores table has one row per choice: feature
    set, hyper-parameters, base, RMSE and share within ±3 points (pooled over rows). Every
    choice is scored on the same rows: those with a coulomb count (a base must be finite).
    """
    usable = rows[np.isfinite(rows[COULOMB_COUNT].to_numpy(dtype=float))]
    truth = usable[SOH].to_numpy(dtype=float)
    scores = []
    for name in feature_sets or list(FEATURE_SETS):
        for hyper, base in itertools.product(GRIDS[kind], BASES):
            choice = Choice(kind, name, dict(hyper), base)
            error = cross_validated(usable, choice, seed) - truth
            scores.append(
                {
                    "choice": choice,
                    "feature_set": name,
                    "hyper": dict(hyper),
                    "base": base or "none",
                    "rmse_pct": float(np.sqrt(np.mean(error**2)) * 100),
                    "within_3pct": float(np.mean(np.abs(error) <= 0.03)),
                    "rows": len(usable),
                }
            )
    table = pd.DataFrame(scores).sort_values("rmse_pct", kind="stable", ignore_index=True)
    return table["choice"].iloc[0], table.drop(columns="choice")
