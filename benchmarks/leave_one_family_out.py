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

About 1.5 minutes per family to train on 2 cores (13 families: ~17 minutes); outside the
default path.
The pipeline's own model, trained on every family, is judged on the same modules beside it
(its training split includes some of them, so it is the upper reference, not a held-out one).
Both carry the physics alarm (``train.unexplained_heat_alarm_c_per_min`` and its sustained
channel ``train.unexplained_heat_sustained_alarm_c_per_min``, the persistent channel
``train.unexplained_heat_persistent_alarm_c_per_min``, the voltage channel
``train.spread_excess_alarm_v`` and the overvoltage channel ``train.cell_overvoltage_alarm_v``),
as the model does; its thresholds
come from healthy modules alone, none of a fault family (``benchmarks/physics_alarm.py``).

A family's own modules give few module-days (4-30), too few for a false-alarm rate of 0.01 per
module-day to mean anything. So each held-out model is also judged on a judging fleet that no
model has seen: the default fleet's simulator with another seed (``--judge-seed``) and
``--judge-racks`` racks (7: about 340 watched module-days of healthy and nuisance modules, and
30 more runaways). A held-out model is judged there on every healthy and nuisance module (its
own family's among them) and, for a fault family, on that family's runaways
(``held_out_with_judge_fleet``, beside ``held_out``, the default fleet's family modules alone).
Scoring the judging fleet costs about 2 s per million rows per model (14 models, 43 M rows:
about 28 minutes more, 46 minutes in all, 17 GB at the peak); ``--judge-racks 0`` skips it.
Each held-out model is judged on the judging fleet again as loggers reading every 10 s and 30 s
keep it (``--periods``; ``judge_fleet_by_logging_period``, false alarms split by nuisance as at
1 s): those rows are featurized and scored again (a tenth and a thirtieth of the rows), and so
is the pipeline's own model on every module of the judging fleet
(``judge_fleet.pipeline_model_by_logging_period``).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params, SimulateParams, load_params
from batteryops.core.io import partition_files, read_json, write_json
from batteryops.hazard import evaluate, events, generalization, labels, models, observer, training
from batteryops.hazard.features import copied_module
from batteryops.hazard.labels import ROW_COLUMNS
from batteryops.hazard.model import (
    EVIDENCE_AGE,
    PHYSICS_COLUMNS,
    HazardModel,
    evidence_gate,
    physics_alarm_configured,
)
from batteryops.sim import fleet_writer, simulate

SCORE = "lofo_probability"
PHYSICS = PHYSICS_COLUMNS + [EVIDENCE_AGE]  # the physics alarm's columns and the gate's
JUDGE_PREFIX = "J"  # the judging fleet's rack and module ids, told apart from the default's


@dataclass
class Held:
    """One held-out family: its model, threshold and tracks (default fleet, judging fleet)."""

    kind: str  # fault or nuisance
    modules: list[str]
    booster: object
    features: list[str]
    threshold: float
    tracks: list[events.ModuleTrack]
    reference: list[events.ModuleTrack]  # the pipeline model's on the same modules
    judge: list[events.ModuleTrack] = field(default_factory=list)
    judge_reference: list[events.ModuleTrack] = field(default_factory=list)
    # The judging fleet as a coarser logger keeps it: logging period (s) -> tracks.
    judge_by_period: dict[int, list[events.ModuleTrack]] = field(default_factory=dict)


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


def judged(params: Params, tracks: list[events.ModuleTrack], threshold: float) -> dict:
    """Event metrics of ``tracks`` at ``threshold`` (events and false alarms)."""
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
    leads = found["lead_times_min"]
    return {key: found[key] for key in keep} | {
        "threshold": threshold,
        "events_detected_at_10_min": int(sum(lead >= 10.0 for lead in leads)),
        "lead_time_min_min": float(min(leads)) if leads else None,
        "lead_times_by_module": _by_module(found, tracks),
    }


def judged_by_nuisance(
    params: Params, tracks: list[events.ModuleTrack], threshold: float, nuisances: pd.DataFrame
) -> dict:
    """:func:`judged`, and the false alarms of the modules in ``nuisances`` by their nuisance."""
    benign = set(nuisances[schema.MODULE_ID])
    split = events.false_alarms_by_nuisance(
        [t for t in tracks if t.module_id in benign], nuisances, threshold, params.alarm
    )
    return judged(params, tracks, threshold) | {"false_alarms_by_nuisance": split}


def lead_times(params: Params, tracks: list[events.ModuleTrack], threshold: float) -> dict:
    """Each runaway's lead (min) at ``threshold``, by module; None where never alarmed."""
    return _by_module(events.event_metrics(tracks, threshold, params.alarm), tracks)


def _by_module(found: dict, tracks: list[events.ModuleTrack]) -> dict:
    """Each runaway's lead from ``event_metrics``' ``found``, by module; None: never alarmed."""
    leads = found["lead_times_by_module"]
    return {str(t.module_id): leads.get(str(t.module_id)) for t in tracks if t.runaway}


def tracks_of(scored: pd.DataFrame, truth: pd.DataFrame) -> list[events.ModuleTrack]:
    """The modules' tracks of :data:`SCORE`, their scores kept as float32 (memory)."""
    built = events.score_tracks(scored, truth, [SCORE])[SCORE]
    for track in built:
        track.score = track.score.astype(np.float32)
    return built


def sharing_grids(
    tracks: list[events.ModuleTrack], grids: dict[tuple, tuple[np.ndarray, np.ndarray]]
) -> list[events.ModuleTrack]:
    """``tracks`` with each module's 1 Hz grid (seconds, exclusions) shared through ``grids``.

    Every model's track of a module on the same rows has the same grid; fourteen models, at
    three logging periods, kept fourteen copies of it (13 bytes a second a module each) and a
    judging fleet ran out of 24 GB.
    """
    for track in tracks:
        key = (track.module_id, float(track.seconds[0]), len(track.seconds))
        track.seconds, track.excluded = grids.setdefault(key, (track.seconds, track.excluded))
    return tracks


def with_physics(params: Params, rows: pd.DataFrame, probability: np.ndarray) -> np.ndarray:
    """The classifier's probability gated by the observer's evidence, raised to 1 where the
    physics alarm fires (as the model)."""
    gated = evidence_gate(rows, probability, params.train.classifier_evidence_window_s)
    return np.maximum(gated, physics_alarm_configured(rows, params.train))


def run_family(
    params: Params,
    files: list[Path],
    features: list[str],
    truth: pd.DataFrame,
    held: list[str],
    train_all: tuple[pd.DataFrame, pd.DataFrame],
    validation_rows: pd.DataFrame,
    judged_splits: list[str],
    pipeline: tuple[object, list[str], float],
) -> tuple[object, float, list[events.ModuleTrack], list[events.ModuleTrack]]:
    """Train without ``held``, choose its threshold on validation without them, score them.

    Returns:
        The model, its threshold, and the tracks of the held modules' rows in
        ``judged_splits`` scored by it and by the pipeline's model (``pipeline``: booster,
        inputs, threshold; it trained on some of them: the upper reference).
    """
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
    mine = tracks_of(rows, truth)
    rows[SCORE] = with_physics(params, rows, models.predict(pipeline[0], rows, pipeline[1]))
    return fitted, threshold, mine, tracks_of(rows, truth)


def judging_fleet(params: Params, seed: int, racks: int) -> SimulateParams:
    """The default fleet's simulator with another seed and ``racks`` racks."""
    return params.simulate.model_copy(update={"seed": seed, "racks": racks})


def judged_modules(kinds: pd.Series, family: str, kind: str) -> set[str]:
    """The judging fleet's modules a held-out family is judged on (``kinds``: fault per module).

    Every healthy and nuisance module (fault ``none``), and a fault family's own runaways.
    """
    wanted = {"none", family} if kind == "fault" else {"none"}
    return set(kinds.index[kinds.isin(wanted)])


def judge_on_fleet(
    params: Params,
    fleet: SimulateParams,
    held: dict[str, Held],
    pipeline: tuple,
    periods: list[int],
) -> tuple[float, pd.DataFrame, dict[int, list[events.ModuleTrack]]]:
    """Score the judging fleet rack by rack with every held-out model; add each its tracks.

    A held-out model keeps the tracks of every healthy and nuisance module and, for a fault
    family, of that family's faulty modules; and the same of the rows a logger reading every
    one of ``periods`` seconds keeps (:func:`generalization.coarser`), featurized and scored
    again. Returns the watched module-days of the fleet's healthy and nuisance modules (by the
    pipeline model's tracks), their truth rows, and the pipeline model's tracks of every module
    at each of ``periods`` (the shipped model on a fleet it has never seen, at coarser loggers).
    """
    pipeline_by_period: dict[int, list[events.ModuleTrack]] = {}
    featurizer = HazardModel.from_outputs(params.paths)
    columns = ["rack_id", schema.MODULE_ID]
    with tempfile.TemporaryDirectory() as tmp:
        truth = simulate.truth_with_times(fleet, fleet_writer.write_fleet(fleet, tmp))
        truth[columns] = JUDGE_PREFIX + truth[columns].astype(str)
        kinds = truth.set_index(schema.MODULE_ID)["fault_type"]
        for path in partition_files(tmp):
            began = time.perf_counter()
            grids: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
            telemetry = pd.read_parquet(path)
            telemetry[columns] = JUDGE_PREFIX + telemetry[columns].astype(str)
            for period in periods:
                kept = generalization.coarser(telemetry, period)
                coarse = featurizer.prepare(labels.label_rack(kept, truth, params.label))
                coarse[SCORE] = with_physics(
                    params, coarse, models.predict(pipeline[0], coarse, pipeline[1])
                )
                pipeline_by_period.setdefault(period, []).extend(
                    sharing_grids(tracks_of(coarse, truth), grids)
                )
                for name, family in held.items():
                    coarse[SCORE] = with_physics(
                        params, coarse, models.predict(family.booster, coarse, family.features)
                    )
                    wanted = judged_modules(kinds, name, family.kind)
                    family.judge_by_period.setdefault(period, []).extend(
                        t
                        for t in sharing_grids(tracks_of(coarse, truth), grids)
                        if t.module_id in wanted
                    )
            frame = featurizer.prepare(labels.label_rack(telemetry, truth, params.label))
            del telemetry
            frame[SCORE] = with_physics(
                params, frame, models.predict(pipeline[0], frame, pipeline[1])
            )
            reference = sharing_grids(tracks_of(frame, truth), grids)
            for name, family in held.items():
                frame[SCORE] = with_physics(
                    params, frame, models.predict(family.booster, frame, family.features)
                )
                wanted = judged_modules(kinds, name, family.kind)
                family.judge += [
                    t
                    for t in sharing_grids(tracks_of(frame, truth), grids)
                    if t.module_id in wanted
                ]
                family.judge_reference += [t for t in reference if t.module_id in wanted]
            print(f"  judging fleet {path.name}: {time.perf_counter() - began:.0f} s", flush=True)
            del frame
            gc.collect()
    benign = judged_modules(kinds, "", "nuisance")
    nuisances = truth[truth[schema.MODULE_ID].isin(benign)]
    found = next(iter(held.values()), None)
    if found is None:
        return 0.0, nuisances, pipeline_by_period
    tracks = [t for t in found.judge_reference if t.module_id in benign]
    days = float(judged(params, tracks, pipeline[2])["watched_module_days"])
    return days, nuisances, pipeline_by_period


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
        "--judge-racks", type=int, default=7, help="racks of the judging fleet (0: none)"
    )
    parser.add_argument(
        "--judge-seed", type=int, default=1007, help="the judging fleet's simulator seed"
    )
    parser.add_argument(
        "--with-observer", action="store_true", help="the observer's columns as inputs too"
    )
    parser.add_argument(
        "--periods",
        default="10,30",
        help="logging periods (s) the judging fleet is also judged at ('': 1 s only)",
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
    import xgboost as xgb

    pipeline = (
        xgb.Booster(model_file=str(params.paths.model)),
        read_json(params.paths.model_info)["model_config"]["features"],
        float(read_json(params.paths.operating_point)["threshold"]),
    )
    train_all = training.read_training_rows(files + copies, features, params.train)
    validation_rows = read_rows(
        files, list(dict.fromkeys(ROW_COLUMNS + features + extra + PHYSICS)), None, "validation"
    )
    faults = set(truth["fault_type"])
    held: dict[str, Held] = {}
    seconds: dict[str, float] = {}
    for name, modules in chosen.items():
        began = time.perf_counter()
        fitted, threshold, mine, reference = run_family(
            params, files, features, truth, modules, train_all, validation_rows, judged_splits,
            pipeline,
        )  # fmt: skip
        kind = "fault" if name in faults else "nuisance"
        held[name] = Held(
            kind, modules, fitted.booster, fitted.features, threshold, mine, reference
        )
        seconds[name] = time.perf_counter() - began
        print(f"  trained without {name}: {seconds[name]:.0f} s", flush=True)
    del train_all, validation_rows
    gc.collect()
    judge_days, nuisances = 0.0, pd.DataFrame(columns=[schema.MODULE_ID, "nuisance_type"])
    pipeline_by_period: dict[int, list[events.ModuleTrack]] = {}
    if args.judge_racks:
        fleet = judging_fleet(params, args.judge_seed, args.judge_racks)
        periods = [int(p) for p in args.periods.split(",") if p]
        judge_days, nuisances, pipeline_by_period = judge_on_fleet(
            params, fleet, held, pipeline, periods
        )
    benign = set(nuisances[schema.MODULE_ID])
    results = {}
    print(
        f"{'family':>22} {'mods':>4}  held out: recall@min lead, p10, FA/module-days (upper95)"
        + ("; with the judging fleet" if args.judge_racks else "")
    )
    for name, family in held.items():
        mine = judged(params, family.tracks, family.threshold)
        ref = judged(params, family.reference, pipeline[2])
        results[name] = {
            "held_out": mine,
            "pipeline_model": ref,
            "modules": len(family.modules),
            "seconds": seconds[name],
            # Each runaway's lead (min), per fleet (the judging fleet's ids start with J).
            "held_out_lead_times_by_module": mine["lead_times_by_module"],
        }
        line = f"{name:>22} {len(family.modules):>4}  {_events(mine):>22} {_alarms(mine):>26}"
        if args.judge_racks:
            both = judged(params, family.tracks + family.judge, family.threshold)
            ref_both = judged(params, family.reference + family.judge_reference, pipeline[2])
            results[name] |= {
                "held_out_with_judge_fleet": both,
                "judge_fleet_held_out_lead_times_by_module": lead_times(
                    params, family.judge, family.threshold
                ),
                "pipeline_model_with_judge_fleet": ref_both,
                "judge_fleet_false_alarms_by_nuisance": events.false_alarms_by_nuisance(
                    [t for t in family.judge if t.module_id in benign],
                    nuisances,
                    family.threshold,
                    params.alarm,
                ),
            }
            line += f" | {_events(both)} {_alarms(both)}; pipeline model {_alarms(ref_both)}"
            for period, tracks in sorted(family.judge_by_period.items()):
                coarse = judged_by_nuisance(params, tracks, family.threshold, nuisances)
                results[name].setdefault("judge_fleet_by_logging_period", {})[str(period)] = coarse
                line += f"\n{'':>22} {'':>4}  judging fleet at {period} s: {_events(coarse)} "
                line += _alarms(coarse)
            family.judge, family.judge_by_period = [], {}  # reported: its scores go (memory)
            gc.collect()
        else:
            line += f"   pipeline model: {_events(ref)} {_alarms(ref)}"
        print(line)
    if args.judge_racks:
        results["judge_fleet"] = {
            "seed": args.judge_seed,
            "racks": args.judge_racks,
            "healthy_and_nuisance_watched_module_days": judge_days,
            # The pipeline's own model on every module of the judging fleet (it saw none).
            "pipeline_model_by_logging_period": {
                str(period): judged_by_nuisance(params, tracks, pipeline[2], nuisances)
                for period, tracks in sorted(pipeline_by_period.items())
            },
        }
        for period, found in results["judge_fleet"]["pipeline_model_by_logging_period"].items():
            print(f"judging fleet at {period} s, pipeline model: {_events(found)} {_alarms(found)}")
        print(f"judging fleet: seed {args.judge_seed}, {args.judge_racks} racks, "
              f"{judge_days:.1f} watched module-days of healthy and nuisance modules")  # fmt: skip
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
