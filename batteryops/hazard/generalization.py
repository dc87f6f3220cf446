"""The ``generalize`` stage's work: the trained model scored on a fleet unlike its own.

The unlike fleet is simulated into a temporary folder, labelled and featurized by the stages' own
code (:func:`batteryops.hazard.labels.label_rack`, the model's own featurization) and scored rack
by rack (:func:`score_rack`) at the operating point ``evaluate`` chose, with the same alarm
budget. Nothing of it is used for training or for choosing the threshold.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema, timegrid
from batteryops.core.config import (
    AlarmParams,
    FamilyBParams,
    LabelParams,
    Params,
    RuleBaselineParams,
    SimulateParams,
)
from batteryops.core.io import partition_files
from batteryops.familyb import writer as familyb_writer
from batteryops.hazard import evaluate, events, labels
from batteryops.hazard.model import HazardModel
from batteryops.hazard.models import delta_t_forecasts
from batteryops.sim import fleet_writer, simulate

RULE = evaluate.RULE_SCORE
JUDGED = [events.PROBABILITY, RULE]
SECONDS_PER_DAY = 86400


@dataclass
class FleetScores:
    """The scored unlike fleet: its truth, its module tracks per score, its ΔT error sums."""

    truth: pd.DataFrame
    tracks: dict[str, list[events.ModuleTrack]] = field(
        default_factory=lambda: {column: [] for column in JUDGED}
    )
    delta_t_sums: dict[str, dict[str, float]] = field(default_factory=dict)
    # The model's tracks on the same fleet as coarser loggers keep it: logging period (s) ->
    # tracks of the rows every that many seconds.
    by_period: dict[int, list[events.ModuleTrack]] = field(default_factory=dict)


def score_rack(
    telemetry: pd.DataFrame,
    truth: pd.DataFrame,
    model: HazardModel,
    label: LabelParams,
    rule: RuleBaselineParams,
) -> tuple[dict[str, list[events.ModuleTrack]], dict[str, dict[str, float]]]:
    """Label, featurize and score one rack of telemetry with the model and the rule.

    Args:
        telemetry: Canonical telemetry of one rack.
        truth: Ground truth per module.
        model: The trained model.
        label: The ``label`` section.
        rule: The ``evaluate.rule_baseline`` section.

    Returns:
        Score column -> the rack's module tracks, and the ΔT forecasts' error sums on its
        trainable rows (all of them and the hazard windows).
    """
    frame = model.prepare(labels.label_rack(telemetry, truth, label))
    frame[events.PROBABILITY] = model.hazard_probability(frame)
    frame[RULE] = evaluate.rule_score(frame, rule)
    tracks = events.score_tracks(frame, truth, JUDGED)
    judged = frame[frame[schema.TRAINABLE].to_numpy(dtype=bool)]
    sums = evaluate.delta_t_sums(
        judged[schema.DELTA_T_30S].to_numpy(dtype=float),
        delta_t_forecasts(judged, model.delta_t_forecast(judged), label.delta_t_horizon_s),
        {
            "all": np.ones(len(judged), dtype=bool),
            "hazard": judged[schema.HAZARD].to_numpy() > 0,
        },
    )
    return tracks, sums


def score_fleet(
    fleet: SimulateParams,
    model: HazardModel,
    label: LabelParams,
    rule: RuleBaselineParams,
    periods: Sequence[int] = (),
) -> FleetScores:
    """Simulate a fleet into a temporary folder and score it rack by rack (:func:`score_rack`).

    Each of ``periods`` scores the model again on the rows a logger reading every that many
    seconds would have kept (:func:`coarser`).
    """

    def write(folder: str) -> pd.DataFrame:
        return simulate.truth_with_times(fleet, fleet_writer.write_fleet(fleet, folder))

    return score_written(write, model, label, rule, periods)


def score_family_b(
    fleet: FamilyBParams,
    model: HazardModel,
    label: LabelParams,
    rule: RuleBaselineParams,
    periods: Sequence[int] = (),
) -> FleetScores:
    """:func:`score_fleet` on a fleet of the independent family B (:mod:`batteryops.familyb`)."""
    return score_written(
        lambda folder: familyb_writer.write_fleet(fleet, folder), model, label, rule, periods
    )


def score_written(
    write: Callable[[str], pd.DataFrame],
    model: HazardModel,
    label: LabelParams,
    rule: RuleBaselineParams,
    periods: Sequence[int] = (),
) -> FleetScores:
    """Score the racks ``write`` puts in a temporary folder (it returns their truth, in times)."""
    with tempfile.TemporaryDirectory() as tmp:
        scores = FleetScores(write(tmp))
        for path in partition_files(tmp):
            telemetry = pd.read_parquet(path)
            tracks, sums = score_rack(telemetry, scores.truth, model, label, rule)
            for column, built in tracks.items():
                scores.tracks[column].extend(built)
            evaluate.add_sums(scores.delta_t_sums, sums)
            for period in periods:
                kept, _ = score_rack(coarser(telemetry, period), scores.truth, model, label, rule)
                scores.by_period.setdefault(period, []).extend(kept[events.PROBABILITY])
    return scores


def coarser(telemetry: pd.DataFrame, period_s: int) -> pd.DataFrame:
    """The rows a logger reading every ``period_s`` seconds keeps (each module from its first)."""
    seconds = timegrid.epoch_seconds(telemetry[schema.TIMESTAMP]).astype(np.int64)
    first = pd.Series(seconds).groupby(telemetry[schema.MODULE_ID].to_numpy()).transform("min")
    return telemetry[(seconds - first.to_numpy()) % period_s == 0].reset_index(drop=True)


def false_alarms_by_rack_vent(
    tracks: list[events.ModuleTrack], truth: pd.DataFrame, threshold: float, alarm: AlarmParams
) -> dict[str, dict[str, float]]:
    """False alarms before and after the first vent anywhere in each module's rack.

    The watch (:attr:`events.ModuleTrack.watched`) ends when a module one position either side
    vents. In family B the air warms as it rises through the rack, so a vent heats modules
    further up as well: this splits the watched seconds, and the false alarms by where their
    episode starts, at the first vent in the rack, so that both can be read.
    """
    racks = truth[schema.RACK_ID if schema.RACK_ID in truth.columns else schema.MODULE_ID]
    vents = np.full(len(truth), np.nan)  # a truth without vent times: no vent anywhere
    if "vent_time" in truth.columns:
        vents = timegrid.epoch_seconds(truth["vent_time"])
    first = pd.Series(vents).groupby(racks.to_numpy()).min()
    rack_of = pd.Series(racks.to_numpy(), index=truth[schema.MODULE_ID].to_numpy())
    sides: dict[str, list[events.ModuleTrack]] = {"before": [], "after": []}
    for track in tracks:
        vent = first.get(rack_of.get(track.module_id), np.nan)
        after = track.seconds >= (np.inf if np.isnan(vent) else vent)
        for side, hidden in (("before", after), ("after", ~after)):  # the level cache is shared
            sides[side].append(replace(track, excluded=track.excluded | hidden))
    result = {}
    for side, chosen in sides.items():
        found = events.event_metrics(chosen, threshold, alarm)
        result[f"{side}_first_vent_in_rack"] = {
            key: found[key]
            for key in (
                "false_alarms",
                "watched_module_days",
                "false_alarms_per_module_day",
                "false_alarms_per_module_day_upper95",
            )
        }
    return result


def recall_by_fault(
    tracks: list[events.ModuleTrack], truth: pd.DataFrame, threshold: float, alarm: AlarmParams
) -> dict[str, float]:
    """Event recall at ``threshold`` over the runaways of each fault type."""
    kinds = truth.set_index(schema.MODULE_ID)["fault_type"]
    recall = {}
    for kind in sorted({kinds[t.module_id] for t in tracks if t.runaway}):
        chosen = [t for t in tracks if t.runaway and kinds[t.module_id] == kind]
        recall[kind] = events.event_metrics(chosen, threshold, alarm)["event_recall"]
    return recall


def recall_by_sensor_distance(
    tracks: list[events.ModuleTrack],
    leads: dict[str, float],
    placement: pd.DataFrame,
    alarm: AlarmParams,
) -> dict[str, dict[str, object]]:
    """Runaways by how many cells away from the failing cell the nearest thermistor is.

    Args:
        tracks: The model's module tracks (which modules run away).
        leads: Module -> lead (min) of each alarmed runaway, the ``lead_times_by_module`` of
            :func:`batteryops.hazard.events.event_metrics` on the same tracks.
        placement: ``module_id``, ``sensor_distance_cells`` (-1: a fault of no one cell, left
            out), as :func:`batteryops.familyb.writer.placement` gives it.
        alarm: The ``alarm`` section.

    Returns:
        Distance (cells) -> the runaways' count, each one's lead (min; None: not alarmed) and
        how many were alarmed at least ``alarm.min_lead_s`` and 10 min ahead.
    """
    distance = placement.set_index(schema.MODULE_ID)["sensor_distance_cells"]
    found: dict[str, dict[str, object]] = {}
    for track in sorted((t for t in tracks if t.runaway), key=lambda t: str(t.module_id)):
        cells = int(distance.get(track.module_id, -1))
        if cells < 0:
            continue
        lead = leads.get(str(track.module_id))
        lead = None if lead is None else float(lead)
        group = found.setdefault(str(cells), {"events": 0, "lead_times_min": []})
        group["events"] += 1
        group["lead_times_min"].append(lead)
    for group in found.values():
        given = [lead for lead in group["lead_times_min"] if lead is not None]
        group["at_min_lead"] = int(sum(lead >= alarm.min_lead_s / 60 for lead in given))
        group["at_10_min"] = int(sum(lead >= 10 for lead in given))
    return dict(sorted(found.items(), key=lambda item: int(item[0])))


def generalization_metrics(
    scores: FleetScores,
    threshold: float,
    module_days: float,
    overrides: dict[str, Any],
    alarm: AlarmParams,
    horizon_s: int,
    rule_threshold: float = evaluate.RULE_THRESHOLD,
) -> dict[str, object]:
    """``metrics/generalization.json``: the model's event metrics on the fleet, the rule's beside.

    Args:
        scores: :func:`score_fleet`.
        threshold: The model's operating threshold (``evaluate``'s).
        module_days: The fleet's module-days (modules x its duration).
        overrides: What it changes of the training fleet (``generalize.simulate``), or the
            family B section.
        alarm: The ``alarm`` section.
        horizon_s: The ΔT forecast's horizon (``label.delta_t_horizon_s``).
        rule_threshold: The rule's threshold (``evaluate``'s, chosen on validation; 1 is the
            rule as defined).
    """
    delta_t = evaluate.delta_t_metrics(scores.delta_t_sums, reference="persistence")
    result = events.event_metrics(scores.tracks[events.PROBABILITY], threshold, alarm)
    rule = events.event_metrics(scores.tracks[RULE], rule_threshold, alarm)
    by_fault = recall_by_fault(scores.tracks[events.PROBABILITY], scores.truth, threshold, alarm)
    coarse = {
        str(period): events.event_metrics(tracks, threshold, alarm)
        | {
            "false_alarms_by_nuisance": events.false_alarms_by_nuisance(
                tracks, scores.truth, threshold, alarm
            ),
            "false_alarms_by_rack_vent": false_alarms_by_rack_vent(
                tracks, scores.truth, threshold, alarm
            ),
        }
        for period, tracks in sorted(scores.by_period.items())
    }
    return result | {
        # The same fleet as loggers reading every 10 s or 30 s keep it, same operating point.
        "by_logging_period_s": coarse,
        "threshold": threshold,
        "modules": int(len(scores.truth)),
        "fleet_module_days": module_days,
        "event_recall_by_fault": by_fault,
        # Each family that must not alarm, on its own (the benign-heat ones among them).
        "false_alarms_by_nuisance": events.false_alarms_by_nuisance(
            scores.tracks[events.PROBABILITY], scores.truth, threshold, alarm
        ),
        # Before and after the first vent anywhere in the module's rack (the watch ends at an
        # adjacent one's): what a rack-wide emergency would leave of the false alarms.
        "false_alarms_by_rack_vent": false_alarms_by_rack_vent(
            scores.tracks[events.PROBABILITY], scores.truth, threshold, alarm
        ),
        "overrides": overrides,
        "baselines": {"rule": rule | {"threshold": rule_threshold}},
        # The ΔT forecast on the unlike fleet, as in metrics/delta_t.json (not gated).
        "delta_t_skill": delta_t["hazard"]["model"]["skill_vs_persistence"],
        "delta_t": delta_t | {"horizon_s": horizon_s},
    }


def family_b_metrics(
    fleet: FamilyBParams,
    model: HazardModel,
    params: Params,
    threshold: float,
    rule_threshold: float,
) -> dict[str, object]:
    """The model judged on a family B fleet, in the shape of :func:`generalization_metrics`."""
    scores = score_family_b(
        fleet,
        model,
        params.label,
        params.evaluate.rule_baseline,
        params.generalize.logging_periods_s,
    )
    module_days = fleet.racks * fleet.modules_per_rack * fleet.duration_s / SECONDS_PER_DAY
    metrics = generalization_metrics(
        scores,
        threshold,
        module_days,
        fleet.model_dump(),
        params.alarm,
        params.label.delta_t_horizon_s,
        rule_threshold,
    )
    faulted = scores.truth["fault_type"] != "none"
    metrics["faults_without_runaway"] = int((faulted & scores.truth["pnr_time"].isna()).sum())
    # A fault that starts in one cell far from every thermistor shows late in the temperatures:
    # the runaways by that distance, at each logging period.
    placement = familyb_writer.placement(fleet)
    metrics["event_recall_by_sensor_distance"] = recall_by_sensor_distance(
        scores.tracks[events.PROBABILITY], metrics["lead_times_by_module"], placement, params.alarm
    )
    for period, tracks in scores.by_period.items():
        at_period = metrics["by_logging_period_s"][str(period)]
        at_period["event_recall_by_sensor_distance"] = recall_by_sensor_distance(
            tracks, at_period["lead_times_by_module"], placement, params.alarm
        )
    return metrics
