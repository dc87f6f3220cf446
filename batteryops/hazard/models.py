"""Model fitting: the XGBoost hazard classifier, the 30 s temperature-change regressor, baselines.

Baselines judged beside the classifier in every metrics file: logistic regression on the same
features (median-imputed, standardised, classes balanced) and an IsolationForest anomaly score
fitted on healthy training rows only (no labels), which can also be fed to the classifier as a
feature (``train.baselines.isolation_forest.as_feature``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import BaselineParams, TrainParams, XGBoostParams
from batteryops.hazard import features

ANOMALY_FEATURE = "isolation_forest_score"
# Rows the IsolationForest is fitted on (a random sample of healthy training rows).
ANOMALY_FIT_ROWS = 200_000
PREDICT_CHUNK_ROWS = 500_000
# Threads that score a baseline's chunks side by side (the machine this runs on has 2 cores).
SCORING_THREADS = 2
# The slope the 30 s temperature-change forecast starts from (C/min over the last minute).
TREND_FEATURE = "temp_max_c_slope_60s_per_min"
HEAT_BALANCE_FEATURE = features.HEAT_BALANCE_SLOPE


@dataclass
class TrainedModel:
    """A fitted booster and what it was fitted on."""

    booster: object
    features: list[str]
    best_iteration: int
    train_rows: int
    train_positives: int
    validation_pr_auc: float


def training_rows(
    frame: pd.DataFrame, split: str, stride_s: int, negative_stride_s: int | None = None
) -> pd.DataFrame:
    """Rows of one split that carry a trustworthy label, thinned in time.

    Args:
        frame: Featurized rows with ``split``, ``trainable`` and ``timestamp`` columns.
        split: Which split to take.
        stride_s: Keep hazard and overheat rows whose timestamp is a multiple of this.
        negative_stride_s: Keep other rows whose timestamp is a multiple of this (days of quiet
            rows say the same thing again and again); ``stride_s`` when None.

    Returns:
        The selected rows.
    """
    seconds = frame[schema.TIMESTAMP].astype("datetime64[s, UTC]").astype("int64").to_numpy()
    dense = frame[schema.HAZARD].to_numpy() > 0
    if schema.OVERHEAT in frame:
        dense |= frame[schema.OVERHEAT].to_numpy() > 0
    stride = np.where(dense, stride_s, negative_stride_s or stride_s)
    keep = (
        (frame[schema.SPLIT] == split).to_numpy()
        & frame[schema.TRAINABLE].to_numpy(dtype=bool)
        & (seconds % stride == 0)
    )
    return frame.loc[keep]


def train_hazard(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    features: list[str],
    params: TrainParams,
    client: object | None = None,
) -> TrainedModel:
    """Fit the hazard classifier, weighting the rare positive class up, with early stopping.

    Args:
        train: Training rows (features and ``hazard``).
        validation: Validation rows used for early stopping.
        features: Input columns, in order.
        params: The ``train`` section.
        client: A Dask client: the booster is fitted on its workers through XGBoost's Dask
            interface (:func:`_fit_on_dask`); None fits it in this process.

    Returns:
        The fitted model and its bookkeeping.

    Raises:
        ValueError: If the training rows hold no positive or no negative example.
    """
    import xgboost as xgb
    from sklearn.metrics import average_precision_score

    labels = train[schema.HAZARD].to_numpy()
    positives = int(labels.sum())
    if positives == 0 or positives == len(labels):
        raise ValueError(
            f"training rows need both classes; got {positives} hazard rows of {len(labels)} "
            "(does the fleet have runaway modules in the training split?)"
        )
    hyper = params.xgboost
    booster_params = _booster_params(hyper, params.seed) | {
        "objective": "binary:logistic",
        "eval_metric": "aucpr",
        "scale_pos_weight": (len(labels) - positives) / positives,
    }
    patience = max(20, hyper.n_estimators // 10)
    callback = BestFromRound(hyper.min_rounds, patience).callback()
    dvalid = _matrix(validation, features)
    if client is None:
        history: dict = {}
        booster = xgb.train(
            booster_params,
            xgb.DMatrix(train[features], label=labels, feature_names=features),
            num_boost_round=hyper.n_estimators,
            evals=[(dvalid, "validation")],
            evals_result=history,
            callbacks=[callback],
            verbose_eval=False,
        )
    else:
        booster, history = _fit_on_dask(
            client, booster_params, train, validation, features, hyper.n_estimators, callback
        )
    # The best round, from the validation history as the callback judged it.
    stop = BestFromRound.replay(hyper.min_rounds, patience, history["validation"]["aucpr"])
    best = stop.best_round if stop.best_round is not None else hyper.n_estimators - 1
    booster = booster[: best + 1]
    predicted = booster.predict(dvalid)
    valid_labels = validation[schema.HAZARD].to_numpy()
    pr_auc = (
        float(average_precision_score(valid_labels, predicted))
        if valid_labels.any()
        else float("nan")
    )
    return TrainedModel(booster, features, best, len(labels), positives, pr_auc)


@dataclass
class BestFromRound:
    """Early stopping on the validation PR AUC that judges only rounds from ``min_rounds`` on.

    As XGBoost's own (a round is best if its score beats every earlier one; training stops
    ``patience`` rounds after the best), except that rounds before ``min_rounds`` never count.
    On a validation split with few events the PR AUC of the first round or two can happen to
    beat what follows for a while (a small fleet's model stopped at 2 trees and scored every
    healthy module 0.42): such a model is an accident of the split, not a choice.
    """

    min_rounds: int
    patience: int
    best_round: int | None = None
    best_score: float = float("-inf")

    @classmethod
    def replay(cls, min_rounds: int, patience: int, scores: list[float]) -> BestFromRound:
        """The stopping state after the validation scores of rounds 0, 1, ... in turn."""
        stop = cls(min_rounds, patience)
        for round_, score in enumerate(scores):
            if stop.update(round_, float(score)):
                break
        return stop

    def callback(self) -> object:
        """An XGBoost training callback that stops as this object would.

        It keeps no state: each round it replays the validation history XGBoost hands it, so a
        copy per Dask worker (pickled, or shared by threads) decides as one object would.
        """
        import xgboost as xgb

        min_rounds, patience = self.min_rounds, self.patience

        class _Stop(xgb.callback.TrainingCallback):
            def after_iteration(self, model: object, epoch: int, evals_log: dict) -> bool:
                scores = evals_log["validation"]["aucpr"]
                stop = BestFromRound.replay(min_rounds, patience, scores[:-1])
                return stop.update(len(scores) - 1, float(scores[-1]))

        return _Stop()

    def update(self, round_: int, score: float) -> bool:
        """Take a round's validation score; True when training should stop."""
        if round_ + 1 >= self.min_rounds and (self.best_round is None or score > self.best_score):
            self.best_round, self.best_score = round_, score
        return self.best_round is not None and round_ - self.best_round >= self.patience


