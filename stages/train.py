"""DVC stage ``train``: fit the XGBoost hazard classifier and log it to MLflow."""

from __future__ import annotations

import json
import logging
import tempfile
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from batteryops import models, plots, schema, tracking
from batteryops.config import Params
from batteryops.io import atomic_path, read_json, read_partitions, write_json
from stages._common import run

log = logging.getLogger("stages.train")
# The model is served with the versions it was trained with (pinned in pyproject.toml).
SERVING_PACKAGES = ["xgboost-cpu", "mlflow", "pandas", "numpy"]


def main(params: Params) -> None:
    """Train on the training split, early-stop on validation, log run and model to MLflow."""
    paths, section = params.paths, params.train
    features = read_json(paths.split)["features"]
    meta = [schema.TIMESTAMP, schema.MODULE_ID, schema.SPLIT, schema.TRAINABLE, schema.HAZARD]
    frame = read_partitions(paths.features_dir, columns=meta + features)
    train = models.training_rows(frame, "train", section.row_stride_s)
    validation = models.training_rows(frame, "validation", section.row_stride_s)
    del frame
    fitted = models.train_hazard(train, validation, features, section)
    log.info(
        "trained on %d rows (%d hazard), best iteration %d, validation PR AUC %.3f",
        fitted.train_rows,
        fitted.train_positives,
        fitted.best_iteration,
        fitted.validation_pr_auc,
    )

    with atomic_path(paths.model) as tmp:
        fitted.booster.save_model(str(tmp))
    importance = fitted.booster.get_score(importance_type="gain")
    info = _log_to_mlflow(params, fitted, train, importance)
    write_json(info, paths.model_info)
    write_json(
        {
            "train_rows": fitted.train_rows,
            "train_positives": fitted.train_positives,
            "best_iteration": fitted.best_iteration,
            "validation_pr_auc": fitted.validation_pr_auc,
        },
        paths.metrics.train,
    )


def _log_to_mlflow(
    params: Params, fitted: models.TrainedModel, train: pd.DataFrame, importance: dict[str, float]
) -> dict[str, object]:
    import mlflow
    from mlflow.models import infer_signature

    experiment_id = tracking.configure(params.tracking)
    example = train[fitted.features].head(5)
    signature = infer_signature(example, models.predict(fitted.booster, example, fitted.features))
    with mlflow.start_run(experiment_id=experiment_id) as active:
        mlflow.log_params({f"xgboost.{k}": v for k, v in params.train.xgboost.model_dump().items()})
        mlflow.log_params({f"label.{k}": v for k, v in params.label.model_dump().items()})
        mlflow.log_params(
            {"train.row_stride_s": params.train.row_stride_s, "features": len(fitted.features)}
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
        model_info = mlflow.xgboost.log_model(
            fitted.booster,
            name="model",
            signature=signature,
            input_example=example,
            pip_requirements=[f"{name}=={version(name)}" for name in SERVING_PACKAGES],
            model_format="ubj",
        )
    return {
        "run_id": active.info.run_id,
        "model_uri": model_info.model_uri,
        "experiment_id": experiment_id,
        "features": fitted.features,
        "importance_gain": json.loads(json.dumps(importance)),
    }


if __name__ == "__main__":
    run("train", main)
