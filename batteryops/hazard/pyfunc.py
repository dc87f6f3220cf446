"""The hazard model as an MLflow pyfunc: what ``models:/battery-hazard@champion`` loads.

``mlflow.pyfunc.load_model(uri).predict(telemetry)`` takes canonical telemetry (its
:func:`signature`, with an input example of one whole rack) and returns, per row,
``hazard_probability``, ``delta_t_30s_forecast_c`` and ``rack_context_complete`` (false where a
rack came with fewer modules than a training rack: the features compare a module with its
rack). :func:`load_model` gives the :class:`HazardModel`, which also takes featurized rows.

The operating point (threshold, persistence, derating policy) is chosen after training, by
``evaluate``, logged beside the model in the same run as ``operating_point.json``, and fixed on the
registered version by ``register`` (version tags): :func:`operating_point` reads a version's own,
and :func:`batteryops.hazard.scoring.load_scorer` joins the two. Loading needs the ``batteryops``
package installed (the pyfunc class lives in it).
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from batteryops.core import schema
from batteryops.hazard.model import DELTA_T_FORECAST, PROBABILITY, HazardModel
from batteryops.mlops.flavour import (
    ARTIFACT_PATH,
    pip_requirements,
    registered_version,
    run_id_of,
)

log = logging.getLogger(__name__)

OPERATING_POINT_ARTIFACT = "operating_point.json"
RACK_CONTEXT = "rack_context_complete"  # output column: the row's rack was sent whole
# The version tags ``register`` fixes the operating point in (the features apart: tag size).
OPERATING_POINT_TAG = "operating_point"
FEATURES_TAG = "features"


class HazardPyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of :class:`batteryops.hazard.model.HazardModel`."""

    def load_context(self, context: Any) -> None:
        """Rebuild the model from the logged artifacts."""
        files = context.artifacts
        self.model = HazardModel.load(
            files["hazard"], files["delta_t"], files["baselines"], files["config"]
        )

    # No type hints on purpose: MLflow would take them for a per-row (list) input schema.
    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        """Hazard probability, 30 s temperature-change forecast and rack context per row.

        The features compare each module with its rack, so canonical telemetry must carry
        every module of a rack: rows of a rack sent with fewer modules than any training rack
        had are flagged (``rack_context_complete`` false) and a warning names the racks.
        Featurized rows carry their context already.
        """
        frame = pd.DataFrame(model_input)
        featurized = set(self.model.featurized_columns) <= set(frame.columns)
        prepared = self.model.prepare(frame)
        out = pd.DataFrame(
            {
                PROBABILITY: self.model.hazard_probability(prepared),
                DELTA_T_FORECAST: self.model.delta_t_forecast(prepared),
                RACK_CONTEXT: True,
            }
        )
        if not featurized and schema.RACK_ID in prepared.columns:
            partial = self.model.rack_context(frame).query("not complete")
            if not partial.empty:
                racks = prepared[schema.RACK_ID].isin(partial[schema.RACK_ID]).to_numpy()
                out[RACK_CONTEXT] = ~racks
                _warn_partial(partial, self.model.rack_modules)
        return out


def _warn_partial(partial: pd.DataFrame, rack_modules: int) -> None:
    """Warn (and log) that some racks were sent with fewer modules than a training rack."""
    sent = ", ".join(
        f"{rack} ({modules} modules)"
        for rack, modules in zip(partial[schema.RACK_ID], partial["modules"], strict=True)
    )
    message = (
        f"rack context missing: {sent} sent with fewer modules than a training rack had "
        f"({rack_modules}); the features compare each module with its rack, so these scores "
        "are not what the model gives in the whole rack: send every module of a rack"
    )
    warnings.warn(message, UserWarning, stacklevel=3)
    log.warning(message)


def signature() -> Any:
    """The MLflow signature: canonical telemetry in, the three outputs per row out.

    Every canonical column is required (a missing column is named by MLflow; missing values are
    fine). ``timestamp`` is of any type: MLflow's schema enforcement refuses tz-aware datetimes,
    and the model reads UTC-aware or naive (taken as UTC) times itself. Signals are doubles
    (float32 is widened). Columns outside the signature are dropped by MLflow before the model
    sees them: featurized rows go through :func:`load_model` (the :class:`HazardModel`).
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    inputs = [
        ColSpec(AnyType(), schema.TIMESTAMP),
        ColSpec("string", schema.MODULE_ID),
        ColSpec("string", schema.RACK_ID),
        *(ColSpec("double", name) for name in schema.SIGNALS),
    ]
    outputs = [ColSpec("double", PROBABILITY), ColSpec("double", DELTA_T_FORECAST)]
    outputs.append(ColSpec("boolean", RACK_CONTEXT))
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def log_model(
    model: HazardModel,
    files: dict[str, str],
    featurized: pd.DataFrame,
    example: pd.DataFrame | None = None,
) -> Any:
    """Log the model to the active MLflow run under ``model``, with its signature.

    Args:
        model: The fitted model.
        files: Paths of the saved ``hazard``, ``delta_t`` and ``baselines`` files.
        featurized: A few featurized rows (an artifact beside the model: the features' input).
        example: Canonical rows of one whole rack: MLflow's input example, or None.

    Returns:
        MLflow's model info (``model_uri`` among it).
    """
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps(model.config(), indent=2))
        example_path = Path(tmp) / "featurized_example.json"
        columns = list(dict.fromkeys(model.features + model.featurized_columns))
        featurized[columns].to_json(example_path, orient="split", index=False)
        return mlflow.pyfunc.log_model(
            name=ARTIFACT_PATH,
            python_model=HazardPyfunc(),
            artifacts=dict(files, config=str(config), featurized_example=str(example_path)),
            pip_requirements=pip_requirements(),
            signature=signature(),
            input_example=example if example is not None and len(example) else None,
        )


def load_model(uri: str) -> HazardModel:
    """The :class:`HazardModel` behind a logged or registered model URI."""
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().model


def operating_point(uri: str) -> dict[str, Any]:
    """The operating point of the model at ``uri``: a registered version's own, fixed with it.

    For a ``models:/`` URI it is the one ``register`` stored on the version (its
    ``operating_point`` and ``features`` tags) when it created it: re-running ``evaluate``
    cannot move it; only a new version that passes the gates can. For a ``runs:/`` URI (a
    model not registered) it is what ``evaluate`` last logged into the run.

    Raises:
        FileNotFoundError: If the version or run holds no operating point.
    """
    registered = registered_version(uri)
    if registered is not None:
        return _version_operating_point(uri, *registered)
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


def _version_operating_point(uri: str, name: str, version: str) -> dict[str, Any]:
    """The operating point stored on a registered version's tags."""
    tags = mlflow.MlflowClient().get_model_version(name, version).tags
    if OPERATING_POINT_TAG not in tags or FEATURES_TAG not in tags:
        raise FileNotFoundError(
            f"{uri}: version {version} of {name} carries no operating point "
            f"('{OPERATING_POINT_TAG}' and '{FEATURES_TAG}' tags); register it again with "
            "`dvc repro` (versions registered before December 2026 lack them)"
        )
    return json.loads(tags[OPERATING_POINT_TAG]) | {"features": json.loads(tags[FEATURES_TAG])}
