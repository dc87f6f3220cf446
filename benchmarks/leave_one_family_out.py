"""Leave one family out: train without a fault or nuisance family, judge on its modules.

    .venv/bin/python -m benchmarks.leave_one_family_out [--families a,b] [--out FILE]

After ``make run``, in the project. For each family of the default fleet (each fault type and
each nuisance type in ``data/interim/truth.parquet``), the hazard classifier is trained again
with the pipeline's own code and hyper-parameters (``models.train_hazard``, early-stopped on
validation) on the training split WITHOUT that family's modules, its threshold chosen on the
validation split without them exactly as ``evaluate`` does (same alarm budget), and it is then
judged on every row of the family's modules in all three splits, none of which it has seen:
event recall at the minimum lead, lead p10, for a fault family; false alarms per watched
module-day with its 95 % upper bound, for a nuisance family (modules that run away are judged
as events). Prints a table and writes ``reports/leave_one_family_out.json``.

About 1.5 minutes per family on 2 cores (13 families: ~20 minutes); outside the default path.
The pipeline's own model, trained on every family, is judged on the same modules beside it
(its training split includes some of them, so it is the upper reference, not a held-out one).
Both carry the physics alarm (``train.unexplained_heat_alarm_c_per_min`` and its sustained
channel ``train.unexplained_heat_sustained_alarm_c_per_min``, the voltage channel
``train.spread_excess_alarm_v`` and the overvoltage channel ``train.cell_overvoltage_alarm_v``),
as the model does; its thresholds
come from healthy modules alone, none of a fault family (``benchmarks/physics_alarm.py``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params, load_params
from batteryops.core.io import partition_files, read_json, write_json
from batteryops.hazard import evaluate, events, models, observer, training
from batteryops.hazard.features import copied_module
from batteryops.hazard.labels import ROW_COLUMNS
from batteryops.hazard.model import PHYSICS_COLUMNS as PHYSICS
from batteryops.hazard.model import physics_alarm_configured

SCORE = "lofo_probability"


def families(truth: pd.DataFrame) -> dict[str, list[str]]:
    """Family -> its modules: every fault type, then every nuisance type (``none`` left out)."""
    found = {}
    for column in ("fault_type", "nuisance_type"):
        for kind in sorted(set(truth[column]) - {"none"}):
            if kind.startswith(schema.SERVED_KIND):
                continue
            found[kind] = sorted(truth.loc[truth[column] == kind, schema.MODULE_ID])
    return found


def read_rows(files: list[Path], columns: list[str], modules: list[str] | None, split: str | None):  # noqa: ANN201
    """Every row of ``modules`` (all if None) in ``split`` (all if None), partition by partition."""
    filters = []
    if modules is not None:
        filters.append((schema.MODULE_ID, "in", modules))
    if split is not None:
        filters.append((schema.SPLIT, "==", split))
    parts = [pd.read_parquet(p, columns=columns, filters=filters or None) for p in files]
    return pd.concat([p for p in parts if not p.empty], ignore_index=True)


def choose(params: Params, scored: pd.DataFrame, truth: pd.DataFrame) -> float:
    """The threshold ``evaluate`` would choose on these validation rows."""
    tracks = events.score_tracks(scored, truth, [SCORE])[SCORE]
    scores = np.concatenate([t.score for t in tracks])
    candidates = np.concatenate(
        [
            evaluate.threshold_candidates(scores, params.evaluate.threshold_grid_size),
            events.critical_thresholds(tracks, params.alarm),
        ]
    )
    threshold, _ = events.choose_threshold(tracks, candidates, params.alarm)
    return float(threshold)


def judged(params: Params, scored: pd.DataFrame, truth: pd.DataFrame, threshold: float) -> dict:
    """Event metrics of the family's modules at ``threshold`` (events and false alarms)."""
    tracks = events.score_tracks(scored, truth, [SCORE])[SCORE]
    found = events.event_metrics(tracks, threshold, params.alarm)
    keep = [
        "events",
        "events_detected_at_min_lead",
        "event_recall_at_min_lead",
        "event_recall_at_min_lead_lower95",
        "lead_time_min_p10",
        "false_alarms",
        "watched_module_days",
        "false_alarms_per_module_day",
        "false_alarms_per_module_day_upper95",
    ]
    return {key: found[key] for key in keep} | {"threshold": threshold}


