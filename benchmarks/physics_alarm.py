"""Choose the physics alarm's threshold on train + validation modules (no test row is read).

The physics alarm (``train.unexplained_heat_alarm_c_per_min``) fires where the thermal observer
(:mod:`batteryops.hazard.observer`) finds heat that the module's own load and cooling do not
explain. Its threshold is set from healthy behaviour alone: a margin over the most unexplained
heat any watched second of a healthy or nuisance module showed (held k of n seconds, as alarms
are), at 1 Hz and as 10 s and 30 s loggers keep the training modules
(``featurize.logger_copies_s``). No fault is used to choose it, so the alarm owes nothing to the
fault families it then catches; the faults' leads are printed to show what it adds.

Run after ``make run`` (it reads the featurized partitions)::

    .venv/bin/python -m benchmarks.physics_alarm [--margin 1.25]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import load_params
from batteryops.core.io import partition_files, write_json
from batteryops.hazard import events
from batteryops.hazard.features import copied_module
from batteryops.hazard.labels import NEIGHBOUR_VENTED
from batteryops.hazard.model import UNEXPLAINED_HEAT

SPLITS = ["train", "validation"]
COLUMNS = [schema.TIMESTAMP, schema.MODULE_ID, schema.SPLIT, NEIGHBOUR_VENTED, UNEXPLAINED_HEAT]


def with_copies(truth: pd.DataFrame, modules: np.ndarray) -> pd.DataFrame:
    """Truth rows for logger copies too (``<module>@<period>s`` is its module's truth)."""
    copies = [str(m) for m in modules if copied_module(str(m)) != str(m)]
    base = truth.set_index(schema.MODULE_ID).loc[[copied_module(m) for m in copies]]
    extra = base.reset_index(drop=True).assign(**{schema.MODULE_ID: copies})
    return pd.concat([truth, extra], ignore_index=True)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--margin", type=float, default=1.25, help="over the worst benign level")
    parser.add_argument("--out", default="reports/physics_alarm.json")
    args = parser.parse_args()
    params = load_params()
    alarm = params.alarm
    files = partition_files(params.paths.features_dir)
    if params.featurize.logger_copies_s:  # training modules as 10 s / 30 s loggers keep them
        files += partition_files(params.paths.logger_copies_dir)
    parts = [
        pd.read_parquet(p, columns=COLUMNS, filters=[(schema.SPLIT, "in", SPLITS)]) for p in files
    ]
    frame = pd.concat(parts, ignore_index=True)
    frame[UNEXPLAINED_HEAT] = frame[UNEXPLAINED_HEAT].fillna(-np.inf)
    truth = with_copies(pd.read_parquet(params.paths.truth), frame[schema.MODULE_ID].unique())
    tracks = events.score_tracks(frame, truth, [UNEXPLAINED_HEAT])[UNEXPLAINED_HEAT]
    days = sum(t.watched_s for t in tracks) / events.SECONDS_PER_DAY
    worst = worst_benign(tracks, truth, alarm.persistence_k, alarm.persistence_n)
    top = max(worst.values())
    print(f"{len(tracks)} train + validation modules, {days:.1f} watched module-days")
    print(f"highest unexplained heat held {alarm.persistence_k} of {alarm.persistence_n} s on a")
    print("watched second, by nuisance family (C/min):")
    for kind, level in worst.items():
        print(f"  {kind:>20}  {level:6.2f}")
    suggested = round(args.margin * top, 1)
    configured = params.train.unexplained_heat_alarm_c_per_min
    print(f"suggested threshold: {args.margin} x {top:.2f} = {suggested} C/min")
    print(f"configured (train.unexplained_heat_alarm_c_per_min): {configured}")
    report = {"worst_benign_c_per_min": worst, "margin": args.margin, "suggested": suggested}
    for threshold in sorted({round(top, 2), suggested, configured or suggested}):
        found = by_fault(tracks, truth, threshold, alarm)
        report[f"at_{threshold}"] = found
        print(f"at {threshold} C/min: {found['false_alarms']} false alarms in {days:.1f} md")
        for name, family in sorted(found["families"].items()):
            leads = ", ".join("-" if x is None else f"{x:.1f}" for x in family["leads_min"])
            print(f"  {name:>20}  {family['at_min_lead']}/{family['events']} at min lead [{leads}]")
    write_json(report, args.out)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
