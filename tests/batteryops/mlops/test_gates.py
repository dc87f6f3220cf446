"""batteryops.mlops.gates: registration gates against params.gates, one failure at a time."""

from __future__ import annotations

import math
from typing import Any

import pytest

from batteryops.core.config import GateParams
from batteryops.mlops.gates import GateResult, evaluate_gates, evaluate_soh_gates, format_table
from tests.batteryops.mlops.conftest import GATES, GOOD

ABSOLUTE = list(GOOD)


def _by_gate(results: list[GateResult]) -> dict[str, GateResult]:
    return {result.gate: result for result in results}


def test_good_metrics_pass_every_absolute_gate() -> None:
    results = evaluate_gates(GOOD, GATES)
    assert [r.gate for r in results] == ABSOLUTE
    assert all(r.passed for r in results)


@pytest.mark.parametrize(
    ("gate", "bad_value"),
    [
        ("event_recall_at_min_lead", 0.5),
        ("pr_auc", 0.3),
        ("false_alarms_per_module_day", 2.0),
        ("lead_time_min_median", 1.0),
    ],
)
def test_each_absolute_gate_fails_alone(gate: str, bad_value: float) -> None:
    results = _by_gate(evaluate_gates(GOOD | {gate: bad_value}, GATES))
    assert not results[gate].passed
    assert results[gate].value == bad_value
    assert f"{gate} = {bad_value:.4g} fails" in results[gate].reason
    assert all(r.passed for name, r in results.items() if name != gate)


@pytest.mark.parametrize(
    ("gate", "threshold"),
    [
        ("event_recall_at_min_lead", 0.8),
        ("pr_auc", 0.5),
        ("false_alarms_per_module_day", 0.5),
        ("lead_time_min_median", 5.0),
    ],
)
def test_gate_at_its_threshold_passes(gate: str, threshold: float) -> None:
    assert _by_gate(evaluate_gates(GOOD | {gate: threshold}, GATES))[gate].passed


@pytest.mark.parametrize("missing", [None, math.nan, "absent"])
def test_missing_metric_fails_with_a_reason(missing: Any) -> None:
    hazard = dict(GOOD)
    if missing == "absent":
        del hazard["pr_auc"]
    else:
        hazard["pr_auc"] = missing
    result = _by_gate(evaluate_gates(hazard, GATES))["pr_auc"]
    assert not result.passed
    assert result.value is None
    assert result.reason == "pr_auc: no value in the metrics"


def test_integer_metric_is_accepted() -> None:
    result = _by_gate(evaluate_gates(GOOD | {"false_alarms_per_module_day": 0}, GATES))
    assert result["false_alarms_per_module_day"].passed


def test_drift_is_no_registration_gate() -> None:
    # A candidate trained on the data that drifted is the retraining drift calls for
    # (issue 16, finding 8): drift must not block it, so the gates take no drift at all.
    with pytest.raises(TypeError):
        evaluate_gates(GOOD, GATES, drift={"share_of_drifted_columns": 0.75})  # type: ignore[call-arg]
    assert "max_drift_share" not in type(GATES).model_fields


def test_no_validation_metrics_skip_that_gate() -> None:
    gates = {r.gate for r in evaluate_gates(GOOD, GATES, validation=None)}
    assert gates == set(ABSOLUTE)


def test_validation_gate() -> None:
    passed = _by_gate(evaluate_gates(GOOD, GATES, validation={"success": True}))
    assert passed["validation_success"].passed
    assert passed["validation_success"].reason == "validation passed"
    failed = _by_gate(evaluate_gates(GOOD, GATES, validation={"success": False}))
    assert not failed["validation_success"].passed
    assert failed["validation_success"].reason == "validation failed"
    assert not _by_gate(evaluate_gates(GOOD, GATES, validation={}))["validation_success"].passed


def test_validation_gate_off_when_not_required() -> None:
    relaxed = GATES.model_copy(update={"require_validation": False})
    gates = {r.gate for r in evaluate_gates(GOOD, relaxed, validation={"success": False})}
    assert "validation_success" not in gates


def test_no_regression_within_tolerance_passes() -> None:
    champion = {
        "event_recall_at_min_lead": 0.92,  # candidate 0.9 >= 0.92 x 0.95
        "pr_auc": 0.73,  # candidate 0.7 >= 0.73 x 0.95
        "false_alarms_per_module_day": 0.08,  # candidate 0.1 <= 0.08 x 1.5
    }
    results = _by_gate(evaluate_gates(GOOD, GATES, champion=champion))
    for gate in (
        "no_regression.event_recall_at_min_lead",
        "no_regression.pr_auc",
        "no_regression.false_alarms_per_module_day",
    ):
        assert results[gate].passed, results[gate].reason


