"""Labels: hazard window before the point of no return, overheat, and the 30 s temperature change.

* ``hazard`` = 1 over the ``prediction_window_s`` seconds that end ``guard_s`` before PNR:
  ``[PNR - guard - window, PNR - guard)``.
* ``trainable`` is false where a label would mislead a model: the guard and everything after PNR
  on a module that runs away, and a module's time after an adjacent module in its rack (position
  one either side) has vented: its readings then carry a neighbour's fire, not its own state.
* ``overheat`` = the hottest sensor exceeds ``overheat_threshold_c`` within the next
  ``overheat_horizon_s`` seconds.
* ``delta_t_30s`` = the hottest-sensor temperature ``delta_t_horizon_s`` seconds ahead minus now,
  each a trailing median over ``delta_t_median_s`` seconds (NaN if unknown). The median keeps
  single-sample sensor glitches (a 25 C spike for one second) out of the target: nobody can
  forecast them, and they are not the module's temperature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from batteryops.core import schema, timegrid
from batteryops.core.config import LabelParams

NEIGHBOUR_VENTED = "neighbour_vented"
# What a labelled, featurized row carries beside its features: its keys, its module's split and its
# labels, in this order (the first columns of the ``evaluate`` stage's scores table).
ROW_COLUMNS = [
    schema.TIMESTAMP,
    schema.RACK_ID,
    schema.MODULE_ID,
    schema.SPLIT,
    schema.TRAINABLE,
    schema.HAZARD,
    schema.OVERHEAT,
    schema.DELTA_T_30S,
    NEIGHBOUR_VENTED,
]


def label_rack(telemetry: pd.DataFrame, truth: pd.DataFrame, params: LabelParams) -> pd.DataFrame:
    """Add label columns to one rack's telemetry.

    Args:
        telemetry: Canonical telemetry of one rack, any order.
        truth: Ground truth per module (``pnr_time``, ``vent_time`` as UTC timestamps).
        params: The ``label`` section.

    Returns:
        A new frame sorted by module then timestamp with the label columns added.

    Raises:
        ValueError: If a module of the telemetry has no row in the truth table.
    """
    frame = timegrid.sort_canonical(telemetry)
    truth = truth.set_index(schema.MODULE_ID)
    unknown = sorted(set(frame[schema.MODULE_ID].unique()) - set(truth.index))
    if unknown:
        raise ValueError(f"truth table has no row for modules {unknown[:5]}")
    now_s = timegrid.epoch_seconds(frame[schema.TIMESTAMP])
    codes, modules = pd.factorize(frame[schema.MODULE_ID])
    pnr_s = timegrid.epoch_seconds(truth.loc[modules, "pnr_time"])[codes]
    window_end = pnr_s - params.guard_s
    hazard = (now_s >= window_end - params.prediction_window_s) & (now_s < window_end)

    first_neighbour_vent = np.full(len(frame), np.inf)
    vent_s = timegrid.epoch_seconds(truth["vent_time"])
    for module_id, rows in timegrid.module_groups(frame):
        rack, position = truth.at[module_id, schema.RACK_ID], truth.at[module_id, "position"]
        adjacent = (truth[schema.RACK_ID] == rack).to_numpy() & (
            np.abs(truth["position"].to_numpy() - position) == 1
        )
        vents = vent_s[adjacent & ~np.isnan(vent_s)]
        if len(vents):
            first_neighbour_vent[rows] = vents.min()
    neighbour_vented = now_s >= first_neighbour_vent
    after_guard = now_s >= np.where(np.isnan(window_end), np.inf, window_end)

    overheat = np.zeros(len(frame), dtype=bool)
    delta_t = np.full(len(frame), np.nan)
    for _, rows in timegrid.module_groups(frame):
        positions, length = timegrid.grid_positions(frame[schema.TIMESTAMP].iloc[rows])
        temp = timegrid.to_grid(frame["temp_max_c"].to_numpy()[rows], positions, length)
        over = np.nan_to_num(temp, nan=-np.inf) > params.overheat_threshold_c
        # Count of exceedances over the grid seconds t + 1 .. t + horizon.
        counts = np.concatenate([[0], np.cumsum(over)])
        index = np.arange(length)
        ahead = (
            counts[np.minimum(index + params.overheat_horizon_s + 1, length)] - counts[index + 1]
        )
        overheat[rows] = ahead[positions] > 0
        smooth = _trailing_median(temp, params.delta_t_median_s)
        delta_t[rows] = (timegrid.lagged(smooth, -params.delta_t_horizon_s) - smooth)[positions]

    frame[schema.HAZARD] = hazard.astype(np.int8)
    frame[schema.OVERHEAT] = overheat.astype(np.int8)
    frame[schema.DELTA_T_30S] = delta_t.astype(np.float32)
    frame[NEIGHBOUR_VENTED] = neighbour_vented
    frame[schema.TRAINABLE] = ~(after_guard | neighbour_vented)
    return frame


def _trailing_median(grid: np.ndarray, window_s: int) -> np.ndarray:
    """Median of the readings over the trailing ``window_s`` grid seconds (NaN where none)."""
    if window_s <= 1:
        return grid
    padded = np.concatenate([np.full(window_s - 1, np.nan), grid])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window_s)
    # NaN readings sort last: the median of the k present readings is at (k - 1) / 2.
    ordered = np.sort(windows, axis=1)
    present = window_s - np.isnan(windows).sum(axis=1)
    low = np.take_along_axis(ordered, np.maximum((present - 1) // 2, 0)[:, None], 1)[:, 0]
    high = np.take_along_axis(ordered, np.maximum(present // 2, 0)[:, None], 1)[:, 0]
    # An even count averages the two middle readings; no reading leaves NaN.
    high = np.where(present % 2 == 0, high, low)
    # Defined only where there is a reading at that second: a gap stays unknown.
    return np.where(np.isnan(grid), np.nan, (low + high) / 2.0)
