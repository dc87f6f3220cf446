"""Run the pipeline stage by stage and print what each costs beside what the machine can do.

    .venv/bin/python -m benchmarks.pipeline [--stages a,b] [--out reports/pipeline.json]
    .venv/bin/python -m benchmarks.pipeline --markdown   # the README's table from that JSON
    .venv/bin/python -m benchmarks.pipeline --disk       # measure the disk left again, into it

After ``make run`` (the inputs of every stage must exist). Each stage of ``dvc.yaml`` is run again
in DAG order with ``dvc repro --force --single-item`` in a process of its own, which prints:

* wall time, and the peak resident memory of the stage's process (its largest descendant);
* rows in and out: the Parquet rows of its recorded dependencies and outputs (``dvc.lock``),
  and rows per second (the larger of the two over the wall time);
* bytes written: the size of its outputs;
* the ceiling, measured in the same run on the same data: reading every Parquet input and
  writing every Parquet output with pyarrow alone (no pandas, no features, no model), so the
  gap is what the stage does beyond moving its data (``x ceiling``).

The no-op ``dvc repro`` (nothing changed) is timed last, and what the run leaves on disk is
measured (the data, models, registry and reports; the DVC cache hardlinks them). Writes
``reports/pipeline.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from batteryops.core.io import storage_options, write_json

ROOT = Path(__file__).resolve().parents[1]


def stage_order() -> list[str]:
    """The stages in the order ``dvc.yaml`` lists them (a topological order of the DAG)."""
    return list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def lock_paths(stage: str) -> tuple[list[Path], list[Path]]:
    """A stage's recorded dependency and output paths (``dvc.lock``)."""
    entry = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"][stage]
    deps = [ROOT / d["path"] for d in entry.get("deps", [])]
    outs = [ROOT / o["path"] for o in entry.get("outs", [])]
    return deps, outs


def parquet_files(paths: list[Path]) -> list[Path]:
    """Every Parquet file at or under ``paths``."""
    found: list[Path] = []
    for path in paths:
        if path.is_file() and path.suffix == ".parquet":
            found.append(path)
        elif path.is_dir():
            found += sorted(path.rglob("*.parquet"))
    return found


def rows(files: list[Path]) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def size(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total


def disk_bytes(paths: list[Path]) -> int:
    """Bytes on disk under ``paths``, each file once (DVC and ingest hardlink the same data)."""
    seen, total = set(), 0
    for path in paths:
        for f in [path] if path.is_file() else path.rglob("*") if path.is_dir() else []:
            info = f.stat()
            if f.is_file() and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


def io_ceiling(inputs: list[Path], outputs: list[Path]) -> float:
    """Seconds pyarrow takes to read the inputs and write the outputs (read first, untimed).

    Written as the project stores tables (:func:`batteryops.core.io.storage_options`).
    """
    began = time.perf_counter()
    for f in inputs:
        pq.read_table(f)
    read_s = time.perf_counter() - began
    tables = [pq.read_table(f) for f in outputs]
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        for i, table in enumerate(tables):
            pq.write_table(table, Path(tmp) / f"{i}.parquet", **storage_options(table.schema))
        return read_s + time.perf_counter() - began


def run_stage(stage: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``dvc repro --force --single-item stage``."""
    probe = (
        "import resource, subprocess, sys\n"
        f"code = subprocess.run(['dvc', 'repro', '--force', '--single-item', {stage!r}],"
        " stdout=subprocess.DEVNULL).returncode\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(code)\n"
    )
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - began
    if done.returncode:
        sys.exit(f"stage {stage} failed:\n{done.stderr[-2000:]}")
    return wall, int(done.stdout.split()[-1]) / 1024.0


LEFT_ON_DISK = ["data", "models", "mlflow.db", "mlartifacts", "registry", "reports", "metrics"]


def markdown(path: Path) -> str:
    """The per-stage table of a written run, as the README shows it."""
    run = json.loads(path.read_text())
    lines = [
        "| stage | wall s | peak MB | rows in | rows out | MB out | I/O ceiling s | x ceiling |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in run["stages"]:
        ceiling = r["io_ceiling_s"]
        ceiling = "" if ceiling is None or ceiling != ceiling else ceiling  # none: no Parquet
        lines.append(
            f"| {r['stage']} | {r['wall_s']} | {r['peak_rss_mb']:,} | {r['rows_in']:,} | "
            f"{r['rows_out']:,} | {r['mb_written']:,} | {ceiling} | {r['x_ceiling'] or ''} |"
        )
    peak = max(r["peak_rss_mb"] for r in run["stages"])
    lines.append(
        f"\nTotal {run['total_s']:.0f} s of stages, peak {peak:,} MB, no-op `dvc repro` "
        f"{run['noop_repro_s']:.2f} s, {run.get('left_on_disk_mb', float('nan')):,.0f} MB left "
        "on disk."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", default="", help="comma-separated; default: every stage")
    parser.add_argument("--out", default="reports/pipeline.json")
    parser.add_argument("--markdown", action="store_true", help="print --out's table and stop")
    parser.add_argument("--disk", action="store_true", help="measure the disk left; into --out")
    args = parser.parse_args()
    if args.disk:
        run = json.loads((ROOT / args.out).read_text())
        run["left_on_disk_mb"] = disk_bytes([ROOT / name for name in LEFT_ON_DISK]) / 1e6
        write_json(run, ROOT / args.out)
    if args.markdown or args.disk:
        print(markdown(ROOT / args.out))
        return
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    chosen = args.stages.split(",") if args.stages else stage_order()
    table = []
    print(
        f"{'stage':>16} {'wall s':>7} {'peak MB':>8} {'rows in':>11} {'rows out':>11} "
        f"{'rows/s':>10} {'MB out':>8} {'ceiling s':>9} {'x ceiling':>9}"
    )
    for stage in chosen:
        wall, peak = run_stage(stage)
        deps, outs = lock_paths(stage)
        inputs, outputs = parquet_files(deps), parquet_files(outs)
        ceiling = io_ceiling(inputs, outputs) if inputs or outputs else float("nan")
        n_in, n_out = rows(inputs), rows(outputs)
        row = {
            "stage": stage,
            "wall_s": round(wall, 1),
            "peak_rss_mb": round(peak),
            "rows_in": n_in,
            "rows_out": n_out,
            "rows_per_s": round(max(n_in, n_out) / wall),
            "mb_written": round(size(outs) / 1e6, 1),
            "io_ceiling_s": round(ceiling, 1),
            "x_ceiling": round(wall / ceiling, 1) if ceiling == ceiling and ceiling > 0 else None,
        }
        table.append(row)
        print(
            f"{stage:>16} {row['wall_s']:>7} {row['peak_rss_mb']:>8} {n_in:>11} {n_out:>11} "
            f"{row['rows_per_s']:>10} {row['mb_written']:>8} {row['io_ceiling_s']:>9} "
            f"{row['x_ceiling'] if row['x_ceiling'] is not None else '-':>9}",
            flush=True,
        )
    began = time.perf_counter()
    subprocess.run(["dvc", "repro"], cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
    noop = time.perf_counter() - began
    total = sum(r["wall_s"] for r in table)
    peak = max(r["peak_rss_mb"] for r in table)
    disk = disk_bytes([ROOT / name for name in LEFT_ON_DISK]) / 1e6
    print(f"total {total:.0f} s, peak {peak:.0f} MB; no-op dvc repro {noop:.2f} s; {disk:.0f} MB")
    write_json(
        {"stages": table, "total_s": total, "noop_repro_s": noop, "left_on_disk_mb": disk},
        ROOT / args.out,
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