@pytest.mark.parametrize(
    ("key", "champion_value"),
    [
        ("event_recall_at_min_lead", 1.0),  # candidate 0.9 < 1.0 x 0.95
        ("pr_auc", 0.8),  # candidate 0.7 < 0.8 x 0.95
        ("false_alarms_per_module_day", 0.06),  # candidate 0.1 > 0.06 x 1.5
        ("false_alarms_per_module_day", 0.0),  # none more than a champion that had none
    ],
)
def test_regression_beyond_tolerance_fails(key: str, champion_value: float) -> None:
    champion = dict(GOOD) | {key: champion_value}
    results = _by_gate(evaluate_gates(GOOD, GATES, champion=champion))
    assert not results[f"no_regression.{key}"].passed
    others = [g for g, r in results.items() if g != f"no_regression.{key}"]
    assert all(results[g].passed for g in others)


def test_regression_threshold_is_a_share_below_the_champion() -> None:
    champion = {"pr_auc": 0.8}
    result = _by_gate(evaluate_gates(GOOD, GATES, champion=champion))["no_regression.pr_auc"]
    assert result.threshold == pytest.approx(0.76)
    assert result.comparison == ">="


def test_champion_without_a_metric_skips_its_regression_gate() -> None:
    champion = {"pr_auc": math.nan, "false_alarms_per_module_day": None}
    gates = {r.gate for r in evaluate_gates(GOOD, GATES, champion=champion)}
    assert not any(g.startswith("no_regression") for g in gates)


def test_as_dict() -> None:
    result = evaluate_gates(GOOD, GATES)[0]
    assert result.as_dict() == {
        "gate": "event_recall_at_min_lead",
        "value": 0.9,
        "threshold": 0.8,
        "comparison": ">=",
        "passed": True,
        "reason": "event_recall_at_min_lead = 0.9 holds (>= 0.8)",
    }


