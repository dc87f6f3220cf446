"""Time the README's first command on a clean clone, with the peak memory of everything it runs.

    .venv/bin/python -m benchmarks.make_run [--source .] [--keep] [--out reports/make_run.json]

Clones ``--source`` (default: this repository's committed HEAD) into an empty temporary folder
and runs ``make run`` there exactly as the README says (install included). While it runs, the
resident memory of the whole process tree is summed every 0.2 s: ``make run`` puts some stages
side by side, so the peak is that of the pair, not of the largest single process. Prints the
wall time, that peak, and what the run leaves on disk (as :mod:`benchmarks.pipeline` measures
it), and writes them to ``--out`` in this repository.

The issue's targets: ``make run`` at most 5 minutes and 4 GB on 2 cores, at most 6 GB on disk.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from batteryops.core.io import write_json
from benchmarks.pipeline import LEFT_ON_DISK, disk_bytes

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_S = 0.2


def tree_rss(process: psutil.Process) -> dict[str, int]:
    """Resident bytes of ``process`` and each descendant, by command line (gone ones count 0)."""
    sizes: dict[str, int] = {}
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            command = " ".join(member.cmdline()[:4])[-60:]
            sizes[command] = sizes.get(command, 0) + member.memory_info().rss
    return sizes


def run_sampled(command: list[str], cwd: Path, log: Path) -> tuple[float, dict[str, int], int]:
    """Run ``command``: its wall seconds, the processes' RSS at the summed peak, its exit code.

    Its output goes to ``log``, each line after the seconds since the start (where time goes).
    """
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PYTHONUNBUFFERED"] = "1"  # each line when it is printed, for its time
    started, peak = time.perf_counter(), {}
    child = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )

    def copy() -> None:
        with open(log, "w") as out:
            for line in child.stdout:
                out.write(f"[{time.perf_counter() - started:6.1f} s] {line}")

    copier = threading.Thread(target=copy, daemon=True)
    copier.start()
    watched = psutil.Process(child.pid)
    while child.poll() is None:
        with contextlib.suppress(psutil.Error):  # make itself may end between the two calls
            sizes = tree_rss(watched)
            if sum(sizes.values()) > sum(peak.values()):
                peak = sizes
        time.sleep(SAMPLE_S)
    copier.join()
    return time.perf_counter() - started, peak, child.returncode


def main() -> None:
    """Clone, run, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(ROOT), help="the repository to clone")
    parser.add_argument("--keep", action="store_true", help="keep the clone and its timed log")
    parser.add_argument("--out", default=str(ROOT / "reports" / "make_run.json"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="batteryops-make-run-"))
    clone = folder / "batteryops"
    try:
        subprocess.run(["git", "clone", "-q", args.source, str(clone)], check=True)
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True
        ).stdout.strip()
        log = folder / "make_run.log"
        wall, peak, code = run_sampled(["make", "run"], clone, log)
        if code != 0:
            sys.exit(f"make run failed ({code}) in {clone}: see {log}")
        result = {
            "commit": commit,
            "wall_s": round(wall, 1),
            "peak_tree_rss_mb": round(sum(peak.values()) / 1e6),
            "at_peak_mb": {command: round(size / 1e6) for command, size in peak.items()},
            "disk_mb": round(disk_bytes([clone / name for name in LEFT_ON_DISK]) / 1e6),
            "cpus": os.cpu_count(),
        }
        write_json(result, args.out)
        minutes, seconds = divmod(round(wall), 60)
        print(
            f"make run on a clean clone of {commit}: {minutes} min {seconds:02d} s, "
            f"peak {result['peak_tree_rss_mb']:,} MB (all processes together), "
            f"{result['disk_mb']:,} MB left on disk"
        )
        print("at the peak:", ", ".join(f"{c} {m:,} MB" for c, m in result["at_peak_mb"].items()))
    finally:
        if args.keep:
            print(f"clone kept at {clone}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
