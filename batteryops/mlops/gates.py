"""Registration gates: pure checks of metrics against the thresholds in ``params.gates``.

Used by the ``register`` stage (candidate against champion) and by ``batteryops gate`` (the CI
metric-threshold check, optionally against a base git ref).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from batteryops.core.config import (
    GateParams,
    RegressionParams,
    SohGateParams,
    SohRegressionParams,
)


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict."""

    gate: str
    value: float | None
    threshold: float | None
    comparison: str
    passed: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return asdict(self)


def _check(gate: str, value: Any, comparison: str, threshold: float) -> GateResult:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return GateResult(
            gate, None, threshold, comparison, False, f"{gate}: no value in the metrics"
        )
    value = float(value)
    passed = value >= threshold if comparison == ">=" else value <= threshold
    verdict = "holds" if passed else "fails"
    return GateResult(
        gate,
        value,
        threshold,
        comparison,
        passed,
        f"{gate} = {value:.4g} {verdict} ({comparison} {threshold:.4g})",
    )


def evaluate_gates(
    hazard: dict[str, Any],
    gates: GateParams,
    validation: dict[str, Any] | None = None,
    champion: dict[str, Any] | None = None,
    generalization: dict[str, Any] | None = None,
) -> list[GateResult]:
    """Check hazard metrics (and validation, champion when given) against the gates.

    Drift is no gate: a candidate trained on the data that drifted is the retraining that drift
    calls for (``metrics/drift.json`` says ``retrain``; the version carries its drift share).

    Args:
        hazard: Candidate metrics (``metrics/hazard.json``).
        gates: The ``gates`` section.
        validation: ``metrics/validation.json``, or None to skip the validation gate.
        champion: The champion's metrics at its operating point on the same data, or None when
            there is no champion (the no-regression gates are then skipped).
        generalization: ``metrics/generalization.json`` (the unlike fleet), or None to skip.

    Returns:
        One result per gate, in a fixed order: the absolute hazard gates, the ΔT skill (when the
        metrics hold it), the unlike fleet, validation, then no regression from the
        champion.
    """
    results = _hazard_gates(hazard, gates)
    if generalization is not None:
        results.append(
            _check(
                "generalization.event_recall",
                generalization.get("event_recall"),
                ">=",
                gates.min_generalization_event_recall,
            )
        )
        # The same fleet as coarser loggers keep it (issue 18): the gate holds at every period.
        for period, coarse in generalization.get("by_logging_period_s", {}).items():
            results.append(
                _check(
                    f"generalization.event_recall@{period}s",
                    coarse.get("event_recall"),
                    ">=",
                    gates.min_generalization_event_recall,
                )
            )
    if validation is not None and gates.require_validation:
        results.append(_validation_gate(validation, "validation"))
    if champion is not None:
        results += _no_regression_gates(hazard, gates.max_regression, champion)
    return results


def _hazard_gates(hazard: dict[str, Any], gates: GateParams) -> list[GateResult]:
    """The gates on the candidate's own hazard metrics (and its ΔT skill when recorded)."""
    results = [
        _check(
            "event_recall_at_min_lead",
            hazard.get("event_recall_at_min_lead"),
            ">=",
            gates.min_event_recall_at_min_lead,
        ),
        _check("pr_auc", hazard.get("pr_auc"), ">=", gates.min_pr_auc),
        _check(
            "false_alarms_per_module_day",
            hazard.get("false_alarms_per_module_day"),
            "<=",
            gates.max_false_alarms_per_module_day,
        ),
        _check(
            "lead_time_min_median",
            hazard.get("lead_time_min_median"),
            ">=",
            gates.min_lead_time_min_median,
        ),
    ]
    bounds = [
        ("event_recall_at_min_lead_lower95", ">=", gates.min_event_recall_at_min_lead_lower95),
        (
            "false_alarms_per_module_day_upper95",
            "<=",
            gates.max_false_alarms_per_module_day_upper95,
        ),
    ]
    results += [
        _check(key, hazard.get(key), op, limit) for key, op, limit in bounds if limit is not None
    ]
    if "delta_t_skill" in hazard:
        results.append(
            _check("delta_t_skill", hazard.get("delta_t_skill"), ">=", gates.min_delta_t_skill)
        )
    return results


