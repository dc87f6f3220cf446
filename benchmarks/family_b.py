"""Judge the trained hazard model on a full-size fleet of family B, and print its figures.

    .venv/bin/python -m benchmarks.family_b [--racks 10] [--days 3.5] [--sensors-away 0]
        [--out PATH]

Family B (:mod:`batteryops.familyb`) is the independently written simulator: its own cells
(40 Ah prismatic NMC, 1P14S modules behind converters), distributed thermal model, room and HVAC,
abuse kinetics, duties, faults, nuisances and loggers. The ``generalize`` stage judges a day of 24
of its modules on every ``dvc repro`` (``metrics/generalization.json`` ``family_b``); this script
judges enough of them for the false-alarm bound to mean something (300+ watched module-days),
with the same code, model (``models/``, what the pipeline last trained) and operating point
(``models/operating_point.json``), at 1 Hz and as 10 s and 30 s loggers keep it. About 4 minutes
on 2 cores (220-255 s here). Nothing of it is used to choose anything. With ``--sensors-away
3`` every fault that starts in one cell (internal short, cooling failure, external heating)
starts at least three cells from each of its module's four thermistors: how the warnings hold
where the temperatures see a fault last (the runaways by that distance are printed either way).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from batteryops.core.config import load_params
from batteryops.core.io import read_json, write_json
from batteryops.hazard import generalization
from batteryops.hazard.model import HazardModel

DAY_S = 86400


def full_fleet(params, racks: int, days: float):  # noqa: ANN001, ANN201
    """The default family B section made ``racks`` racks and ``days`` long, faults late in it."""
    base = params.generalize.family_b
    duration = int(days * DAY_S)
    faults = {kind: max(1, racks * 2 // 5) for kind in base.faults.model_dump()}
    nuisances = {
        "busy_module": racks // 2,
        "poor_cooling": racks // 2,
        "contact_resistance": racks // 2,
        "calibration_offset": max(1, racks // 4),
        "stuck_sensor": max(1, racks // 4),
        "gas_cross_sensitivity": max(1, racks // 4),
        "hvac_cycling_racks": max(1, racks // 4),
        "heat_wave_racks": max(1, racks // 4),
    }
    return base.model_copy(
        update={
            "racks": racks,
            "duration_s": duration,
            # Faults in the last quarter: a vented module's neighbours are no longer watched.
            "fault_earliest_s": int(duration * 0.7),
            "fault_latest_fraction": 0.95,
            "faults": base.faults.model_copy(update=faults),
            "nuisances": base.nuisances.model_copy(update=nuisances),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--racks", type=int, default=10)
    parser.add_argument("--days", type=float, default=3.5)
    parser.add_argument(
        "--out", default=None, help="default: reports/family_b[_sensors_away_N].json"
    )
    parser.add_argument(
        "--sensors-away",
        type=int,
        default=0,
        choices=range(5),
        help="move the thermistors of each module whose fault starts in one cell at least this "
        "many cells from it (0: as drawn; the worst placements, which a random fleet meets rarely)",
    )
    args = parser.parse_args()
    params = load_params()
    paths = params.paths
    if args.out is None:
        away = f"_sensors_away_{args.sensors_away}" if args.sensors_away else ""
        args.out = f"reports/family_b{away}.json"
    model = HazardModel.from_outputs(paths)
    threshold = float(read_json(paths.operating_point)["threshold"])
    rule = float(read_json(paths.metrics.hazard)["baselines"]["rule"]["threshold"])
    fleet = full_fleet(params, args.racks, args.days).model_copy(
        update={"sensor_min_distance_cells": args.sensors_away}
    )
    began = time.perf_counter()
    metrics = generalization.family_b_metrics(fleet, model, params, threshold, rule)
    metrics["seconds"] = round(time.perf_counter() - began, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(metrics, args.out)
    print(f"family B: {fleet.racks} racks x {fleet.modules_per_rack} modules x {args.days} days")
    for name, found in [("1 s", metrics)] + [
        (f"{period} s", found) for period, found in metrics["by_logging_period_s"].items()
    ]:
        print(
            f"  {name:>5}: recall@5min {found['event_recall_at_min_lead']:.3f} "
            f"({found['events_detected_at_min_lead']}/{found['events']}, lower95 "
            f"{found['event_recall_at_min_lead_lower95']:.3f}), lead p10 "
            f"{found['lead_time_min_p10']:.1f} min, {found['false_alarms']} false alarms in "
            f"{found['watched_module_days']:.1f} watched module-days "
            f"({found['false_alarms_per_module_day']:.4f}/day, upper95 "
            f"{found['false_alarms_per_module_day_upper95']:.4f})"
        )
    print("  recall by fault:", json.dumps(metrics["event_recall_by_fault"]))
    print("  runaways of one failing cell by its distance to the nearest thermistor (cells):")
    for name, found in [("1 s", metrics)] + [
        (f"{period} s", found) for period, found in metrics["by_logging_period_s"].items()
    ]:
        groups = found["event_recall_by_sensor_distance"]
        print(
            f"  {name:>5}: "
            + "; ".join(
                f"{cells}: {group['at_10_min']}/{group['events']} at 10 min ["
                + ", ".join(
                    "-" if lead is None else f"{lead:.1f}" for lead in group["lead_times_min"]
                )
                + "]"
                for cells, group in groups.items()
            )
        )
    coarse = metrics["by_logging_period_s"]
    print(f"  {'family':>22}  false alarms at 1 s / " + " / ".join(f"{p} s" for p in coarse))
    for kind, found in metrics["false_alarms_by_nuisance"].items():
        at = [str(found["false_alarms"])] + [
            str(c["false_alarms_by_nuisance"].get(kind, {}).get("false_alarms", "-"))
            for c in coarse.values()
        ]
        print(
            f"  {kind:>22}: {' / '.join(at)} in {found['watched_module_days']:.1f} "
            f"module-days ({found['modules']} modules)"
        )
    print("  false alarms before / after the first vent in the module's rack (watched md):")
    for name, found in [("1 s", metrics)] + [
        (f"{period} s", found) for period, found in coarse.items()
    ]:
        split = found["false_alarms_by_rack_vent"]
        before, after = split["before_first_vent_in_rack"], split["after_first_vent_in_rack"]
        print(
            f"  {name:>5}: {before['false_alarms']} in {before['watched_module_days']:.1f} "
            f"({before['false_alarms_per_module_day']:.4f}/day, upper95 "
            f"{before['false_alarms_per_module_day_upper95']:.4f}) / {after['false_alarms']} in "
            f"{after['watched_module_days']:.1f}"
        )
    print(f"  faults without runaway: {metrics['faults_without_runaway']}; {metrics['seconds']} s")
    print(f"  written to {args.out}")


if __name__ == "__main__":
    main()
