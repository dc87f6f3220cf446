"""What every registered model's MLflow pyfunc shares: where it is logged, what it pins, its run.

The task packages hold the flavours themselves (:mod:`batteryops.hazard.pyfunc`,
:mod:`batteryops.health.pyfunc`); loading one needs the ``batteryops`` package installed (the
pyfunc classes live in it).
"""

from __future__ import annotations

from importlib.metadata import version

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
