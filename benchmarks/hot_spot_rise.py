"""How far the hottest sensor outruns its module's mean: healthy and nuisance modules, and faults.

    .venv/bin/python -m benchmarks.hot_spot_rise [--fleet default|family_b|judge]
        [--readings [--window-s 300] | --observer] [--judge-seed 1012] [--judge-racks 7]
        [--out FILE]

``--observer`` measures what the physics alarm's hot-spot channel reads (the thermal observer's
``hot_spot_rise_c_per_min``: the gap's slope as the difference of its 150 s and 450 s
exponential means, :func:`batteryops.hazard.observer._hot_spot`); the other modes are the
measurements that led to it. The statistic needs no model: the hottest
sensor's five-minute slope less the module mean's (``temp_max_c_slope_300s_per_min -
temp_avg_c_slope_300s_per_min``, the featurized columns), averaged over the last 60 s and left
out where the hottest sensor is stuck. Load, coolant, ambient and a module's cooling heat or cool
all its sensors alike, to first order; a heat source inside one cell (an internal short) warms
the nearest sensor first. The thermal observer's channels read that heat against a model
identified at the currents the module has met, which a first full-power discharge leaves
behind: a leave-one-family-out judging fleet's internal short (seed 1012, JR07-M11) heated its
hottest sensor 0.1 C/min over its model for 40 minutes before its first 41 A discharge, under
every channel, and then read -0.4 C/min during that discharge (its peers -0.05 to -0.6: each
model expects more heat at 41 A than comes), while its hottest sensor rose 1.53 C/min against
its mean's 0.72 and its peers' 0.85-0.99.

Prints, per fleet and logging period, the highest level any healthy or nuisance module reached
before the first vent in its rack (by nuisance) and each runaway's lead before its point of no
return at a few levels. ``--fleet default`` reads the featurized train and validation modules of
the last ``make run`` (1 s; no test row); ``family_b`` simulates the ``benchmarks.family_b``
fleet (10 racks, 3.5 days; ~15 min, ~7 with ``--readings``) and ``judge`` the default simulator
with another seed (``benchmarks.leave_one_family_out``'s judging fleet; ~8 min, ~3), each at 1,
10 and 30 s. The featurized slopes read a single-reading glitch at a 30 s logger as ~2.7 C/min;
``--readings`` takes the slope from the readings with such jumps held back
(:func:`hot_spot_rise_from_readings`), and needs no features.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from numba import njit

from batteryops.core import schema
from batteryops.core.config import load_params
from batteryops.core.io import partition_files, write_json
from batteryops.hazard import generalization, labels
from batteryops.hazard.model import HazardModel

LEVELS = [0.4, 0.5, 0.6, 0.7, 0.8, 1.0]  # C/min
SMOOTHING = "60s"
SLOPE_S = 300
COLUMNS = [
    schema.TIMESTAMP,
    schema.MODULE_ID,
    "temp_max_c_slope_300s_per_min",
    "temp_avg_c_slope_300s_per_min",
    "sensor_temp_max_stuck",
]
READINGS = ["temp_max_c", "temp_avg_c"]


def hot_spot_rise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per row of each module: the hottest sensor's 300 s slope less the mean's, over 60 s.

    Not given within :data:`SLOPE_S` after a gap of more than two logging periods (the slopes'
    window is not yet full: a 4.5 minute gap of a healthy module read 0.76 C/min at its end).
    """
    parts = []
    for module, rows in frame[COLUMNS].groupby(schema.MODULE_ID, observed=True):
        rows = rows.sort_values(schema.TIMESTAMP).set_index(schema.TIMESTAMP)
        gap = rows["temp_max_c_slope_300s_per_min"] - rows["temp_avg_c_slope_300s_per_min"]
        gap = gap.where(~rows["sensor_temp_max_stuck"].astype(bool))
        seconds = rows.index.asi8 // 10**9
        step = np.diff(seconds, prepend=seconds[0] - 1)
        period = max(1, int(np.median(step)))
        restart = pd.Series(np.where(step > 2 * period, seconds, np.nan), rows.index).ffill()
        gap = gap.where(~(seconds - restart.fillna(-np.inf).to_numpy() < SLOPE_S))
        smoothed = gap.rolling(SMOOTHING).mean()
        parts.append(pd.DataFrame({"module_id": str(module), "t": rows.index, "v": smoothed}))
    return pd.concat(parts, ignore_index=True)


