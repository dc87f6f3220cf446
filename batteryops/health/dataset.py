"""State of health and remaining life: check-ups, labels, features, leak-free splits and metrics.

Rows are one per cell per cycle (:data:`batteryops.core.schema.CYCLE_COLUMNS`). A **check-up**
(reference performance test) is a near-full discharge at a low rate (:func:`checkups`); partial
cycles are never read as lost capacity. SOH is measured at check-ups, as the capacity over the
cell's reference (the median of its first check-ups), and interpolated between them; for
simulated cells it is the simulator's true low-rate capacity ratio. RUL at cycle n is the number
of cycles from n until the SOH first falls to ``eol_soh``.

No input of a row is its label: every capacity-derived feature comes from earlier cycles.

- **summary** (:func:`summary_features`): the last check-up's SOH and the cycles and throughput
  since, the fade over the last check-ups and that line carried to now, the coulomb count of the
  last near-full field cycle and its gap to the check-up, equivalent full cycles, days,
  temperature and its Arrhenius term, C-rates, the resistance ratio and its trend;
- **incremental capacity** (:mod:`batteryops.health.incremental_capacity`): the dQ/dV peaks of
  the last low-rate curve measured at or before the cycle, and ΔQ(V) against the cell's first
  curve (Severson et al. 2019, Nature Energy 4, 383), carried forward between checkpoints (the
  RUL model's; the SOH model reads :data:`SOH_FEATURES`);
- for RUL, the empirical fade fit's own estimate (:mod:`batteryops.health.fade_fit`).

Splits are by cell: a temperature holdout (train on some chamber temperatures, test on another;
a cell's chamber is its ``ambient_c`` where the source states it, :func:`temperature_holdout`)
and cells held out in folds (:func:`cell_folds`). :func:`assert_no_leak` is called wherever a
split is used. The chamber temperature only places cells: no feature reads ``ambient_c``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from batteryops.core import bounds, schema
from batteryops.core.config import CheckupParams, HealthParams

SOH = "soh"
RUL = "rul_cycles"
REFERENCE_CAPACITY = "reference_capacity_ah"
EA_SEI_J_PER_MOL = 30000.0
GAS_CONSTANT = 8.314462618
CHECKUP = "checkup"
CHECKUP_SOH = "checkup_soh"
COULOMB_COUNT_GAP = "full_cycle_vs_checkup"
PROJECTED_CHANGE = "projected_change"
RECENT_CYCLES = 100  # a partial cycle's stated depth is judged against the largest of these
LAST_FULL = 3  # a near-full discharge is judged against the median of this many before it
PROTOCOL_CYCLES = 100  # a cell's charge protocol: its median charge time over these first cycles
PROTOCOL_TOLERANCE = 0.02  # sorted by it, a cell this much above the one before starts a protocol
FADE_CHECKUPS = 4  # the check-up fade: least squares over this many check-ups


def _near_full_in_sequence(capacity: np.ndarray, candidate: np.ndarray, share: float) -> np.ndarray:
    """One cell's near-full discharges, in cycle order, each judged against those before it.

    A candidate is near-full when it delivers at least ``share`` of the median of the last
    :data:`LAST_FULL` near-full discharges (the first candidate is): slow fade never drops a
    full discharge, one glitch never locks the rest out, and nothing later is looked at.
    """
    full = np.zeros(capacity.size, dtype=bool)
    last: list[float] = []
    for i in np.flatnonzero(candidate & np.isfinite(capacity)):
        if not last or capacity[i] >= share * float(np.median(last)):
            full[i] = True
            last = [*last[-(LAST_FULL - 1) :], float(capacity[i])]
    return full


def near_full(cycles: pd.DataFrame, checkup: CheckupParams) -> pd.Series:
    """Per row (sorted by cell and cycle), whether the discharge is near-full, at any rate.

    It is when it delivers at least ``checkup.min_depth`` of the cell's near-full discharges
    before it (:func:`_near_full_in_sequence`) and its stated depth of discharge (where given)
    is at least that share of the largest stated in the cell's last :data:`RECENT_CYCLES`
    cycles, so a partial cycle is never read as lost capacity, whatever the nominal capacity.
    """
    depth = cycles["depth_of_discharge"]
    recent_depth = depth.groupby(cycles[schema.CELL_ID], sort=False).transform(
        lambda s: s.rolling(RECENT_CYCLES, min_periods=1).max()
    )
    # A cycler that states the depth it was told to cycle (a window of the nominal capacity)
    # marks a partial cycle even once the faded cell delivers nearly its capacity in it.
    candidate = ~(depth < checkup.min_depth * recent_depth).to_numpy()
    capacity = cycles["capacity_ah"].to_numpy(dtype=float)
    full = np.zeros(len(cycles), dtype=bool)
    for rows in cycles.groupby(schema.CELL_ID, sort=False).indices.values():
        full[rows] = _near_full_in_sequence(capacity[rows], candidate[rows], checkup.min_depth)
    return pd.Series(full, index=cycles.index)


def checkups(
    cycles: pd.DataFrame, checkup: CheckupParams, full: pd.Series | None = None
) -> pd.Series:
    """Per row (sorted by cell and cycle), whether the cycle is a check-up.

    A check-up is a near-full discharge (``full``, else :func:`near_full`) at or below
    ``checkup.max_c_rate``; a cell with none (one rate throughout, or no C-rate) has each
    near-full discharge as a check-up.
    """
    full = near_full(cycles, checkup) if full is None else full
    if checkup.max_c_rate is None:
        return full.rename(CHECKUP)
    cells = cycles[schema.CELL_ID]
    low = full & (cycles["discharge_c_rate"] <= checkup.max_c_rate)
    return (low | (full & ~low.groupby(cells, sort=False).transform("any"))).rename(CHECKUP)


def reference_rows(cycles: pd.DataFrame, reference_cycles: int, is_checkup: pd.Series) -> pd.Series:
    """Per row, whether its capacity is part of the cell's reference.

    The reference is the check-ups among the cell's first ``reference_cycles`` cycles, or its
    first check-up if none of them is.
    """
    cells = cycles[schema.CELL_ID]
    early = is_checkup & (cycles.groupby(schema.CELL_ID, sort=False).cumcount() < reference_cycles)
    first = is_checkup & (is_checkup.groupby(cells, sort=False).cumsum() == 1)
    return early | (first & ~early.groupby(cells, sort=False).transform("any"))


def reference_capacity(
    cycles: pd.DataFrame, reference_cycles: int, is_checkup: pd.Series
) -> pd.Series:
    """Per cell, the median capacity of its reference check-ups (Ah; :func:`reference_rows`)."""
    chosen = cycles[reference_rows(cycles, reference_cycles, is_checkup)]
    return chosen.groupby(schema.CELL_ID, sort=False)["capacity_ah"].median()


def soh_labels(
    cycles: pd.DataFrame,
    reference_cycles: int,
    checkup: CheckupParams,
    truth: pd.DataFrame | None = None,
) -> pd.Series:
    """SOH per row: the simulator's truth where given, else measured at check-ups.

    Measured SOH is a check-up's capacity over the cell's reference (its first check-ups),
    interpolated linearly in cycle between check-ups; rows before a cell's first check-up or
    after its last have none.
    """
    if truth is not None:
        merged = cycles[schema.CYCLE_KEYS].merge(truth[[*schema.CYCLE_KEYS, SOH]], how="left")
        return pd.Series(merged[SOH].to_numpy(), index=cycles.index, name=SOH)
    is_checkup = checkups(cycles, checkup)
    reference = cycles[schema.CELL_ID].map(reference_capacity(cycles, reference_cycles, is_checkup))
    measured = (cycles["capacity_ah"] / reference).where(is_checkup).to_numpy(dtype=float)
    at = cycles[schema.CYCLE].to_numpy(dtype=float)
    labels = np.full(len(cycles), np.nan)
    for rows in cycles.groupby(schema.CELL_ID, sort=False).indices.values():
        known = rows[np.isfinite(measured[rows])]
        if known.size:
            inside = rows[(at[rows] >= at[known].min()) & (at[rows] <= at[known].max())]
            labels[inside] = np.interp(at[inside], at[known], measured[known])
    return pd.Series(labels, index=cycles.index, name=SOH)


def rul_labels(cycles: pd.DataFrame, soh: pd.Series, eol_soh: float) -> pd.Series:
    """Cycles from each row until the cell's SOH first reaches ``eol_soh`` (NaN if never)."""
    frame = pd.DataFrame({schema.CELL_ID: cycles[schema.CELL_ID], "c": cycles[schema.CYCLE]})
    frame["end"] = np.where(soh.to_numpy() <= eol_soh, frame["c"], np.nan)
    eol = frame.groupby(schema.CELL_ID, sort=False)["end"].transform("min")
    rul = eol - frame["c"]
    return rul.where(rul >= 0).rename(RUL)


