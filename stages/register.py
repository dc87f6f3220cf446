"""DVC stage ``register``: gate the candidate; move ``champion`` only if every gate holds."""

from __future__ import annotations

import json
import logging
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.core.io import atomic_path, partition_files, read_json, require, write_json
from batteryops.hazard import evaluate, events
from batteryops.hazard.labels import NEIGHBOUR_VENTED
from batteryops.hazard.models import ANOMALY_FEATURE
from batteryops.mlops import gates, model_card, registry, tracking
from stages._common import run

log = logging.getLogger("stages.register")


def main(params: Params) -> None:
    """Compare the candidate with the champion on the same held-out data and decide."""
    paths, name = params.paths, params.tracking.model_name
    metric_paths = paths.metrics
    require(
        paths.model_info,
        paths.operating_point,
        metric_paths.hazard,
        metric_paths.delta_t,
        metric_paths.generalization,
        metric_paths.drift,
        metric_paths.validation,
    )
    info = read_json(paths.model_info)
    hazard = read_json(metric_paths.hazard)
    generalization = read_json(metric_paths.generalization)
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
        generalization=generalization,
    )
    promoted = all(result.passed for result in results)
    commit, data = tracking.git_commit(), tracking.data_versions()
    reasons = [result.reason for result in results if not result.passed] or ["every gate holds"]
    version, champion_after = registry.decide(
        name,
        info["model_uri"],
        promoted,
        reasons,
        champion_before,
        tags={
            "run_id": info["run_id"],
            "git_commit": commit,
            "features": json.dumps(info["features"]),
            "alarm": json.dumps(params.alarm.model_dump()),
            "operating_point": json.dumps(
                {k: v for k, v in read_json(paths.operating_point).items() if k != "features"}
            ),
            "generalization.event_recall": repr(float(generalization["event_recall"])),
        },
        metrics={key: value for key, value in hazard.items() if not isinstance(value, dict)},
        audit_log=paths.audit_log,
        audit_extra={
            "champion_metrics": champion_metrics,
            "champion_comparison": champion_note,
            "git_commit": commit,
            "data_versions": data,
            "run_id": info["run_id"],
        },
    )
    decision = {
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
    }
    write_json(decision, metric_paths.registry)
    _model_card(params, version, decision, hazard, generalization, info["run_id"])
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
    """Score the champion on this run's test modules at the champion's own operating point.

    Test partitions are read one at a time (features of the champion's own list), so memory
    follows one rack. A champion that cannot be loaded as a batteryops model (an older flavour)
    or whose features this data lacks is compared through its recorded metrics instead.
    """
    from batteryops.hazard import pyfunc

    name = params.tracking.model_name
    tags = registry.version_tags(name, version)
    recorded = registry.metrics_from_tags(tags)
    threshold = recorded.get("threshold")
    fallback = (
        recorded or None,
        f"champion v{version} cannot be re-scored on this data; compared with its recorded metrics",
    )
    try:
        champion = pyfunc.load_model(f"models:/{name}@{registry.CHAMPION}")
    except Exception as error:  # an older or foreign flavour: fall back, do not fail the stage
        log.warning("champion v%s not loadable as a batteryops model: %s", version, error)
        return fallback
    base = [f for f in champion.features if f != ANOMALY_FEATURE]
    if threshold is None or not set(base) <= set(read_json(params.paths.split)["features"]):
        return fallback
    meta = [
        schema.TIMESTAMP,
        schema.MODULE_ID,
        schema.SPLIT,
        schema.TRAINABLE,
        schema.HAZARD,
        NEIGHBOUR_VENTED,
    ]
    truth = pd.read_parquet(params.paths.truth)
    tracks, labels, scores = [], [], []
    for path in partition_files(params.paths.features_dir):
        frame = pd.read_parquet(path, columns=meta + base)
        frame = frame[frame[schema.SPLIT] == "test"].reset_index(drop=True)
        if frame.empty:
            continue
        frame = champion.prepare(frame)
        frame[events.PROBABILITY] = champion.hazard_probability(frame)
        tracks += events.module_tracks(frame, truth, events.PROBABILITY)
        labelled = frame[frame[schema.TRAINABLE]]
        labels.append(labelled[schema.HAZARD].to_numpy())
        scores.append(labelled[events.PROBABILITY].to_numpy())
    result = evaluate.split_metrics(
        np.concatenate(labels), np.concatenate(scores), tracks, threshold, params.alarm
    )
    result.pop("lead_times_min", None)
    return (
        result,
        f"champion v{version} re-scored on this run's test modules at threshold {threshold:.4g}",
    )


def _model_card(
    params: Params,
    version: str,
    decision: dict[str, Any],
    hazard: dict[str, Any],
    generalization: dict[str, Any],
    run_id: str,
) -> None:
    """Write the model card to ``reports/`` and log it to the model's run."""
    import mlflow

    paths = params.paths
    text = model_card.render(
        params.tracking.model_name,
        version,
        decision,
        hazard,
        read_json(paths.metrics.delta_t),
        generalization,
        read_json(paths.operating_point),
        {
            "label": params.label.model_dump(),
            "alarm": params.alarm.model_dump(),
            "derating": params.derating.model_dump(),
            "source": params.source,
            "fleet": (
                f"{params.simulate.racks} racks x {params.simulate.modules_per_rack} modules x "
                f"{params.simulate.duration_s / 86400:.2f} days, seed {params.simulate.seed}, "
                f"faults {params.simulate.faults.model_dump()}"
            ),
        },
        {
            "git_commit": tracking.git_commit(),
            "run_id": run_id,
            "data": tracking.data_versions(),
            "packages": {p: pkg_version(p) for p in ("xgboost-cpu", "scikit-learn", "mlflow")},
        },
    )
    with atomic_path(paths.model_card) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    with mlflow.start_run(run_id=run_id):
        mlflow.log_text(text, "model_card.md")


if __name__ == "__main__":
    run("register", main)