def with_physics(params: Params, rows: pd.DataFrame, probability: np.ndarray) -> np.ndarray:
    """The classifier's probability raised to 1 where the physics alarm fires (as the model)."""
    return np.maximum(probability, physics_alarm_configured(rows, params.train))


def run_family(
    params: Params,
    files: list[Path],
    features: list[str],
    truth: pd.DataFrame,
    held: list[str],
    train_all: tuple[pd.DataFrame, pd.DataFrame],
    validation_rows: pd.DataFrame,
    judged_splits: list[str],
) -> dict:
    """Train without ``held``, choose its threshold on validation without them, judge them."""
    # Logger copies (``<module>@10s``) of a held module are held out with it.
    train, validation = (
        rows[~rows[schema.MODULE_ID].map(copied_module).isin(held)] for rows in train_all
    )
    fitted = models.train_hazard(train, validation, features, params.train)
    quiet = validation_rows[~validation_rows[schema.MODULE_ID].isin(held)].copy()
    # The threshold is chosen on the classifier alone, as evaluate does.
    quiet[SCORE] = models.predict(fitted.booster, quiet, fitted.features)
    threshold = choose(params, quiet, truth)
    rows = read_rows(files, list(dict.fromkeys(ROW_COLUMNS + features + PHYSICS)), held, None)
    rows = rows[rows[schema.SPLIT].isin(judged_splits)].reset_index(drop=True)
    rows[SCORE] = with_physics(params, rows, models.predict(fitted.booster, rows, fitted.features))
    mine = judged(params, rows, truth, threshold)
    # The pipeline's model on the same modules (it trained on some: the upper reference).
    import xgboost as xgb

    pipeline = xgb.Booster(model_file=str(params.paths.model))
    inputs = read_json(params.paths.model_info)["model_config"]["features"]
    rows[SCORE] = with_physics(params, rows, models.predict(pipeline, rows, inputs))
    reference = read_json(params.paths.operating_point)["threshold"]
    return {"held_out": mine, "pipeline_model": judged(params, rows, truth, float(reference))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="", help="comma-separated; default: all")
    parser.add_argument("--out", default="reports/leave_one_family_out.json")
    parser.add_argument(
        "--judge-splits",
        default="train,validation,test",
        help="splits whose family modules are judged (train,validation: no test row read, "
        "for a choice made on it)",
    )
    parser.add_argument(
        "--with-observer", action="store_true", help="the observer's columns as inputs too"
    )
    args = parser.parse_args()
    params = load_params()
    files = partition_files(params.paths.features_dir)
    features = read_json(params.paths.split)["features"]
    if args.with_observer:
        features = features + [c for c in observer.NAMES if c not in features]
    truth = pd.read_parquet(params.paths.truth)
    chosen = families(truth)
    judged_splits = args.judge_splits.split(",")
    if args.families:
        chosen = {k: v for k, v in chosen.items() if k in args.families.split(",")}
    extra = [c for c in training.TRAINING_COLUMNS if c not in features]
    copies = (
        partition_files(params.paths.logger_copies_dir) if params.featurize.logger_copies_s else []
    )
    train_all = training.read_training_rows(files + copies, features, params.train)
    validation_rows = read_rows(
        files, list(dict.fromkeys(ROW_COLUMNS + features + extra + PHYSICS)), None, "validation"
    )
    results = {}
    print(f"{'family':>22} {'mods':>4}  held out: recall@min lead, p10, FA/module-days (upper95)")
    for name, held in chosen.items():
        began = time.perf_counter()
        found = run_family(
            params, files, features, truth, held, train_all, validation_rows, judged_splits
        )
        results[name] = found | {"modules": len(held), "seconds": time.perf_counter() - began}
        mine, ref = found["held_out"], found["pipeline_model"]
        print(
            f"{name:>22} {len(held):>4}  {_events(mine):>22} {_alarms(mine):>26}   "
            f"pipeline model: {_events(ref)} {_alarms(ref)}"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(results, args.out)
    print(f"written to {args.out}")


def _events(found: dict) -> str:
    if not found["events"]:
        return "no events"
    return (
        f"{found['events_detected_at_min_lead']}/{found['events']}, "
        f"p10 {found['lead_time_min_p10']:.1f} min"
    )


def _alarms(found: dict) -> str:
    return (
        f"{found['false_alarms']} FA/{found['watched_module_days']:.1f} md "
        f"({found['false_alarms_per_module_day_upper95']:.3f})"
    )


if __name__ == "__main__":
    main()