# Whether a larger value of each regression-gated metric is better.
HIGHER_IS_BETTER = {
    "event_recall_at_min_lead": True,
    "pr_auc": True,
    "false_alarms_per_module_day": False,
    "soh_rmse_pct": False,
    "rul_mape_pct": False,
}


def _no_regression_gates(
    metrics: dict[str, Any],
    shares: RegressionParams | SohRegressionParams,
    champion: dict[str, Any],
) -> list[GateResult]:
    """Each metric in ``shares`` may be worse than the champion's by that share of it, no more."""
    results = []
    for key, share in shares.model_dump().items():
        base = _recorded(champion, key)
        if base is None:
            continue
        if HIGHER_IS_BETTER[key]:
            results.append(
                _check(f"no_regression.{key}", metrics.get(key), ">=", base * (1 - share))
            )
        else:
            results.append(
                _check(f"no_regression.{key}", metrics.get(key), "<=", base * (1 + share))
            )
    return results


def _recorded(champion: dict[str, Any], key: str) -> float | None:
    """The champion's value of ``key`` as a float, or None when absent or NaN."""
    base = champion.get(key)
    if base is None or math.isnan(float(base)):
        return None
    return float(base)


def _validation_gate(validation: dict[str, Any], what: str) -> GateResult:
    """Passes when the validation metrics say ``success``; ``what`` names it in the reason."""
    ok = bool(validation.get("success", False))
    verdict = f"{what} passed" if ok else f"{what} failed"
    return GateResult("validation_success", float(ok), 1.0, ">=", ok, verdict)


def evaluate_soh_gates(
    soh: dict[str, Any],
    gates: SohGateParams,
    validation: dict[str, Any] | None = None,
    champion: dict[str, Any] | None = None,
) -> list[GateResult]:
    """Check ``metrics/soh.json`` (temperature holdout, XGBoost) against ``gates.soh``.

    With ``gates.soh.beat_baselines`` the SOH RMSE must also be at most the best baseline's
    (last check-up, check-up fade line, coulomb count) where one answered, on the temperature
    holdout and on the second ageing family, whose SOH RMSE is also held to
    ``max_second_family_soh_rmse_pct``. The candidate's SOH
    RMSE and RUL MAPE may exceed the champion's (recorded on its version) by at most the share
    of it in ``gates.soh.max_regression``.
    """
    results = [
        _check("soh_rmse_pct", soh.get("soh_rmse_pct"), "<=", gates.max_soh_rmse_pct),
        _check("soh_within_3pct", soh.get("soh_within_3pct"), ">=", gates.min_soh_within_3pct),
        _check("soh_within_5pct", soh.get("soh_within_5pct"), ">=", gates.min_soh_within_5pct),
        _check("rul_mape_pct", soh.get("rul_mape_pct"), "<=", gates.max_rul_mape_pct),
    ]
    if gates.max_second_family_soh_rmse_pct is not None:
        results.append(
            _check(
                "second_family_soh_rmse_pct",
                soh.get("second_family_soh_rmse_pct"),
                "<=",
                gates.max_second_family_soh_rmse_pct,
            )
        )
    for prefix in ("", "second_family_"):
        best = soh.get(f"{prefix}soh_best_baseline_rmse_pct")
        if gates.beat_baselines and best is not None and math.isfinite(best):
            gate = f"{prefix}soh_rmse_pct_vs_best_baseline"
            results.append(_check(gate, soh.get(f"{prefix}soh_rmse_pct"), "<=", best))
    if validation is not None and gates.require_validation:
        results.append(_validation_gate(validation, "cycle validation"))
    results += _no_regression_gates(soh, gates.max_regression, champion or {})
    return results


def format_table(results: list[GateResult]) -> str:
    """A plain-text table: gate, value, threshold, verdict."""
    header = f"{'gate':45} {'value':>10} {'threshold':>13}  verdict"
    lines = [header, "-" * len(header)]
    for result in results:
        value = "-" if result.value is None else f"{result.value:.4g}"
        threshold = (
            "-" if result.threshold is None else f"{result.comparison} {result.threshold:.4g}"
        )
        lines.append(
            f"{result.gate:45} {value:>10} {threshold:>13}  {'PASS' if result.passed else 'FAIL'}"
        )
    return "\n".join(lines)
