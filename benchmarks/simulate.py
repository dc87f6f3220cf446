"""Benchmark the fleet simulator: modules x hours at 1 Hz, simulated and written as Parquet.

Runs the code of the ``generate`` stage (batteryops.sim.fleet_writer: chunked FleetSimulator ->
sensor readings -> one Parquet file per rack, a row group per chunk, written on a background
thread) and prints wall time, rows per second, Parquet size and peak resident memory.
Target (simulator issue): 1,000 modules x 24 h in <= 60 s with <= 4 GB.

Then, unless ``--no-pybamm``, the speed relative to PyBaMM: the SPMe with lumped thermal and
Chen2020 (the model the cell is fitted to) on one cell for the 1 h fidelity profile, timed as a
fresh simulation each time (what one more module-hour would cost), median of 3 after a warm-up.
Against that one cell-hour stands one module-hour here (64 cells, sensors and Parquet included).

Usage: .venv/bin/python benchmarks/simulate.py [--modules 1000] [--hours 24] [--chunk-s 3600]
       [--no-pybamm]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from batteryops.core.config import parse_params
from batteryops.sim import fleet_writer

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--chunk-s", type=int, default=3600)
    parser.add_argument("--modules-per-rack", type=int, default=20)
    parser.add_argument("--no-pybamm", action="store_true", help="skip the PyBaMM comparison")
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

    def progress(done_s: int, total_s: int) -> None:
        print(f"  {done_s}/{total_s} s  {time.perf_counter() - started:6.1f} s", flush=True)

    fleet_writer.write_fleet(params, out, progress)
    elapsed = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    size_gb = sum(f.stat().st_size for f in out.glob("*.parquet")) / 1024**3
    modules = racks * args.modules_per_rack
    rows = modules * params.duration_s
    per_module_hour_ms = elapsed / (modules * args.hours) * 1e3
    print(
        f"{modules} modules x {args.hours:g} h = {rows:,} rows in {elapsed:.1f} s "
        f"({rows / elapsed / 1e6:.2f} M rows/s; {per_module_hour_ms:.2f} ms per module-hour); "
        f"Parquet {size_gb:.2f} GB; peak RSS {peak_gb:.2f} GB"
    )
    shutil.rmtree(out, ignore_errors=True)
    if not args.no_pybamm:
        pybamm_s = pybamm_cell_hour_s()
        print(
            f"PyBaMM SPMe + lumped thermal (Chen2020), one cell, 1 h profile: {pybamm_s:.2f} s "
            f"per cell-hour -> this simulator is {pybamm_s / (per_module_hour_ms / 1e3):,.0f}x "
            "faster per module-hour than PyBaMM per cell-hour"
        )


def pybamm_cell_hour_s() -> float:
    """Median wall time of a fresh SPMe run of the 1 h fidelity profile (after one warm-up)."""
    from batteryops.physics import chen2020

    current = chen2020.fidelity_profile()
    chen2020.spme(current, 0.6, 25.0)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        chen2020.spme(current, 0.6, 25.0)
        times.append(time.perf_counter() - started)
    return sorted(times)[1]


if __name__ == "__main__":
    main()
