"""Benchmark ingest: CSV logger exports of >= 5 M rows, against plain ``pandas.read_csv``.

Writes the simulated fleet as raw logger CSV files (duplicates, clock jitter, gaps; one file per
rack) into a temporary folder, then times, on the same files:

* ``batteryops.ingest.telemetry_files.ingest`` (sniff, read, map, parse, mask, deduplicate,
  resample), and
* ``pandas.read_csv`` of each file (parsing only: no units, no time zones, no cleaning),

and prints rows per second for both. Target (ingest issue): >= 1 M rows/s on this machine.

Usage: .venv/bin/python benchmarks/ingest.py [--modules 200] [--hours 7]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from batteryops.core.config import parse_params
from batteryops.ingest import telemetry_files
from batteryops.sim import fleet_writer

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", type=int, default=200)
    parser.add_argument("--hours", type=float, default=7.0)
    args = parser.parse_args()
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    per_rack = 20
    raw["simulate"] |= {
        "racks": max(args.modules // per_rack, 1),
        "modules_per_rack": per_rack,
        "duration_s": int(args.hours * 3600),
        "chunk_s": 3600,
    }
    params = parse_params(raw)
    work = Path(tempfile.mkdtemp(prefix="batteryops-ingest-"))
    try:
        files = work / "raw"
        files.mkdir()
        started = time.perf_counter()
        fleet_writer.write_fleet(params.simulate, files, file_format="logger-csv")
        size_gb = sum(f.stat().st_size for f in files.glob("*.csv")) / 1024**3
        print(
            f"wrote {len(list(files.glob('*.csv')))} CSV files, {size_gb:.2f} GB, "
            f"in {time.perf_counter() - started:.1f} s"
        )

        started = time.perf_counter()
        rows_read = sum(len(pd.read_csv(path)) for path in sorted(files.glob("*.csv")))
        pandas_s = time.perf_counter() - started

        started = time.perf_counter()
        telemetry, summary = telemetry_files.ingest([files], params.ingest, work / "quarantine")
        ingest_s = time.perf_counter() - started
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        rows_in = summary["rows_in"]
        print(
            f"pandas.read_csv: {rows_read:,} rows in {pandas_s:.1f} s "
            f"({rows_read / pandas_s / 1e6:.2f} M rows/s)"
        )
        print(
            f"batteryops ingest: {rows_in:,} rows in, {summary['rows_out']:,} out in "
            f"{ingest_s:.1f} s ({rows_in / ingest_s / 1e6:.2f} M rows/s); dropped "
            f"{summary['rows_dropped']}; peak RSS {peak_gb:.2f} GB"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
