"""SOH from charge features: ridge and XGBoost, chosen by cross-validation over training cells.

The rows are those of :func:`batteryops.health.nasa_soh.label_rows` (any table with the same
columns will do). Feature sets (:data:`FEATURE_SETS`), hyper-parameters (:data:`GRIDS`) and
the target (SOH itself, or SOH minus the coulomb-count ratio of the last charge, ``base``) are
chosen by cross-validation of the training cells alone (:func:`select`): each training cell is
predicted by a model of the others (``by="cell"``), or each chamber's cells by a model of the
other chambers' (``by="ambient"``: what a judged cell at an unseen temperature asks of a model),
and the choice with the lowest pooled RMSE wins. The coulomb count itself
(:data:`COULOMB_COUNT_KIND`, no fit) is a candidate beside the learned models: a correction that
does not carry to other cells loses to it. The test cells are not touched until
:func:`fit_predict`.
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
COULOMB_COUNT_KIND = "coulomb count"  # the candidate that predicts the coulomb count as it is
AMBIENT = "ambient_temperature_c"


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
    if choice.kind == COULOMB_COUNT_KIND:
        return test[COULOMB_COUNT].to_numpy(dtype=float)
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


def cell_groups(rows: pd.DataFrame, by: str) -> np.ndarray:
    """Per row, the fold group of its cell: the cell itself, or its chamber (``by="ambient"``).

    A cell's chamber is the median of its rows' ambient temperature, rounded to a degree.

    Raises:
        ValueError: If ``by`` is neither ``cell`` nor ``ambient``.
    """
    cells = rows[schema.CELL_ID]
    if by == "cell":
        return cells.to_numpy()
    if by == "ambient":
        chamber = rows.groupby(schema.CELL_ID)[AMBIENT].median().round()
        return cells.map(chamber).to_numpy()
    raise ValueError(f"cross-validation by {by!r}: expected 'cell' or 'ambient'")


def cross_validated(rows: pd.DataFrame, choice: Choice, seed: int, by: str = "cell") -> np.ndarray:
    """Held-out predictions of every row: each group of cells by a model of the others.

    The groups are :func:`cell_groups`; with one group only (one chamber), each cell is its own.
    """
    predicted = np.full(len(rows), np.nan)
    groups = cell_groups(rows, by)
    if len(set(groups)) < 2:
        groups = rows[schema.CELL_ID].to_numpy()
    for held in sorted(set(groups)):
        out = groups == held
        predicted[out] = fit_predict(rows[~out], rows[out], choice, seed)
    return predicted


def select(
    rows: pd.DataFrame,
    kind: str,
    seed: int,
    feature_sets: Sequence[str] | None = None,
    by: str = "cell",
) -> tuple[Choice, pd.DataFrame]:
    """The choice of ``kind`` with the lowest cross-validated RMSE on ``rows``, and every score.

    ``rows`` must hold training cells only; ``by`` groups them into folds
    (:func:`cross_validated`). The scores table has one row per choice: feature set,
    hyper-parameters, base, RMSE and share within ±3 points (pooled over rows). Every choice is
    scored on the same rows: those with a coulomb count (a base must be finite).
    ``kind`` :data:`COULOMB_COUNT_KIND` has one choice, the coulomb count as it is.
    """
    usable = rows[np.isfinite(rows[COULOMB_COUNT].to_numpy(dtype=float))]
    truth = usable[SOH].to_numpy(dtype=float)
    if kind == COULOMB_COUNT_KIND:
        candidates = [Choice(kind, "charge", {}, COULOMB_COUNT)]
    else:
        candidates = [
            Choice(kind, name, dict(hyper), base)
            for name in feature_sets or list(FEATURE_SETS)
            for hyper, base in itertools.product(GRIDS[kind], BASES)
        ]
    scores = []
    for choice in candidates:
        error = cross_validated(usable, choice, seed, by) - truth
        scores.append(
            {
                "choice": choice,
                "feature_set": choice.feature_set,
                "hyper": dict(choice.hyper),
                "base": choice.base or "none",
                "rmse_pct": float(np.sqrt(np.mean(error**2)) * 100),
                "within_3pct": float(np.mean(np.abs(error) <= 0.03)),
                "rows": len(usable),
            }
        )
    table = pd.DataFrame(scores).sort_values("rmse_pct", kind="stable", ignore_index=True)
    return table["choice"].iloc[0], table.drop(columns="choice")
