"""Print the README's headline tables from this run's metrics (after `make run` / `dvc repro`).

    .venv/bin/python benchmarks/headline.py

Every figure, with its one-sided 95 % bound in brackets: recall >= lower bound (Clopper-Pearson),
false alarms per module-day <= upper bound (exact Poisson), over the test modules' events and
module-days.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMES = {
    "model": "XGBoost + physics alarm",
    "logistic_regression": "logistic regression",
    "isolation_forest": "IsolationForest",
    "rule": "temperature / dT/dt rule",
}


def _read(name: str) -> dict:
    path = ROOT / "metrics" / f"{name}.json"
    if not path.is_file():
        sys.exit(f"{path} not found: run `make run` (or `dvc repro`) first")
    return json.loads(path.read_text())


def _row(name: str, m: dict) -> str:
    recall = f"{m['event_recall']:.2f} (>= {m['event_recall_lower95']:.2f})"
    early = f"{m['event_recall_at_min_lead']:.2f} (>= {m['event_recall_at_min_lead_lower95']:.2f})"
    alarms = (
        f"{m['false_alarms_per_module_day']:.3f} ({m['false_alarms']}; "
        f"<= {m['false_alarms_per_module_day_upper95']:.3f})"
    )
    leads = f"{m['lead_time_min_p10']:.1f} / {m['lead_time_min_median']:.1f}"
    return (
        f"| {name} | {m['pr_auc']:.3f} | {recall} | {early} | {leads} | {alarms} | "
        f"{m['threshold']:.6g} |"
    )


def main() -> None:
    hazard, unlike, soh = _read("hazard"), _read("generalization"), _read("soh")
    print(
        f"Test modules: {hazard['events']} runaways, {hazard['watched_module_days']:.1f} watched "
        f"module-days ({hazard['healthy_module_days']:.1f} on modules that never run away); "
        f"budget {hazard['false_alarm_budget_per_module_day']} false alarms per module-day.\n"
    )
    print(
        "| model | PR AUC | event recall | recall >= 5 min ahead | lead p10 / median (min) | "
        "false alarms per module-day | threshold |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(_row(NAMES["model"], hazard))
    for key, metrics in hazard["baselines"].items():
        print(_row(NAMES.get(key, key), metrics))
    print(
        f"\nUnlike fleet: {unlike['events_detected']} of {unlike['events']} runaways alarmed "
        f"(recall >= {unlike['event_recall_lower95']:.2f}), lead p10 "
        f"{unlike['lead_time_min_p10']:.1f} min, {unlike['false_alarms']} false alarms in "
        f"{unlike['watched_module_days']:.1f} module-days "
        f"(<= {unlike['false_alarms_per_module_day_upper95']:.3f} per module-day)."
    )
    print(
        f"SOH (temperature holdout): RMSE {soh['soh_rmse_pct']:.2f} points, "
        f"{soh['soh_within_3pct']:.3f} of rows within 3 points (cells: >= "
        f"{soh['soh_cells_within_3pct_lower95']:.2f}); RUL MAPE {soh['rul_mape_pct']:.1f} % "
        f"(<= {soh['rul_mape_pct_upper95']:.1f} %)."
    )


if __name__ == "__main__":
    main()
