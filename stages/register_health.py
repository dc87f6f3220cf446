"""DVC stage ``register_health``: gate the SOH/RUL candidate; move ``champion`` only if all hold.

The same registration as ``register`` (:func:`batteryops.mlops.registration.register`, one audit
log), with the gates of ``gates.soh`` on the temperature holdout, against the champion's
recorded metrics.
"""

from __future__ import annotations

from functools import partial

from batteryops.core.config import Params
from batteryops.core.io import read_json, require
from batteryops.mlops import gates, model_card, registration, tracking
from stages._common import run


def main(params: Params) -> None:
    """Decide on the candidate ``battery-soh`` version and write the decision and model card."""
    paths = params.paths
    require(paths.soh_model_info, paths.metrics.soh, paths.metrics.cycle_validation)
    info, soh = read_json(paths.soh_model_info), read_json(paths.metrics.soh)
    tracking.configure(params.tracking)
    candidate = registration.Candidate(
        name=params.health.model_name,
        model_uri=info["model_uri"],
        run_id=info["run_id"],
        metrics={k: v for k, v in soh.items() if isinstance(v, int | float)},
    )
    outcome = registration.register(
        candidate,
        judge=partial(
            gates.evaluate_soh_gates,
            soh,
            params.gates.soh,
            validation=read_json(paths.metrics.cycle_validation),
        ),
        render_card=lambda decided: model_card.health_card(decided, soh),
        outputs=registration.Outputs(
            paths.audit_log, paths.metrics.soh_registry, paths.soh_model_card
        ),
        promote=params.register_.promote,
    )
    print(gates.format_table(outcome.results))


if __name__ == "__main__":
    run("register_health", main)
