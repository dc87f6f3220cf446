"""Scale: a fleet ``--scale`` times the default's module count through featurize, train and score.

    .venv/bin/python -m benchmarks.scale                  # 10x the modules, 1 day, 1 and 2 workers
    .venv/bin/python -m benchmarks.scale --days 2         # does a worker's memory grow with days?

The default fleet's racks (16 modules each) are simulated for ``--days`` days and written one
Parquet file per rack, as ``generate`` does. Then, in the stage's own process and on local Dask
clusters of one and of two worker processes (:mod:`batteryops.core.compute`):

- **featurize**: every rack × day labelled and featurized (:func:`batteryops.hazard.partitions.
  featurize_partition`, what the ``featurize`` stage chains), files byte-compared across runs;
- **train**: XGBoost on the thinned training rows, as the ``train`` stage does: in process, and
  through XGBoost's Dask interface on 1 and 2 workers (validation PR AUC printed beside each);
- **score**: every rack × day's features scored by the in-process booster, scores compared
  (md5) across runs.

Printed per step: wall time in process (all cores: racks on ``compute.threads`` threads) and
on 1 and 2 Dask workers of one core each, speed-up and scaling efficiency of 2 workers over 1,
the largest RSS of any one process (sampled every 0.2 s), rows per second per core; and, from
the measured rates, what 1,000 modules x 30 days would take on N workers. Everything lands in
``--workdir`` (removed unless ``--keep``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from batteryops.core.compute import partitions_runner
from batteryops.core.config import ComputeParams, load_params
from batteryops.hazard import models, split
from batteryops.hazard.partitions import featurize_partition, rack_spans
from batteryops.hazard.training import read_training_rows
from batteryops.sim import fleet_writer, simulate

DAY_S = 86400
TARGET_MODULES, TARGET_DAYS = 1000, 30


class PeakRss:
    """The largest RSS of any one process among this one and its children, sampled."""

    def __init__(self, period_s: float = 0.2):
        self.peak_mb, self.period_s, self._stop = 0.0, period_s, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for process in [me, *me.children(recursive=True)]:
                try:
                    self.peak_mb = max(self.peak_mb, process.memory_info().rss / 1e6)
                except psutil.Error:
                    continue
            time.sleep(self.period_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _score_partition(path: Path, booster: object, features: list[str]) -> tuple[int, str]:
    """Score one rack-day's features with the booster; the rows scored, the scores' md5."""
    frame = pd.read_parquet(path, columns=features)
    probability = booster.inplace_predict(frame.to_numpy(dtype=np.float32))
    return int(len(probability)), hashlib.md5(probability.tobytes()).hexdigest()


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _timed(label: str, workers: int, run: object) -> dict:
    with PeakRss() as peak:
        started = time.perf_counter()
        value = run()
        wall = time.perf_counter() - started
    where = f"on {workers} worker(s)" if workers else "in process"
    print(f"  {label} {where}: {wall:.1f} s, largest process {peak.peak_mb:,.0f} MB")
    return {
        "step": label,
        "workers": workers,
        "wall_s": wall,
        "peak_mb": peak.peak_mb,
        "out": value,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10, help="times the default module count")
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/batteryops-scale"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--featurize-only", action="store_true", help="skip train and score")
    parser.add_argument("--out", type=Path, default=Path("reports/scale.json"))
    args = parser.parse_args()
    params = load_params("params.yaml")
    sim = params.simulate.model_copy(
        update={"racks": params.simulate.racks * args.scale, "duration_s": int(args.days * DAY_S)}
    )
    shutil.rmtree(args.workdir, ignore_errors=True)
    telemetry = args.workdir / "telemetry"
    telemetry.mkdir(parents=True)
    started = time.perf_counter()
    truth = simulate.truth_with_times(sim, fleet_writer.write_fleet(sim, telemetry, None))
    racks = sorted(telemetry.glob("*.parquet"))
    spans = [rack_spans(path, params.compute.partition_s) for path in racks]
    modules = sim.racks * sim.modules_per_rack
    rows = modules * sim.duration_s
    print(f"{modules} modules x {args.days:g} day(s) = {rows:,} rows in {len(racks)} racks")
    print(f"  simulated in {time.perf_counter() - started:.0f} s")
    shared = {
        "truth": truth,
        "assignment": split.assign_splits(truth, params.featurize.split),
        "featurize": params.featurize,
        "label": params.label,
    }
    results, digests = [], {}
    for workers in (0, 1, 2):
        compute = params.compute.model_copy(
            update={"cluster": "local" if workers else None, "workers": max(workers, 1)}
        )
        out = args.workdir / f"features_{workers}"
        (out / "copies").mkdir(parents=True)

        def featurize(out: Path = out, compute: ComputeParams = compute) -> int:
            with partitions_runner(compute) as runner:
                counts = runner.chain(
                    featurize_partition,
                    spans,
                    **shared,
                    features_dir=out,
                    copies_dir=out / "copies",
                )
            return sum(c.rows for c in counts)

        results.append(_timed("featurize", workers, featurize))
        digests[workers] = _digests(out)
    identical = digests[0] == digests[1] == digests[2]
    print(f"  featurized files identical in process and on 1 and 2 workers: {identical}")
    if args.featurize_only:
        _report(results, rows, modules, args, identical)
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
        return
    files = sorted((args.workdir / "features_0").glob("*.parquet"))
    from batteryops.hazard import features as hazard_features

    feature_names = hazard_features.feature_names(params.featurize)

    train_rows, validation = read_training_rows(files, feature_names, params.train)
    fits = {}
    for workers in (0, 1, 2):
        compute = params.compute.model_copy(
            update={"cluster": "local" if workers else None, "workers": max(workers, 1)}
        )

        def train(compute: ComputeParams = compute) -> object:
            with partitions_runner(compute) as runner:
                return models.train_hazard(
                    train_rows, validation, feature_names, params.train, runner.client
                )

        results.append(_timed("train", workers, train))
        fits[workers] = results[-1]["out"]
        print(
            f"    best iteration {fits[workers].best_iteration}, validation PR AUC "
            f"{fits[workers].validation_pr_auc:.4f}"
        )
    trained = {"out": fits[0].booster}
    for workers in (0, 1, 2):
        compute = params.compute.model_copy(
            update={"cluster": "local" if workers else None, "workers": max(workers, 1)}
        )

        def score(compute: ComputeParams = compute) -> list[tuple[int, str]]:
            with partitions_runner(compute) as runner:
                return runner.map(
                    _score_partition, files, booster=trained["out"], features=feature_names
                )

        results.append(_timed("score", workers, score))
    scored = [r["out"] for r in results if r["step"] == "score"]
    same_scores = all(s == scored[0] for s in scored)
    print(f"  scores identical in process and on 1 and 2 workers: {same_scores}")
    _report(results, rows, modules, args, identical and same_scores)
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)


def _report(
    results: list[dict], rows: int, modules: int, args: argparse.Namespace, same: bool
) -> None:
    table, rates, efficiency = [], {}, {}
    for step in ("featurize", "train", "score"):
        runs = {r["workers"]: r for r in results if r["step"] == step}
        if not runs:
            continue
        single = runs.get(1, runs[0])["wall_s"]
        for workers, run in runs.items():
            speedup = single / run["wall_s"] if workers else float("nan")
            table.append(
                {
                    "step": step,
                    "where": f"{workers} worker(s)" if workers else "in process (all cores)",
                    "wall_s": round(run["wall_s"], 1),
                    "speedup_vs_1_worker": round(speedup, 2),
                    "efficiency": round(speedup / workers, 2) if workers else float("nan"),
                    "largest_process_mb": round(run["peak_mb"]),
                    "rows_per_s_per_core": round(rows / run["wall_s"] / max(workers, 1)),
                }
            )
        if 1 in runs and 2 in runs:
            rates[step] = rows / single
            efficiency[step] = single / runs[2]["wall_s"] / 2
    print(pd.DataFrame(table).to_string(index=False))
    target_rows = TARGET_MODULES * TARGET_DAYS * DAY_S
    print(
        f"projection, {TARGET_MODULES} modules x {TARGET_DAYS} days ({target_rows:,} rows): one "
        "worker's rate x N x the efficiency measured on 2 workers (rack x day partitions: a "
        "worker holds one day of one rack whatever the days, see --days):"
    )
    projection = {}
    for workers in (2, 8, 32):
        hours = {
            step: target_rows / (rate * workers * efficiency[step]) / 3600
            for step, rate in rates.items()
        }
        projection[workers] = hours
        print(f"  {workers} workers: " + ", ".join(f"{k} {v:.1f} h" for k, v in hours.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "scale": args.scale,
        "days": args.days,
        "modules": modules,
        "rows": rows,
        "featurized_identical": same,
        "steps": table,
        "projection_hours": projection,
    }
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
