"""Monitoring that closes the loop: served data against the training data, proxies, feedback.

On a schedule (the ``batteryops-monitor`` Prefect deployment, ``flows/monitor.py``) or by hand
(``batteryops monitor``), :func:`monitor` reads the newest ``serve.monitor.window_s`` of what
the service scored and writes ``reports/monitoring.html`` (Evidently) and
``metrics/monitoring.json``:

- **drift**: Evidently's data-drift preset (``serve.monitor.method``, PSI by default) on the
  served signals of :data:`DRIFT_COLUMNS` against the training split's rows of normal operation;
- **proxies**: the served hazard-score distribution, alarms opened per module-day, the share of
  missing signal values;
- **feedback**: the realised precision of the window's alarms operators judged (marked true or
  false; an acknowledgement is no verdict), judged once ``min_reviews`` exist.

A breach of any limit in ``serve.monitor`` raises an alert (:mod:`batteryops.serve.notify`) and,
when ``retrain_on_breach`` is set, collects what was served with the operators' verdicts into the
DVC-tracked ``paths.served_dir`` (:func:`batteryops.serve.landing.collect`) and starts the
pipeline flow: DVC sees new data, so the retraining trains on the served rows and the reviewed
false alarms; its new model still has to pass every gate of ``register`` before it serves.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from batteryops.core import schema
from batteryops.core.config import MonitorParams, Params
from batteryops.core.io import atomic_path, partition_files, write_json
from batteryops.mlops import drift
from batteryops.serve.landing import Landing, collect
from batteryops.serve.notify import Alert, Notifier
from batteryops.serve.store import ALARMS, MONITORED, SCORES, Store

log = logging.getLogger("batteryops.serve.monitor")
METRICS = "metrics/monitoring.json"
REPORT = "reports/monitoring.html"
DISTANCES = {"psi", "wasserstein", "jensenshannon", "kl_div", "hellinger", "ed"}
# Drift is judged on signals whose distribution a climate, a duty or a sensor shifts. SoC and
# voltage follow the day's schedule: a window of hours sees part of their range, which is no drift
# (they are stored and in the missing-signal share all the same).
DRIFT_COLUMNS = ["temp_max_c", "temp_avg_c", "ambient_c", "current_a", "gas_co_ppm"]


def training_reference(params: Params, root: Path, rows: int, seed: int = 0) -> pd.DataFrame:
    """Rows of normal operation from the training split (the served signals only)."""
    files = partition_files(root / params.paths.features_dir)
    if not files:
        raise FileNotFoundError(
            f"{root / params.paths.features_dir}: no training features (run `make run` first)"
        )
    parts = []
    for path in files:
        frame = pd.read_parquet(path, columns=[schema.SPLIT, schema.TRAINABLE, *DRIFT_COLUMNS])
        parts.append(frame[(frame[schema.SPLIT] == "train") & frame[schema.TRAINABLE]])
    reference = pd.concat(parts, ignore_index=True)[DRIFT_COLUMNS]
    return reference.sample(min(rows, len(reference)), random_state=seed).reset_index(drop=True)


def served(store: Store, window_s: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The newest ``window_s`` of scored rows, and the alarms opened in it."""
    with store.engine.connect() as connection:
        newest = connection.execute(sa.select(sa.func.max(SCORES.c.ts))).scalar()
        if newest is None:
            return pd.DataFrame(columns=[c.name for c in SCORES.columns]), pd.DataFrame()
        since = int(newest) - window_s
        scores = pd.read_sql(sa.select(SCORES).where(SCORES.c.ts > since), connection)
        alarms = pd.read_sql(sa.select(ALARMS).where(ALARMS.c.opened_ts > since), connection)
    return scores, alarms


def proxies(scores: pd.DataFrame, alarms: pd.DataFrame) -> dict[str, Any]:
    """Score distribution, alarm rate per module-day and missing-signal share of served rows."""
    probability = scores["probability"].dropna().to_numpy(dtype=float)
    module_days = len(scores) / 86400.0  # one row per module-second
    values = scores[MONITORED].to_numpy(dtype=float)
    return {
        "rows": len(scores),
        "modules": int(scores["module_id"].nunique()),
        "module_days": module_days,
        "score_mean": float(probability.mean()) if probability.size else None,
        "score_p50": float(np.percentile(probability, 50)) if probability.size else None,
        "score_p99": float(np.percentile(probability, 99)) if probability.size else None,
        "alarm_seconds_share": float(scores["alarm"].mean()) if len(scores) else 0.0,
        "alarms_opened": len(alarms),
        "alarms_per_module_day": len(alarms) / module_days if module_days else 0.0,
        "missing_share": float(np.isnan(values).mean()) if values.size else 0.0,
    }


