"""DVC stage ``register_health``: gate the SOH/RUL candidate; move ``champion`` only if all hold.

The same registry logic as ``register`` (:func:`batteryops.mlops.registry.decide`, one audit log),
with the gates of ``gates.soh`` on the temperature holdout.
"""

from __future__ import annotations

import logging
from pathlib import Path

from batteryops.core.config import Params
from batteryops.core.io import atomic_path, read_json, require, write_json
from batteryops.mlops import gates, model_card, registry, tracking
from stages._common import run

log = logging.getLogger("stages.register_health")


def main(params: Params) -> None:
    """Decide on the candidate ``battery-soh`` version and write the decision and model card."""
    import mlflow

    paths, name = params.paths, params.health.model_name
    require(paths.soh_model_info, paths.metrics.soh, paths.metrics.cycle_validation)
    info, soh = read_json(paths.soh_model_info), read_json(paths.metrics.soh)
    tracking.configure(params.tracking)
    champion_before = registry.alias_version(name, registry.CHAMPION)
    champion = None
    if champion_before is not None:
        champion = registry.metrics_from_tags(registry.version_tags(name, champion_before))
    results = gates.evaluate_soh_gates(
        soh,
        params.gates.soh,
        params.gates.max_regression,
        validation=read_json(paths.metrics.cycle_validation),
        champion=champion,
    )
    passed = all(r.passed for r in results)
    reasons = [r.reason for r in results if not r.passed] or ["every gate holds"]
    commit, data = tracking.git_commit(), tracking.data_versions()
    flat = {k: v for k, v in soh.items() if isinstance(v, int | float)}
    version, champion_after = registry.decide(
        name,
        info["model_uri"],
        passed,
        reasons,
        champion_before,
        tags={"run_id": info["run_id"], "git_commit": commit},
        metrics=flat,
        audit_log=paths.audit_log,
        audit_extra={
            "champion_metrics": champion,
            "champion_comparison": "recorded metrics of the champion version",
            "git_commit": commit,
            "data_versions": data,
            "run_id": info["run_id"],
        },
    )
    decision = {
        "model": name,
        "decision": "promoted" if passed else "rejected",
        "candidate_version": int(version),
        "champion_version": int(champion_after) if champion_after else None,
        "promoted": int(passed),
        "gates_passed": sum(r.passed for r in results),
        "gates_total": len(results),
        "gates": {
            r.gate: {"value": r.value, "threshold": r.threshold, "passed": r.passed}
            for r in results
        },
        "reasons": reasons,
    }
    write_json(decision, paths.metrics.soh_registry)
    health_data = {
        path: md5
        for path, md5 in data.items()
        if any(word in path for word in ("cycle", "curve", "cells", "health", "soh"))
    }
    lineage = {"git_commit": commit, "run_id": info["run_id"]} | health_data
    text = model_card.render_health(name, version, decision, soh, lineage)
    with atomic_path(paths.soh_model_card) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    with mlflow.start_run(run_id=info["run_id"]):
        mlflow.log_text(text, "model_card.md")
    print(gates.format_table(results))
    if passed:
        log.info("version %s of %s is now champion (was %s)", version, name, champion_before)
    else:
        log.warning(
            "version %s of %s marked challenger; champion stays %s: %s",
            version,
            name,
            champion_before,
            "; ".join(reasons),
        )


if __name__ == "__main__":
    run("register_health", main)
