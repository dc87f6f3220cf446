"""DVC stage ``generalize``: score the trained model on a fleet unlike the one it learned from.

The fleet is simulated from ``simulate`` with the ``generalize.simulate`` overrides (other seed,
fault timings, climate, fault severities, sensor coupling and noise), labelled and featurized by
the stages' own code, and scored at the operating point ``evaluate`` chose, with the same alarm
budget (:mod:`batteryops.hazard.generalization`); so is a fleet of the independent family B
(``generalize.family_b``), the two side by side on ``compute.threads`` threads. Nothing of
either is used for training or for choosing the threshold.
"""

from __future__ import annotations

import logging
import operator
from functools import partial

from batteryops.core.compute import Runner
from batteryops.core.config import Params, merged_simulate
from batteryops.core.io import read_json, require, write_json
from batteryops.hazard import generalization
from batteryops.hazard.model import HazardModel
from stages._common import run

log = logging.getLogger("stages.generalize")


def main(params: Params) -> None:
    """Simulate the unlike fleets, score them, write ``metrics/generalization.json``."""
    paths = params.paths
    require(
        paths.model,
        paths.delta_t_model,
        paths.baseline_models,
        paths.model_info,
        paths.operating_point,
        paths.metrics.hazard,
    )
    operating = read_json(paths.operating_point)
    # The rule at the threshold evaluate chose for it on validation, as for the model.
    rule_threshold = float(read_json(paths.metrics.hazard)["baselines"]["rule"]["threshold"])
    model = HazardModel.from_outputs(paths)
    threshold = float(operating["threshold"])
    judgings = [partial(_unlike_fleet, params, model, threshold, rule_threshold)]
    if params.generalize.family_b is not None:
        args = (params.generalize.family_b, model, params, threshold, rule_threshold)
        judgings.append(partial(generalization.family_b_metrics, *args))
    # The two fleets side by side on threads (their simulators and the model release the GIL).
    metrics, *others = Runner(params.compute.threads).imap(operator.call, judgings)
    if others:
        metrics["family_b"] = others[0]
    write_json(metrics, paths.metrics.generalization)
    log.info(
        "unlike fleet: event recall %.3f (%d of %d), lead p10 %.1f min, %.3f false alarms/"
        "module-day at threshold %.4g; delta T skill in hazard windows %.2f",
        metrics["event_recall"],
        metrics["events_detected"],
        metrics["events"],
        metrics["lead_time_min_p10"],
        metrics["false_alarms_per_module_day"],
        threshold,
        metrics["delta_t_skill"],
    )


def _unlike_fleet(
    params: Params, model: HazardModel, threshold: float, rule_threshold: float
) -> dict[str, object]:
    """The model judged on the unlike fleet of the first simulator (``generalize.simulate``)."""
    fleet = merged_simulate(params.simulate, params.generalize.simulate)
    scores = generalization.score_fleet(
        fleet,
        model,
        params.label,
        params.evaluate.rule_baseline,
        params.generalize.logging_periods_s,
    )
    return generalization.generalization_metrics(
        scores,
        threshold,
        fleet.racks * fleet.modules_per_rack * fleet.duration_s / 86400,
        params.generalize.simulate,
        params.alarm,
        params.label.delta_t_horizon_s,
        rule_threshold,
    )


if __name__ == "__main__":
    run("generalize", main)
