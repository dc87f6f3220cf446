"""DVC stage ``evaluate``: thresholds on validation; hazard, baseline and ΔT metrics on test.

Partitions are scored one at a time and only scores are kept, so memory follows one rack, not
the fleet. Each learned score (the model, logistic regression, IsolationForest) gets its own
threshold on validation modules under the same alarm budget; the rule alarms at its own
definition (score 1). The operating point is written for scoring and logged, with the metrics,
to the training run in MLflow.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from batteryops.core import plots, schema
from batteryops.core.config import Params
from batteryops.core.io import (
    atomic_path,
    parquet_writer,
    partition_files,
    read_json,
    require,
    write_json,
)
from batteryops.hazard import evaluate, events
from batteryops.hazard.labels import NEIGHBOUR_VENTED
from batteryops.hazard.model import DELTA_T_FORECAST, HazardModel
from batteryops.hazard.models import (
    ANOMALY_FEATURE,
    HEAT_BALANCE_FEATURE,
    TREND_FEATURE,
    delta_t_forecasts,
)
from batteryops.mlops import tracking
from stages._common import run

log = logging.getLogger("stages.evaluate")
RULE, LOGISTIC, ANOMALY = "rule_score", "logistic_probability", ANOMALY_FEATURE
# Score column -> name under ``baselines`` in the metrics (the model's own is top level).
LEARNED = {events.PROBABILITY: None, LOGISTIC: "logistic_regression", ANOMALY: "isolation_forest"}
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
    "healthy_module_days",
]
META = [
    schema.TIMESTAMP,
    schema.RACK_ID,
    schema.MODULE_ID,
    schema.SPLIT,
    schema.TRAINABLE,
    schema.HAZARD,
    schema.OVERHEAT,
    schema.DELTA_T_30S,
    NEIGHBOUR_VENTED,
]
SCORES = [events.PROBABILITY, LOGISTIC, ANOMALY, RULE, DELTA_T_FORECAST]


def main(params: Params) -> None:
    """Score held-out modules; choose thresholds; write metrics, scores, plots, operating point."""
    paths = params.paths
    require(paths.model, paths.delta_t_model, paths.baseline_models, paths.truth)
    info = read_json(paths.model_info)
    model = HazardModel.load(
        paths.model,
        paths.delta_t_model,
        paths.baseline_models,
        info["model_config"],
    )
    truth = pd.read_parquet(paths.truth)
    started = time.perf_counter()
    scored = _score_partitions(params, model, truth)
    log.info("scored held-out partitions in %.1f s", time.perf_counter() - started)

    thresholds, results, on_validation = {}, {}, {}
    for column in LEARNED:
        validation = scored["tracks"]["validation"][column]
        candidates = np.concatenate(
            [
                evaluate.threshold_candidates(
                    np.concatenate([t.score for t in validation]),
                    params.evaluate.threshold_grid_size,
                ),
                events.critical_thresholds(validation, params.alarm),
            ]
        )
        thresholds[column], on_validation[column] = events.choose_threshold(
            validation, candidates, params.alarm
        )
    thresholds[RULE] = 1.0
    log.info("thresholds chosen on validation in %.1f s", time.perf_counter() - started)
    labels = np.concatenate(scored["labels"])
    for column, threshold in thresholds.items():
        results[column] = evaluate.split_metrics(
            labels,
            np.concatenate(scored["row_scores"][column]),
            scored["tracks"]["test"][column],
            threshold,
            params.alarm,
        )
    delta_t = evaluate.delta_t_metrics(scored["delta_t"], reference="persistence")
    metrics = _hazard_metrics(params, results, on_validation, delta_t)
    write_json(metrics, paths.metrics.hazard)
    write_json(delta_t | {"horizon_s": params.label.delta_t_horizon_s}, paths.metrics.delta_t)
    operating = _operating_point(params, thresholds[events.PROBABILITY], info)
    write_json(operating, paths.operating_point)
    log.info("test metrics in %.1f s", time.perf_counter() - started)
    _plots(params, scored, results, model)
    log.info("plots in %.1f s", time.perf_counter() - started)
    _log_to_run(params, info["run_id"], metrics, delta_t, operating)
    log.info(
        "threshold %.4g: test event recall %.2f, lead p10 %.1f min, %.4f false alarms/module-day "
        "over %.1f healthy module-days; delta T RMSE in hazard windows %.3f C (persistence %.3f C)",
        thresholds[events.PROBABILITY],
        metrics["event_recall"],
        metrics["lead_time_min_p10"],
        metrics["false_alarms_per_module_day"],
        metrics["healthy_module_days"],
        metrics["delta_t_rmse_c"],
        metrics["delta_t_persistence_rmse_c"],
    )


def _score_partitions(params: Params, model: HazardModel, truth: pd.DataFrame) -> dict:
    """Score validation and test rows partition by partition; keep tracks, labels and sums."""
    paths = params.paths
    base = [name for name in model.features if name != ANOMALY_FEATURE]
    tracks: dict[str, dict[str, list]] = {
        split: {c: [] for c in [*LEARNED, RULE]} for split in ("validation", "test")
    }
    labels, row_scores = [], {c: [] for c in [*LEARNED, RULE]}
    delta_t_sums: dict[str, dict[str, float]] = {}
    shap_rows, rng = [], np.random.default_rng(params.train.seed)
    files = partition_files(paths.features_dir)
    shap_per_file = max(params.evaluate.shap_sample_rows // len(files), 1)
    with atomic_path(paths.scores) as scores_tmp:
        writer = None
        for path in files:
            frame = pd.read_parquet(
                path,
                columns=list(dict.fromkeys(META + base + [HEAT_BALANCE_FEATURE])),
                filters=[(schema.SPLIT, "in", ["validation", "test"])],
            )
            if frame.empty:
                continue
            frame = model.prepare(frame)
            # The inputs once, as one array, for every model (a frame copy per model is slow).
            matrix = model.matrix(frame)
            scores = {
                events.PROBABILITY: model.hazard_probability(frame, matrix),
                LOGISTIC: model.baselines.logistic_probability(matrix),
                ANOMALY: model.baselines.anomaly_score(matrix),
                RULE: evaluate.rule_score(frame, params.evaluate.rule_baseline),
            }
            is_test = (frame[schema.SPLIT] == "test").to_numpy()
            forecast = np.full(len(frame), np.nan, dtype=np.float32)  # judged on test rows only
            forecast[is_test] = model.delta_t_forecast(frame[is_test], matrix[is_test])
            shap_rows.append(
                _shap_sample(
                    frame[is_test & frame[schema.TRAINABLE].to_numpy()],
                    model.features,
                    shap_per_file,
                    rng,
                )
            )
            del matrix
            kept = META + [TREND_FEATURE, HEAT_BALANCE_FEATURE]
            frame = frame[kept].assign(**scores, **{DELTA_T_FORECAST: forecast})
            for split in ("validation", "test"):
                part = frame[frame[schema.SPLIT] == split].reset_index(drop=True)
                if part.empty:
                    continue
                for column, built in events.score_tracks(part, truth, [*LEARNED, RULE]).items():
                    tracks[split][column].extend(built)
            test = frame[is_test & frame[schema.TRAINABLE].to_numpy()]
            labels.append(test[schema.HAZARD].to_numpy())
            for column in row_scores:
                row_scores[column].append(test[column].to_numpy(dtype=np.float32))
            hazard = test[schema.HAZARD].to_numpy() > 0
            subsets = {
                "all": np.ones(len(test), dtype=bool),
                "overheat": test[schema.OVERHEAT].to_numpy() > 0,
                "hazard": hazard,
            }
            evaluate.add_sums(
                delta_t_sums,
                evaluate.delta_t_sums(
                    test[schema.DELTA_T_30S].to_numpy(dtype=float),
                    delta_t_forecasts(
                        test, test[DELTA_T_FORECAST].to_numpy(), params.label.delta_t_horizon_s
                    ),
                    subsets,
                ),
            )
            table = frame[META + SCORES]
            if writer is None:
                import pyarrow as pa

                schema_out = pa.Schema.from_pandas(table, preserve_index=False)
                writer = parquet_writer(scores_tmp, schema_out, [schema.RACK_ID, schema.SPLIT])
            writer.write_table(pa.Table.from_pandas(table, schema=schema_out, preserve_index=False))
            del frame, test, table
        if writer is not None:
            writer.close()
    return {
        "tracks": tracks,
        "labels": labels,
        "row_scores": row_scores,
        "delta_t": delta_t_sums,
        "shap": pd.concat(shap_rows, ignore_index=True),
    }


def _shap_sample(
    test: pd.DataFrame, features: list[str], size: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Up to ``size`` test rows: half from hazard windows, half from anywhere."""
    hazard = np.flatnonzero(test[schema.HAZARD].to_numpy() > 0)
    take = rng.choice(hazard, min(len(hazard), size // 2), replace=False) if len(hazard) else []
    rest = rng.choice(len(test), min(len(test), size - len(take)), replace=False)
    rows = np.unique(np.concatenate([np.asarray(take, dtype=int), rest]))
    return test.iloc[rows][features].reset_index(drop=True)


def _hazard_metrics(
    params: Params, results: dict, on_validation: dict, delta_t: dict
) -> dict[str, object]:
    model = results[events.PROBABILITY]
    metrics: dict[str, object] = {key: model[key] for key in SUMMARY_KEYS}
    metrics["lead_times_min"] = model["lead_times_min"]
    metrics["baselines"] = {"rule": {key: results[RULE][key] for key in SUMMARY_KEYS}}
    for column, name in LEARNED.items():
        if name is not None:
            metrics["baselines"][name] = {key: results[column][key] for key in SUMMARY_KEYS}
    metrics["validation"] = {
        key: on_validation[events.PROBABILITY][key]
        for key in SUMMARY_KEYS
        if key in on_validation[events.PROBABILITY]
    }
    metrics["min_lead_min"] = params.alarm.min_lead_s / 60.0
    metrics["false_alarm_budget_per_module_day"] = params.alarm.false_alarm_budget_per_module_day
    # Judged where a module heats towards runaway (the hazard windows of the test modules), as
    # the derating advice needs. Elsewhere the 30 s change is mostly sensor noise, which no
    # forecast removes; those figures are in metrics/delta_t.json beside it.
    heating = delta_t["hazard"]
    metrics["delta_t_rmse_c"] = heating["model"]["rmse_c"]
    metrics["delta_t_persistence_rmse_c"] = heating["persistence"]["rmse_c"]
    metrics["delta_t_skill"] = heating["model"]["skill_vs_persistence"]
    metrics["delta_t_skill_all_rows"] = delta_t["all"]["model"]["skill_vs_persistence"]
    return metrics


def _operating_point(params: Params, threshold: float, info: dict) -> dict[str, object]:
    return {
        "threshold": float(threshold),
        "alarm": params.alarm.model_dump(),
        "derating": params.derating.model_dump(),
        "top_features": params.explain.top_features,
        "features": info["features"],
        "run_id": info["run_id"],
    }


def _plots(params: Params, scored: dict, results: dict, model: HazardModel) -> None:
    plots_dir = Path(params.paths.plots_dir)
    labels = np.concatenate(scored["labels"])
    curves, rows = {}, []
    names = {events.PROBABILITY: "model", RULE: "rule"} | {
        c: n for c, n in LEARNED.items() if n is not None
    }
    for column, name in names.items():
        recall, precision = evaluate.pr_curve(
            labels, np.concatenate(scored["row_scores"][column]).astype(float)
        )
        curves[name] = (recall, precision)
        rows.append(pd.DataFrame({"model": name, "recall": recall, "precision": precision}))
    with atomic_path(plots_dir / "pr_curve.csv") as tmp:
        pd.concat(rows).to_csv(tmp, index=False)
    leads = {names[c]: list(result["lead_times_min"]) for c, result in results.items()}
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
    sample = scored["shap"]
    if not sample.empty:
        contributions = model.contributions(sample)[:, :-1]
        with atomic_path(params.paths.shap_summary) as tmp:
            plots.shap_summary_png(
                contributions, sample[model.features].to_numpy(dtype=float), model.features, tmp
            )


def _log_to_run(params: Params, run_id: str, metrics: dict, delta_t: dict, operating: dict) -> None:
    """Log the held-out metrics, plots and operating point to the training run."""
    import mlflow

    from batteryops.hazard.pyfunc import OPERATING_POINT_ARTIFACT

    tracking.configure(params.tracking)
    flat = {
        f"test_{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
    }
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(flat)
        mlflow.log_dict(metrics, "metrics/hazard.json")
        mlflow.log_dict(delta_t, "metrics/delta_t.json")
        mlflow.log_dict(operating, OPERATING_POINT_ARTIFACT)
        for png in Path(params.paths.plots_dir).glob("*.png"):
            mlflow.log_artifact(str(png), "plots")


if __name__ == "__main__":
    run("evaluate", main)
