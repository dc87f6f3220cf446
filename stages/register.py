"""DVC stage ``register``: gate the candidate; move ``champion`` only if every gate holds."""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd

from batteryops import evaluate, events, gates, registry, schema, tracking
from batteryops.config import Params
from batteryops.io import read_json, read_partitions, require, write_json
from batteryops.labels import NEIGHBOUR_VENTED
from stages._common import run

log = logging.getLogger("stages.register")


def main(params: Params) -> None:
    """Compare the candidate with the champion on the same held-out data and decide."""
    paths, name = params.paths, params.tracking.model_name
    metric_paths = paths.metrics
    require(paths.model_info, metric_paths.hazard, metric_paths.drift, metric_paths.validation)
    info = read_json(paths.model_info)
    hazard = read_json(metric_paths.hazard)
    tracking.configure(params.tracking)
    champion_before = registry.alias_version(name, registry.CHAMPION)
    champion_metrics, champion_note = None, "no champion yet"
    if champion_before is not None:
        champion_metrics, champion_note = _champion_on_same_data(params, champion_before)
    results = gates.evaluate_gates(
        hazard,
        params.gates,
        drift=read_json(metric_paths.drift),
        validation=read_json(metric_paths.validation),
        champion=champion_metrics,
    )
    promoted = all(result.passed for result in results)
    commit, data = tracking.git_commit(), tracking.data_versions()
    version = registry.register_version(
        name,
        info["model_uri"],
        tags={
            "run_id": info["run_id"],
            "git_commit": commit,
            "features": json.dumps(info["features"]),
            "alarm": json.dumps(params.alarm.model_dump()),
            "decision": "champion" if promoted else "challenger",
        },
        metrics={key: value for key, value in hazard.items() if not isinstance(value, dict)},
    )
    registry.set_alias(name, registry.CHAMPION if promoted else registry.CHALLENGER, version)
    champion_after = version if promoted else champion_before
    reasons = [result.reason for result in results if not result.passed] or ["every gate holds"]
    registry.append_audit(
        paths.audit_log,
        {
            "model": name,
            "action": "register",
            "candidate_version": version,
            "champion_before": champion_before,
            "champion_after": champion_after,
            "decision": "promoted" if promoted else "rejected",
            "reasons": reasons,
            "metrics": {k: v for k, v in hazard.items() if not isinstance(v, dict)},
            "champion_metrics": champion_metrics,
            "champion_comparison": champion_note,
            "git_commit": commit,
            "data_versions": data,
            "run_id": info["run_id"],
        },
    )
    write_json(
        {
            "model": name,
            "decision": "promoted" if promoted else "rejected",
            "candidate_version": int(version),
            "champion_version": int(champion_after) if champion_after else None,
            "promoted": int(promoted),
            "gates_passed": sum(r.passed for r in results),
            "gates_total": len(results),
            "gates": {
                r.gate: {"value": r.value, "threshold": r.threshold, "passed": r.passed}
                for r in results
            },
            "reasons": reasons,
            "champion_comparison": champion_note,
        },
        metric_paths.registry,
    )
    print(gates.format_table(results))
    if promoted:
        log.info("version %s of %s is now champion (was %s)", version, name, champion_before)
    else:
        log.warning(
            "version %s of %s marked challenger; champion stays %s: %s",
            version,
            name,
            champion_before,
            "; ".join(reasons),
        )


def _champion_on_same_data(params: Params, version: str) -> tuple[dict[str, Any] | None, str]:
    """Score the champion on this run's test modules at the champion's own operating point."""
    import mlflow
    import xgboost as xgb

    name = params.tracking.model_name
    tags = registry.version_tags(name, version)
    recorded = registry.metrics_from_tags(tags)
    features = json.loads(tags.get("features", "[]"))
    threshold = recorded.get("threshold")
    available = set(read_json(params.paths.split)["features"])
    if not features or threshold is None or not set(features) <= available:
        return recorded or None, (
            f"champion v{version} cannot be re-scored on this data (features differ); "
            "compared with its recorded metrics"
        )
    meta = [
        schema.TIMESTAMP,
        schema.MODULE_ID,
        schema.SPLIT,
        schema.TRAINABLE,
        schema.HAZARD,
        NEIGHBOUR_VENTED,
    ]
    frame = read_partitions(params.paths.features_dir, columns=meta + features)
    test = frame[frame[schema.SPLIT] == "test"].reset_index(drop=True)
    booster = mlflow.xgboost.load_model(f"models:/{name}@{registry.CHAMPION}")
    test[events.PROBABILITY] = booster.predict(xgb.DMatrix(test[features], feature_names=features))
    truth = pd.read_parquet(params.paths.truth)
    result = evaluate.evaluate_split(test, truth, events.PROBABILITY, threshold, params.alarm)
    result.pop("lead_times_min", None)
    return (
        result,
        f"champion v{version} re-scored on this run's test modules at threshold {threshold:.4g}",
    )


if __name__ == "__main__":
    run("register", main)
