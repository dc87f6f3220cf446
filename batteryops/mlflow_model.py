"""The hazard model as an MLflow pyfunc: what ``models:/battery-hazard@champion`` loads.

``mlflow.pyfunc.load_model(uri).predict(telemetry)`` takes canonical telemetry (or featurized
rows) and returns, per row, ``hazard_probability`` and ``delta_t_30s_forecast_c``. The operating
point (threshold, persistence, derating policy) is chosen after training, by ``evaluate``, and is
logged beside the model in the same run as ``operating_point.json``;
:func:`batteryops.scoring.load_scorer` joins the two. Loading needs the ``batteryops`` package
installed (the pyfunc class lives in it).
"""

from __future__ import annotations

import json
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from batteryops.hazard_model import DELTA_T_FORECAST, PROBABILITY, HazardModel

ARTIFACT_PATH = "model"
OPERATING_POINT_ARTIFACT = "operating_point.json"
# Served with the versions it was trained with (pinned in pyproject.toml).
SERVING_PACKAGES = [
    "xgboost-cpu",
    "scikit-learn",
    "mlflow",
    "pandas",
    "numpy",
    "pyarrow",
    "pydantic",
]


class HazardPyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of :class:`batteryops.hazard_model.HazardModel`."""

    def load_context(self, context: Any) -> None:
        """Rebuild the model from the logged artifacts."""
        files = context.artifacts
        self.model = HazardModel.load(
            files["hazard"], files["delta_t"], files["baselines"], files["config"]
        )

    # No type hints on purpose: MLflow would take them for a per-row (list) input schema.
    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        """Hazard probability and 30 s temperature-change forecast per row."""
        prepared = self.model.prepare(pd.DataFrame(model_input))
        return pd.DataFrame(
            {
                PROBABILITY: self.model.hazard_probability(prepared),
                DELTA_T_FORECAST: self.model.delta_t_forecast(prepared),
            }
        )


def log_model(model: HazardModel, files: dict[str, str], example: pd.DataFrame) -> Any:
    """Log the model to the active MLflow run under ``model``.

    Args:
        model: The fitted model.
        files: Paths of the saved ``hazard``, ``delta_t`` and ``baselines`` files.
        example: A few featurized rows (stored beside the model as an example of the input).

    Returns:
        MLflow's model info (``model_uri`` among it).
    """
    # No signature: the input is canonical telemetry (tz-aware UTC timestamps, which MLflow's
    # schema enforcement refuses) or featurized rows, and predict() checks it itself.
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps(model.config(), indent=2))
        example_path = Path(tmp) / "featurized_example.json"
        columns = list(dict.fromkeys(model.features + model.featurized_columns))
        example[columns].to_json(example_path, orient="split", index=False)
        return mlflow.pyfunc.log_model(
            name=ARTIFACT_PATH,
            python_model=HazardPyfunc(),
            artifacts=dict(files, config=str(config), featurized_example=str(example_path)),
            pip_requirements=[f"{name}=={version(name)}" for name in SERVING_PACKAGES],
        )


def load_model(uri: str) -> HazardModel:
    """The :class:`HazardModel` behind a logged or registered model URI."""
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().model


def run_id_of(uri: str) -> str:
    """The MLflow run that logged the model at ``uri`` (``models:/`` or ``runs:/`` URIs)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    if uri.startswith("runs:/"):
        return uri.removeprefix("runs:/").split("/", 1)[0]
    if uri.startswith("models:/"):
        rest = uri.removeprefix("models:/")
        if "@" in rest:
            name, alias = rest.split("@", 1)
            return client.get_model_version_by_alias(name, alias).run_id
        name, _, ref = rest.partition("/")
        if ref.isdigit():
            return client.get_model_version(name, ref).run_id
        raise ValueError(f"{uri}: give a version number or an alias (models:/NAME@ALIAS)")
    raise ValueError(f"{uri}: expected a models:/ or runs:/ URI")


def operating_point(uri: str) -> dict[str, Any]:
    """The operating point ``evaluate`` logged beside the model at ``uri``.

    Raises:
        FileNotFoundError: If the run holds no operating point (the model was never evaluated).
    """
    run_id = run_id_of(uri)
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=OPERATING_POINT_ARTIFACT
        )
    except Exception as error:  # MLflow raises several types for a missing artifact
        raise FileNotFoundError(
            f"{uri}: run {run_id} has no {OPERATING_POINT_ARTIFACT} "
            "(was the evaluate stage run for it?)"
        ) from error
    return json.loads(Path(path).read_text())


class HealthPyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of :class:`batteryops.health_model.HealthModel` (``battery-soh``).

    ``predict`` takes canonical cycle data (a DataFrame), or ``{"cycles": ..., "curves": ...}``
    with low-rate curves, and returns per cell at its last cycle: SOH, RUL with an interval and
    a health class.
    """

    def load_context(self, context: Any) -> None:
        """Rebuild the model from the logged artifact."""
        from batteryops.health_model import HealthModel

        self.model = HealthModel.load(context.artifacts["health"])

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        """Per-cell SOH, RUL (with interval) and health class."""
        if isinstance(model_input, dict):
            cycles = pd.DataFrame(model_input["cycles"])
            curves = model_input.get("curves")
            curves = None if curves is None else pd.DataFrame(curves)
        else:
            cycles, curves = pd.DataFrame(model_input), None
        return self.model.predict_cells(cycles, curves)


def log_health_model(path: str) -> Any:
    """Log the health model saved at ``path`` to the active run under ``model``."""
    return mlflow.pyfunc.log_model(
        name=ARTIFACT_PATH,
        python_model=HealthPyfunc(),
        artifacts={"health": path},
        pip_requirements=[f"{name}=={version(name)}" for name in SERVING_PACKAGES + ["scipy"]],
    )


def load_health_model(uri: str) -> Any:
    """The :class:`~batteryops.health_model.HealthModel` behind a logged or registered URI."""
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().model
