"""The health model as an MLflow pyfunc: what ``models:/battery-soh@champion`` loads."""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd

from batteryops.mlops.flavour import ARTIFACT_PATH, pip_requirements


class HealthPyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of :class:`batteryops.health.model.HealthModel` (``battery-soh``).

    ``predict`` takes canonical cycle data (a DataFrame), or ``{"cycles": ..., "curves": ...}``
    with low-rate curves, and returns per cell at its last cycle: SOH, RUL with an interval and
    a health class.
    """

    def load_context(self, context: Any) -> None:
        """Rebuild the model from the logged artifact."""
        from batteryops.health.model import HealthModel

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


def log_model(path: str) -> Any:
    """Log the health model saved at ``path`` to the active run under ``model``."""
    return mlflow.pyfunc.log_model(
        name=ARTIFACT_PATH,
        python_model=HealthPyfunc(),
        artifacts={"health": path},
        pip_requirements=pip_requirements(["scipy"]),
    )


def load_model(uri: str) -> Any:
    """The :class:`~batteryops.health.model.HealthModel` behind a logged or registered URI."""
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().model
