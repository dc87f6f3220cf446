"""The XGBoost hazard classifier: training data selection and fitting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from batteryops import schema
from batteryops.config import TrainParams


@dataclass
class TrainedModel:
    """A fitted booster and what it was fitted on."""

    booster: object
    features: list[str]
    best_iteration: int
    train_rows: int
    train_positives: int
    validation_pr_auc: float


def training_rows(frame: pd.DataFrame, split: str, stride_s: int) -> pd.DataFrame:
    """Rows of one split that carry a trustworthy label, thinned to every ``stride_s``-th second.

    Args:
        frame: Featurized rows with ``split``, ``trainable`` and ``timestamp`` columns.
        split: Which split to take.
        stride_s: Keep rows whose timestamp is a multiple of this many seconds.

    Returns:
        The selected rows.
    """
    seconds = frame[schema.TIMESTAMP].astype("datetime64[s, UTC]").astype("int64")
    keep = (frame[schema.SPLIT] == split) & frame[schema.TRAINABLE] & (seconds % stride_s == 0)
    return frame.loc[keep]


def train_hazard(
    train: pd.DataFrame, validation: pd.DataFrame, features: list[str], params: TrainParams
) -> TrainedModel:
    """Fit the hazard classifier, weighting the rare positive class up, with early stopping.

    Args:
        train: Training rows (features and ``hazard``).
        validation: Validation rows used for early stopping.
        features: Input columns, in order.
        params: The ``train`` section.

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
    booster_params = {
        "objective": "binary:logistic",
        "eval_metric": "aucpr",
        "tree_method": "hist",
        "max_depth": hyper.max_depth,
        "eta": hyper.learning_rate,
        "subsample": hyper.subsample,
        "colsample_bytree": hyper.colsample_bytree,
        "min_child_weight": hyper.min_child_weight,
        "scale_pos_weight": (len(labels) - positives) / positives,
        "nthread": hyper.n_jobs,
        "seed": params.seed,
    }
    dtrain = xgb.DMatrix(train[features], label=labels, feature_names=features)
    dvalid = xgb.DMatrix(
        validation[features], label=validation[schema.HAZARD], feature_names=features
    )
    booster = xgb.train(
        booster_params,
        dtrain,
        num_boost_round=hyper.n_estimators,
        evals=[(dvalid, "validation")],
        early_stopping_rounds=max(20, hyper.n_estimators // 10),
        verbose_eval=False,
    )
    best = int(booster.best_iteration)
    booster = booster[: best + 1]
    predicted = booster.predict(dvalid)
    valid_labels = validation[schema.HAZARD].to_numpy()
    pr_auc = (
        float(average_precision_score(valid_labels, predicted))
        if valid_labels.any()
        else float("nan")
    )
    return TrainedModel(booster, features, best, len(labels), positives, pr_auc)


def predict(booster: object, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Hazard probability for each row."""
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(frame[features], feature_names=features))