def _slope_per_100(
    values: pd.Series,
    cycles: pd.Series,
    cells: pd.Series,
    window: int,
    min_rows: int | None = None,
) -> pd.Series:
    """Least-squares slope of ``values`` against cycle over the last ``window`` rows, per 100.

    NaN until a cell has ``min_rows`` rows (default: a fifth of the window, at least 5).
    """
    x = cycles.astype(float)
    least = max(5, window // 5) if min_rows is None else min_rows

    def mean(series: pd.Series) -> pd.Series:
        return series.groupby(cells, sort=False).transform(
            lambda s: s.rolling(window, min_periods=least).mean()
        )

    cov = mean(x * values) - mean(x) * mean(values)
    var = mean(x * x) - mean(x) ** 2
    return 100.0 * cov / var.where(var > 0)


def _running_reference(values: pd.Series, cells: pd.Series, reference_cycles: int) -> pd.Series:
    """Per cell, the median of its first ``reference_cycles`` rows, as known at each row.

    Rows among the first see the median of those up to themselves (no look-ahead); later rows
    the median of all of them.
    """

    def running(series: pd.Series) -> pd.Series:
        early = np.arange(len(series)) < reference_cycles
        return series.expanding().median().where(early).ffill()

    return values.groupby(cells, sort=False).transform(running)


def _before(values: pd.Series, cells: pd.Series, fill: pd.Series) -> pd.Series:
    """Per row, what was known before this cycle: the cell's last earlier value and its fill.

    ``values`` is NaN where nothing was measured; ``fill`` (e.g. the cycle) says when the value
    returned was measured.
    """
    frame = pd.DataFrame({"v": values, "f": fill.astype(float).where(values.notna())})
    shifted = frame.groupby(cells, sort=False).shift(1)
    return shifted.groupby(cells, sort=False).ffill().rename(columns={"v": "value", "f": "at"})


def _checkup_fade(ratio: pd.Series, cycle: pd.Series, cells: pd.Series) -> pd.Series:
    """Per row, the fade per 100 cycles over the cell's last check-ups before it.

    Least squares over :data:`FADE_CHECKUPS` check-ups, carried forward; NaN until two.
    """
    measured = ratio.notna()
    slope = _slope_per_100(
        ratio[measured], cycle[measured], cells[measured], FADE_CHECKUPS, min_rows=2
    ).reindex(ratio.index)
    return _before(slope, cells, cycle)["value"]


def summary_features(cycles: pd.DataFrame, params: HealthParams) -> pd.DataFrame:
    """Summary features per row from what was known before its discharge (no input is its label).

    Every capacity-derived input comes from earlier cycles: the last check-up's SOH, the fade
    over the last check-ups and its projection to now, the last near-full discharge's capacity
    (a coulomb count at any rate) and the cycles and throughput since each. The rest (time,
    temperature, rates, resistance) are of the cycle itself, none of them its capacity.
    """
    cells, cycle = cycles[schema.CELL_ID], cycles[schema.CYCLE]
    by_cell = cycles.groupby(schema.CELL_ID, sort=False)
    full = near_full(cycles, params.checkup)
    is_checkup = checkups(cycles, params.checkup, full)
    checkup_ah = cycles["capacity_ah"].where(is_checkup)
    # Each check-up's reference: the median of the cell's reference check-ups up to it.
    chosen = cycles["capacity_ah"].where(
        reference_rows(cycles, params.reference_cycles, is_checkup)
    )
    reference_at = (
        chosen.groupby(cells, sort=False)
        .transform(lambda s: s.expanding().median())
        .where(is_checkup)
    )
    checkup_ratio = checkup_ah / reference_at
    reference = _before(reference_at, cells, cycle)["value"]
    throughput = cycles["discharge_throughput_ah"] - cycles["capacity_ah"]
    last_checkup = _before(checkup_ratio, cells, cycle)
    # The coulomb count of the field's own near-full cycles (check-ups, at another rate, apart).
    field_full = full & ~is_checkup
    last_full = _before(cycles["capacity_ah"].where(field_full), cells, cycle)
    at_checkup = _before(throughput.where(is_checkup), cells, cycle)["value"]
    first_r = _running_reference(cycles["resistance_ohm"], cells, params.reference_cycles)
    r_ratio = cycles["resistance_ohm"] / first_r
    kelvin = cycles["temperature_c"] + 273.15
    out = pd.DataFrame(index=cycles.index)
    out["cycle_count"] = cycle.astype(float)
    out["efc"] = throughput / reference  # equivalent full cycles of this cell's own capacity
    out["days"] = cycles["time_s"] / 86400.0
    out["temperature_c"] = by_cell["temperature_c"].transform(lambda s: s.expanding().mean())
    out["arrhenius"] = np.exp(-EA_SEI_J_PER_MOL / GAS_CONSTANT * (1.0 / kelvin - 1.0 / 298.15))
    for name in ("charge_c_rate", "discharge_c_rate"):
        out[name] = cycles[name]
    out["depth_before"] = by_cell["depth_of_discharge"].shift(1)
    out[CHECKUP_SOH] = last_checkup["value"]
    out["cycles_since_checkup"] = cycle - last_checkup["at"]
    out["efc_since_checkup"] = (throughput - at_checkup) / reference
    out["checkup_fade_per_100"] = _checkup_fade(checkup_ratio, cycle, cells)
    out["checkup_soh_projected"] = (
        out["checkup_soh"]
        + out["checkup_fade_per_100"].fillna(0.0) * out["cycles_since_checkup"] / 100.0
    )
    out["full_cycle_soh"] = last_full["value"] / reference
    out[COULOMB_COUNT_GAP] = out["full_cycle_soh"] - out[CHECKUP_SOH]
    out[PROJECTED_CHANGE] = out["checkup_soh_projected"] - out[CHECKUP_SOH]
    out["cycles_since_full_cycle"] = cycle - last_full["at"]
    for window in (50, 200):
        out[f"full_cycle_fade_per_100_last_{window}"] = _slope_per_100(
            out["full_cycle_soh"], cycle, cells, window
        )
    out["resistance_ratio"] = r_ratio.groupby(cells, sort=False).transform(
        lambda s: s.rolling(10, min_periods=1).mean()
    )
    out["resistance_per_100_last_100"] = _slope_per_100(r_ratio, cycle, cells, 100)
    return out


def carry_curve_features(cycles: pd.DataFrame, curve_features: pd.DataFrame) -> pd.DataFrame:
    """The curve features of the last checkpoint at or before each row's cycle, per cell.

    A row with its own curve is a check-up: its SOH is measured there, so the SOH task never
    learns from or is judged on it (:func:`batteryops.health.training.training_rows`); RUL may
    use it.

    Returns a frame aligned with ``cycles`` (NaN before a cell's first checkpoint) with
    ``cycles_since_curve``.
    """
    keys = cycles[schema.CYCLE_KEYS].reset_index()
    feats = curve_features.rename(columns={schema.CYCLE: "curve_cycle"})
    feats = feats.sort_values("curve_cycle")
    merged = pd.merge_asof(
        keys.sort_values(schema.CYCLE),
        feats,
        left_on=schema.CYCLE,
        right_on="curve_cycle",
        by=schema.CELL_ID,
        direction="backward",
    ).set_index("index")
    merged["cycles_since_curve"] = merged[schema.CYCLE] - merged["curve_cycle"]
    drop = [schema.CELL_ID, schema.CYCLE, "curve_cycle"]
    return merged.drop(columns=drop).reindex(cycles.index)


def cell_temperatures(cycles: pd.DataFrame) -> pd.DataFrame:
    """Per cell, the temperatures that can place it in a chamber (:func:`temperature_holdout`).

    Args:
        cycles: Canonical cycle data; data written before ``ambient_c`` was in the contract
            (no such column) reads as if no chamber were known.

    Returns:
        One row per cell (sorted): ``cell_id``, ``temperature_c`` (the mean of its cycles' cell
        temperatures) and ``ambient_c`` (the median of its cycles' chamber temperatures: the
        chamber of most of its cycles when it moved; NaN where the source states none).
    """
    by_cell = cycles.groupby(schema.CELL_ID, sort=True)
    out = by_cell["temperature_c"].mean().reset_index()
    ambient = by_cell["ambient_c"].median() if "ambient_c" in cycles else None
    out["ambient_c"] = np.nan if ambient is None else ambient.to_numpy(dtype=float)
    return out


def placing_temperature(cells: pd.DataFrame) -> pd.Series:
    """Per row of ``cells``, the temperature that places the cell: ``ambient_c``, else measured.

    ``cells`` as :func:`cell_temperatures` gives them; without an ``ambient_c`` column (or where
    it is NaN), the cell's mean measured ``temperature_c``.
    """
    measured = cells["temperature_c"].astype(float)
    if "ambient_c" not in cells:
        return measured
    return cells["ambient_c"].astype(float).fillna(measured)


def temperature_holdout(
    cells: pd.DataFrame, train_c: list[float], test_c: list[float], tolerance_c: float = 2.5
) -> dict[str, str]:
    """Split cells by chamber temperature: ``train`` near ``train_c``, ``test`` near ``test_c``.

    ``cells`` has ``cell_id``, ``temperature_c`` (the cell's mean measured temperature) and,
    optionally, ``ambient_c`` (the median of its chamber temperatures; :func:`cell_temperatures`).
    A cell is placed by its ``ambient_c`` where it has one, else by its mean measured temperature
    (:func:`placing_temperature`). The chamber comes first because cells heat above it as they
    cycle (NASA's PCoE cells in the 24 C chamber average 28.5 C, in the 43 C one 46 C, beyond any
    tolerance); the measured mean serves sources that do not state their chamber. A cell within
    ``tolerance_c`` of a test temperature is ``test`` (even when also near a training one), else
    ``train`` when near a training one; cells near neither are left out of both (``unused``).
    """

    def near(temp: float, temps: list[float]) -> bool:
        return any(abs(temp - t) <= tolerance_c for t in temps)

    split = {}
    for cell, temp in zip(cells[schema.CELL_ID], placing_temperature(cells), strict=True):
        split[cell] = "test" if near(temp, test_c) else "train" if near(temp, train_c) else "unused"
    return split


def protocol_holdout(cycles: pd.DataFrame, test_every: int) -> dict[str, str]:
    """Split cells by charge protocol: no protocol on both sides.

    A cell's protocol is read from its median charge time over its first
    :data:`PROTOCOL_CYCLES` cycles; sorted by it, a cell more than :data:`PROTOCOL_TOLERANCE`
    above the one before starts a new protocol. In that order the last protocol of every run of
    ``test_every`` is ``test``, the others ``train``; a cell without a charge time is
    ``unused``.
    """
    first = cycles.groupby(schema.CELL_ID, sort=False).head(PROTOCOL_CYCLES)
    charge = first.groupby(schema.CELL_ID)["charge_time_s"].median()
    known = charge.dropna().sort_values(kind="stable")
    protocol = (known.pct_change() > PROTOCOL_TOLERANCE).cumsum()
    split = dict.fromkeys(charge.index, "unused")
    for cell, number in protocol.items():
        split[cell] = "test" if number % test_every == test_every - 1 else "train"
    return split


def cell_folds(cells: list[str], folds: int) -> Iterator[tuple[list[str], list[str]]]:
    """(train cells, test cells) of each fold, every cell held out exactly once.

    The sorted cells are dealt round robin into ``min(folds, len(cells))`` folds (cell ids that
    sort by chamber or protocol spread over the folds); as many folds as cells is
    leave-one-cell-out.
    """
    ordered = sorted(cells)
    count = min(folds, len(ordered))
    for k in range(count):
        held = ordered[k::count]
        yield [c for c in ordered if c not in held], held


def assert_no_leak(train_cells: object, test_cells: object) -> None:
    """Raise if any cell is in both the training and the test side of a split."""
    shared = set(train_cells) & set(test_cells)
    if shared:
        raise AssertionError(f"cells in both train and test: {sorted(shared)[:5]}")


def soh_metrics(
    true: np.ndarray, pred: np.ndarray, cells: np.ndarray | None = None
) -> dict[str, float]:
    """RMSE, MAE and MAPE in SOH percentage points and %, R2, and shares within ±3 and ±5 points.

    A row without a prediction (NaN: a baseline with nothing to go on yet) is counted in
    ``unanswered``, not judged.

    With ``cells`` (each row's cell id), also the cells whose every row is within ±3 points and
    the 95 % lower bound of that share: the cells, not their correlated rows, are the
    independent units.
    """
    true, pred = np.asarray(true, dtype=float), np.asarray(pred, dtype=float)
    answered = np.isfinite(pred)
    unanswered = {"unanswered": int((~answered).sum())} if not answered.all() else {}
    true, pred = true[answered], pred[answered]
    if not true.size:
        nothing = dict.fromkeys(("rmse_pct", "mae_pct", "mape_pct", "r2"), float("nan"))
        return (
            nothing
            | {"within_3pct": float("nan"), "within_5pct": float("nan"), "n": 0}
            | (unanswered)
        )
    err = pred - true
    total = np.sum((true - true.mean()) ** 2)
    per_cell: dict[str, float] = {}
    if cells is not None:
        held = pd.Series(np.abs(err) <= 0.03).groupby(np.asarray(cells)[answered]).all()
        per_cell = {
            "cells": int(held.size),
            "cells_within_3pct": int(held.sum()),
            "cells_within_3pct_lower95": bounds.share_lower(int(held.sum()), int(held.size)),
        }
    return (
        per_cell
        | {
            "rmse_pct": float(np.sqrt(np.mean(err**2)) * 100),
            "mae_pct": float(np.mean(np.abs(err)) * 100),
            "mape_pct": float(np.mean(np.abs(err) / true) * 100),
            "r2": float(1 - np.sum(err**2) / total) if total > 0 else float("nan"),
            "within_3pct": float(np.mean(np.abs(err) <= 0.03)),
            "within_5pct": float(np.mean(np.abs(err) <= 0.05)),
            "n": int(true.size),
        }
        | unanswered
    )


# What the SOH model reads: summary features, each relative (shares, ratios, changes since the
# last check-up, cycles), none in a cell's absolute scale (amp-hours, ohms) and none from
# low-rate curves, which most field and cycler data lack (the RUL model reads the curves too).
# A model that read the curves and absolute levels scored 12.6 points RMSE on the second ageing
# family, which has no curves, where the last check-up scores 1.0.
SOH_FEATURES = (
    "cycle_count",
    "efc",
    "days",
    "temperature_c",
    "arrhenius",
    "charge_c_rate",
    "discharge_c_rate",
    "depth_before",
    "checkup_soh",
    "cycles_since_checkup",
    "efc_since_checkup",
    "checkup_fade_per_100",
    "projected_change",
    "full_cycle_vs_checkup",
    "cycles_since_full_cycle",
    "full_cycle_fade_per_100_last_50",
    "full_cycle_fade_per_100_last_200",
    "resistance_ratio",
    "resistance_per_100_last_100",
)
# The SOH baselines, each a feature read as the prediction: the last check-up's SOH, the fade
# line of the last check-ups carried to now, and the coulomb count of the last near-full cycle.
SOH_BASELINES = {
    "last_checkup": "checkup_soh",
    "checkup_fade_line": "checkup_soh_projected",
    "coulomb_count": "full_cycle_soh",
}


def rul_metrics(true: np.ndarray, pred: np.ndarray, one_per_cell: bool = False) -> dict[str, float]:
    """RUL RMSE (cycles) and MAPE (%) over rows with a known RUL above zero.

    A row the predictor gives no answer for (NaN: a fade fit with too few points) is counted in
    ``unanswered``, not judged. With ``one_per_cell`` (the rows are independent cells, e.g. all
    at one cycle), also the MAPE's one-sided 95 % upper bound (Student t over the cells).
    """
    true, pred = np.asarray(true, dtype=float), np.asarray(pred, dtype=float)
    known = np.isfinite(true) & (true > 0)
    keep = known & np.isfinite(pred)
    err = pred[keep] - true[keep]
    unanswered = {"unanswered": int((known & ~keep).sum())} if (known & ~keep).any() else {}
    if not keep.any():
        return {"rmse_cycles": float("nan"), "mape_pct": float("nan"), "n": 0} | unanswered
    ape = np.abs(err) / true[keep] * 100
    bound = {"mape_pct_upper95": bounds.mean_upper(ape)} if one_per_cell else {}
    return (
        {
            "rmse_cycles": float(np.sqrt(np.mean(err**2))),
            "mape_pct": float(np.mean(ape)),
            "n": int(keep.sum()),
        }
        | bound
        | unanswered
    )


def health_class(soh: np.ndarray, watch_below: float, replace_below: float) -> np.ndarray:
    """``healthy`` / ``watch`` / ``replace`` by SOH thresholds (``unknown`` without an SOH)."""
    soh = np.asarray(soh, dtype=float)
    graded = np.where(
        soh < replace_below, "replace", np.where(soh < watch_below, "watch", "healthy")
    )
    return np.where(np.isnan(soh), "unknown", graded)
