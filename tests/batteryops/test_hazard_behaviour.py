"""Behaviour of the trained hazard model: what a safety engineer expects it to do and not do.

A small fleet (4 racks x 8 modules x 6 h, every fault and nuisance kind) is simulated, labelled,
featurized and trained on in-process with the pipeline's own functions; the operating threshold
is chosen on its validation modules under the alarm budget of ``params.yaml``. The model is then
shown situations it must tell apart: a module heating faster than its neighbours, a stuck or a
drifting sensor, a hot day for a whole rack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from batteryops import evaluate, events, features, labels, models, schema, simulate, split
from batteryops.config import Params, parse_params
from batteryops.hazard_model import PROBABILITY, HazardModel
from batteryops.scoring import ALARM, CURRENT_LIMIT, Scorer
from tests.conftest import deep_merge

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


def _fleet(params: Params, seed: int | None = None) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    sim = params.simulate if seed is None else params.simulate.model_copy(update={"seed": seed})
    plan = simulate.plan_fleet(sim)
    physics, truth = simulate.simulate_fleet(sim, plan)
    signals = simulate.sensor_readings(sim, plan, physics, truth)
    return dict(simulate.telemetry_frames(sim, plan, signals)), simulate.truth_with_times(
        sim, truth
    )


@pytest.fixture(scope="module")
def trained(raw_params: dict) -> Trained:
    params = parse_params(deep_merge(raw_params, SMALL))
    frames, truth = _fleet(params)
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
    model = HazardModel(hazard.booster, delta_t, baselines, names, params.featurize, horizon)
    validation = table[table[schema.SPLIT] == "validation"].reset_index(drop=True)
    validation[PROBABILITY] = model.hazard_probability(validation)
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
    return Trained(params, scorer, healthy.reset_index(drop=True))


def _seconds(frame: pd.DataFrame) -> np.ndarray:
    return (frame[schema.TIMESTAMP] - frame[schema.TIMESTAMP].min()).dt.total_seconds().to_numpy()


def _heat(frame: pd.DataFrame, module: str, c_per_min: float, from_s: float) -> pd.DataFrame:
    """A copy with one module's temperatures rising at ``c_per_min`` from ``from_s`` on."""
    changed = frame.copy()
    rows = (changed[schema.MODULE_ID] == module).to_numpy()
    rise = np.clip(_seconds(changed)[rows] - from_s, 0, None) / 60.0 * c_per_min
    for column, share in (("temp_max_c", 1.0), ("temp_avg_c", 0.4)):
        values = changed.loc[rows, column].to_numpy() + share * rise
        changed.loc[rows, column] = values.astype(changed[column].dtype)
    return changed


def test_module_heating_faster_than_its_neighbours_scores_higher(trained: Trained) -> None:
    frame = trained.healthy_rack
    module = sorted(frame[schema.MODULE_ID].unique())[1]
    end = _seconds(frame).max()
    heated = trained.scorer.score(_heat(frame, module, 1.0, end - 900))
    calm = trained.scorer.score(frame)
    late = heated[_seconds(heated) >= end - 120]
    mine = late[late[schema.MODULE_ID] == module][PROBABILITY].mean()
    neighbours = late[late[schema.MODULE_ID] != module][PROBABILITY].max()
    assert mine > neighbours
    before = calm[(calm[schema.MODULE_ID] == module) & (_seconds(calm) >= end - 120)]
    assert mine > before[PROBABILITY].mean()
    faster = trained.scorer.score(_heat(frame, module, 2.0, end - 900))
    faster_late = faster[(faster[schema.MODULE_ID] == module) & (_seconds(faster) >= end - 120)]
    assert faster_late[PROBABILITY].mean() >= mine


def test_stuck_sensor_alone_does_not_alarm(trained: Trained) -> None:
    frame = trained.healthy_rack.copy()
    module = sorted(frame[schema.MODULE_ID].unique())[0]
    rows = (frame[schema.MODULE_ID] == module).to_numpy() & (_seconds(frame) >= 3600)
    frame.loc[rows, "temp_max_c"] = frame.loc[rows, "temp_max_c"].iloc[0]
    scored = trained.scorer.score(frame)
    assert not scored[ALARM].any()


def test_drifting_sensor_alone_does_not_alarm(trained: Trained) -> None:
    frame = trained.healthy_rack.copy()
    module = sorted(frame[schema.MODULE_ID].unique())[0]
    rows = (frame[schema.MODULE_ID] == module).to_numpy()
    sim = trained.params.simulate
    drift = np.minimum(
        np.clip(_seconds(frame)[rows] - 3600, 0, None) / 3600.0 * sim.drift_c_per_h,
        sim.drift_max_c,
    )
    drifted = frame.loc[rows, "temp_max_c"].to_numpy() + drift
    frame.loc[rows, "temp_max_c"] = drifted.astype(frame["temp_max_c"].dtype)
    scored = trained.scorer.score(frame)
    assert not scored[ALARM].any()


def test_hot_day_for_the_whole_rack_does_not_alarm(trained: Trained) -> None:
    frame = trained.healthy_rack.copy()
    warming = np.clip((_seconds(frame) - 3600) / 3600.0, 0, 1) * 12.0  # +12 C over an hour
    for column in ("temp_avg_c", "temp_max_c", "temp_min_c", "ambient_c", "coolant_c"):
        frame[column] = (frame[column].to_numpy() + warming).astype(frame[column].dtype)
    scored = trained.scorer.score(frame)
    assert not scored[ALARM].any()
    assert scored[CURRENT_LIMIT].min() > 0


def test_nuisance_modules_of_an_unseen_fleet_do_not_alarm(trained: Trained) -> None:
    params = trained.params
    frames, truth = _fleet(params, seed=params.simulate.seed + 100)
    nuisance = truth[truth["fault_type"] == "none"]
    for rack, frame in frames.items():
        chosen = nuisance.loc[nuisance[schema.RACK_ID] == rack, schema.MODULE_ID]
        vented = truth.loc[truth[schema.RACK_ID] == rack, "vent_time"].dropna()
        quiet = frame[frame[schema.MODULE_ID].isin(chosen)]
        if len(vented):  # a neighbour's fire is not a nuisance: stop before the first vent
            quiet = quiet[quiet[schema.TIMESTAMP] < vented.min()]
        if quiet.empty:
            continue
        scored = trained.scorer.score(quiet)
        alarmed = sorted(scored.loc[scored[ALARM], schema.MODULE_ID].unique())
        kinds = nuisance.set_index(schema.MODULE_ID).loc[alarmed, "nuisance_type"].tolist()
        assert not alarmed, f"alarms on {alarmed} ({kinds})"


def test_scoring_output_has_the_contract_columns(trained: Trained) -> None:
    frame = _heat(trained.healthy_rack, sorted(trained.healthy_rack[schema.MODULE_ID])[0], 3, 0)
    scored = trained.scorer.score(frame)
    assert list(scored.columns[:3]) == [schema.MODULE_ID, schema.TIMESTAMP, schema.RACK_ID]
    assert len(scored) == len(frame)
    alarmed = scored[scored[ALARM]]
    assert not alarmed.empty
    assert (alarmed["top_features"].str.count("=") == trained.scorer.top_features).all()
    assert (scored.loc[~scored[ALARM], "top_features"] == "").all()
    assert (alarmed[CURRENT_LIMIT] == 0).all()
