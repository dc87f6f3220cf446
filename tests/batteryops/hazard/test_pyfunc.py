"""batteryops.hazard.pyfunc: a version's operating point is its own; a partial rack is flagged."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.hazard import pyfunc
from batteryops.mlops import registry
from tests.batteryops.conftest import LoggedModel, Trained

ALARM = {"persistence_k": 8, "persistence_n": 10, "episode_merge_gap_s": 60, "min_lead_s": 300}


def _point(threshold: float, k: int) -> dict:
    return {
        "threshold": threshold,
        "alarm": ALARM | {"persistence_k": k},
        "derating": {"policy": "test"},
        "top_features": 3,
        "run_id": "r",
    }


def _register(model: LoggedModel, point: dict, tmp_path: Path) -> str:
    """As the register stage does: the operating point goes onto the new version's tags."""
    import json

    version, _ = registry.decide(
        "m",
        model.model_uri,
        registry.Verdict(passed=True, reasons=["all gates hold"]),
        None,
        tags={
            pyfunc.FEATURES_TAG: json.dumps(["a", "b", "c"]),
            pyfunc.OPERATING_POINT_TAG: json.dumps(point),
        },
        metrics={"threshold": point["threshold"]},
        audit_log=tmp_path / "audit.jsonl",
        audit_extra={},
    )
    return version


def test_rerunning_evaluate_does_not_move_the_champions_operating_point(
    logged_model: LoggedModel, tmp_path: Path
) -> None:
    import mlflow

    registered = _point(0.998, k=8)
    with mlflow.start_run(run_id=logged_model.run_id):
        mlflow.log_dict(registered | {"features": ["a", "b", "c"]}, pyfunc.OPERATING_POINT_ARTIFACT)
    version = _register(logged_model, registered, tmp_path)
    # `dvc exp run -S alarm.persistence_k=6`: evaluate logs a new operating point into the run.
    with mlflow.start_run(run_id=logged_model.run_id):
        moved = _point(0.5, k=6)
        mlflow.log_dict(moved | {"features": ["a", "b", "c"]}, pyfunc.OPERATING_POINT_ARTIFACT)
    for uri in ("models:/m@champion", f"models:/m/{version}"):
        served = pyfunc.operating_point(uri)
        assert served["threshold"] == 0.998 and served["alarm"]["persistence_k"] == 8
        assert served["features"] == ["a", "b", "c"]
    # The unregistered run is what evaluate last wrote; only a new version can serve it.
    assert pyfunc.operating_point(f"runs:/{logged_model.run_id}/model")["threshold"] == 0.5
    newer = _register(logged_model, moved, tmp_path)
    assert pyfunc.operating_point("models:/m@champion")["threshold"] == 0.5
    assert pyfunc.operating_point(f"models:/m/{version}")["threshold"] == 0.998
    assert newer != version


def test_a_version_without_an_operating_point_is_refused_by_name(
    logged_model: LoggedModel, tmp_path: Path
) -> None:
    version, _ = registry.decide(
        "m",
        logged_model.model_uri,
        registry.Verdict(passed=True, reasons=["all gates hold"]),
        None,
        tags={},
        metrics={},
        audit_log=tmp_path / "audit.jsonl",
        audit_extra={},
    )
    with pytest.raises(FileNotFoundError, match=f"version {version} of m carries no operating"):
        pyfunc.operating_point("models:/m@champion")


def test_a_rack_sent_without_its_modules_is_flagged_and_warned(trained: Trained) -> None:
    model = pyfunc.HazardPyfunc()
    model.model = trained.scorer.model
    rack = trained.frames[trained.healthy_rack[schema.RACK_ID].iloc[0]]  # every module of it
    start = rack[schema.TIMESTAMP].min()
    minutes = rack[rack[schema.TIMESTAMP] < start + pd.Timedelta(minutes=6)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a whole rack warns nothing
        whole = model.predict(None, minutes)
    assert whole[pyfunc.RACK_CONTEXT].all()
    alone = minutes[minutes[schema.MODULE_ID] == minutes[schema.MODULE_ID].iloc[0]]
    with pytest.warns(UserWarning, match=r"rack context missing: .*\(1 modules\)"):
        scored = model.predict(None, alone)
    assert not scored[pyfunc.RACK_CONTEXT].any()
    assert len(scored) == len(alone)
    # Featurized rows carry their context: never flagged.
    featurized = model.model.prepare(minutes)
    assert model.predict(None, featurized.head(20))[pyfunc.RACK_CONTEXT].all()
