"""Per-module rolling features: one implementation for the ``featurize`` stage and for scoring.

Every feature at second t uses only readings at or before t (no look-ahead), so the same code
serves offline training and online scoring. Features of a rack are computed together because
some compare each module with its rack's median.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from batteryops import schema, timegrid
from batteryops.config import FeaturizeParams

SLOPE_SMOOTHING_S = 10
SLOPE_SIGNALS = ["temp_max_c", "temp_avg_c", "gas_co_ppm", "gas_h2_ppm", "gas_voc_ppm"]
ROLLING_SIGNALS = ["temp_max_c", "temp_max_vs_rack_c", "cell_v_spread_v"]
LEVEL_SIGNALS = [
    "temp_max_c",
    "temp_avg_c",
    "current_a",
    "soc_pct",
    "gas_co_ppm",
    "gas_h2_ppm",
    "gas_voc_ppm",
]
STUCK_WINDOW_S = 300


def _rack_median(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Median of ``column`` across the rack's modules at each row's timestamp."""
    median = frame.groupby(schema.TIMESTAMP)[column].median()
    return median.reindex(frame[schema.TIMESTAMP]).to_numpy()


def featurize_rack(telemetry: pd.DataFrame, params: FeaturizeParams) -> pd.DataFrame:
    """Compute the feature columns for one rack.

    Args:
        telemetry: Canonical telemetry of one rack (extra columns such as labels are kept).
        params: The ``featurize`` section.

    Returns:
        A new frame sorted by module then timestamp: the input columns plus one column per
        feature (see :func:`feature_names`).
    """
    frame = timegrid.sort_canonical(telemetry)
    derived = {
        "temp_max_vs_rack_c": frame["temp_max_c"].to_numpy() - _rack_median(frame, "temp_max_c"),
        "temp_avg_vs_rack_c": frame["temp_avg_c"].to_numpy() - _rack_median(frame, "temp_avg_c"),
        "temp_max_over_coolant_c": (frame["temp_max_c"] - frame["coolant_c"]).to_numpy(),
        "temp_spread_c": (frame["temp_max_c"] - frame["temp_min_c"]).to_numpy(),
        "cell_v_spread_v": (frame["cell_v_max"] - frame["cell_v_min"]).to_numpy(),
    }
    columns: dict[str, np.ndarray] = {name: np.empty(len(frame)) for name in feature_names(params)}
    for name, values in derived.items():
        columns[name] = values.astype(float)
    sources = {name: frame[name].to_numpy(dtype=float) for name in SLOPE_SIGNALS} | derived
    for _, rows in timegrid.module_groups(frame):
        positions, length = timegrid.grid_positions(frame[schema.TIMESTAMP].iloc[rows])
        grids = {name: timegrid.to_grid(sources[name][rows], positions, length) for name in sources}
        for name in SLOPE_SIGNALS + ["temp_max_vs_rack_c"]:
            smooth = timegrid.rolling_mean(grids[name], SLOPE_SMOOTHING_S)
            for window in params.slope_windows_s:
                slope = (smooth - timegrid.lagged(smooth, window)) * (60.0 / window)
                columns[f"{name}_slope_{window}s_per_min"][rows] = slope[positions]
        for name in ROLLING_SIGNALS:
            for window in params.rolling_windows_s:
                mean = timegrid.rolling_mean(grids[name], window)
                std = timegrid.rolling_std(grids[name], window)
                columns[f"{name}_mean_{window}s"][rows] = mean[positions]
                columns[f"{name}_std_{window}s"][rows] = std[positions]
        temp = grids["temp_max_c"]
        stuck = timegrid.unchanged_for(temp, STUCK_WINDOW_S)
        columns["sensor_temp_max_stuck"][rows] = stuck[positions].astype(float)
        missing = timegrid.rolling_mean(np.isnan(temp).astype(float), 60)
        columns["sensor_temp_max_missing_share_60s"][rows] = missing[positions]
        abs_current = timegrid.rolling_mean(
            np.abs(
                timegrid.to_grid(frame["current_a"].to_numpy(dtype=float)[rows], positions, length)
            ),
            300,
        )
        columns["abs_current_mean_300s_a"][rows] = abs_current[positions]
    added = [name for name in feature_names(params) if name not in frame.columns]
    features = pd.DataFrame({name: columns[name].astype(np.float32) for name in added})
    return pd.concat([frame, features], axis=1)


def feature_names(params: FeaturizeParams) -> list[str]:
    """The model's input columns, in a fixed order."""
    names = list(LEVEL_SIGNALS) + [
        "temp_max_vs_rack_c",
        "temp_avg_vs_rack_c",
        "temp_max_over_coolant_c",
        "temp_spread_c",
        "cell_v_spread_v",
    ]
    for name in SLOPE_SIGNALS + ["temp_max_vs_rack_c"]:
        names += [f"{name}_slope_{w}s_per_min" for w in params.slope_windows_s]
    for name in ROLLING_SIGNALS:
        for window in params.rolling_windows_s:
            names += [f"{name}_mean_{window}s", f"{name}_std_{window}s"]
    names += [
        "sensor_temp_max_stuck",
        "sensor_temp_max_missing_share_60s",
        "abs_current_mean_300s_a",
    ]
    return names