@njit(cache=True)
def _held_back(values: np.ndarray, jump: float) -> np.ndarray:
    """Readings with a single-reading jump dropped, as the observer holds one back (JUMP_C).

    A reading more than ``jump`` from the last one kept is kept only if the next reading
    confirms it (lies within ``jump`` of it); otherwise it is NaN.
    """
    out = values.copy()
    last = np.nan
    for i in range(len(values)):
        v = values[i]
        if np.isnan(v):
            continue
        if not np.isnan(last) and abs(v - last) > jump:
            confirmed = i + 1 < len(values) and abs(values[i + 1] - v) <= jump
            if not confirmed:
                out[i] = np.nan
                continue
        last = v
    return out


def hot_spot_rise_from_readings(frame: pd.DataFrame, window_s: int = SLOPE_S) -> pd.DataFrame:
    """The same rise from the readings, each sensor column de-glitched first (``--readings``).

    The hottest sensor's and the mean's single-reading jumps are held back as the observer holds
    them (:data:`observer.JUMP_C`), a mean above the hottest sensor is skipped as the observer
    skips it (:data:`observer.MEAN_ABOVE_MAX_C`), and the gap's least-squares slope is taken over
    the last ``window_s`` seconds of readings (given once they span half of it), then over 60 s.
    """
    from batteryops.hazard.observer import JUMP_C, MEAN_ABOVE_MAX_C

    parts = []
    columns = [schema.TIMESTAMP, schema.MODULE_ID, "temp_max_c", "temp_avg_c"]
    for module, rows in frame[columns].groupby(schema.MODULE_ID, observed=True):
        rows = rows.sort_values(schema.TIMESTAMP).set_index(schema.TIMESTAMP)
        hottest = _held_back(rows["temp_max_c"].to_numpy(np.float64), JUMP_C)
        mean = _held_back(rows["temp_avg_c"].to_numpy(np.float64), JUMP_C)
        gap = pd.Series(hottest - mean, rows.index)
        gap = gap.where(~(gap < -MEAN_ABOVE_MAX_C))  # a mean over the hottest: not a reading
        seconds = (rows.index.asi8 // 10**9).astype(np.float64)
        t = pd.Series(np.where(np.isnan(gap), np.nan, seconds - seconds[0]), rows.index)
        window = f"{window_s}s"
        n = gap.rolling(window).count()
        st, sy = t.rolling(window).sum(), gap.rolling(window).sum()
        stt, sty = (t * t).rolling(window).sum(), (t * gap).rolling(window).sum()
        span = t.rolling(window).max() - t.rolling(window).min()
        slope = (n * sty - st * sy) / (n * stt - st * st) * 60.0
        slope = slope.where((span >= window_s / 2) & (n >= 3))
        smoothed = slope.rolling(SMOOTHING).mean()
        parts.append(pd.DataFrame({"module_id": str(module), "t": rows.index, "v": smoothed}))
    return pd.concat(parts, ignore_index=True)


def hot_spot_rise_from_observer(frame: pd.DataFrame) -> pd.DataFrame:
    """The thermal observer's own column of it (``observer.NAMES[6]``, ``--observer``).

    What the alarm would read: the gap's slope as the difference of two exponential means
    (:func:`batteryops.hazard.observer._hot_spot`), every module from a fresh state. It reads
    the hottest sensor and the sensors' mean only; the observer's other inputs are zeros here.
    """
    from batteryops.hazard import observer

    columns = [schema.TIMESTAMP, schema.MODULE_ID, "temp_max_c", "temp_avg_c"]
    rows = frame[columns].sort_values([schema.MODULE_ID, schema.TIMESTAMP], kind="stable")
    codes = rows[schema.MODULE_ID].astype(str).to_numpy()
    bounds = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1, [len(codes)]])
    out = observer.observe(
        rows[schema.TIMESTAMP].astype("int64").to_numpy() // 10**9,
        rows["temp_max_c"].to_numpy(dtype=float),
        # The hot-spot rise reads the two temperatures only (featurized rows keep no coolant).
        np.zeros(len(rows)),
        np.zeros(len(rows)),
        bounds,
        mean_temp_c=rows["temp_avg_c"].to_numpy(dtype=float),
    )
    return pd.DataFrame({"module_id": codes, "t": rows[schema.TIMESTAMP].to_numpy(), "v": out[6]})