def test_format_table_shows_pass_and_fail() -> None:
    results = evaluate_gates(GOOD | {"pr_auc": 0.3, "lead_time_min_median": None}, GATES)
    table = format_table(results)
    lines = table.splitlines()
    assert lines[0].split() == ["gate", "value", "threshold", "verdict"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert rows["pr_auc"].endswith("FAIL")
    assert "0.3" in rows["pr_auc"] and ">= 0.5" in rows["pr_auc"]
    assert rows["event_recall_at_min_lead"].endswith("PASS")
    assert rows["lead_time_min_median"].split()[1] == "-"
    assert rows["lead_time_min_median"].endswith("FAIL")


def test_delta_t_skill_and_generalization_gates() -> None:
    metrics = GOOD | {"delta_t_skill": 2.5}
    results = _by_gate(evaluate_gates(metrics, GATES, generalization={"event_recall": 0.96}))
    assert not results["delta_t_skill"].passed
    assert "delta_t_skill = 2.5 fails (>= 3)" in results["delta_t_skill"].reason
    assert results["generalization.event_recall"].passed
    results = _by_gate(evaluate_gates(GOOD, GATES, generalization={"event_recall": 0.9}))
    assert "delta_t_skill" not in results
    assert not results["generalization.event_recall"].passed


SOH_GOOD = {
    "soh_rmse_pct": 0.8,
    "soh_within_3pct": 0.99,
    "soh_within_5pct": 1.0,
    "rul_mape_pct": 7.0,
}


def test_soh_gates_pass_and_name_each_failure() -> None:
    results = evaluate_soh_gates(SOH_GOOD, GATES.soh, validation={"success": True})
    assert all(r.passed for r in results)
    assert [r.gate for r in results][-1] == "validation_success"
    bad = evaluate_soh_gates(SOH_GOOD | {"rul_mape_pct": 12.0}, GATES.soh)
    failed = [r for r in bad if not r.passed]
    assert [r.gate for r in failed] == ["rul_mape_pct"]
    assert "12" in failed[0].reason and "<= 10" in failed[0].reason


def test_soh_gates_hold_the_model_to_its_baselines_and_the_second_family() -> None:
    gates = GATES.soh.model_copy(update={"max_second_family_soh_rmse_pct": 3.0})
    metrics = SOH_GOOD | {
        "soh_best_baseline_rmse_pct": 1.0,
        "second_family_soh_rmse_pct": 2.0,
        "second_family_soh_best_baseline_rmse_pct": 2.5,
    }
    results = _by_gate(evaluate_soh_gates(metrics, gates))
    names = ["second_family_soh_rmse_pct", "soh_rmse_pct_vs_best_baseline"]
    names.append("second_family_soh_rmse_pct_vs_best_baseline")
    assert all(results[name].passed for name in names)
    worse = metrics | {"soh_best_baseline_rmse_pct": 0.7, "second_family_soh_rmse_pct": 3.2}
    failed = {r.gate for r in evaluate_soh_gates(worse, gates) if not r.passed}
    assert failed == {"soh_rmse_pct_vs_best_baseline", *names[:1], names[2]}
    # no baseline answered (NaN): nothing to beat; a missing family figure fails its gate
    blank = metrics | {"soh_best_baseline_rmse_pct": float("nan")}
    blank.pop("second_family_soh_rmse_pct")
    results = _by_gate(evaluate_soh_gates(blank, gates))
    assert "soh_rmse_pct_vs_best_baseline" not in results
    assert not results["second_family_soh_rmse_pct"].passed


def test_soh_gates_no_regression_is_relative_to_the_champion() -> None:
    champion = {"soh_rmse_pct": 0.5, "rul_mape_pct": 7.0}
    results = _by_gate(evaluate_soh_gates(SOH_GOOD, GATES.soh, champion=champion))
    assert not results["no_regression.soh_rmse_pct"].passed  # 0.8 > 0.5 * 1.05
    assert results["no_regression.rul_mape_pct"].passed  # 7.0 <= 7.35
    assert math.isclose(results["no_regression.soh_rmse_pct"].threshold, 0.525)


def test_register_stages_depend_on_their_own_gates() -> None:
    """``register`` reruns on each hazard gate and no SOH gate; ``register_health`` on those."""
    import yaml

    from tests.conftest import ROOT

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    hazard = {p for p in stages["register"]["params"] if str(p).startswith("gates.")}
    expected = {f"gates.{name}" for name in GateParams.model_fields if name != "soh"}
    assert hazard == expected
    assert "gates.soh" in stages["register_health"]["params"]


def test_no_regression_is_relative_per_metric() -> None:
    # The old absolute 0.05 let false alarms rise from 0.01 to 0.06 per module-day: six-fold.
    champion = {"false_alarms_per_module_day": 0.01}
    worse = GOOD | {"false_alarms_per_module_day": 0.06}
    gate = _by_gate(evaluate_gates(worse, GATES, champion=champion))[
        "no_regression.false_alarms_per_module_day"
    ]
    assert not gate.passed and gate.threshold == pytest.approx(0.015)


def test_bound_gates_are_checked_when_set() -> None:
    gates = GATES.model_copy(
        update={
            "min_event_recall_at_min_lead_lower95": 0.65,
            "max_false_alarms_per_module_day_upper95": 0.03,
        }
    )
    # 8 of 8 events alarmed, none false in 135 module-days: 0.688 and 0.022 hold.
    shown = GOOD | {
        "event_recall_at_min_lead_lower95": 0.688,
        "false_alarms_per_module_day_upper95": 0.022,
    }
    results = _by_gate(evaluate_gates(shown, gates))
    assert results["event_recall_at_min_lead_lower95"].passed
    assert results["false_alarms_per_module_day_upper95"].passed
    # 7 of 8, or the same zero over 30 module-days, cannot show it.
    weak = shown | {
        "event_recall_at_min_lead_lower95": 0.529,
        "false_alarms_per_module_day_upper95": 0.1,
    }
    results = _by_gate(evaluate_gates(weak, gates))
    assert not results["event_recall_at_min_lead_lower95"].passed
    assert not results["false_alarms_per_module_day_upper95"].passed
    assert "event_recall_at_min_lead_lower95" not in _by_gate(evaluate_gates(shown, GATES))


def test_the_unlike_fleet_gate_holds_at_every_logging_period() -> None:
    # Issue 18: at 10 s a fleet once got no alarm at all; the gate now reads each period.
    generalization = {
        "event_recall": 1.0,
        "by_logging_period_s": {"10": {"event_recall": 1.0}, "30": {"event_recall": 0.5}},
    }
    results = _by_gate(evaluate_gates(GOOD, GATES, generalization=generalization))
    assert results["generalization.event_recall@10s"].passed
    assert not results["generalization.event_recall@30s"].passed
