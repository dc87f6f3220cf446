"""The headline metrics: the figures a reviewer reads first, in one small file.

``dvc metrics show`` prints every key of every file declared as metrics; the detailed files
(``metrics/hazard.json`` and the others) hold hundreds. Only ``metrics/headline.json`` is
declared as DVC metrics; the detailed files stay versioned beside it (``cache: false`` outputs,
committed with ``dvc.lock``) and are what the gates read.
"""

from __future__ import annotations

from typing import Any

HAZARD = (
    "pr_auc",
    "event_recall_at_min_lead",
    "event_recall_at_min_lead_lower95",
    "false_alarms_per_module_day",
    "false_alarms_per_module_day_upper95",
    "lead_time_min_p10",
    "lead_time_min_median",
    "delta_t_skill",
    "events",
    "watched_module_days",
)
UNLIKE_FLEET = ("event_recall_at_min_lead", "false_alarms_per_module_day")
HEALTH = ("soh_rmse_pct", "soh_within_3pct", "rul_mape_pct")
DECISION = ("promoted", "candidate_version", "champion_version")


def headline(files: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The headline of one run, from the detailed metrics files that exist.

    Args:
        files: ``hazard``, ``generalization``, ``drift``, ``registry``, ``soh`` and
            ``soh_registry`` metrics as read (a missing one is left out).

    Returns:
        ``{"hazard": ..., "unlike_fleet": ..., "drift": ..., "battery-hazard": ...,
        "health": ..., "battery-soh": ..., "family_b": ...}`` with a few numbers each.
    """
    picks = {
        "hazard": ("hazard", HAZARD),
        "unlike_fleet": ("generalization", UNLIKE_FLEET),
        "drift": ("drift", ("share_of_drifted_columns", "retrain")),
        "battery-hazard": ("registry", DECISION),
        "health": ("soh", HEALTH),
        "battery-soh": ("soh_registry", DECISION),
    }
    out: dict[str, dict[str, Any]] = {}
    for section, (source, keys) in picks.items():
        found = files.get(source)
        if found:
            out[section] = {key: found.get(key) for key in keys}
    # The unlike fleet as coarser loggers keep it: recall at the minimum lead per period.
    for period, coarse in files.get("generalization", {}).get("by_logging_period_s", {}).items():
        out["unlike_fleet"][f"event_recall_at_min_lead_{period}s"] = coarse.get(
            "event_recall_at_min_lead"
        )
    # Family B, the independently written simulator (judged only), as the unlike fleet.
    family_b = files.get("generalization", {}).get("family_b")
    if family_b:
        out["family_b"] = {key: family_b.get(key) for key in UNLIKE_FLEET} | {
            f"event_recall_at_min_lead_{period}s": coarse.get("event_recall_at_min_lead")
            for period, coarse in family_b.get("by_logging_period_s", {}).items()
        }
    return out