def judged(rise: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """The benign highest levels (by nuisance) and the runaways' leads at :data:`LEVELS`.

    Benign: healthy and nuisance modules before the first vent in their rack, and a failing
    module before its own fault starts (``before its fault``). After the first vent, a
    neighbour's fire heats one side of a module, which this statistic reads as a hot spot: the
    healthy and nuisance modules' highest level then is given apart (``after_first_vent``).
    A runaway's lead counts from its fault's start.
    """
    truth = truth.assign(module_id=truth[schema.MODULE_ID].astype(str))
    truth["rack_id"] = truth["rack_id"].astype(str)
    first_vent = truth.groupby("rack_id")["vent_time"].min()
    by_module = truth.set_index("module_id")
    benign: dict[str, dict] = {}
    after_vent = {"max": float("-inf"), "module": "", "days": 0.0}
    leads: dict[str, dict] = {}

    def add(found: dict, rows: pd.DataFrame, module: str) -> None:
        if not len(rows) or not rows["v"].notna().any():
            return
        found["days"] += (rows["t"].max() - rows["t"].min()).total_seconds() / 86400
        if float(rows["v"].max()) > found["max"]:
            found["max"], found["module"] = float(rows["v"].max()), module

    for module, rows in rise.groupby("module_id"):
        if module not in by_module.index:
            continue
        known = by_module.loc[module]
        vent = first_vent.get(known["rack_id"])
        calm = rows if pd.isna(vent) else rows[rows["t"] < vent]
        fresh = {"max": float("-inf"), "module": "", "days": 0.0}
        if known["fault_type"] == "none":
            add(benign.setdefault(str(known.get("nuisance_type", "none")), fresh), calm, module)
            if pd.notna(vent):
                add(after_vent, rows[rows["t"] >= vent], module)
            continue
        start = known["fault_start"]
        if pd.notna(start):
            add(benign.setdefault("before its fault", fresh), calm[calm["t"] < start], module)
        if pd.notna(known["pnr_time"]):
            since = rows if pd.isna(start) else rows[rows["t"] >= start]
            before = since[since["t"] < known["pnr_time"]]
            crossed = {level: before["t"][before["v"] >= level].min() for level in LEVELS}
            leads[module] = {"fault": str(known["fault_type"])} | {
                str(level): (
                    None if pd.isna(at) else round((known["pnr_time"] - at).total_seconds() / 60, 1)
                )
                for level, at in crossed.items()
            }
    return {
        "benign_by_nuisance": benign,
        "after_first_vent": after_vent,
        "runaway_leads_min": leads,
    }


def default_fleet(params, rise=hot_spot_rise) -> dict[int, dict]:  # noqa: ANN001
    """The featurized train and validation modules of the last run (1 s)."""
    parts = []
    for path in partition_files(params.paths.features_dir):
        frame = pd.read_parquet(path, columns=COLUMNS + READINGS + [schema.SPLIT])
        frame = frame[frame[schema.SPLIT].astype(str).isin(["train", "validation"])]
        parts.append(rise(frame))
    truth = pd.read_parquet(params.paths.truth)
    return {1: judged(pd.concat(parts, ignore_index=True), truth)}


def simulated_fleet(  # noqa: ANN201
    params,  # noqa: ANN001
    which: str,
    seed: int,
    racks: int,
    rise=hot_spot_rise,  # noqa: ANN001
):
    """A fleet simulated into a temporary folder, featurized rack by rack at 1, 10 and 30 s."""
    from batteryops.familyb import writer as familyb_writer
    from batteryops.sim import fleet_writer, simulate
    from benchmarks.family_b import full_fleet

    model = HazardModel.from_outputs(params.paths)
    rises: dict[int, list[pd.DataFrame]] = {1: [], 10: [], 30: []}
    with tempfile.TemporaryDirectory() as tmp:
        if which == "family_b":
            truth = familyb_writer.write_fleet(full_fleet(params, 10, 3.5), tmp)
        else:
            fleet = params.simulate.model_copy(update={"seed": seed, "racks": racks})
            truth = simulate.truth_with_times(fleet, fleet_writer.write_fleet(fleet, tmp))
        for path in partition_files(tmp):
            telemetry = pd.read_parquet(path)
            for period, found in rises.items():
                kept = telemetry if period == 1 else generalization.coarser(telemetry, period)
                if rise is hot_spot_rise:  # the featurized slopes; the readings need no features
                    kept = model.prepare(labels.label_rack(kept, truth, params.label))
                found.append(rise(kept))
            print(f"  {path.name}", flush=True)
    return {p: judged(pd.concat(found, ignore_index=True), truth) for p, found in rises.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", choices=["default", "family_b", "judge"], default="default")
    parser.add_argument("--judge-seed", type=int, default=1012)
    parser.add_argument("--judge-racks", type=int, default=7)
    parser.add_argument(
        "--readings",
        action="store_true",
        help="from the de-glitched readings, not the featurized slopes",
    )
    parser.add_argument(
        "--window-s",
        type=int,
        default=SLOPE_S,
        help="the slope's window with --readings (s)",
    )
    parser.add_argument(
        "--observer",
        action="store_true",
        help="the thermal observer's column (what the alarm reads), from the readings",
    )
    parser.add_argument("--out", default=None, help="default: reports/hot_spot_rise_FLEET.json")
    args = parser.parse_args()
    params = load_params()
    rise = hot_spot_rise
    if args.readings:
        rise = functools.partial(hot_spot_rise_from_readings, window_s=args.window_s)
    if args.observer:
        rise = hot_spot_rise_from_observer
    if args.fleet == "default":
        found = default_fleet(params, rise)
    else:
        found = simulated_fleet(params, args.fleet, args.judge_seed, args.judge_racks, rise)
    suffix = "_readings" if args.readings else "_observer" if args.observer else ""
    suffix += f"_{args.window_s}s" if args.readings and args.window_s != SLOPE_S else ""
    out = Path(args.out or f"reports/hot_spot_rise_{args.fleet}{suffix}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json({str(p): v for p, v in found.items()}, out)
    for period, result in found.items():
        benign = result["benign_by_nuisance"]
        days = sum(b["days"] for b in benign.values())
        worst = max((b["max"] for b in benign.values() if np.isfinite(b["max"])), default=np.nan)
        print(f"{args.fleet} at {period} s: benign {days:.1f} module-days, highest {worst:.3f}")
        for kind, b in sorted(benign.items(), key=lambda kv: -kv[1]["max"]):
            print(f"  {kind:>22}: {b['max']:.3f} ({b['module']}, {b['days']:.1f} md)")
        vent = result["after_first_vent"]
        print(
            f"  {'after first vent':>22}: {vent['max']:.3f} ({vent['module']}, "
            f"{vent['days']:.1f} md; healthy and nuisance modules, not in the highest above)"
        )
        print(f"  runaways' leads (min before PNR, from the fault's start) at {LEVELS} C/min:")
        for module, lead in result["runaway_leads_min"].items():
            print(f"    {module} {lead['fault']}: {[lead[str(x)] for x in LEVELS]}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
