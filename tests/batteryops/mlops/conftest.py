"""Shared by the mlops tests: gates and passing metrics, a real MLflow store, a logged model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batteryops.core.config import (
    GateParams,
    RegressionParams,
    SohGateParams,
    SohRegressionParams,
)

# Gates of the unit tests, and hazard metrics that hold every absolute one of them.
GATES = GateParams(
    min_event_recall_at_min_lead=0.8,
    min_pr_auc=0.5,
    max_false_alarms_per_module_day=0.5,
    min_lead_time_min_median=5.0,
    max_regression=RegressionParams(
        event_recall_at_min_lead=0.05, pr_auc=0.05, false_alarms_per_module_day=0.5
    ),
    max_drift_share=0.5,
    require_validation=True,
    min_generalization_event_recall=0.95,
    min_delta_t_skill=3.0,
    soh=SohGateParams(
        max_soh_rmse_pct=1.5,
        min_soh_within_3pct=0.95,
        min_soh_within_5pct=0.99,
        max_rul_mape_pct=10.0,
        max_regression=SohRegressionParams(soh_rmse_pct=0.05, rul_mape_pct=0.05),
        require_validation=True,
    ),
)
GOOD: dict[str, Any] = {
    "event_recall_at_min_lead": 0.9,
    "pr_auc": 0.7,
    "false_alarms_per_module_day": 0.1,
    "lead_time_min_median": 12.0,
}


@dataclass(frozen=True)
class LoggedModel:
    """A small XGBoost booster logged to a finished run of the temporary store."""

    model_uri: str
    run_id: str
    booster: Any
    features: np.ndarray


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """MLflow pointed at a SQLite store in tmp_path; global URIs restored afterwards."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    from batteryops.core.config import TrackingParams
    from batteryops.mlops import tracking

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_utils._registry_uri)
    params = TrackingParams(
        uri=uri, experiment="t", artifact_dir=str(tmp_path / "art"), model_name="m"
    )
    experiment_id = tracking.configure(params, root=tmp_path)
    yield mlflow, experiment_id
    if mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def logged_model(mlflow_store) -> LoggedModel:
    """A three-round XGBoost classifier logged under ``model`` in its own (finished) run."""
    import xgboost

    mlflow, experiment_id = mlflow_store
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 3))
    labels = (features[:, 0] > 0).astype(int)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 2},
        xgboost.DMatrix(features, label=labels),
        num_boost_round=3,
    )
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = mlflow.xgboost.log_model(booster, name="model", pip_requirements=["xgboost"])
    return LoggedModel(info.model_uri, run.info.run_id, booster, features)
