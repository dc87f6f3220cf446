"""DVC stage ``train``: the hazard classifier, the ΔT regressor and the baselines, to MLflow."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import pandas as pd

from batteryops.core import plots, schema
from batteryops.core.config import Params
from batteryops.core.io import atomic_path, partition_files, read_json, write_json
from batteryops.hazard import models
from batteryops.hazard.model import HazardModel
from batteryops.mlops import tracking
from stages._common import run

log = logging.getLogger("stages.train")


def main(params: Params) -> None:
    """Train on the training split, early-stop on validation, log run and model to MLflow."""
    paths, section = params.paths, params.train
    features = read_json(paths.split)["features"]
    train, validation = _rows(paths.features_dir, features, section)
    log.info(
        "training rows: %d (%d hazard); validation rows: %d",
        len(train),
        int(train[schema.HAZARD].sum()),
        len(validation),
    )
    baselines = models.fit_baselines(train, features, section.baselines, section.seed)
    if section.baselines.isolation_forest.as_feature:
        for frame in (train, validation):
            frame[models.ANOMALY_FEATURE] = baselines.anomaly_score(frame)
        features = features + [models.ANOMALY_FEATURE]
    fitted = models.train_hazard(train, validation, features, section)
    horizon = params.label.delta_t_horizon_s
    delta_t, delta_t_best = models.train_delta_t(train, validation, features, section, horizon)
    log.info(
        "hazard: best iteration %d, validation PR AUC %.3f; delta T: best iteration %d",
        fitted.best_iteration,
        fitted.validation_pr_auc,
        delta_t_best,
    )
    model = HazardModel(fitted.booster, delta_t, baselines, features, params.featurize, horizon)
    with (
        atomic_path(paths.model) as hazard_tmp,
        atomic_path(paths.delta_t_model) as delta_t_tmp,
        atomic_path(paths.baseline_models) as baselines_tmp,
    ):
        model.save(hazard_tmp, delta_t_tmp, baselines_tmp)
    importance = fitted.booster.get_score(importance_type="gain")
    info = _log_to_mlflow(params, model, fitted, train, importance)
    write_json(info, paths.model_info)
    write_json(
        {
            "train_rows": fitted.train_rows,
            "train_positives": fitted.train_positives,
            "best_iteration": fitted.best_iteration,
            "validation_pr_auc": fitted.validation_pr_auc,
            "delta_t_best_iteration": delta_t_best,
        },
        paths.metrics.train,
    )


def _rows(
    features_dir: str, features: list[str], section: object
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and validation rows, read partition by partition (never the whole table)."""
    meta = [
        schema.TIMESTAMP,
        schema.MODULE_ID,
        schema.SPLIT,
        schema.TRAINABLE,
        schema.HAZARD,
        schema.OVERHEAT,
        schema.DELTA_T_30S,
        models.HEAT_BALANCE_FEATURE,  # the ΔT forecast's base, not a model input
    ]
    parts: dict[str, list[pd.DataFrame]] = {"train": [], "validation": []}
    for path in partition_files(features_dir):
        frame = pd.read_parquet(path, columns=meta + features)
        for split, kept in parts.items():
            kept.append(
                models.training_rows(
                    frame, split, section.row_stride_s, section.negative_stride_s
                ).reset_index(drop=True)
            )
    train, validation = (pd.concat(parts[s], ignore_index=True) for s in ("train", "validation"))
    return train, validation


def _log_to_mlflow(
    params: Params,
    model: HazardModel,
    fitted: models.TrainedModel,
    train: pd.DataFrame,
    importance: dict[str, float],
) -> dict[str, object]:
    import mlflow

    from batteryops.hazard import pyfunc

    experiment_id = tracking.configure(params.tracking)
    paths = params.paths
    with mlflow.start_run(experiment_id=experiment_id) as active:
        mlflow.log_params({f"xgboost.{k}": v for k, v in params.train.xgboost.model_dump().items()})
        mlflow.log_params(
            {
                f"delta_t_xgboost.{k}": v
                for k, v in params.train.delta_t_xgboost.model_dump().items()
            }
        )
        mlflow.log_params({f"label.{k}": v for k, v in params.label.model_dump().items()})
        mlflow.log_params(
            {
                "train.row_stride_s": params.train.row_stride_s,
                "train.negative_stride_s": params.train.negative_stride_s,
                "features": len(model.features),
                "anomaly_feature": model.uses_anomaly_feature,
            }
        )
        mlflow.log_metrics(
            {
                "validation_pr_auc": fitted.validation_pr_auc,
                "best_iteration": fitted.best_iteration,
                "train_rows": fitted.train_rows,
            }
        )
        mlflow.set_tags({"git_commit": tracking.git_commit(), "stage": "train"})
        mlflow.log_dict(importance, "feature_importance_gain.json")
        with tempfile.TemporaryDirectory() as tmp:
            png = Path(tmp) / "feature_importance.png"
            plots.importance_png(importance, png)
            mlflow.log_artifact(str(png))
        model_info = pyfunc.log_model(
            model,
            {
                "hazard": paths.model,
                "delta_t": paths.delta_t_model,
                "baselines": paths.baseline_models,
            },
            train.head(5),
        )
    return {
        "run_id": active.info.run_id,
        "model_uri": model_info.model_uri,
        "experiment_id": experiment_id,
        "features": model.features,
        "model_config": model.config(),
        "importance_gain": json.loads(json.dumps(importance)),
    }


if __name__ == "__main__":
    run("train", main)
