"""DVC stage ``evaluate``: operating threshold on validation, hazard metrics on test, plots."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from batteryops import evaluate, events, plots, schema
from batteryops.config import Params
from batteryops.io import (
    atomic_path,
    read_json,
    read_partitions,
    require,
    write_json,
    write_parquet,
)
from batteryops.labels import NEIGHBOUR_VENTED
from stages._common import run

log = logging.getLogger("stages.evaluate")
RULE = "rule_score"
SUMMARY_KEYS = [
    "pr_auc",
    "roc_auc",
    "event_recall",
    "event_recall_at_min_lead",
    "lead_time_min_p10",
    "lead_time_min_median",
    "false_alarms_per_module_day",
    "threshold",
    "events",
    "events_detected",
    "false_alarms",
    "watched_module_days",
]


def main(params: Params) -> None:
    """Score validation and test modules; pick the threshold; write metrics, scores and plots."""
    import xgboost as xgb

    paths = params.paths
    require(paths.model, paths.truth)
    features = read_json(paths.split)["features"]
    meta = [
        schema.TIMESTAMP,
        schema.RACK_ID,
        schema.MODULE_ID,
        schema.SPLIT,
        schema.TRAINABLE,
        schema.HAZARD,
        NEIGHBOUR_VENTED,
    ]
    frame = read_partitions(paths.features_dir, columns=meta + features)
    frame = frame[frame[schema.SPLIT].isin(["validation", "test"])].reset_index(drop=True)
    booster = xgb.Booster(model_file=paths.model)
    frame[events.PROBABILITY] = booster.predict(
        xgb.DMatrix(frame[features], feature_names=features)
    )
    frame[RULE] = evaluate.rule_score(frame, params.evaluate.rule_baseline)
    truth = pd.read_parquet(paths.truth)
    validation = frame[frame[schema.SPLIT] == "validation"].reset_index(drop=True)
    test = frame[frame[schema.SPLIT] == "test"].reset_index(drop=True)

    candidates = evaluate.threshold_candidates(
        validation[events.PROBABILITY].to_numpy(), params.evaluate.threshold_grid_size
    )
    tracks = events.module_tracks(validation, truth, events.PROBABILITY)
    threshold, on_validation = events.choose_threshold(tracks, candidates, params.alarm)
    model = evaluate.evaluate_split(test, truth, events.PROBABILITY, threshold, params.alarm)
    rule = evaluate.evaluate_split(test, truth, RULE, 1.0, params.alarm)
    metrics = {key: model[key] for key in SUMMARY_KEYS}
    metrics["baselines"] = {"rule": {key: rule[key] for key in SUMMARY_KEYS}}
    metrics["validation"] = {
        key: on_validation[key] for key in SUMMARY_KEYS if key in on_validation
    }
    metrics["min_lead_min"] = params.alarm.min_lead_s / 60.0
    write_json(metrics, paths.metrics.hazard)
    write_parquet(frame[meta + [events.PROBABILITY, RULE]], paths.scores)
    _plots(params, test, {"model": model, "rule": rule})
    log.info(
        "threshold %.4f: test event recall %.2f, lead p10 %.1f min, %.3f false alarms/module-day",
        threshold,
        model["event_recall"],
        model["lead_time_min_p10"],
        model["false_alarms_per_module_day"],
    )


def _plots(params: Params, test: pd.DataFrame, results: dict[str, dict[str, object]]) -> None:
    plots_dir = Path(params.paths.plots_dir)
    labelled = test[test[schema.TRAINABLE]]
    curves = {}
    rows = []
    for name, column in (("model", events.PROBABILITY), ("rule", RULE)):
        recall, precision = evaluate.pr_curve(
            labelled[schema.HAZARD].to_numpy(), labelled[column].to_numpy(dtype=float)
        )
        curves[name] = (recall, precision)
        rows.append(pd.DataFrame({"model": name, "recall": recall, "precision": precision}))
    with atomic_path(plots_dir / "pr_curve.csv") as tmp:
        pd.concat(rows).to_csv(tmp, index=False)
    leads = {name: list(result["lead_times_min"]) for name, result in results.items()}
    lead_rows = [
        {"model": name, "event": i, "lead_time_min": lead}
        for name, values in leads.items()
        for i, lead in enumerate(values)
    ]
    with atomic_path(plots_dir / "lead_times.csv") as tmp:
        pd.DataFrame(lead_rows, columns=["model", "event", "lead_time_min"]).to_csv(
            tmp, index=False
        )
    with atomic_path(plots_dir / "pr_curve.png") as tmp:
        plots.pr_curve_png(curves, tmp)
    with atomic_path(plots_dir / "lead_time_hist.png") as tmp:
        plots.lead_time_png(leads, params.alarm.min_lead_s / 60.0, tmp)


if __name__ == "__main__":
    run("evaluate", main)
