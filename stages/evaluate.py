"""DVC stage ``evaluate``: thresholds on validation; hazard, baseline and ΔT metrics on test.

The work is :mod:`batteryops.hazard.evaluation`'s: held-out partitions scored one at a time
(or side by side on Dask workers: ``compute.cluster``), each learned score's threshold chosen on
validation under the same alarm budget, then every score judged on test. The operating point is
written for scoring and logged, with the metrics, to the training run in MLflow.
"""

from __future__ import annotations

import logging
import time

import pandas as pd

from batteryops.core.compute import partitions_runner
from batteryops.core.config import Params
from batteryops.core.io import partition_files, read_json, release_memory, require, write_json
from batteryops.hazard import evaluate, evaluation, events
from batteryops.hazard.model import HazardModel
from stages._common import run

log = logging.getLogger("stages.evaluate")


def main(params: Params) -> None:
    """Score held-out modules; choose thresholds; write metrics, scores, plots, operating point."""
    paths, alarm = params.paths, params.alarm
    require(paths.model, paths.delta_t_model, paths.baseline_models, paths.truth)
    info = read_json(paths.model_info)
    model = HazardModel.from_outputs(paths)
    started = time.perf_counter()
    truth = pd.read_parquet(paths.truth)
    with partitions_runner(params.compute) as runner:  # compute.cluster: partitions on Dask
        scored = evaluation.score_held_out(
            partition_files(paths.features_dir),
            model,
            truth,
            params.evaluate,
            params.label.delta_t_horizon_s,
            params.train.seed,
            paths.scores,
            runner,
        )
    log.info("scored held-out partitions in %.1f s", time.perf_counter() - started)
    thresholds, on_validation = evaluation.choose_thresholds(
        scored.tracks["validation"], params.evaluate.threshold_grid_size, alarm
    )
    log.info("thresholds chosen on validation in %.1f s", time.perf_counter() - started)
    # Nothing reads the validation tracks again: their scores and levels are 0.9 GB.
    del scored.tracks["validation"]
    release_memory()
    results = evaluation.results_on_test(scored, thresholds, alarm, params.compute.threads)
    delta_t = evaluate.delta_t_metrics(scored.delta_t_sums, reference="persistence")
    metrics = evaluation.hazard_metrics(results, on_validation, delta_t, alarm)
    # Each family that must not alarm, on the test modules, on its own (issue 18).
    metrics["false_alarms_by_nuisance"] = events.false_alarms_by_nuisance(
        scored.tracks["test"][events.PROBABILITY], truth, thresholds[events.PROBABILITY], alarm
    )
    curve, metrics["calibration"] = evaluation.calibrate(scored)
    write_json(metrics, paths.metrics.hazard)
    write_json(delta_t | {"horizon_s": params.label.delta_t_horizon_s}, paths.metrics.delta_t)
    threshold = thresholds[events.PROBABILITY]
    operating = evaluation.operating_point(
        threshold, alarm, params.derating, params.explain.top_features, info, curve
    )
    write_json(operating, paths.operating_point)
    log.info("test metrics in %.1f s", time.perf_counter() - started)
    evaluation.write_plots(
        scored,
        results,
        model,
        alarm.min_lead_s / 60.0,
        paths.plots_dir,
        paths.shap_summary,
        metrics["calibration"],
        paths.plot_data,
    )
    log.info("plots in %.1f s", time.perf_counter() - started)
    evaluation.log_to_run(
        params.tracking, info["run_id"], metrics, delta_t, operating, paths.plots_dir
    )
    log.info(
        "threshold %.4g: test event recall %.2f, lead p10 %.1f min, %.4f false alarms/module-day "
        "over %.1f healthy module-days; delta T RMSE in hazard windows %.3f C (persistence %.3f C)",
        threshold,
        metrics["event_recall"],
        metrics["lead_time_min_p10"],
        metrics["false_alarms_per_module_day"],
        metrics["healthy_module_days"],
        metrics["delta_t_rmse_c"],
        metrics["delta_t_persistence_rmse_c"],
    )


if __name__ == "__main__":
    run("evaluate", main)
