"""The ``train`` stage's work: training and validation rows, the fitted models, the MLflow run.

Rows are read partition by partition and thinned in time as they are read
(:func:`read_training_rows`), so the whole featurized table is never in memory. :func:`fit_models`
fits the baselines, the hazard classifier and the ΔT regressor (:mod:`batteryops.hazard.models`)
into one :class:`~batteryops.hazard.model.HazardModel`; :func:`log_training_run` logs them.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from batteryops.core import plots, schema
from batteryops.core.compute import Runner
from batteryops.core.config import FeaturizeParams, LabelParams, TrackingParams, TrainParams
from batteryops.core.io import read_rows
from batteryops.hazard import models, split
from batteryops.hazard.labels import NEIGHBOUR_VENTED, ROW_COLUMNS
from batteryops.hazard.model import (
    EVIDENCE_AGE,
    HELD_CELL_V,
    HOT_SPOT_RISE,
    PERSISTENT_HEAT,
    SPREAD_EXCESS,
    SUSTAINED_HEAT,
    UNEXPLAINED_HEAT,
    HazardModel,
)
from batteryops.mlops import tracking

# The row columns training reads beside the features: no rack, no neighbour flag (``trainable``
# holds it), and the ΔT forecast's base (not a model input).
# The ΔT forecast's base, the physics alarm's inputs and its evidence gate's travel with the rows
# (the input example).
TRAINING_COLUMNS = [c for c in ROW_COLUMNS if c not in (schema.RACK_ID, NEIGHBOUR_VENTED)] + [
    models.HEAT_BALANCE_FEATURE,
    UNEXPLAINED_HEAT,
    PERSISTENT_HEAT,
    SUSTAINED_HEAT,
    SPREAD_EXCESS,
    HELD_CELL_V,
    HOT_SPOT_RISE,
    EVIDENCE_AGE,
]
# What models.training_rows reads to thin the rows (overheat where the partition has it).
THINNING_COLUMNS = [
    schema.TIMESTAMP,
    schema.HAZARD,
    schema.OVERHEAT,
    schema.SPLIT,
    schema.TRAINABLE,
]
# How many training rows the logged model carries as its input example.
INPUT_EXAMPLE_ROWS = 5


@dataclass
class TrainingResult:
    """The fitted model and what its fitting reports."""

    model: HazardModel
    fitted: models.TrainedModel  # the hazard classifier's bookkeeping
    delta_t_best_iteration: int
    input_example: pd.DataFrame  # the first training rows, as the model was fitted on them


def read_training_rows(
    files: Sequence[Path], features: list[str], section: TrainParams, threads: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and validation rows, read partition by partition (never the whole table).

    Args:
        files: The featurized partitions, in order.
        features: The model's input columns (``split.json``'s ``features``).
        section: The ``train`` section (its row strides thin the rows, see
            :func:`models.training_rows`).
        threads: Partitions read at once, on threads (``compute.threads``; the same rows).

    Returns:
        The training rows and the validation rows (``TRAINING_COLUMNS`` and ``features``).
    """
    columns = list(dict.fromkeys(TRAINING_COLUMNS + features))
    parts = list(Runner(threads).imap(_thinned_rows, list(files), columns=columns, section=section))
    rows = pd.concat(parts, ignore_index=True)
    train, validation = (
        rows[rows[schema.SPLIT] == name].reset_index(drop=True) for name in ("train", "validation")
    )
    # Over every partition's rows as read: a stale or mixed features folder shows here.
    key = [schema.MODULE_ID, schema.SPLIT]
    split.check_no_leak(pd.concat([train[key], validation[key]], ignore_index=True))
    return train, validation


def _thinned_rows(path: Path, columns: list[str], section: TrainParams) -> pd.DataFrame:
    """One partition's training and validation rows, thinned (:func:`models.training_rows`)."""
    import pyarrow.parquet as pq

    def thinned(frame: pd.DataFrame) -> np.ndarray:
        kept = [
            models.training_rows(frame, name, section.row_stride_s, section.negative_stride_s)
            for name in ("train", "validation")
        ]
        return np.sort(np.concatenate([part.index.to_numpy() for part in kept]))

    present = set(pq.read_schema(path).names)
    return read_rows(path, columns, thinned, [c for c in THINNING_COLUMNS if c in present])


def fewest_rack_modules(files: Sequence[Path]) -> int:
    """The fewest modules one rack holds, over all its partitions (a file is a rack's span)."""
    import pyarrow.parquet as pq

    modules: dict[str, set[str]] = {}
    for path in files:
        ids = pq.read_table(path, columns=[schema.RACK_ID, schema.MODULE_ID]).to_pandas()
        for rack, members in ids.groupby(schema.RACK_ID, observed=True)[schema.MODULE_ID]:
            modules.setdefault(str(rack), set()).update(members.astype(str).unique())
    return min((len(members) for members in modules.values()), default=0)


def rack_example(files: Sequence[Path], seconds: int = 3) -> pd.DataFrame:
    """The MLflow input example: the first seconds of the first rack, every module, canonical."""
    if not files:
        return pd.DataFrame(columns=schema.CANONICAL_COLUMNS)

    def first_seconds(stamps: pd.DataFrame) -> np.ndarray:
        column = stamps[schema.TIMESTAMP]
        return (column < column.min() + pd.Timedelta(seconds=seconds)).to_numpy()

    rows = read_rows(files[0], schema.CANONICAL_COLUMNS, first_seconds, [schema.TIMESTAMP])
    return rows.sort_values([schema.TIMESTAMP, schema.MODULE_ID]).reset_index(drop=True)


