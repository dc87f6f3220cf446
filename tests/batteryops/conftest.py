"""Fixtures shared by the library tests: the tiny fleet, and a small trained hazard model.

Both are made once per session: the behaviour tests and the live-service tests share the model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import Params, parse_params
from batteryops.hazard import evaluate, events, features, labels, models, split
from batteryops.hazard.model import PROBABILITY, HazardModel
from batteryops.hazard.scoring import Scorer
from batteryops.sim import simulate
from tests.conftest import deep_merge


@dataclass(frozen=True)
class TinyFleet:
    """Everything one simulation of the tiny fleet produces."""

    plan: simulate.FleetPlan
    physics: dict[str, np.ndarray]
    truth: pd.DataFrame
    signals: dict[str, np.ndarray]
    frames: dict[str, pd.DataFrame]


@pytest.fixture(scope="session")
def tiny_fleet(tiny_params: Params) -> TinyFleet:
    """The tiny fleet of ``tests/conftest.py`` (3 racks x 4 modules x 9000 s), ~2 s to run."""
    sim = tiny_params.simulate
    plan = simulate.plan_fleet(sim)
    physics, truth = simulate.simulate_fleet(sim, plan)
    signals = simulate.sensor_readings(sim, plan, physics, truth)
    frames = dict(simulate.telemetry_frames(sim, plan, signals))
    return TinyFleet(plan, physics, truth, signals, frames)


def gap_seconds(plan: simulate.FleetPlan, rack: int) -> int:
    """Module-seconds of a rack inside logger gaps (overlapping gaps counted once)."""
    in_rack = plan.rack_index[plan.gap_module] == rack
    covered: set[tuple[int, int]] = set()
    for m, start, end in zip(
        plan.gap_module[in_rack], plan.gap_start_s[in_rack], plan.gap_end_s[in_rack], strict=True
    ):
        covered |= {(int(m), s) for s in range(int(start), int(end))}
    return len(covered)


# A small fleet (4 racks x 8 modules x 6 h, every fault and nuisance kind), trained on in-process
# with the pipeline's own functions; the threshold chosen on its validation modules.
SMALL = {
    "simulate": {
        "seed": 21,
        "racks": 4,
        "modules_per_rack": 8,
        "duration_s": 21600,
        "chunk_s": 21600,
        "faults": {
            "internal_short": 4,
            "external_heating": 3,
            "cooling_failure": 2,
            "overcharge": 2,
        },
        "nuisances": {
            "stuck_sensor": 2,
            "drifting_sensor": 2,
            "gas_spikes": 2,
            "hot_ambient_racks": 1,
            "high_load_racks": 1,
            "busy_module": 0,
            "poor_cooling": 0,
            "contact_resistance": 0,
            "calibration_offset": 0,
        },
        "fault_earliest_s": 1800,
        "fault_latest_fraction": 0.4,
    },
    "train": {"xgboost": {"n_estimators": 150}, "delta_t_xgboost": {"n_estimators": 80}},
}


@dataclass
class Trained:
    params: Params
    scorer: Scorer
    healthy_rack: pd.DataFrame  # telemetry of a rack without faults or nuisances
    frames: dict[str, pd.DataFrame]  # the whole small fleet's telemetry, per rack
    truth: pd.DataFrame


def small_fleet(
    params: Params, seed: int | None = None
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    sim = params.simulate if seed is None else params.simulate.model_copy(update={"seed": seed})
    plan = simulate.plan_fleet(sim)
    physics, truth = simulate.simulate_fleet(sim, plan)
    signals = simulate.sensor_readings(sim, plan, physics, truth)
    return dict(simulate.telemetry_frames(sim, plan, signals)), simulate.truth_with_times(
        sim, truth
    )


@pytest.fixture(scope="session")
def trained(raw_params: dict) -> Trained:
    return train_small(raw_params)


def train_small(raw_params: dict) -> Trained:
    """Simulate, label, featurize and train the small fleet; threshold on its validation split."""
    params = parse_params(deep_merge(raw_params, SMALL))
    frames, truth = small_fleet(params)
    assignment = split.assign_splits(truth, params.featurize.split)
    featurized = []
    for frame in frames.values():
        labelled = labels.label_rack(frame, truth, params.label)
        done = features.featurize_rack(labelled, params.featurize)
        done[schema.SPLIT] = done[schema.MODULE_ID].map(assignment)
        featurized.append(done)
    table = pd.concat(featurized, ignore_index=True)
    names = features.feature_names(params.featurize)
    section = params.train
    train = models.training_rows(table, "train", section.row_stride_s, section.negative_stride_s)
    valid = models.training_rows(
        table, "validation", section.row_stride_s, section.negative_stride_s
    )
    baselines = models.fit_baselines(train, names, section.baselines, section.seed)
    hazard = models.train_hazard(train, valid, names, section)
    horizon = params.label.delta_t_horizon_s
    delta_t, _ = models.train_delta_t(train, valid, names, section, horizon)
    model = HazardModel(
        hazard.booster,
        delta_t,
        baselines,
        names,
        params.featurize,
        horizon,
        rack_modules=params.simulate.modules_per_rack,
        unexplained_heat_alarm_c_per_min=section.unexplained_heat_alarm_c_per_min,
        unexplained_heat_sustained_alarm_c_per_min=(
            section.unexplained_heat_sustained_alarm_c_per_min
        ),
        unexplained_heat_persistent_alarm_c_per_min=(
            section.unexplained_heat_persistent_alarm_c_per_min
        ),
        spread_excess_alarm_v=section.spread_excess_alarm_v,
        cell_overvoltage_alarm_v=section.cell_overvoltage_alarm_v,
    )
    validation = table[table[schema.SPLIT] == "validation"].reset_index(drop=True)
    # The threshold is chosen on the classifier's probability, as evaluate does.
    validation[PROBABILITY] = model.classifier_probability(validation)
    tracks = events.module_tracks(validation, truth, PROBABILITY)
    candidates = evaluate.threshold_candidates(validation[PROBABILITY].to_numpy(), 100)
    threshold, _ = events.choose_threshold(tracks, candidates, params.alarm)
    scorer = Scorer(model, threshold, params.alarm, params.derating, params.explain.top_features)
    quiet = truth[(truth["fault_type"] == "none") & (truth["nuisance_type"] == "none")]
    rack = quiet.groupby(schema.RACK_ID).size().idxmax()
    healthy_modules = set(quiet.loc[quiet[schema.RACK_ID] == rack, schema.MODULE_ID])
    rack_frame = frames[rack]
    # Only the rack's quiet modules: a fault or nuisance of a neighbour would blur the test.
    healthy = rack_frame[rack_frame[schema.MODULE_ID].isin(healthy_modules)]
    return Trained(params, scorer, healthy.reset_index(drop=True), frames, truth)


# --- a real MLflow store and a logged model (registry, registration, pyfunc tests) -----------


@dataclass(frozen=True)
class LoggedModel:
    """A small XGBoost booster logged to a finished run of the temporary store."""

    model_uri: str
    run_id: str
    booster: Any
    features: np.ndarray


@pytest.fixture(scope="session")
def mlflow_postgres_template(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL database with MLflow's schema migrated in, to copy per test (the migration
    takes seconds, a copy milliseconds); made in a child process so no connection stays open."""
    server = request.getfixturevalue("postgres")
    server.sql("CREATE DATABASE mlflow_template")
    migrate = "import mlflow, sys; mlflow.MlflowClient(sys.argv[1]).search_experiments()"
    env = os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true"}
    url = server.url("mlflow_template")
    subprocess.run([sys.executable, "-c", migrate, url], check=True, env=env, timeout=300)
    return "mlflow_template"


@pytest.fixture(params=["sqlite", "postgresql"])
def mlflow_store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """MLflow pointed at a fresh store in tmp_path (SQLite) or on the test PostgreSQL server;
    global URIs restored afterwards."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    from batteryops.core.config import TrackingParams
    from batteryops.mlops import tracking

    if request.param == "postgresql":
        template = request.getfixturevalue("mlflow_postgres_template")
        uri = request.getfixturevalue("postgres").database(template=template)
    else:
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
