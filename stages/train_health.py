"""DVC stage ``train_health``: SOH and RUL models judged on the temperature holdout and by cell.

XGBoost and the baselines (ridge, random forest; for RUL also the empirical fade fit) are fitted
on the training chambers and judged on the held-out one, then again with the cells held out in
``health.cell_folds`` folds (:mod:`batteryops.health.training`). Everything lands in
``metrics/soh.json`` side by side. The XGBoost pair trained on the training chambers is logged to
MLflow as the ``battery-soh`` candidate, with a TreeSHAP summary plot. It is also judged, as it
is, on the second ageing family (another cell, a semi-empirical model; never trained on).
"""

from __future__ import annotations

import logging

import pandas as pd

from batteryops.core.config import Params
from batteryops.core.io import read_json, require, write_json
from batteryops.health import other_cells, training
from batteryops.sim.semi_empirical import simulate_second_family
from stages._common import run

log = logging.getLogger("stages.train_health")


def main(params: Params) -> None:
    """Fit, judge side by side, log the candidate."""
    paths, section, seed = params.paths, params.health, params.train.seed
    require(paths.health_features, paths.health_split)
    frame = pd.read_parquet(paths.health_features)
    split_info = read_json(paths.health_split)
    trained = training.train_health(
        frame, split_info["cells"], split_info["features"], section, seed
    )
    model, metrics = trained.model, trained.metrics
    family = simulate_second_family(params.second_ageing)
    metrics["second_family"] = other_cells.judge(model, family.cycles, family.truth)
    metrics.update(training.second_family_headline(metrics["second_family"]))
    model.save(paths.soh_model)
    training.shap_plot(model, trained.test_soh_rows, section.shap_rows, paths.soh_shap, seed)
    info = training.log_candidate(
        params.tracking, section, model, metrics, paths.soh_model, paths.soh_shap
    )
    write_json(metrics, paths.metrics.soh)
    write_json(info, paths.soh_model_info)
    log.info(
        "%s holdout: SOH RMSE %.2f %%, within 3 %% %.3f; RUL MAPE %.1f %% at cycle %d; "
        "second ageing family: SOH RMSE %.2f %% (best baseline %.2f %%)",
        section.holdout,
        metrics["soh_rmse_pct"],
        metrics["soh_within_3pct"],
        metrics["rul_mape_pct"],
        section.rul_judged_at_cycle,
        metrics["second_family_soh_rmse_pct"],
        metrics["second_family_soh_best_baseline_rmse_pct"],
    )


if __name__ == "__main__":
    run("train_health", main)