def fit_models(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    features: list[str],
    section: TrainParams,
    featurize: FeaturizeParams,
    horizon_s: int,
    rack_modules: int = 0,
    client: object | None = None,
) -> TrainingResult:
    """Fit the baselines, the hazard classifier and the ΔT regressor into one model.

    With ``train.baselines.isolation_forest.as_feature`` the IsolationForest score is added to
    copies of the rows and becomes the boosters' last input.

    Args:
        train: Training rows (:func:`read_training_rows`).
        validation: Validation rows, for early stopping.
        features: The input columns.
        section: The ``train`` section.
        featurize: The ``featurize`` section the features were computed with.
        horizon_s: The ΔT forecast's horizon (``label.delta_t_horizon_s``).
        rack_modules: The fewest modules a training rack had (:func:`fewest_rack_modules`).
        client: A Dask client to fit the hazard classifier on (XGBoost's Dask interface);
            None: in this process.

    Returns:
        The model, the classifier's bookkeeping, the regressor's best iteration and the input
        example.
    """
    baselines = models.fit_baselines(train, features, section.baselines, section.seed)
    if section.baselines.isolation_forest.as_feature:
        train, validation = (
            frame.assign(**{models.ANOMALY_FEATURE: baselines.anomaly_score(frame)})
            for frame in (train, validation)
        )
        features = features + [models.ANOMALY_FEATURE]
    fitted = models.train_hazard(train, validation, features, section, client)
    delta_t, delta_t_best = models.train_delta_t(train, validation, features, section, horizon_s)
    model = HazardModel(
        fitted.booster,
        delta_t,
        baselines,
        features,
        featurize,
        horizon_s,
        rack_modules=rack_modules,
        unexplained_heat_alarm_c_per_min=section.unexplained_heat_alarm_c_per_min,
        unexplained_heat_sustained_alarm_c_per_min=(
            section.unexplained_heat_sustained_alarm_c_per_min
        ),
        unexplained_heat_persistent_alarm_c_per_min=(
            section.unexplained_heat_persistent_alarm_c_per_min
        ),
        spread_excess_alarm_v=section.spread_excess_alarm_v,
        cell_overvoltage_alarm_v=section.cell_overvoltage_alarm_v,
        hot_spot_rise_alarm_c_per_min=section.hot_spot_rise_alarm_c_per_min,
        classifier_evidence_window_s=section.classifier_evidence_window_s,
    )
    return TrainingResult(model, fitted, delta_t_best, train.head(INPUT_EXAMPLE_ROWS))


def train_metrics(result: TrainingResult) -> dict[str, object]:
    """``metrics/train.json``: rows, positives, best iterations, validation PR AUC."""
    fitted = result.fitted
    return {
        "train_rows": fitted.train_rows,
        "train_positives": fitted.train_positives,
        "best_iteration": fitted.best_iteration,
        "validation_pr_auc": fitted.validation_pr_auc,
        "delta_t_best_iteration": result.delta_t_best_iteration,
    }


def run_params(section: TrainParams, label: LabelParams, model: HazardModel) -> dict[str, object]:
    """The MLflow parameters of a training run: hyper-parameters, labels, strides, inputs."""
    return (
        {f"xgboost.{k}": v for k, v in section.xgboost.model_dump().items()}
        | {f"delta_t_xgboost.{k}": v for k, v in section.delta_t_xgboost.model_dump().items()}
        | {f"label.{k}": v for k, v in label.model_dump().items()}
        | {
            "train.row_stride_s": section.row_stride_s,
            "train.negative_stride_s": section.negative_stride_s,
            "features": len(model.features),
            "anomaly_feature": model.uses_anomaly_feature,
        }
    )


def log_training_run(
    tracking_params: TrackingParams,
    section: TrainParams,
    label: LabelParams,
    result: TrainingResult,
    model_files: dict[str, str],
    example: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Log a training run to MLflow: parameters, metrics, feature importance and the model.

    Args:
        tracking_params: The ``tracking`` section.
        section: The ``train`` section.
        label: The ``label`` section.
        result: :func:`fit_models`.
        model_files: The saved model files (``hazard``, ``delta_t``, ``baselines``) the logged
            model carries.
        example: Canonical rows of one whole rack (:func:`rack_example`): MLflow's input
            example of the model, beside its signature.

    Returns:
        What later stages need of the run (``models/hazard_model.json``): run and model ids, the
        features, the model's config and the classifier's gain per feature.
    """
    import mlflow

    from batteryops.hazard import pyfunc

    model, fitted = result.model, result.fitted
    importance = fitted.booster.get_score(importance_type="gain")
    experiment_id = tracking.configure(tracking_params)
    with mlflow.start_run(experiment_id=experiment_id) as active:
        mlflow.log_params(run_params(section, label, model))
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
        model_info = pyfunc.log_model(model, model_files, result.input_example, example)
    return {
        "run_id": active.info.run_id,
        "model_uri": model_info.model_uri,
        "experiment_id": experiment_id,
        "features": model.features,
        "model_config": model.config(),
        "importance_gain": json.loads(json.dumps(importance)),
    }
