"""What every registered model's MLflow pyfunc shares: where it is logged, what it pins, its run.

The task packages hold the flavours themselves (:mod:`batteryops.hazard.pyfunc`,
:mod:`batteryops.health.pyfunc`); loading one needs the ``batteryops`` package installed (the
pyfunc classes live in it).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

ARTIFACT_PATH = "model"
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


def pip_requirements(extra: list[str] | None = None) -> list[str]:
    """The serving packages (and ``extra`` ones) pinned at the versions installed here."""
    return [f"{name}=={version(name)}" for name in SERVING_PACKAGES + (extra or [])]


def run_id_of(uri: str) -> str:
    """The MLflow run that logged the model at ``uri`` (``models:/`` or ``runs:/`` URIs)."""
    if uri.startswith("runs:/"):
        return uri.removeprefix("runs:/").split("/", 1)[0]
    return _model_version(uri).run_id


def registered_version(uri: str) -> tuple[str, str] | None:
    """``(name, version)`` of a ``models:/`` URI (an alias resolved now); None for ``runs:/``."""
    if uri.startswith("runs:/"):
        return None
    found = _model_version(uri)
    return found.name, str(found.version)


def _model_version(uri: str) -> Any:
    """The MLflow model version a ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` URI names."""
    from mlflow import MlflowClient

    client = MlflowClient()
    if uri.startswith("models:/"):
        rest = uri.removeprefix("models:/")
        if "@" in rest:
            name, alias = rest.split("@", 1)
            return client.get_model_version_by_alias(name, alias)
        name, _, ref = rest.partition("/")
        if ref.isdigit():
            return client.get_model_version(name, ref)
        raise ValueError(f"{uri}: give a version number or an alias (models:/NAME@ALIAS)")
    raise ValueError(f"{uri}: expected a models:/ or runs:/ URI")
