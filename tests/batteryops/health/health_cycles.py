"""Tiny in-memory cycle data for the health tests: a few cells per chamber, fading linearly."""

from __future__ import annotations

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import HealthParams

NOMINAL_AH = 5.0


def fading_cycles(
    fade_per_cycle: dict[str, float],
    temperature_c: dict[str, float],
    cycles_per_cell: int = 300,
    seed: int = 0,
    ambient_c: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Canonical cycle rows, sorted by (cell, cycle): each cell loses ``fade`` of 5 Ah a cycle.

    Resistance grows as the capacity falls; capacity, resistance and temperature carry noise.
    ``ambient_c`` is each cell's chamber temperature (missing for a cell not in it, or without).
    """
    ambient_c = ambient_c or {}
    rng = np.random.default_rng(seed)
    n = np.arange(cycles_per_cell)
    frames = []
    for cell, fade in fade_per_cycle.items():
        soh = 1.0 - fade * n
        capacity = NOMINAL_AH * soh + rng.normal(0.0, 0.005, n.size)
        frames.append(
            pd.DataFrame(
                {
                    schema.CELL_ID: cell,
                    schema.CYCLE: n,
                    "temperature_c": temperature_c[cell] + rng.normal(0.0, 0.3, n.size),
                    "capacity_ah": capacity,
                    "resistance_ohm": 0.025 * (2.0 - soh) + rng.normal(0.0, 1e-4, n.size),
                    "charge_throughput_ah": np.cumsum(capacity) / 0.9995,
                    "discharge_throughput_ah": np.cumsum(capacity),
                    "charge_c_rate": 0.5,
                    "discharge_c_rate": 1.0,
                    "depth_of_discharge": 1.0,
                    "time_s": 3.0 * 3600.0 * (n + 1),
                    "temperature_max_c": temperature_c[cell] + 2.0,
                    "charge_time_s": 7200.0,
                    "ambient_c": ambient_c.get(cell, np.nan),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[schema.CYCLE_COLUMNS]


def three_chambers(cycles_per_cell: int = 300) -> pd.DataFrame:
    """Two cells at each of 10, 25 and 40 C; every cell reaches 80 % SOH before cycle 300."""
    fades = {
        "T10-a": 9.0e-4,
        "T10-b": 1.0e-3,
        "T25-a": 7.5e-4,
        "T25-b": 8.5e-4,
        "T40-a": 1.1e-3,
        "T40-b": 1.2e-3,
    }
    temperatures = {cell: float(cell[1:3]) for cell in fades}
    return fading_cycles(fades, temperatures, cycles_per_cell, ambient_c=temperatures)


def small_health_params(health: HealthParams, **update: object) -> HealthParams:
    """The project's ``health`` section with small boosters (fast fits) and ``update``."""
    small = {
        "soh_xgboost": {**health.soh_xgboost, "n_estimators": 20},
        "rul_xgboost": {**health.rul_xgboost, "n_estimators": 20},
        "shap_rows": 50,
    }
    return health.model_copy(update=small | update)
