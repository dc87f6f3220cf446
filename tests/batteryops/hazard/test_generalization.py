"""batteryops.hazard.generalization: the unlike fleet's racks scored, its metrics put together."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import Params, RuleBaselineParams
from batteryops.hazard import evaluate, events
from batteryops.hazard.generalization import (
    JUDGED,
    RULE,
    FleetScores,
    false_alarms_by_rack_vent,
    generalization_metrics,
    recall_by_fault,
    recall_by_sensor_distance,
    score_rack,
)
from batteryops.hazard.models import TREND_FEATURE

START = pd.Timestamp("2026-07-01T00:00:00Z")
RULE_PARAMS = RuleBaselineParams(temp_max_c=60.0, slope_c_per_min=2.0)


def _track(module_id: str, detected: bool) -> events.ModuleTrack:
    """A runaway (fault at 1000 s, PNR at 3000 s), alarmed 1500 s ahead or never."""
    score = np.zeros(4000)
    if detected:
        score[1500:3000] = 0.9
    excluded = np.zeros(4000, dtype=bool)
    return events.ModuleTrack(
        module_id, np.arange(4000, dtype=float), score, excluded, 1000.0, 3000.0
    )


def _healthy(module_id: str) -> events.ModuleTrack:
    return events.ModuleTrack(
        module_id, np.arange(4000, dtype=float), np.zeros(4000), np.zeros(4000, dtype=bool),
        math.nan, math.nan,
    )  # fmt: skip


FAULTS = {"M1": "internal_short", "M2": "internal_short", "M3": "external_heating", "M4": "none"}


def _fleet_truth() -> pd.DataFrame:
    return pd.DataFrame({schema.MODULE_ID: list(FAULTS), "fault_type": list(FAULTS.values())})


def _tracks() -> list[events.ModuleTrack]:
    return [_track("M1", True), _track("M2", False), _track("M3", True), _healthy("M4")]


def test_recall_by_fault_counts_each_fault_types_runaways(params: Params) -> None:
    recall = recall_by_fault(_tracks(), _fleet_truth(), 0.5, params.alarm)
    assert recall == {"external_heating": 1.0, "internal_short": 0.5}


def test_recall_by_sensor_distance_groups_the_runaways_of_one_failing_cell(params: Params) -> None:
    # M1 (alarmed 25 min ahead) and M2 (missed) start next to a thermistor and three cells
    # away; M3's fault has no one cell (-1: left out); M4 is healthy.
    placement = pd.DataFrame(
        {schema.MODULE_ID: ["M1", "M2", "M3", "M4"], "sensor_distance_cells": [0, 3, -1, -1]}
    )
    leads = events.event_metrics(_tracks(), 0.5, params.alarm)["lead_times_by_module"]
    found = recall_by_sensor_distance(_tracks(), leads, placement, params.alarm)
    assert list(found) == ["0", "3"]
    assert found["0"]["lead_times_min"] == [pytest.approx(25.0, abs=0.2)]  # k of n seconds
    assert found["0"] | {"lead_times_min": None} == {
        "events": 1,
        "lead_times_min": None,
        "at_min_lead": 1,
        "at_10_min": 1,
    }
    assert found["3"] == {"events": 1, "lead_times_min": [None], "at_min_lead": 0, "at_10_min": 0}


def test_false_alarms_split_at_the_first_vent_in_the_rack(params: Params) -> None:
    # R1-M1 vents at 1000 s; R1-M2, further up the rack, alarms after it and once before it;
    # R2-M3, in a rack where nothing vents, alarms once.
    early, late, other = _healthy("R1-M2"), _healthy("R1-M2"), _healthy("R2-M3")
    late.score[500:600] = late.score[2000:2100] = 0.9
    other.score[3000:3100] = 0.9
    vent = START + pd.Timedelta(seconds=1000)
    truth = pd.DataFrame(
        {
            schema.MODULE_ID: ["R1-M1", "R1-M2", "R2-M3"],
            schema.RACK_ID: ["R1", "R1", "R2"],
            "vent_time": [vent, pd.NaT, pd.NaT],
        }
    )
    base = START.timestamp()
    for track in (early, late, other):
        track.seconds = track.seconds + base
    split = false_alarms_by_rack_vent([late, other], truth, 0.5, params.alarm)
    before, after = split["before_first_vent_in_rack"], split["after_first_vent_in_rack"]
    assert (before["false_alarms"], after["false_alarms"]) == (2, 1)
    assert before["watched_module_days"] * 86400 == 1000 + 4000
    assert after["watched_module_days"] * 86400 == 3000
    assert (
        false_alarms_by_rack_vent([early], truth.drop(columns="vent_time"), 0.5, params.alarm)[
            "after_first_vent_in_rack"
        ]["watched_module_days"]
        == 0
    )


def test_false_alarms_are_counted_per_nuisance_family(params: Params) -> None:
    # Issue 18: "no alarm at all in the sustained-high-load, poor-cooling ... families".
    busy = _healthy("M5")
    busy.score[2000:2100] = 0.9  # one false alarm episode
    truth = _fleet_truth()
    truth["nuisance_type"] = "none"
    truth = pd.concat(
        [truth, pd.DataFrame({schema.MODULE_ID: ["M5"], "fault_type": ["none"]})]
    ).fillna({"nuisance_type": "busy_module"})
    by_family = events.false_alarms_by_nuisance([*_tracks(), busy], truth, 0.5, params.alarm)
    assert by_family["busy_module"]["false_alarms"] == 1
    assert by_family["busy_module"]["modules"] == 1
    assert by_family["none"] == {
        "modules": 1,
        "false_alarms": 0,
        "watched_module_days": pytest.approx(4000 / 86400),
    }


def test_generalization_metrics(params: Params) -> None:
    fleet = params.simulate.model_copy(update={"racks": 2, "modules_per_rack": 2})
    sums = evaluate.delta_t_sums(
        np.array([1.0, 2.0]),
        {"model": np.array([1.0, 1.0]), "persistence": np.zeros(2)},
        {"all": np.ones(2, dtype=bool), "hazard": np.array([False, True])},
    )
    scores = FleetScores(_fleet_truth(), {c: _tracks() for c in JUDGED}, sums)
    overrides = {"seed": 99}
    module_days = fleet.racks * fleet.modules_per_rack * fleet.duration_s / 86400
    metrics = generalization_metrics(scores, 0.5, module_days, overrides, params.alarm, 30)
    assert metrics["threshold"] == 0.5
    assert metrics["events"] == 3 and metrics["events_detected"] == 2
    assert metrics["event_recall"] == pytest.approx(2 / 3)
    assert metrics["modules"] == 4
    assert metrics["fleet_module_days"] == pytest.approx(4 * fleet.duration_s / 86400)
    assert metrics["event_recall_by_fault"] == {"external_heating": 1.0, "internal_short": 0.5}
    assert metrics["overrides"] == overrides
    assert metrics["false_alarms_by_nuisance"]["none"]["false_alarms"] == 0
    # The rule alarms at 1, which no score here reaches.
    assert metrics["baselines"]["rule"]["threshold"] == 1.0
    assert metrics["baselines"]["rule"]["events_detected"] == 0
    assert metrics["delta_t_skill"] == pytest.approx(2.0)
    assert metrics["delta_t"]["horizon_s"] == 30
    assert metrics["delta_t"]["all"]["rows"] == 2


class _StubModel:
    """Prepares rows by adding a flat trend; scores from the hottest sensor alone."""

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{TREND_FEATURE: np.float32(0.0)})

    def hazard_probability(self, frame: pd.DataFrame) -> np.ndarray:
        return np.clip((frame["temp_max_c"].to_numpy() - 25.0) / 20.0, 0.0, 1.0)

    def delta_t_forecast(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame), dtype=np.float32)


def _rack() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two modules of one rack, 600 s; the first heats from 100 s and reaches PNR at 500 s."""
    seconds = np.arange(600)
    frames = []
    for module_id, heats in (("R01-M01", True), ("R01-M02", False)):
        temp = 25.0 + (np.clip(seconds - 100, 0, None) * 0.1 if heats else 0.0 * seconds)
        frames.append(
            pd.DataFrame(
                {
                    schema.TIMESTAMP: START + pd.to_timedelta(seconds, unit="s"),
                    schema.RACK_ID: "R01",
                    schema.MODULE_ID: module_id,
                    "temp_max_c": temp.astype(np.float32),
                }
            )
        )
    truth = pd.DataFrame(
        {
            schema.RACK_ID: ["R01", "R01"],
            schema.MODULE_ID: ["R01-M01", "R01-M02"],
            "position": [0, 5],  # not neighbours: no row is excluded
            "fault_start": [START + pd.Timedelta(seconds=100), pd.NaT],
            "vent_time": [START + pd.Timedelta(seconds=480), pd.NaT],
            "pnr_time": [START + pd.Timedelta(seconds=500), pd.NaT],
        }
    )
    return pd.concat(frames, ignore_index=True), truth


def test_score_rack_labels_scores_and_judges_trainable_rows(params: Params) -> None:
    telemetry, truth = _rack()
    # A 300 s window ending 30 s before PNR, the 30 s change as the pipeline labels it.
    label = params.label.model_copy(
        update={"prediction_window_s": 300, "guard_s": 30, "delta_t_horizon_s": 30}
    )
    tracks, sums = score_rack(telemetry, truth, _StubModel(), label, RULE_PARAMS)
    assert list(tracks) == [events.PROBABILITY, RULE]
    for built in tracks.values():
        assert [t.module_id for t in built] == ["R01-M01", "R01-M02"]
    detected = events.event_metrics(tracks[events.PROBABILITY], 0.5, params.alarm)
    assert detected["events_detected"] == 1
    # Judged: trainable rows (the runaway's before its guard, 470 s; all 600 s of the other)
    # with a known target (none in a module's last 30 s).
    assert sums["all.model"]["n"] == 470 + 570
    assert sums["hazard.model"]["n"] == 300
    assert set(sums) == {
        f"{subset}.{name}"
        for subset in ("all", "hazard")
        for name in ("model", "persistence", "trend", "heat_balance")
    }