def _matrix(frame: pd.DataFrame, features: list[str]) -> object:
    import xgboost as xgb

    return xgb.DMatrix(frame[features], label=frame[schema.HAZARD], feature_names=features)


def _fit_on_dask(
    client: object,
    booster_params: dict[str, object],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    features: list[str],
    rounds: int,
    callback: object,
) -> tuple[object, dict]:
    """Fit a booster on the client's workers (``DaskQuantileDMatrix``, ``xgboost.dask.train``).

    The rows are dealt to the workers round robin, one share each; each worker builds its share
    of the quantile sketch and the histograms, and XGBoost's collective sums them. The
    trees differ from a one-process fit only as the sketch's bin edges do (tolerances in
    ``tests/batteryops/hazard/test_models_dask.py``).

    Returns:
        The booster and the validation history.
    """
    import dask.dataframe as dd
    from xgboost import dask as dxgb

    workers = max(len(client.scheduler_info()["workers"]), 1)  # type: ignore[attr-defined]
    columns = [*features, schema.HAZARD]

    def matrix(frame: pd.DataFrame, ref: object = None) -> object:
        # Every n-th row to one worker, so that each share holds both classes: the rows come in
        # time order, and a worker holding only quiet hours (no positive) breaks the distributed
        # PR AUC that early stopping reads (a 10x fleet's booster stopped at round 19 with
        # contiguous shares). The shares go to the workers once (scattered), not in the graph.
        count = min(workers, max(len(frame), 1))
        shares = [np.arange(k, len(frame), count) for k in range(count)]
        futures = client.scatter([frame[columns].iloc[rows] for rows in shares])  # type: ignore[attr-defined]
        parts = dd.from_delayed(futures, meta=frame[columns].iloc[:0], verify_meta=False)
        return dxgb.DaskQuantileDMatrix(
            client, parts[features], parts[schema.HAZARD], feature_names=features, ref=ref
        )

    dtrain = matrix(train)
    output = dxgb.train(
        client,
        booster_params,
        dtrain,
        num_boost_round=rounds,
        evals=[(matrix(validation, dtrain), "validation")],
        callbacks=[callback],
        verbose_eval=False,
    )
    return output["booster"], output["history"]


