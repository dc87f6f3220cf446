"""batteryops.mlops.headline: a few figures per task from the detailed metrics files."""

from __future__ import annotations

from batteryops.mlops import headline


def test_the_headline_picks_a_few_figures_per_task() -> None:
    files = {
        "hazard": {"pr_auc": 0.94, "event_recall_at_min_lead": 1.0, "lead_times_min": [1, 2]},
        "generalization": {"event_recall_at_min_lead": 1.0, "modules": 40},
        "drift": {"share_of_drifted_columns": 0.4, "drift_by_column": {}},
        "registry": {"promoted": 1, "candidate_version": 3, "champion_version": 3, "gates": {}},
    }
    found = headline.headline(files)
    assert set(found) == {"hazard", "unlike_fleet", "drift", "battery-hazard"}
    assert found["hazard"]["pr_auc"] == 0.94 and "lead_times_min" not in found["hazard"]
    assert set(found["hazard"]) == set(headline.HAZARD)
    assert found["unlike_fleet"] == {
        "event_recall_at_min_lead": 1.0,
        "false_alarms_per_module_day": None,
    }
    assert found["battery-hazard"] == {"promoted": 1, "candidate_version": 3, "champion_version": 3}
    assert sum(len(section) for section in found.values()) <= 20


def test_family_b_gets_its_own_section() -> None:
    family_b = {
        "event_recall_at_min_lead": 0.75,
        "false_alarms_per_module_day": 0.0,
        "by_logging_period_s": {"10": {"event_recall_at_min_lead": 0.5}},
    }
    found = headline.headline({"generalization": {"family_b": family_b}})
    assert found["family_b"] == {
        "event_recall_at_min_lead": 0.75,
        "false_alarms_per_module_day": 0.0,
        "event_recall_at_min_lead_10s": 0.5,
    }
