"""The health model: XGBoost for SOH and RUL beside ridge, random-forest and fade-fit baselines.

One :class:`HealthModel` carries both boosters, the feature lists and the settings that turn
cycle data into features, so the ``train_health`` stage, ``batteryops health`` and the MLflow
pyfunc (``models:/battery-soh@champion``) compute features with the same code.

RUL is learned as ``log(1 + RUL)`` (lives span several-fold across conditions; errors are judged
relative), and its interval comes from the out-of-fold residuals of the cross-validation folds
(cells held out) in that log space (the ``interval`` quantiles in params).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import joblib
import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import HealthParams
from batteryops.core.io import atomic_path
from batteryops.health import dataset, dma, fade_fit, incremental_capacity

log = logging.getLogger(__name__)

SOH_PRED = "soh"
RUL_PRED = "rul_cycles"
FADE_FIT_RUL = "fade_fit_rul_log"


def featurize(
    cycles: pd.DataFrame, curves: pd.DataFrame | None, params: HealthParams
) -> pd.DataFrame:
    """Summary and curve features per (cell, cycle) row, keys first; no look-ahead."""
    cycles = cycles.sort_values(schema.CYCLE_KEYS).reset_index(drop=True)
    feats = dataset.summary_features(cycles, params.reference_cycles, params.nominal_capacity_ah)
    if curves is not None and not curves.empty:
        curve_feats = incremental_capacity.curve_features(curves).merge(
            dma.mode_features(curves), on=schema.CYCLE_KEYS, how="left"
        )
        feats = feats.join(dataset.carry_curve_features(cycles, curve_feats))
    return pd.concat([cycles[schema.CYCLE_KEYS], feats], axis=1)


def fade_fit_rul(frame: pd.DataFrame, at: pd.Series, eol_soh: float) -> np.ndarray:
    """Per row of ``at`` (cell, cycle): RUL from the fade fit of the cell's capacity ratios."""
    out = np.full(len(at), np.nan)
    history = {cell: g for cell, g in frame.groupby(schema.CELL_ID, sort=False)}
    for i, (cell, now) in enumerate(zip(at[schema.CELL_ID], at[schema.CYCLE], strict=True)):
        past = history[cell]
        past = past[past[schema.CYCLE] <= now]
        ratio = past["capacity_ratio"].to_numpy()
        keep = np.isfinite(ratio)
        if keep.sum() < 10:
            continue
        out[i] = fade_fit.rul_from_history(
            past[schema.CYCLE].to_numpy(dtype=float)[keep], ratio[keep], float(now), eol_soh
        )
    return out


def rul_rows(frame: pd.DataFrame, params: HealthParams) -> pd.DataFrame:
    """The rows RUL is learned and judged on: every ``rul_every`` cycles from ``rul_from_cycle``."""
    cycle = frame[schema.CYCLE]
    rows = frame[(cycle >= params.rul_from_cycle) & (cycle % params.rul_every == 0)].copy()
    fit = fade_fit_rul(frame, rows, params.eol_soh)
    rows[FADE_FIT_RUL] = np.log1p(np.clip(fit, 0, params.max_rul_cycles))
    return rows


def _regressor(hyper: dict, seed: int) -> object:
    from xgboost import XGBRegressor

    return XGBRegressor(**hyper, random_state=seed, n_jobs=2, tree_method="hist")


