"""DVC stage ``generalize``: score the trained model on a fleet unlike the one it learned from.

The fleet is simulated from ``simulate`` with the ``generalize.simulate`` overrides (other seed,
fault timings, climate, fault severities, sensor coupling and noise), labelled and featurized by
the stages' own code, and scored at the operating point ``evaluate`` chose, with the same alarm
budget. Nothing of it is used for training or for choosing the threshold.
"""

from __future__ import annotations

import logging
import tempfile

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params, merged_simulate
from batteryops.core.io import partition_files, read_json, require, write_json
from batteryops.hazard import evaluate, events, labels
from batteryops.hazard.model import HazardModel
from batteryops.hazard.models import delta_t_forecasts
from batteryops.sim import fleet_writer, simulate
from stages._common import run

log = logging.getLogger("stages.generalize")
RULE = "rule_score"


def main(params: Params) -> None:
    """Simulate the unlike fleet, score it, write ``metrics/generalization.json``."""
    paths = params.paths
    require(
        paths.model,
        paths.delta_t_model,
        paths.baseline_models,
        paths.model_info,
        paths.operating_point,
    )
    operating = read_json(paths.operating_point)
    model = HazardModel.load(
        paths.model,
        paths.delta_t_model,
        paths.baseline_models,
        read_json(paths.model_info)["model_config"],
    )
    fleet = merged_simulate(params.simulate, params.generalize.simulate)
    tracks: dict[str, list[events.ModuleTrack]] = {events.PROBABILITY: [], RULE: []}
    delta_t_sums: dict[str, dict[str, float]] = {}
    horizon = params.label.delta_t_horizon_s
    with tempfile.TemporaryDirectory() as tmp:
        truth = simulate.truth_with_times(fleet, fleet_writer.write_fleet(fleet, tmp))
        for path in partition_files(tmp):
            frame = labels.label_rack(pd.read_parquet(path), truth, params.label)
            frame = model.prepare(frame)
            frame[events.PROBABILITY] = model.hazard_probability(frame)
            frame[RULE] = evaluate.rule_score(frame, params.evaluate.rule_baseline)
            for column, built in events.score_tracks(frame, truth, list(tracks)).items():
                tracks[column].extend(built)
            judged = frame[frame[schema.TRAINABLE].to_numpy(dtype=bool)]
            evaluate.add_sums(
                delta_t_sums,
                evaluate.delta_t_sums(
                    judged[schema.DELTA_T_30S].to_numpy(dtype=float),
                    delta_t_forecasts(judged, model.delta_t_forecast(judged), horizon),
                    {
                        "all": np.ones(len(judged), dtype=bool),
                        "hazard": judged[schema.HAZARD].to_numpy() > 0,
                    },
                ),
            )
    delta_t = evaluate.delta_t_metrics(delta_t_sums, reference="persistence")
    threshold = float(operating["threshold"])
    result = events.event_metrics(tracks[events.PROBABILITY], threshold, params.alarm)
    rule = events.event_metrics(tracks[RULE], 1.0, params.alarm)
    by_fault = _recall_by_fault(tracks[events.PROBABILITY], truth, threshold, params)
    write_json(
        result
        | {
            "threshold": threshold,
            "modules": int(len(truth)),
            "fleet_module_days": fleet.racks * fleet.modules_per_rack * fleet.duration_s / 86400,
            "event_recall_by_fault": by_fault,
            "overrides": params.generalize.simulate,
            "baselines": {"rule": rule | {"threshold": 1.0}},
            # The ΔT forecast on the unlike fleet, as in metrics/delta_t.json (not gated).
            "delta_t_skill": delta_t["hazard"]["model"]["skill_vs_persistence"],
            "delta_t": delta_t | {"horizon_s": horizon},
        },
        paths.metrics.generalization,
    )
    log.info(
        "unlike fleet: event recall %.3f (%d of %d), lead p10 %.1f min, %.3f false alarms/"
        "module-day at threshold %.4g; delta T skill in hazard windows %.2f",
        result["event_recall"],
        result["events_detected"],
        result["events"],
        result["lead_time_min_p10"],
        result["false_alarms_per_module_day"],
        threshold,
        delta_t["hazard"]["model"]["skill_vs_persistence"],
    )


def _recall_by_fault(
    tracks: list[events.ModuleTrack], truth: pd.DataFrame, threshold: float, params: Params
) -> dict[str, float]:
    kinds = truth.set_index(schema.MODULE_ID)["fault_type"]
    recall = {}
    for kind in sorted({kinds[t.module_id] for t in tracks if t.runaway}):
        chosen = [t for t in tracks if t.runaway and kinds[t.module_id] == kind]
        recall[kind] = events.event_metrics(chosen, threshold, params.alarm)["event_recall"]
    return recall


if __name__ == "__main__":
    run("generalize", main)
