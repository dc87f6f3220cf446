"""Benchmark the fleet simulator: modules x hours at 1 Hz, simulated and written as Parquet.

Runs the same code as the ``generate`` stage (chunked FleetSimulator -> sensor readings -> one
Parquet file per rack, a row group per chunk) and prints wall time, rows per second and peak
resident memory. Target (simulator issue): 1,000 modules x 24 h in <= 60 s with <= 4 GB.

Usage: .venv/bin/python benchmarks/simulate.py [--modules 1000] [--hours 24] [--chunk-s 3600]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from batteryops import schema, simulate
from batteryops.config import parse_params
from batteryops.io import parquet_writer

ROOT = Path(__file__).resolve().parent.parent
ID_COLUMNS = [schema.RACK_ID, schema.MODULE_ID]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--chunk-s", type=int, default=3600)
    parser.add_argument("--modules-per-rack", type=int, default=20)
    args = parser.parse_args()
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    racks = max(args.modules // args.modules_per_rack, 1)
    raw["simulate"] |= {
        "racks": racks,
        "modules_per_rack": args.modules_per_rack,
        "duration_s": int(args.hours * 3600),
        "chunk_s": args.chunk_s,
    }
    params = parse_params(raw).simulate
    out = Path(tempfile.mkdtemp(prefix="batteryops-sim-"))
    started = time.perf_counter()
    timings = {"simulate": 0.0, "sensors": 0.0, "write": 0.0}
    plan = simulate.plan_fleet(params)
    simulator = simulate.FleetSimulator(params, plan)
    stuck: dict[int, float] = {}
    writers: dict[str, object] = {}
    rows = 0
    while not simulator.done:
        start_s = simulator.t
        t0 = time.perf_counter()
        physics = simulator.advance(params.chunk_s)
        t1 = time.perf_counter()
        signals = simulate.sensor_readings(params, plan, physics, simulator.truth(), start_s, stuck)
        t2 = time.perf_counter()
        for rack_id, table in simulate.telemetry_tables(params, plan, signals, start_s):
            if rack_id not in writers:
                writers[rack_id] = parquet_writer(
                    out / f"{rack_id}.parquet", table.schema, ID_COLUMNS
                )
            writers[rack_id].write_table(table)
            rows += table.num_rows
        t3 = time.perf_counter()
        timings["simulate"] += t1 - t0
        timings["sensors"] += t2 - t1
        timings["write"] += t3 - t2
        print(
            f"  {simulator.t}/{params.duration_s} s  {time.perf_counter() - started:6.1f} s",
            flush=True,
        )
    for writer in writers.values():
        writer.close()
    elapsed = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    size_gb = sum(f.stat().st_size for f in out.glob("*.parquet")) / 1024**3
    modules = racks * args.modules_per_rack
    per_module_hour_ms = elapsed / (modules * args.hours) * 1e3
    print(
        f"{modules} modules x {args.hours:g} h = {rows:,} rows in {elapsed:.1f} s "
        f"({rows / elapsed / 1e6:.2f} M rows/s; {per_module_hour_ms:.2f} ms per module-hour); "
        f"Parquet {size_gb:.2f} GB; peak RSS {peak_gb:.2f} GB"
    )
    print("  split: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