def baselines(seed: int) -> dict[str, object]:
    """The learned baselines: ridge regression and a random forest (both impute missing values)."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "ridge": make_pipeline(
            SimpleImputer(strategy="median"), StandardScaler(), RidgeCV(np.logspace(-3, 3, 13))
        ),
        "random_forest": make_pipeline(
            SimpleImputer(strategy="median"),
            RandomForestRegressor(
                n_estimators=100,
                min_samples_leaf=3,
                max_features=0.33,
                n_jobs=2,
                random_state=seed,
            ),
        ),
    }


class RidgeBoosted:
    """Ridge regression plus XGBoost on its residuals: the SOH model.

    SOH is close to linear in the capacity ratio and the resistance (the capacity measured at
    the protocol's rate falls short of the low-rate one by a share that grows with resistance).
    Trees alone approximate that in steps and cannot carry it to a chamber temperature between
    the training ones; the ridge part carries the linear trend and the trees what it misses.
    """

    def __init__(self, hyper: dict, seed: int):
        self.linear = baselines(seed)["ridge"]
        self.boosted = _regressor(hyper, seed)

    def fit(self, rows: pd.DataFrame, target: pd.Series) -> RidgeBoosted:
        """Fit the ridge part, then the trees on its residuals."""
        self.linear.fit(rows, target)
        self.boosted.fit(rows, target.to_numpy(dtype=float) - self.linear.predict(rows))
        return self

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """Ridge plus trees."""
        return self.linear.predict(rows) + self.boosted.predict(rows)

    def contributions(self, rows: pd.DataFrame) -> np.ndarray:
        """Per row and feature, the exact additive contributions (rows x features).

        The ridge part's are ``coef * standardised value`` (zero at the training mean), the
        trees' are TreeSHAP; with the two intercepts they sum to the prediction.
        """
        import xgboost as xgb

        imputer, scaler, ridge = (step for _, step in self.linear.steps)
        scaled = scaler.transform(imputer.transform(rows))
        linear = scaled * ridge.coef_
        trees = self.boosted.get_booster().predict(xgb.DMatrix(rows), pred_contribs=True)
        return linear + trees[:, :-1]


def fit_models(
    train: pd.DataFrame,
    features: list[str],
    target: str,
    hyper: dict,
    seed: int,
    linear_base: bool = False,
) -> dict[str, object]:
    """Fit XGBoost (on a ridge base when ``linear_base``) and the baselines on ``train``."""
    rows = train[train[target].notna()]
    fitted = {"xgboost": RidgeBoosted(hyper, seed) if linear_base else _regressor(hyper, seed)}
    fitted.update(baselines(seed))
    for model in fitted.values():
        model.fit(rows[features], rows[target])
    return fitted


@dataclass
class HealthModel:
    """Fitted SOH and RUL models with everything needed to score cycle data."""

    soh: object
    rul: object
    soh_features: list[str]
    rul_features: list[str]
    params: HealthParams
    rul_log_residual_quantiles: tuple[float, float] = (0.0, 0.0)
    metadata: dict = field(default_factory=dict)

    def predict_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """SOH per featurized row, RUL with its interval where the RUL features exist."""
        out = frame[schema.CYCLE_KEYS].copy()
        absent = sorted(set(self.soh_features + self.rul_features) - set(frame.columns))
        if absent:
            # Cycle data without low-rate curves (most cycler exports): their features are
            # missing, which the trees route and the ridge part imputes, as for a cell
            # between checkpoints before its first curve.
            log.warning("no %s in the input: predicted without them", ", ".join(absent[:4]))
        out[SOH_PRED] = self.soh.predict(frame.reindex(columns=self.soh_features))
        if FADE_FIT_RUL in frame:
            log_rul = self.rul.predict(frame.reindex(columns=self.rul_features))
            low, high = self.rul_log_residual_quantiles
            out[RUL_PRED] = np.expm1(log_rul).clip(min=0)
            out["rul_low_cycles"] = np.expm1(log_rul + low).clip(min=0)
            out["rul_high_cycles"] = np.expm1(log_rul + high).clip(min=0)
        return out

    def predict_cells(self, cycles: pd.DataFrame, curves: pd.DataFrame | None) -> pd.DataFrame:
        """Per cell, at its last cycle: SOH, RUL with an interval and a health class."""
        frame = featurize(cycles, curves, self.params)
        last = frame.groupby(schema.CELL_ID, sort=False).tail(1).copy()
        last[FADE_FIT_RUL] = np.log1p(
            np.clip(fade_fit_rul(frame, last, self.params.eol_soh), 0, self.params.max_rul_cycles)
        )
        out = self.predict_rows(last).reset_index(drop=True)
        out["health_class"] = dataset.health_class(
            out[SOH_PRED].to_numpy(), self.params.watch_below_soh, self.params.replace_below_soh
        )
        return out

    def save(self, path: str) -> None:
        """One joblib file (boosters, features, params), written atomically."""
        with atomic_path(path) as tmp:
            joblib.dump(self, tmp)

    @staticmethod
    def load(path: str) -> HealthModel:
        """Read a model written by :meth:`save`."""
        return joblib.load(path)
