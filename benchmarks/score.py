"""Benchmark scoring: a day of a 64-module rack row (4 racks x 16 modules x 24 h at 1 Hz).

Simulates the day with the project's simulator into a temporary folder (canonical Parquet), then
times what ``batteryops score`` does with it: read through ingest, features, hazard probability,
persistent alarm, ΔT forecast, derating and TreeSHAP explanations of every second over the
threshold. Uses the champion of the project's registry (run ``make run`` first) or ``--model``.

Usage: .venv/bin/python benchmarks/score.py [--modules-per-rack 16] [--racks 4] [--hours 24]
       [--model models:/battery-hazard@champion]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from batteryops.core.config import load_params, merged_simulate
from batteryops.hazard import scoring
from batteryops.ingest import telemetry_files
from batteryops.mlops import tracking
from batteryops.sim import fleet_writer


def main() -> None:
    """Simulate the day, score it, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--racks", type=int, default=4)
    parser.add_argument("--modules-per-rack", type=int, default=16)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    params = load_params()
    sim = merged_simulate(
        params.simulate,
        {
            "racks": args.racks,
            "modules_per_rack": args.modules_per_rack,
            "duration_s": int(args.hours * 3600),
            "chunk_s": 21600,
            "fault_earliest_s": 1800,
            "fault_latest_fraction": 0.5,
            "seed": 2024,
            # A day of a plant, not of a training fleet: a few runaways and nuisances.
            "faults": {
                "internal_short": 2,
                "external_heating": 1,
                "cooling_failure": 1,
                "overcharge": 1,
            },
            "nuisances": {
                "stuck_sensor": 1,
                "drifting_sensor": 1,
                "gas_spikes": 1,
                "hot_ambient_racks": 1,
                "high_load_racks": 1,
            },
        },
    )
    tracking.configure(params.tracking)
    uri = args.model or f"models:/{params.tracking.model_name}@champion"
    started = time.perf_counter()
    scorer = scoring.load_scorer(uri)
    load_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "day"
        data.mkdir()
        fleet_writer.write_fleet(sim, data)
        started = time.perf_counter()
        telemetry, _ = telemetry_files.ingest([data], params.ingest, Path(tmp) / "quarantine")
        read_s = time.perf_counter() - started
        started = time.perf_counter()
        scored = scorer.score(telemetry)
        score_s = time.perf_counter() - started
    rows = len(scored)
    modules = scored["module_id"].nunique()
    print(f"model: {uri} (loaded in {load_s:.1f} s), threshold {scorer.threshold:.4g}")
    print(f"day: {modules} modules x {args.hours:g} h = {rows:,} rows")
    print(f"read through ingest: {read_s:.1f} s")
    print(
        f"score (features, probability, alarm, forecast, derating, explanations): {score_s:.1f} s"
        f" = {rows / score_s / 1e6:.2f} M rows/s"
    )
    print(
        f"alarmed modules: {scored.loc[scored['alarm'], 'module_id'].nunique()}; "
        f"explained seconds: {(scored['top_features'] != '').sum():,}"
    )
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS: {peak_gb:.2f} GB")


if __name__ == "__main__":
    main()
