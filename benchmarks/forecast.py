"""Benchmark the live service's multi-step forecast on the default fleet's held-out runaways.

The forecast view (``GET /api/modules/{id}/forecast``, the dashed line on the live page) runs
the ΔT regressor recursively, 30 s a step, holding the load and the neighbours at their last
values (:meth:`batteryops.serve.engine.OnlineScorer.forecast`). This measures how far that
drifts from what the hottest sensor then read, step by step, against persistence (no change)
and the last minute's trend carried on.

Origins: every ``--every`` seconds inside the hazard windows (the 40 min before the guard) of
the test split's runaway modules. At each origin a fresh engine takes the module's rack for the
last ``serve.buffer_s`` seconds, scores it, and forecasts. Targets after the point of no return
are not counted (the sensor is lost soon after). Needs a finished ``make run`` (telemetry,
truth, split and the trained model of ``models/``).

Usage: .venv/bin/python benchmarks/forecast.py [--every 300] [--steps 25]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import load_params
from batteryops.core.io import read_json
from batteryops.hazard import models
from batteryops.hazard.model import HazardModel
from batteryops.hazard.scoring import Scorer
from batteryops.serve.engine import OnlineScorer

ROOT = Path(__file__).resolve().parents[1]
REPORTED_STEPS = [1, 2, 4, 10, 20, 25]


def main() -> None:
    """Forecast from every origin, print RMSE per horizon."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=300, help="seconds between origins")
    parser.add_argument("--steps", type=int, default=25, help="30 s steps ahead (<= 25)")
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    paths = params.paths
    model = HazardModel.from_outputs(paths, ROOT)
    scorer = Scorer.from_operating_point(model, read_json(ROOT / paths.operating_point))
    horizon = model.delta_t_horizon_s
    truth = pd.read_parquet(ROOT / paths.truth)
    split = read_json(ROOT / paths.split)["modules"]
    runaways = truth[truth["pnr_time"].notna() & truth[schema.MODULE_ID].map(split).eq("test")]
    window = params.label.prediction_window_s
    guard = params.label.guard_s
    errors: dict[str, list[list[float]]] = {
        name: [[] for _ in range(args.steps)] for name in ("model", "persistence", "trend")
    }
    started, origins, unforecast = time.perf_counter(), 0, 0
    for _, module in runaways.iterrows():
        rack = pd.read_parquet(
            ROOT / paths.telemetry_dir / f"{module[schema.RACK_ID]}.parquet",
            columns=list(schema.CANONICAL_COLUMNS),
        )
        pnr = pd.Timestamp(module["pnr_time"])
        own = rack[rack[schema.MODULE_ID] == module[schema.MODULE_ID]].set_index(schema.TIMESTAMP)
        # The target: the hottest sensor's 5 s trailing median, as the ΔT label is built.
        smooth = own["temp_max_c"].rolling(f"{params.label.delta_t_median_s}s").median()
        start = pnr - pd.Timedelta(seconds=window + guard)
        end = pnr - pd.Timedelta(seconds=guard)
        for origin in pd.date_range(start, end, freq=f"{args.every}s"):
            recent = rack[
                (rack[schema.TIMESTAMP] > origin - pd.Timedelta(seconds=params.serve.buffer_s))
                & (rack[schema.TIMESTAMP] <= origin)
            ]
            engine = OnlineScorer(scorer, "bench", params.serve.buffer_s)
            engine.add(recent.reset_index(drop=True), 0)
            result = engine.tick()
            latest = result.latest
            mine = latest[latest[schema.MODULE_ID] == module[schema.MODULE_ID]]
            if mine.empty or origin not in smooth.index:
                continue
            forecast = engine.forecast(module[schema.MODULE_ID], args.steps)
            now_temp = float(smooth.loc[origin])
            last = own.loc[:origin].tail(90)
            slope = _slope_per_s(last["temp_max_c"])
            origins += 1
            for k in range(args.steps):
                target_ts = origin + pd.Timedelta(seconds=horizon * (k + 1))
                if target_ts >= pnr or target_ts not in smooth.index:
                    continue
                actual = float(smooth.loc[target_ts])
                if not np.isfinite(actual):
                    continue
                predicted = float(forecast["temp_max_c"].iloc[k])
                if not np.isfinite(predicted):
                    unforecast += 1
                    continue
                errors["model"][k].append(predicted - actual)
                errors["persistence"][k].append(now_temp - actual)
                errors["trend"][k].append(now_temp + slope * horizon * (k + 1) - actual)
    took = time.perf_counter() - started
    print(
        f"{origins} origins on {len(runaways)} held-out runaway modules (every {args.every} s in "
        f"their hazard windows), forecasts of {args.steps} x {horizon} s in {took:.0f} s; "
        f"{unforecast} targets without a forecast (NaN)"
    )
    print(f"\n{'ahead':>8} {'targets':>8} {'model RMSE':>11} {'persistence':>12} {'trend':>8}")
    for k in REPORTED_STEPS:
        if k > args.steps:
            continue
        row = {name: np.asarray(values[k - 1]) for name, values in errors.items()}
        n = len(row["model"])
        rmse = {name: float(np.sqrt(np.mean(v**2))) if n else np.nan for name, v in row.items()}
        ahead = f"{k * horizon / 60:g} min"
        print(
            f"{ahead:>8} {n:8d} {rmse['model']:10.2f}C {rmse['persistence']:11.2f}C "
            f"{rmse['trend']:7.2f}C"
        )
    print(
        "\nRMSE in C of the hottest sensor's 5 s median; trend = the last 90 s slope carried on; "
        f"trend feature of the model: {models.TREND_FEATURE}"
    )


def _slope_per_s(temps: pd.Series) -> float:
    """Least-squares slope (C/s) of readings indexed by timestamp (0 if too few)."""
    temps = temps.dropna()
    if len(temps) < 10:
        return 0.0
    seconds = (temps.index - temps.index[0]).total_seconds().to_numpy()
    return float(np.polyfit(seconds, temps.to_numpy(dtype=float), 1)[0])


if __name__ == "__main__":
    main()
