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
MIN_FADE_POINTS = 10


def featurize(
    cycles: pd.DataFrame, curves: pd.DataFrame | None, params: HealthParams
) -> pd.DataFrame:
    """Summary and curve features per (cell, cycle) row, keys first; no look-ahead."""
    cycles = cycles.sort_values(schema.CYCLE_KEYS).reset_index(drop=True)
    feats = dataset.summary_features(cycles, params)
    if curves is not None and not curves.empty:
        curve_feats = incremental_capacity.curve_features(curves).merge(
            dma.mode_features(curves), on=schema.CYCLE_KEYS, how="left"
        )
        feats = feats.join(dataset.carry_curve_features(cycles, curve_feats))
    return pd.concat([cycles[schema.CYCLE_KEYS], feats], axis=1)


FADE_SOURCES = (
    ("full_cycle_soh", "cycles_since_full_cycle"),
    ("checkup_soh", "cycles_since_checkup"),
)


def _measured(past: pd.DataFrame, value: str, since: str) -> tuple[np.ndarray, np.ndarray]:
    """The (cycle, SOH) points a carried-forward feature was measured at, each once."""
    at = (past[schema.CYCLE] - past[since]).to_numpy(dtype=float)
    values = past[value].to_numpy(dtype=float)
    keep = np.isfinite(at) & np.isfinite(values)
    at, index = np.unique(at[keep], return_index=True)
    return at, values[keep][index]


def fade_fit_rul(frame: pd.DataFrame, at: pd.Series, eol_soh: float) -> np.ndarray:
    """Per row of ``at`` (cell, cycle): RUL from the fade fit of the cell's measured SOH.

    The points are its near-full field cycles (a coulomb count at one rate) where it has at
    least :data:`MIN_FADE_POINTS`, else its check-ups; each as known before the row's cycle.
    """
    out = np.full(len(at), np.nan)
    history = {cell: g for cell, g in frame.groupby(schema.CELL_ID, sort=False)}
    for i, (cell, now) in enumerate(zip(at[schema.CELL_ID], at[schema.CYCLE], strict=True)):
        past = history[cell]
        past = past[past[schema.CYCLE] <= now]
        for value, since in FADE_SOURCES:
            cycles_n, ratio = _measured(past, value, since)
            enough = MIN_FADE_POINTS if value == "full_cycle_soh" else fade_fit.MIN_POINTS
            if len(ratio) >= enough:
                out[i] = fade_fit.rul_from_history(cycles_n, ratio, float(now), eol_soh)
                break
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
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            RidgeCV(np.logspace(-3, 3, 13)),
        ),
        "random_forest": make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
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

    The change of SOH since the last check-up is close to linear in the check-up fade line
    carried to now and in the coulomb count's gap to the check-up. Trees alone approximate that
    in steps and cannot carry it to a chamber temperature between the training ones; the ridge
    part carries the linear trend and the trees what it misses.
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


class SinceCheckup:
    """An SOH model learned as the change since the cell's last check-up.

    SOH = ``checkup_soh`` + a change. Where the field has a near-full cycle since (a coulomb
    count, ``full_cycle_vs_checkup``), ``inner`` predicts the change from the relative inputs
    (shares, ratios, cycles since), so a cell of another size, chemistry or simulator is read
    the same way. Where it has none (a cell cycled at partial depth), the change is the check-up
    fade line carried to now (``projected_change``): the coulomb count is the model's main
    input, and it is not extrapolated to rows without one. Before a cell's first check-up the
    base is 1 (a fresh cell).
    """

    def __init__(self, inner: object):
        self.inner = inner
        self.fitted = False

    @staticmethod
    def _base(rows: pd.DataFrame) -> np.ndarray:
        return rows[dataset.CHECKUP_SOH].fillna(1.0).to_numpy(dtype=float)

    @staticmethod
    def _counted(rows: pd.DataFrame) -> np.ndarray:
        return rows[dataset.COULOMB_COUNT_GAP].notna().to_numpy()

    @staticmethod
    def _fade_line(rows: pd.DataFrame) -> np.ndarray:
        return rows[dataset.PROJECTED_CHANGE].fillna(0.0).to_numpy(dtype=float)

    def fit(self, rows: pd.DataFrame, target: pd.Series) -> SinceCheckup:
        """Fit ``inner`` on the SOH change since the last check-up, on rows with a coulomb count."""
        counted = self._counted(rows)
        self.fitted = bool(counted.any())
        if self.fitted:
            self.inner.fit(rows[counted], (target - self._base(rows))[counted])
        return self

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """The last check-up's SOH plus the predicted change (the fade line's without a count)."""
        change = self._fade_line(rows)
        counted = self._counted(rows) & self.fitted
        if counted.any():
            change[counted] = self.inner.predict(rows[counted])
        return self._base(rows) + change

    def contributions(self, rows: pd.DataFrame) -> np.ndarray:
        """Per row and feature, additive contributions that sum to the prediction.

        ``inner``'s where it predicts, else the fade line's change on ``projected_change``; the
        base on ``checkup_soh``.
        """
        columns = list(rows.columns)
        out = np.zeros(rows.shape)
        counted = self._counted(rows) & self.fitted
        if counted.any():
            out[counted] = self.inner.contributions(rows[counted])
        out[~counted, columns.index(dataset.PROJECTED_CHANGE)] = self._fade_line(rows)[~counted]
        out[:, columns.index(dataset.CHECKUP_SOH)] += self._base(rows)
        return out


def fit_models(
    train: pd.DataFrame,
    features: list[str],
    target: str,
    hyper: dict,
    seed: int,
    since_checkup: bool = False,
) -> dict[str, object]:
    """Fit XGBoost and the baselines on ``train``.

    With ``since_checkup`` (the SOH task) each learns the change since the last check-up
    (:class:`SinceCheckup`) and XGBoost sits on a ridge base (:class:`RidgeBoosted`).
    """
    rows = train[train[target].notna()]
    if since_checkup:
        fitted = {"xgboost": SinceCheckup(RidgeBoosted(hyper, seed))}
        fitted.update({name: SinceCheckup(m) for name, m in baselines(seed).items()})
    else:
        fitted = {"xgboost": _regressor(hyper, seed)}
        fitted.update(baselines(seed))
    for model in fitted.values():
        model.fit(rows[features], rows[target])
    return fitted


@dataclass
class HealthModel:
    """Fitted SOH and RUL models with everything needed to score cycle data."""

    soh: object
    rul: object | None  # None: the training cells gave no RUL rows (none reached end of life)
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
        if FADE_FIT_RUL in frame and self.rul is not None:
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
        """Read a model written by :meth:`save`.

        Raises:
            IncompatibleModelError: The model was saved by a batteryops whose ``health`` section
                lacked settings this code reads (a model from before check-ups, say): its
                features are not the ones this code computes.
        """
        model = joblib.load(path)
        saved = set(getattr(model.params, "__dict__", {}))
        missing = sorted(set(HealthParams.model_fields) - saved)
        if missing:
            raise IncompatibleModelError(
                f"the health model at {path} was saved by an older batteryops: its health "
                f"settings lack {', '.join(missing)}, so its features are not this code's"
            )
        return model


class IncompatibleModelError(ValueError):
    """A saved health model this code cannot score with (see :meth:`HealthModel.load`)."""
