"""DVC stage ``register``: gate the hazard candidate; move ``champion`` only if every gate holds.

The registration is :func:`batteryops.mlops.registration.register` (shared with
``register_health``); the champion is re-scored on this run's test modules at its own operating
point by :func:`batteryops.hazard.champion.compare_on_test_modules`.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from batteryops.core.config import Params
from batteryops.core.io import read_json, require
from batteryops.hazard import champion, pyfunc
from batteryops.mlops import gates, model_card, registration, tracking
from stages._common import run


def main(params: Params) -> None:
    """Compare the candidate with the champion on the same held-out data and decide."""
    paths, metric_paths = params.paths, params.paths.metrics
    inputs = {
        "info": paths.model_info,
        "operating_point": paths.operating_point,
        "hazard": metric_paths.hazard,
        "delta_t": metric_paths.delta_t,
        "generalization": metric_paths.generalization,
        "drift": metric_paths.drift,
        "validation": metric_paths.validation,
    }
    require(*inputs.values())
    read = {key: read_json(path) for key, path in inputs.items()}
    hazard, generalization = read["hazard"], read["generalization"]
    tracking.configure(params.tracking)
    outcome = registration.register(
        _candidate(params, read),
        judge=partial(
            gates.evaluate_gates,
            hazard,
            params.gates,
            validation=read["validation"],
            generalization=generalization,
        ),
        render_card=lambda decided: model_card.hazard_card(
            decided, params, hazard, read["delta_t"], generalization, read["operating_point"]
        ),
        outputs=registration.Outputs(paths.audit_log, metric_paths.registry, paths.model_card),
        compare=partial(
            champion.compare_on_test_modules,
            features_dir=paths.features_dir,
            split_path=paths.split,
            truth_path=paths.truth,
            alarm=params.alarm,
        ),
        comparison_in_decision=True,
        promote=params.register_.promote,
    )
    print(gates.format_table(outcome.results))


def _candidate(params: Params, read: dict[str, Any]) -> registration.Candidate:
    """The logged model with its metrics and what scoring needs, fixed at registration."""
    info, operating_point = read["info"], read["operating_point"]
    return registration.Candidate(
        name=params.tracking.model_name,
        model_uri=info["model_uri"],
        run_id=info["run_id"],
        metrics={
            key: value for key, value in read["hazard"].items() if not isinstance(value, dict)
        },
        tags={
            pyfunc.FEATURES_TAG: json.dumps(info["features"]),
            "alarm": json.dumps(params.alarm.model_dump()),
            pyfunc.OPERATING_POINT_TAG: json.dumps(
                {k: v for k, v in operating_point.items() if k != "features"}
            ),
            "generalization.event_recall": repr(float(read["generalization"]["event_recall"])),
            # Drift is recorded, not gated: this candidate was trained on the data that drifted.
            "drift": json.dumps(
                {
                    k: read["drift"].get(k)
                    for k in ("share_of_drifted_columns", "current", "retrain")
                }
            ),
        },
    )


if __name__ == "__main__":
    run("register", main)
