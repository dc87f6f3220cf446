"""Benchmark featurize: ``features.featurize_rack`` against plain pandas groupby-rolling.

Simulates one rack of canonical telemetry with the project's simulator (``fleet_writer``, the
code of the ``generate`` stage, deterministic from the seed of ``params.yaml``) into a temporary
folder, in a child process: logger gaps, sensor dropouts and outliers as configured, four
thermal runaways (temperature sensors saturate, then drop out), a stuck, a drifting and a spiky
sensor. Then, on that same frame, it times

* ``batteryops.hazard.features.featurize_rack`` (per-module 1 Hz grids, cumulative-sum windows), and
* a plain pandas implementation of the same feature list (:func:`pandas_features`):
  ``groupby(module_id)`` with time-based ``rolling(f"{w}s", on="timestamp")`` windows,
  shift-by-time for slopes, ``groupby(timestamp)`` medians for the rack comparison.

A first, untimed call of each gives the outputs: the script asserts that the pandas version
computes every name of ``features.feature_names`` and prints, feature by feature, NaN counts,
NaN mismatches (and those expected by design), the largest difference and the share within
tolerance. Times are the best of ``--repeats`` further calls; memory is the peak allocation
during one more (untimed, tracemalloc) call of each, and the process's peak RSS. Prints rows,
seconds, rows per second and the speedup; exits 1 if featurize_rack is less than
``--min-speedup`` (10x) faster, or if any value differs without a known reason.

Usage: .venv/bin/python benchmarks/features.py [--modules 16] [--hours 6] [--repeats 3]
       [--min-speedup 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from batteryops.core import schema
from batteryops.core.config import FeaturizeParams, load_params, parse_params
from batteryops.hazard import features
from batteryops.sim import fleet_writer

ROOT = Path(__file__).resolve().parent.parent
TS, MODULE = schema.TIMESTAMP, schema.MODULE_ID
# Faults and nuisances of the simulated rack: a runaway of each kind (temperature sensors drop
# out 90 s after the point of no return), starting from 30 min to 40 % of the run so that they
# run away within it whatever params.yaml's fleet duration, and each sensor nuisance (a stuck
# sensor exercises the stuck flag).
FAULTS = {"internal_short": 1, "external_heating": 1, "cooling_failure": 1, "overcharge": 1}
NUISANCES = {
    "stuck_sensor": 1,
    "drifting_sensor": 1,
    "gas_spikes": 1,
    "hot_ambient_racks": 1,
    "high_load_racks": 0,
}
# Agreement of a value: |featurize_rack - pandas| <= RTOL * |pandas| + ATOL * (the feature's
# largest |pandas| value). featurize_rack returns float32 (relative rounding 6e-8, which a slope's
# difference of two means of ~300 C readings turns into ~1e-4 C/min) and computes windows from
# cumulative sums, and its standard deviations from E[x^2] - E[x]^2 with a noise floor;
# pandas rolls in float64 with compensated running sums.
RTOL, ATOL = 1e-5, 1e-5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", type=int, default=16)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each; best counts")
    parser.add_argument("--min-speedup", type=float, default=10.0)
    args = parser.parse_args()
    needed = sum(FAULTS.values()) + sum(NUISANCES.values()) - NUISANCES["hot_ambient_racks"]
    if args.modules < needed:
        parser.error(f"--modules must be at least {needed} (one per fault and nuisance)")
    params = load_params(ROOT / "params.yaml").featurize

    work = Path(tempfile.mkdtemp(prefix="batteryops-features-"))
    try:
        started = time.perf_counter()
        path = simulate_rack(args.modules, args.hours, work)
        simulate_s = time.perf_counter() - started
        telemetry = pd.read_parquet(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows, names = len(telemetry), features.output_names(params)
    print(
        f"simulated 1 rack, {args.modules} modules x {args.hours:g} h at 1 Hz in {simulate_s:.1f} s"
        f" (child process): {rows:,} rows, {describe_gaps(telemetry)}"
    )
    print(f"peak RSS after reading: {peak_rss_gb():.2f} GB")

    # A first, untimed run of each gives the outputs to compare (and warms caches up).
    ours = features.featurize_rack(telemetry, params)
    theirs = pandas_features(telemetry, params)
    missing = [name for name in names if name not in theirs.columns]
    assert not missing, f"the pandas implementation lacks features: {missing}"
    unexplained = compare(ours, theirs, names, lag_without_row(ours, params))
    del ours, theirs

    ours_s = best_of(lambda: features.featurize_rack(telemetry, params), args.repeats)
    theirs_s = best_of(lambda: pandas_features(telemetry, params), args.repeats)
    ours_gb = traced_peak_gb(lambda: features.featurize_rack(telemetry, params))
    theirs_gb = traced_peak_gb(lambda: pandas_features(telemetry, params))

    speedup = theirs_s / ours_s
    print(f"\n{rows:,} rows x {len(names)} features; seconds are the best of {args.repeats} runs")
    print(f"{'implementation':28} {'seconds':>8} {'rows/s':>11} {'peak alloc GB':>14}")
    for label, seconds, gb in (
        ("batteryops featurize_rack", ours_s, ours_gb),
        ("pandas groupby-rolling", theirs_s, theirs_gb),
    ):
        print(f"{label:28} {seconds:8.3f} {rows / seconds:11,.0f} {gb:14.2f}")
    print(
        "peak alloc: most memory allocated at once during one call (tracemalloc, untimed run); "
        f"peak RSS of this process: {peak_rss_gb():.2f} GB"
    )
    print(f"speedup: {speedup:.1f}x (target >= {args.min_speedup:g}x)")
    failed = False
    if speedup < args.min_speedup:
        print(
            f"FAIL: featurize_rack is {speedup:.1f}x faster than pandas, "
            f"below the {args.min_speedup:g}x target"
        )
        failed = True
    if unexplained:
        print(f"FAIL: {unexplained:,} feature values differ without a known reason (see the table)")
        failed = True
    if failed:
        sys.exit(1)
    print(f"OK: featurize_rack is {speedup:.1f}x faster than pandas, with the same features")


def simulate_rack(modules: int, hours: float, directory: Path) -> Path:
    """Simulate one rack of canonical telemetry into ``directory`` (in a child process).

    Args:
        modules: Modules in the rack.
        hours: Duration at 1 Hz.
        directory: An existing, empty folder.

    Returns:
        The rack's Parquet file.
    """
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    duration_s = int(hours * 3600)
    raw["simulate"] |= {
        "racks": 1,
        "modules_per_rack": modules,
        "duration_s": duration_s,
        "chunk_s": min(duration_s, 6 * 3600),
        "ev_profile_racks": 0,
        "faults": FAULTS,
        "nuisances": NUISANCES,
        "fault_earliest_s": min(1800, duration_s // 10),
        "fault_latest_fraction": 0.4,
    }
    simulate_params = parse_params(raw).simulate
    child = multiprocessing.get_context("spawn").Process(
        target=fleet_writer.write_fleet, args=(simulate_params, directory)
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        sys.exit(f"simulation failed (exit code {child.exitcode})")
    (path,) = directory.glob("*.parquet")
    return path


def describe_gaps(telemetry: pd.DataFrame) -> str:
    """Logger gaps (seconds without a row) and missing temp_max_c readings, as a phrase."""
    stamps = telemetry.sort_values([MODULE, TS])
    steps = stamps.groupby(MODULE)[TS].diff().dt.total_seconds()
    gaps = steps[steps > 1]
    missing = int(telemetry["temp_max_c"].isna().sum())
    return (
        f"{len(gaps)} logger gaps ({int((gaps - 1).sum()):,} s without rows), "
        f"{missing:,} missing temp_max_c readings"
    )


def best_of(run: Callable[[], object], repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def traced_peak_gb(run: Callable[[], object]) -> float:
    """Most memory allocated at once (numpy and Python objects) during a call of ``run``, in GB."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 1024**3
    finally:
        tracemalloc.stop()


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def pandas_features(telemetry: pd.DataFrame, params: FeaturizeParams) -> pd.DataFrame:
    """The features of :func:`batteryops.hazard.features.featurize_rack`, written in plain pandas.

    Per module, time-based windows over the rows: ``rolling("60s", on="timestamp")`` holds the
    rows in (t - 60 s, t], the 60 grid seconds that features.py reads; NaN readings are skipped
    and a window without a valid reading is NaN (pandas' default ``min_periods=1`` for
    time-based windows counts valid readings), as in ``timegrid.rolling_mean``.

    Args:
        telemetry: Canonical telemetry of one rack.
        params: The ``featurize`` section.

    Returns:
        The telemetry sorted by module then timestamp, plus one float64 column per feature.
    """
    frame = telemetry.sort_values([MODULE, TS], kind="stable", ignore_index=True)
    by_time = frame.groupby(TS)
    work = pd.DataFrame({MODULE: frame[MODULE], TS: frame[TS]})
    for name in dict.fromkeys(features.SLOPE_SIGNALS + features.ROLLING_SIGNALS + ["current_a"]):
        if name in frame.columns:  # the derived signals are added below
            work[name] = frame[name].astype(float)
    derived = {
        "temp_max_vs_rack_c": work["temp_max_c"] - by_time["temp_max_c"].transform("median"),
        "temp_avg_vs_rack_c": work["temp_avg_c"] - by_time["temp_avg_c"].transform("median"),
        "temp_max_over_coolant_c": work["temp_max_c"] - frame["coolant_c"].astype(float),
        "temp_spread_c": work["temp_max_c"] - frame["temp_min_c"].astype(float),
        "cell_v_spread_v": frame["cell_v_max"].astype(float) - frame["cell_v_min"].astype(float),
    }
    for name, values in derived.items():
        work[name] = values
    work["abs_current_a"] = work["current_a"].abs()
    by_module = work.groupby(MODULE, sort=False)

    def rolled(window_s: int, columns: list[str]) -> pd.core.window.RollingGroupby:
        """Time-based trailing windows of ``window_s`` over these columns, per module."""
        return by_module[[TS, *columns]].rolling(f"{window_s}s", on=TS)

    def back(result: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
        """A groupby-rolling result on the frame's row index.

        Results come in group order, which is the frame's row order since the frame is sorted
        by module then timestamp (any misalignment would show in the comparison with
        featurize_rack).
        """
        return result.set_axis(work.index)

    out = {name: frame[name].astype(float) for name in features.LEVEL_SIGNALS} | derived

    # Slopes: the 10 s trailing mean now minus the same mean ``w`` seconds ago, per minute. The
    # mean ``w`` seconds ago is looked up by time (module, t - w), NaN where no row has that time
    # (featurize_rack may have one there: see lag_without_row).
    slope_signals = features.SLOPE_SIGNALS + ["temp_max_vs_rack_c"]
    smooth = back(rolled(features.SLOPE_SMOOTHING_S, slope_signals).mean()[slope_signals])
    keyed = smooth.set_axis(pd.MultiIndex.from_arrays([work[MODULE], work[TS]]))
    for window in params.slope_windows_s:
        earlier = pd.MultiIndex.from_arrays([work[MODULE], work[TS] - pd.Timedelta(seconds=window)])
        lagged = keyed.reindex(earlier).set_axis(work.index)
        slope = (smooth - lagged) * (60.0 / window)
        for name in slope_signals:
            out[f"{name}_slope_{window}s_per_min"] = slope[name]

    for window in params.rolling_windows_s:
        rolling = rolled(window, features.ROLLING_SIGNALS)
        mean, std = back(rolling.mean()), back(rolling.std(ddof=0))
        for name in features.ROLLING_SIGNALS:
            out[f"{name}_mean_{window}s"] = mean[name]
            out[f"{name}_std_{window}s"] = std[name]

    # Stuck, as timegrid.unchanged_for: the last valid reading, carried through dropouts and
    # gaps, has not changed at any row of the last STUCK_WINDOW_S - 1 seconds (a window of
    # STUCK_WINDOW_S seconds from its first reading), and the module has logged that long. So a
    # sensor that reads nothing at all for STUCK_WINDOW_S seconds counts as stuck, as there.
    stuck_s = features.STUCK_WINDOW_S
    filled = by_module["temp_max_c"].ffill()
    previous = filled.groupby(work[MODULE], sort=False).shift()
    work["changed"] = ((filled != previous) | filled.isna() | previous.isna()).astype(float)
    changes = back(rolled(stuck_s - 1, ["changed"]).sum()["changed"])
    logging_s = (work[TS] - by_module[TS].transform("first")).dt.total_seconds()
    out["sensor_temp_max_stuck"] = (
        (changes == 0) & filled.notna() & (logging_s >= stuck_s - 1)
    ).astype(float)

    # Missing share: seconds of the last 60 (or since the module's first row) without a valid
    # temp_max_c reading. Seconds without a row (logger gaps) count as missing, as on the grid,
    # so the denominator is seconds, not rows (isna().rolling("60s").mean() would skip gaps).
    work["valid"] = work["temp_max_c"].notna().astype(float)
    valid = back(rolled(60, ["valid"]).sum()["valid"])
    seconds = np.minimum(logging_s + 1, 60)
    out["sensor_temp_max_missing_share_60s"] = (seconds - valid) / seconds

    out["abs_current_mean_300s_a"] = back(rolled(300, ["abs_current_a"]).mean()["abs_current_a"])
    out |= pandas_heat_balance(frame, work, logging_s, params, rolled, back)
    added = pd.DataFrame({name: values for name, values in out.items() if name not in frame})
    return pd.concat([frame, added], axis=1)


def pandas_heat_balance(
    frame: pd.DataFrame,
    work: pd.DataFrame,
    logging_s: pd.Series,
    params: FeaturizeParams,
    rolled: Callable,
    back: Callable,
) -> dict[str, pd.Series]:
    """The heat-balance features of ``features._heat_balance`` in plain pandas.

    A mean over the 10 s that end ``lag`` seconds ago is the difference of two trailing window
    sums, ``(lag + 10) s`` minus ``lag`` s (exactly the grid's seconds, gaps included, with no
    lookup of a row at t - lag). The gain is ``cov(power, rate) / (var(power) + ridge)`` and R²
    ``cov² / ((var(power) + ridge) var(rate))``, from rolling means of the valid pairs.
    """
    smoothing = features.SLOPE_SMOOTHING_S
    power = -(frame["current_a"].astype(float) * frame["voltage_v"].astype(float))
    work["charge_power_kw"] = power.clip(lower=0.0) / 1000.0
    work["temp"] = frame["temp_max_c"].astype(float)

    def mean_ending(column: str, lag: int) -> pd.Series:
        """Mean of the valid readings of the ``smoothing`` seconds ending ``lag`` s ago."""
        if lag == 0:
            return back(rolled(smoothing, [column]).mean()[column])
        longer = rolled(lag + smoothing, [column])
        shorter = rolled(lag, [column])
        total = back(longer.sum()[column]) - back(shorter.sum()[column])
        count = back(longer.count()[column]) - back(shorter.count()[column])
        mean = total / count.where(count > 0)
        return mean.where(logging_s >= lag)  # a window ending before the first second

    now = mean_ending("charge_power_kw", 0)
    earlier = mean_ending("charge_power_kw", smoothing // 2)
    rate = (mean_ending("temp", 0) - mean_ending("temp", smoothing)) * (60.0 / smoothing)
    valid = earlier.notna() & rate.notna()
    work["x"], work["y"] = earlier.where(valid), rate.where(valid)
    work["xx"], work["yy"], work["xy"] = work["x"] ** 2, work["y"] ** 2, work["x"] * work["y"]
    window = rolled(params.heat_balance_window_s, ["x", "y", "xx", "yy", "xy"])
    means, pairs = back(window.mean()), back(window.count()["x"])
    enough = pairs >= features.HEAT_BALANCE_MIN_PAIRS
    var_x = (means["xx"] - means["x"] ** 2).clip(lower=0.0) + params.heat_balance_ridge_kw2
    var_y = (means["yy"] - means["y"] ** 2).clip(lower=0.0)
    cov = means["xy"] - means["x"] * means["y"]
    gain = (cov / var_x).where(enough)
    r2 = (cov**2 / (var_x * var_y)).clip(upper=1.0).where(var_y > 0, 0.0).where(enough)
    return {
        "charge_power_kw": now,
        "heat_gain_c_per_min_per_kw": gain,
        "heat_power_r2": r2,
        "heat_balance_slope_per_min": means["y"].where(enough) + gain * r2 * (now - means["x"]),
    }


def lag_without_row(frame: pd.DataFrame, params: FeaturizeParams) -> dict[str, np.ndarray]:
    """Per slope feature, the rows whose module has no row ``w`` seconds earlier.

    There the two implementations differ by design. featurize_rack reads the 10 s mean at
    t - w off the module's grid, where it exists whenever the 10 s up to t - w hold a valid
    reading, even if t - w itself falls in a logger gap (its first 9 s); shift-by-time in
    pandas finds no row at t - w and gives NaN.

    Args:
        frame: Output of either implementation (sorted by module, then timestamp).
        params: The ``featurize`` section.

    Returns:
        A boolean row mask per slope feature name.
    """
    rows = pd.MultiIndex.from_arrays([frame[MODULE], frame[TS]])
    masks = {}
    for window in params.slope_windows_s:
        earlier = pd.MultiIndex.from_arrays(
            [frame[MODULE], frame[TS] - pd.Timedelta(seconds=window)]
        )
        missing = ~earlier.isin(rows)
        for name in features.SLOPE_SIGNALS + ["temp_max_vs_rack_c"]:
            masks[f"{name}_slope_{window}s_per_min"] = missing
    return masks


def compare(
    ours: pd.DataFrame, theirs: pd.DataFrame, names: list[str], lag_gaps: dict[str, np.ndarray]
) -> int:
    """Print, per feature, how the two outputs agree; return the count of unexplained values.

    Args:
        ours: Output of ``featurize_rack``.
        theirs: Output of :func:`pandas_features` (same row order: module, then timestamp).
        names: The feature names.
        lag_gaps: From :func:`lag_without_row`: rows where a slope may be NaN in pandas only.

    Returns:
        Values that differ beyond tolerance, or are NaN in one output only, where no known
        difference of semantics accounts for it.
    """
    assert ours[[MODULE, TS]].equals(theirs[[MODULE, TS]]), "row order differs"
    print(
        f"\n{'feature':38} {'NaN ours':>9} {'NaN pd':>8} {'NaN diff':>9} {'by design':>10} "
        f"{'max |pd|':>9} {'max |diff|':>11} {'within tol':>11} {'unexplained':>12}"
    )
    unexplained = 0
    for name in names:
        a = ours[name].to_numpy(dtype=float)
        b = theirs[name].to_numpy(dtype=float)
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        both = ~nan_a & ~nan_b
        diff = np.abs(a[both] - b[both])
        scale = float(np.abs(b[both]).max()) if both.any() else 0.0
        close = diff <= RTOL * np.abs(b[both]) + ATOL * scale
        nan_diff = nan_a != nan_b
        by_design = nan_b & ~nan_a & lag_gaps.get(name, np.zeros(len(a), dtype=bool))
        bad = int((nan_diff & ~by_design).sum() + (~close).sum())
        unexplained += bad
        print(
            f"{name:38} {nan_a.sum():9,} {nan_b.sum():8,} {nan_diff.sum():9,} "
            f"{by_design.sum():10,} {scale:9.3g} {diff.max() if diff.size else 0.0:11.3g} "
            f"{close.mean() if close.size else 1.0:11.4%} {bad:12,}"
        )
    return unexplained


if __name__ == "__main__":
    main()