def feedback(alarms: pd.DataFrame) -> dict[str, Any]:
    """Realised precision of the window's alarms that operators judged.

    An alarm marked true or false is judged; an acknowledged one was seen, not judged, and
    counts in neither.
    """
    review = alarms["review"] if len(alarms) else pd.Series(dtype=object)
    false, true = int((review == "false_alarm").sum()), int((review == "true_alarm").sum())
    judged = false + true
    return {
        "reviewed": judged,
        "false_alarms": false,
        "acknowledged": int((review == "acknowledged").sum()),
        "realised_precision": true / judged if judged else None,
    }


def breaches(summary: dict[str, Any], limits: MonitorParams) -> list[str]:
    """Each limit of ``serve.monitor`` the summary breaks, as a sentence."""
    found = []
    share = summary["drift"]["share_of_drifted_columns"]
    if share > limits.max_drift_share:
        columns = ", ".join(summary["drift"]["drifted_columns"])
        found.append(
            f"drift: {share:.2f} of signals drifted > {limits.max_drift_share} ({columns})"
        )
    elif limits.method in DISTANCES:
        severe = {
            c: d["score"]
            for c, d in summary["drift"]["by_column"].items()
            if d["score"] > limits.max_column_drift
        }
        if severe:
            named = ", ".join(f"{c} {v:.2f}" for c, v in sorted(severe.items()))
            found.append(f"drift: {named} over {limits.max_column_drift} ({limits.method})")
    rate = summary["proxies"]["alarms_per_module_day"]
    if rate > limits.max_alarms_per_module_day:
        found.append(f"alarm rate {rate:.2f} per module-day > {limits.max_alarms_per_module_day}")
    missing = summary["proxies"]["missing_share"]
    if missing > limits.max_missing_share:
        found.append(f"missing signals {missing:.2f} > {limits.max_missing_share}")
    precision = summary["feedback"]["realised_precision"]
    if summary["feedback"]["reviewed"] >= limits.min_reviews and precision < limits.min_precision:
        found.append(f"realised precision {precision:.2f} < {limits.min_precision}")
    return found


def start_retraining(root: Path) -> dict[str, Any]:
    """Start the pipeline flow in the background (DVC reruns what changed; gates decide)."""
    log_path = root / "reports" / "retrain.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.pipeline"], cwd=root, stdout=out, stderr=out
        )
    return {"started": True, "pid": process.pid, "log": str(log_path)}


def monitor(
    params: Params,
    root: Path,
    store: Store,
    notifier: Notifier | None = None,
    reference: pd.DataFrame | None = None,
    retrain: Callable[[Path], dict[str, Any]] = start_retraining,
) -> dict[str, Any]:
    """One monitoring run: report, metrics, alerts and (if asked) a retraining run."""
    limits = params.serve.monitor
    scores, alarms = served(store, limits.window_s)
    summary: dict[str, Any] = {
        "at": pd.Timestamp.now(tz="UTC").isoformat(),
        "window_s": limits.window_s,
        "proxies": proxies(scores, alarms),
        "feedback": feedback(alarms),
    }
    if len(scores) < limits.min_rows:
        summary |= {"verdict": "too little served data", "breach": False, "breaches": []}
        write_json(summary, root / METRICS)
        return summary
    if reference is None:
        reference = training_reference(params, root, limits.reference_rows)
    current = (
        scores[DRIFT_COLUMNS]
        .sample(min(limits.current_rows, len(scores)), random_state=0)
        .reset_index(drop=True)
    )
    started = time.perf_counter()
    with atomic_path(root / REPORT) as tmp:
        result = drift.drift_report(
            reference[DRIFT_COLUMNS].astype(float), current.astype(float), tmp, limits.method
        )
    by_column = result.pop("drift_by_column")
    distance = limits.method in DISTANCES  # a distance drifts above its threshold, a p-value below
    drifted = sorted(
        c
        for c, d in by_column.items()
        if d["threshold"] is not None
        and (d["score"] >= d["threshold"] if distance else d["score"] < d["threshold"])
    )
    summary["drift"] = result | {"drifted_columns": drifted, "by_column": by_column}
    summary["drift_seconds"] = round(time.perf_counter() - started, 2)
    found = breaches(summary, limits)
    summary |= {"breach": bool(found), "breaches": found, "verdict": "breach" if found else "ok"}
    if found:
        if notifier is not None:
            for sentence in found:
                notifier.notify(Alert("monitoring", sentence.split(":")[0], sentence, {}))
            notifier.flush()
        summary["retrain"] = {"started": False}
        if limits.retrain_on_breach:
            landing = Landing(root / params.paths.landing_dir)
            summary["collected"] = collect(landing, store, root / params.paths.served_dir, root)
            summary["retrain"] = retrain(root)
    write_json(summary, root / METRICS)
    log.info("monitoring: %s", summary["verdict"] if not found else "; ".join(found))
    return summary
