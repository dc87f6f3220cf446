"""Choose the physics alarm's thresholds on train + validation modules (no test row is read).

The physics alarm fires where the thermal observer (:mod:`batteryops.hazard.observer`) finds
heat that the module's own load and cooling do not explain: on the hottest sensor over two
minutes at ``train.unexplained_heat_alarm_c_per_min`` (the fast channel), on the mean of the
module's sensors over ten minutes at ``train.unexplained_heat_sustained_alarm_c_per_min`` (the
sustained channel: a cell that heats little per watt shows a fault as weak heat that persists
over the module; one drifting sensor moves the mean only by its share), or on the hottest sensor
over ten minutes at ``train.unexplained_heat_persistent_alarm_c_per_min`` (the persistent
channel: cells heated from outside far from every thermistor warm the nearest one steadily),
and how fast the hottest sensor outruns the sensors' mean at
``train.hot_spot_rise_alarm_c_per_min`` (the hot-spot channel: no model, so a module's first
full-power discharge, which its models never met, cannot mask a short's heat).
Each threshold is set from healthy behaviour alone: a margin over the highest level that any
watched second of a healthy or nuisance module showed (held k of n seconds, as alarms are), at
1 Hz and as 10 s and 30 s loggers keep the training modules (``featurize.logger_copies_s``)
and the validation modules (featurized here from their telemetry, as ``featurize`` copies the
training modules), rounded up to 0.1 C/min. No fault is used to choose them, so the alarm owes
nothing to the fault families it then catches; the faults' leads are printed to show what each
channel adds.

The cell-voltage spread's excess over the module's own at the same charge and current
(``cell_v_spread_excess_v``, :mod:`batteryops.hazard.spread_baseline`) is reported the same way,
in volts rounded up to 1 mV: the alarm's voltage channel (``train.spread_excess_alarm_v``).
The highest cell voltage a module held for 80 s (``cell_v_max_held_v``,
:func:`batteryops.hazard.features.held_cell_voltage`) is reported too, its threshold the worst
benign level plus 10 mV (``--headroom-v``), rounded up to 10 mV: a margin in volts, not a
multiple, as the level is the charger's limit rather than a deviation from zero. That is the
alarm's overvoltage channel (``train.cell_overvoltage_alarm_v``): a cell charged past full.

Run after ``make run`` (it reads the featurized partitions)::

    .venv/bin/python -m benchmarks.physics_alarm [--margin 1.25] [--headroom-v 0.01]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params, load_params
from batteryops.core.io import partition_files, read_json, write_json
from batteryops.hazard import events, labels
from batteryops.hazard.features import copied_module, featurize_rack, logger_copy
from batteryops.hazard.labels import NEIGHBOUR_VENTED
from batteryops.hazard.model import (
    HELD_CELL_V,
    HOT_SPOT_RISE,
    PERSISTENT_HEAT,
    PHYSICS_COLUMNS,
    SPREAD_EXCESS,
    SUSTAINED_HEAT,
    UNEXPLAINED_HEAT,
    persistent_heat,
    physics_alarm_configured,
)

SPLITS = ["train", "validation"]
COLUMNS = [
    schema.TIMESTAMP,
    schema.MODULE_ID,
    schema.SPLIT,
    NEIGHBOUR_VENTED,
    *PHYSICS_COLUMNS,
]
CHANNELS = [
    UNEXPLAINED_HEAT,
    SUSTAINED_HEAT,
    PERSISTENT_HEAT,
    HOT_SPOT_RISE,
    SPREAD_EXCESS,
    HELD_CELL_V,
]
BOTH = "physics_alarm"
CONFIGURED = {
    "fast": "unexplained_heat_alarm_c_per_min",
    "sustained": "unexplained_heat_sustained_alarm_c_per_min",
    "persistent": "unexplained_heat_persistent_alarm_c_per_min",
    "hot_spot": "hot_spot_rise_alarm_c_per_min",
}


def with_copies(truth: pd.DataFrame, modules: np.ndarray) -> pd.DataFrame:
    """Truth rows for logger copies too (``<module>@<period>s`` is its module's truth)."""
    copies = [str(m) for m in modules if copied_module(str(m)) != str(m)]
    base = truth.set_index(schema.MODULE_ID).loc[[copied_module(m) for m in copies]]
    extra = base.reset_index(drop=True).assign(**{schema.MODULE_ID: copies})
    return pd.concat([truth, extra], ignore_index=True)


def validation_copies(params: Params) -> pd.DataFrame:
    """The validation modules as loggers reading every ``featurize.logger_copies_s`` seconds.

    Each rack's validation modules are labelled, kept as such a logger keeps them
    (:func:`batteryops.hazard.features.logger_copy`: ``<module>@<period>s`` in a rack of their
    own) and featurized, as the ``featurize`` stage does the training modules'.
    """
    assignment = read_json(params.paths.split)["modules"]
    validation = {m for m, s in assignment.items() if s == "validation"}
    truth = pd.read_parquet(params.paths.truth)
    parts = []
    for path in partition_files(params.paths.telemetry_dir):
        telemetry = pd.read_parquet(path)
        telemetry = telemetry[telemetry[schema.MODULE_ID].isin(validation)]
        if telemetry.empty:
            continue
        labelled = labels.label_rack(telemetry, truth, params.label)
        for period in params.featurize.logger_copies_s:
            copy = featurize_rack(logger_copy(labelled, period), params.featurize)
            copy[schema.SPLIT] = "validation"
            parts.append(copy[COLUMNS])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


def worst_benign(tracks: list[events.ModuleTrack], truth: pd.DataFrame, k: int, n: int) -> dict:
    """Per nuisance family (``none``: plain healthy), the highest level on watched seconds."""
    kinds = truth.set_index(schema.MODULE_ID)["nuisance_type"]
    worst: dict[str, float] = {}
    for track in tracks:
        watched = track.watched
        if not watched.any():
            continue
        level = float(np.nanmax(np.where(watched, track.level(k, n), -np.inf)))
        kind = str(kinds[track.module_id])
        worst[kind] = max(worst.get(kind, -np.inf), level)
    return dict(sorted(worst.items(), key=lambda item: -item[1]))


def by_fault(tracks: list[events.ModuleTrack], truth: pd.DataFrame, threshold: float, alarm):  # noqa: ANN001, ANN201
    """Each fault family's runaways alarmed at the minimum lead, and their leads (min)."""
    kinds = truth.set_index(schema.MODULE_ID)["fault_type"]
    found = events.event_metrics(tracks, threshold, alarm)
    leads = found["lead_times_by_module"]
    result: dict[str, dict] = {}
    for track in (t for t in tracks if t.runaway):
        family = result.setdefault(str(kinds[track.module_id]), {"events": 0, "leads_min": []})
        family["events"] += 1
        family["leads_min"].append(leads.get(str(track.module_id)))
    for family in result.values():
        family["at_min_lead"] = int(
            sum(lead is not None and lead >= alarm.min_lead_s / 60 for lead in family["leads_min"])
        )
    return {"false_alarms": int(found["false_alarms"]), "families": result}


def channel_report(
    tracks: list[events.ModuleTrack],
    truth: pd.DataFrame,
    alarm,  # noqa: ANN001
    configured: float | None,
    margin: float,
    unit: str = "C/min",
    step: float = 0.1,
    headroom: float | None = None,
) -> dict:
    """One channel: its worst benign levels, the suggested threshold and what each level catches.

    The threshold suggested is ``margin`` x the worst benign level (or, given ``headroom``, the
    worst benign level + ``headroom``), rounded up to ``step``.
    """
    days = sum(t.watched_s for t in tracks) / events.SECONDS_PER_DAY
    worst = worst_benign(tracks, truth, alarm.persistence_k, alarm.persistence_n)
    top = max(worst.values())
    print(f"highest level held {alarm.persistence_k} of {alarm.persistence_n} s on a watched")
    print(f"second, by nuisance family ({unit}):")
    for kind, level in worst.items():
        print(f"  {kind:>20}  {level:8.4f}")
    raised = margin * top if headroom is None else top + headroom
    suggested = round(math.ceil(round(raised / step, 6)) * step, 6)  # at least the margin
    rule = f"{margin} x {top:.4f}" if headroom is None else f"{top:.4f} + {headroom}"
    print(f"suggested threshold: {rule} = {suggested} {unit}; configured {configured}")
    report = {"worst_benign": worst, "unit": unit, "margin": margin, "suggested": suggested}
    report["headroom"] = headroom
    for threshold in sorted({round(top, 4), suggested, configured or suggested}):
        report[f"at_{threshold}"] = found = by_fault(tracks, truth, threshold, alarm)
        print(f"at {threshold} {unit}: {found['false_alarms']} false alarms in {days:.1f} md")
        print_families(found)
    return report


def print_families(found: dict) -> None:
    """Each fault family's runaways at the minimum lead and their leads."""
    for name, family in sorted(found["families"].items()):
        leads = ", ".join("-" if x is None else f"{x:.1f}" for x in family["leads_min"])
        print(f"  {name:>20}  {family['at_min_lead']}/{family['events']} at min lead [{leads}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--margin", type=float, default=1.25, help="over the worst benign level")
    parser.add_argument("--headroom-v", type=float, default=0.01, help="over the worst held V")
    parser.add_argument("--out", default="reports/physics_alarm.json")
    args = parser.parse_args()
    params = load_params()
    files = partition_files(params.paths.features_dir)
    if params.featurize.logger_copies_s:  # training modules as 10 s / 30 s loggers keep them
        files += partition_files(params.paths.logger_copies_dir)
    parts = [
        pd.read_parquet(p, columns=COLUMNS, filters=[(schema.SPLIT, "in", SPLITS)]) for p in files
    ]
    if params.featurize.logger_copies_s:  # validation modules as 10 s / 30 s loggers too
        parts.append(validation_copies(params))
    frame = pd.concat(parts, ignore_index=True)
    frame[BOTH] = physics_alarm_configured(frame, params.train).astype(np.float32)
    frame[PERSISTENT_HEAT] = persistent_heat(frame)
    for column in CHANNELS:
        frame[column] = frame[column].fillna(-np.inf)
    truth = with_copies(pd.read_parquet(params.paths.truth), frame[schema.MODULE_ID].unique())
    tracks = events.score_tracks(frame, truth, [*CHANNELS, BOTH])
    days = sum(t.watched_s for t in tracks[BOTH]) / events.SECONDS_PER_DAY
    print(f"{len(tracks[BOTH])} train + validation modules, {days:.1f} watched module-days")
    report = {}
    heat = [(UNEXPLAINED_HEAT, "fast"), (SUSTAINED_HEAT, "sustained")]
    for column, key in [*heat, (PERSISTENT_HEAT, "persistent"), (HOT_SPOT_RISE, "hot_spot")]:
        print(f"\n{column} (the {key} channel)")
        section = params.train.model_dump()[CONFIGURED[key]]
        report[key] = channel_report(tracks[column], truth, params.alarm, section, args.margin)
    print(f"\n{SPREAD_EXCESS} (the voltage channel)")
    report["spread_excess"] = channel_report(
        tracks[SPREAD_EXCESS],
        truth,
        params.alarm,
        params.train.spread_excess_alarm_v,
        args.margin,
        "V",
        0.001,
    )
    print(f"\n{HELD_CELL_V} (the overvoltage channel)")
    report["overvoltage"] = channel_report(
        tracks[HELD_CELL_V],
        truth,
        params.alarm,
        params.train.cell_overvoltage_alarm_v,
        args.margin,
        "V",
        0.01,
        args.headroom_v,
    )
    report["configured"] = found = by_fault(tracks[BOTH], truth, 0.5, params.alarm)
    print(
        f"\nthe six channels as configured: {found['false_alarms']} false alarms in {days:.1f} md"
    )
    print_families(found)
    write_json(report, args.out)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
