"""Benchmark the spine: full pipeline, no-op `dvc repro`, and the Prefect flow's overhead.

Copies the project's git-tracked files into a temporary folder (as a fresh clone has them) and,
on the default fleet of params.yaml:
  1. `dvc repro` from nothing (the default pipeline after install; target <= 180 s);
  2. `dvc repro` again, nothing to do (target <= 3 s; median of 3);
  3. `dvc repro --force` (every stage, plain DVC);
  4. `python -m flows.pipeline --force` (the same work under Prefect; target <= 30 s more than 3).
Prints wall time and the peak resident memory of the child processes.

Usage: .venv/bin/python benchmarks/spine.py [--keep]  (make bench)
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from batteryops.core import workspace

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _env(project: Path) -> dict[str, str]:
    return workspace.tool_environment(project, BIN)


def _timed(project: Path, *command: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=project, env=_env(project), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args()
    project = Path(tempfile.mkdtemp(prefix="batteryops-bench-"))
    workspace.copy_checkout(ROOT, project)
    workspace.commit_all(project, "bench", _env(project))
    dvc = str(BIN / "dvc")
    full = _timed(project, dvc, "repro")
    noop = statistics.median(_timed(project, dvc, "repro") for _ in range(3))
    forced = _timed(project, dvc, "repro", "--force")
    flow = _timed(project, sys.executable, "-m", "flows.pipeline", "--force")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"project copy: {project}")
    print(f"{'measure':44} {'seconds':>9} {'target':>10}")
    print(f"{'dvc repro, default fleet, from nothing':44} {full:9.1f} {'<= 180':>10}")
    print(f"{'dvc repro, nothing to do (median of 3)':44} {noop:9.2f} {'<= 3':>10}")
    print(f"{'dvc repro --force (every stage)':44} {forced:9.1f} {'':>10}")
    print(f"{'python -m flows.pipeline --force':44} {flow:9.1f} {'':>10}")
    print(f"{'Prefect overhead over plain dvc repro':44} {flow - forced:9.1f} {'<= 30':>10}")
    print(f"peak resident memory of any child process: {peak_mb:.0f} MB")
    if not args.keep:
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
