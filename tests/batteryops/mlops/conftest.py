"""Shared by the mlops tests: gates and passing metrics, a real MLflow store, a logged model."""

from __future__ import annotations

from typing import Any

from batteryops.core.config import (
    GateParams,
    RegressionParams,
    SohGateParams,
    SohRegressionParams,
)

# Gates of the unit tests, and hazard metrics that hold every absolute one of them.
GATES = GateParams(
    min_event_recall_at_min_lead=0.8,
    min_pr_auc=0.5,
    max_false_alarms_per_module_day=0.5,
    min_lead_time_min_median=5.0,
    max_regression=RegressionParams(
        event_recall_at_min_lead=0.05, pr_auc=0.05, false_alarms_per_module_day=0.5
    ),
    require_validation=True,
    min_generalization_event_recall=0.95,
    min_delta_t_skill=3.0,
    soh=SohGateParams(
        max_soh_rmse_pct=1.5,
        min_soh_within_3pct=0.95,
        min_soh_within_5pct=0.99,
        max_rul_mape_pct=10.0,
        max_regression=SohRegressionParams(soh_rmse_pct=0.05, rul_mape_pct=0.05),
        require_validation=True,
    ),
)
GOOD: dict[str, Any] = {
    "event_recall_at_min_lead": 0.9,
    "pr_auc": 0.7,
    "false_alarms_per_module_day": 0.1,
    "lead_time_min_median": 12.0,
}