def predict(booster: object, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Hazard probability for each row."""
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(frame[features], feature_names=features))


def _booster_params(hyper: XGBoostParams, seed: int) -> dict[str, object]:
    return {
        "tree_method": "hist",
        "max_depth": hyper.max_depth,
        "eta": hyper.learning_rate,
        "subsample": hyper.subsample,
        "colsample_bytree": hyper.colsample_bytree,
        "min_child_weight": hyper.min_child_weight,
        "nthread": hyper.n_jobs,
        "seed": seed,
    }


def trend_forecast(frame: pd.DataFrame, horizon_s: int) -> np.ndarray:
    """The last minute's temperature slope carried ``horizon_s`` on (0 where unknown)."""
    if TREND_FEATURE not in frame:
        return np.zeros(len(frame))
    slope = frame[TREND_FEATURE].to_numpy(dtype=float)
    return np.nan_to_num(slope) * horizon_s / 60.0


def base_forecast(frame: pd.DataFrame, horizon_s: int) -> np.ndarray:
    """The ΔT forecast's physical base: the heat-balance rate carried ``horizon_s`` on.

    ``heat_balance_slope_per_min`` (:func:`batteryops.hazard.features._heat_balance`) is the rate
    the
    module's own last minute and a half of heat response predicts at its present charge power;
    where it is unknown (no current or voltage logged, the module's first seconds) the trend
    (:func:`trend_forecast`) stands in, and 0 where that is unknown too.
    """
    trend = trend_forecast(frame, horizon_s)
    if HEAT_BALANCE_FEATURE not in frame:
        return trend
    rate = frame[HEAT_BALANCE_FEATURE].to_numpy(dtype=float) * horizon_s / 60.0
    return np.where(np.isfinite(rate), rate, trend)


def delta_t_forecasts(
    frame: pd.DataFrame, model_forecast: np.ndarray, horizon_s: int
) -> dict[str, np.ndarray]:
    """The 30 s forecasts judged side by side: the model, no change, the trend, the base alone."""
    return {
        "model": model_forecast,
        "persistence": np.zeros(len(frame)),
        "trend": trend_forecast(frame, horizon_s),
        "heat_balance": base_forecast(frame, horizon_s),
    }


def train_delta_t(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    features: list[str],
    params: TrainParams,
    horizon_s: int,
) -> tuple[object, int]:
    """Fit the regressor of the 30 s temperature change (``delta_t_30s``), early-stopped.

    The booster learns the correction to the physical base (:func:`base_forecast`), and the
    forecast is base plus correction: trees cannot extrapolate past the largest change they saw,
    while a module heading for runaway heats faster than any quiet row, so the base carries the
    rate and the trees what it misses. Early stopping watches the validation rows of hazard
    windows (all validation rows if there are none): that is where the forecast is judged, and
    on days of quiet rows more trees keep helping long after they have begun to overfit the
    few modules that ran away. Rows whose target is unknown (the end of a module's record, a
    gap) are left out.

    Returns:
        The booster (cut at its best iteration) and that iteration.

    Raises:
        ValueError: If no training row has a known target.
    """
    import xgboost as xgb

    train = train[train[schema.DELTA_T_30S].notna()]
    validation = validation[validation[schema.DELTA_T_30S].notna()]
    if train.empty:
        raise ValueError("no training row has a known 30 s temperature change")
    booster_params = _booster_params(params.delta_t_xgboost, params.seed) | {
        "objective": "reg:squarederror",
        "eval_metric": "rmse",
    }

    def correction(rows: pd.DataFrame) -> np.ndarray:
        return rows[schema.DELTA_T_30S].to_numpy(dtype=float) - base_forecast(rows, horizon_s)

    heating = validation[validation[schema.HAZARD].to_numpy() > 0]
    validation = heating if not heating.empty else validation

    dtrain = xgb.DMatrix(train[features], label=correction(train), feature_names=features)
    evals = []
    if not validation.empty:
        dvalid = xgb.DMatrix(
            validation[features], label=correction(validation), feature_names=features
        )
        evals = [(dvalid, "validation")]
    rounds = params.delta_t_xgboost.n_estimators
    booster = xgb.train(
        booster_params,
        dtrain,
        num_boost_round=rounds,
        evals=evals,
        early_stopping_rounds=max(20, rounds // 10) if evals else None,
        verbose_eval=False,
    )
    best = int(getattr(booster, "best_iteration", rounds - 1))
    return booster[: best + 1], best


@dataclass
class Baselines:
    """The learned baselines: a logistic regression and an IsolationForest (both pipelines)."""

    logistic: object
    isolation_forest: object
    features: list[str]

    def logistic_probability(self, rows: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Hazard probability of the logistic regression.

        ``rows``: a frame, or its features as an array whose first columns follow
        :attr:`features`.
        """
        rest, impute = _after_imputer(self.logistic)
        return _in_chunks(rows, self.features, lambda x: rest.predict_proba(impute(x))[:, 1])

    def anomaly_score(self, rows: pd.DataFrame | np.ndarray) -> np.ndarray:
        """IsolationForest anomaly score in [0, 1]: higher is more unusual."""
        rest, impute = _after_imputer(self.isolation_forest)
        return _in_chunks(rows, self.features, lambda x: -rest.score_samples(impute(x)))


def _after_imputer(pipeline: Any) -> tuple[Any, Callable[[np.ndarray], np.ndarray]]:
    """A baseline pipeline's steps after its median imputer, and that imputer as one NumPy call.

    The imputer's own ``transform`` validates and masks its input first (a third of a baseline's
    scoring time on the held-out rows); filling the gaps with its fitted medians gives the same
    array to the bit (``tests/batteryops/hazard/test_training.py``). A pipeline of another shape
    is used whole.
    """
    from sklearn.impute import SimpleImputer

    first = pipeline.steps[0][1]
    plain = isinstance(first, SimpleImputer) and first.strategy == "median"
    plain = plain and not first.add_indicator and first.keep_empty_features
    if not plain or len(pipeline.steps) < 2:
        return pipeline, lambda x: x

    def impute(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        return np.where(np.isnan(x), first.statistics_.astype(x.dtype), x)

    return pipeline[1:], impute


def _in_chunks(
    rows: pd.DataFrame | np.ndarray,
    features: list[str],
    score: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Score ``PREDICT_CHUNK_ROWS`` rows at a time (the pipelines copy their input as float64).

    Chunks are scored on ``SCORING_THREADS`` threads: scikit-learn's trees and BLAS release the
    GIL, and each chunk writes its own slice of the output.
    """
    out = np.empty(len(rows))

    def one(start: int) -> None:
        if isinstance(rows, pd.DataFrame):
            part = rows[features].iloc[start : start + PREDICT_CHUNK_ROWS].to_numpy(np.float32)
        else:
            part = rows[start : start + PREDICT_CHUNK_ROWS, : len(features)]
        out[start : start + len(part)] = score(part)

    starts = range(0, len(rows), PREDICT_CHUNK_ROWS)
    if len(starts) < 2:
        for start in starts:
            one(start)
        return out
    with ThreadPoolExecutor(SCORING_THREADS) as pool:
        list(pool.map(one, starts))  # list(): a chunk's exception is raised here
    return out


def fit_baselines(
    train: pd.DataFrame, features: list[str], params: BaselineParams, seed: int
) -> Baselines:
    """Fit the logistic regression (all training rows) and the IsolationForest (healthy rows).

    Args:
        train: Training rows (features, ``hazard`` and, when present, ``overheat``).
        features: Input columns.
        params: The ``train.baselines`` section.
        seed: Random seed.

    Returns:
        The fitted baselines.
    """
    from sklearn.ensemble import IsolationForest
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    values = train[features].to_numpy(np.float32)
    labels = train[schema.HAZARD].to_numpy()
    logistic = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=params.logistic_c, class_weight="balanced", max_iter=500),
    ).fit(values, labels)
    healthy = labels == 0
    if schema.OVERHEAT in train:
        healthy &= train[schema.OVERHEAT].to_numpy() == 0
    rows = np.flatnonzero(healthy)
    rng = np.random.default_rng(seed)
    if len(rows) > ANOMALY_FIT_ROWS:
        rows = np.sort(rng.choice(rows, ANOMALY_FIT_ROWS, replace=False))
    forest_params = params.isolation_forest
    forest = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        IsolationForest(
            n_estimators=forest_params.n_estimators,
            max_samples=min(forest_params.max_samples, len(rows)),
            random_state=seed,
            n_jobs=1,
        ),
    ).fit(values[rows])
    return Baselines(logistic, forest, list(features))
