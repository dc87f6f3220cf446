"""A team's MLflow: a tracking server on PostgreSQL with its own artifact root, used by two clients.

``mlflow server --backend-store-uri postgresql+psycopg://... --artifacts-destination DIR`` is
what the README's "Running it for a team" starts; batteryops points ``tracking.uri`` at it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from batteryops.core.config import TrackingParams
from batteryops.mlops import tracking
from tests.servers import free_port, wait_healthy

BIN = Path(sys.executable).parent


@pytest.fixture
def tracking_server(postgres, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An MLflow tracking server on a new PostgreSQL database, artifacts in tmp_path/artifacts."""
    port, artifacts = free_port(), tmp_path / "artifacts"
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", postgres.database(), "--workers", "1"]
    command += ["--artifacts-destination", str(artifacts)]
    env = os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true"}
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{url}/health", process, tmp_path / "server.log", "MLflow server")
        yield url, artifacts
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_a_model_logged_by_one_client_is_the_champion_another_loads(
    tracking_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import xgboost
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_utils._registry_uri)
    url, artifacts = tracking_server
    params = TrackingParams(uri=url, experiment="team", artifact_dir="mlartifacts", model_name="m")
    experiment_id = tracking.configure(params, root=tmp_path)
    experiment = mlflow.get_experiment(experiment_id)
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # the server's root
    assert not (tmp_path / "mlartifacts").exists()
    features = np.random.default_rng(0).normal(size=(40, 3))
    booster = xgboost.train(
        {"objective": "binary:logistic"},
        xgboost.DMatrix(features, label=(features[:, 0] > 0).astype(int)),
        num_boost_round=3,
    )
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.xgboost.log_model(booster, name="model", pip_requirements=["xgboost"])
    version = mlflow.register_model(info.model_uri, "m").version
    mlflow.MlflowClient().set_registered_model_alias("m", "champion", version)
    assert any(artifacts.rglob("MLmodel"))  # stored by the server, not by this client
    # a second client: a fresh process that knows only the server's address
    load = (
        "import mlflow, numpy as np, sys; mlflow.set_tracking_uri(sys.argv[1]); "
        "m = mlflow.pyfunc.load_model('models:/m@champion'); "
        "print(len(m.predict(np.zeros((5, 3), dtype='float32'))))"
    )
    env = os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [sys.executable, "-c", load, url], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "5"
