"""Derating advice: a recommended current limit per module and second.

Policy (every number in ``params.yaml`` under ``derating``):

1. **Alarm** (the hazard model's persistent alarm is on): limit 0 A. Stop charging and
   discharging the module and isolate it; current cannot stop an internal short, but it stops
   adding Joule and side-reaction heat (overcharge) to one.
2. **Thermal**: the forecast temperature ``T + dT30`` (hottest sensor now plus the regressor's
   30 s change, never less than now) is held below ``stop_c``: the limit falls linearly from the
   rated current at ``derate_start_c`` to 0 at ``stop_c`` (the overheat threshold of the labels).
3. **Watch**: a hazard probability (calibrated on validation, see
   :mod:`batteryops.hazard.calibration`) at or over ``watch_probability`` but no alarm caps the
   limit at ``watch_current_fraction`` of the rated current. Joule heat goes with the square of the
   current, so half the current is a quarter of the heat while the module is watched.

4. **Blind**: a missing hottest-sensor temperature caps the limit at
   ``missing_temperature_current_fraction`` of the rated current: a module whose heat cannot be
   seen never gets all of it. A missing forecast alone judges the temperature now.

The recommendation is the smallest of the limits that apply, rounded down to 0.1 A.

Modules in a rack are one series string and carry one current: :func:`string_limits` gives
each rack and second the limit of its most restrictive module, the current the string can
actually be held to, beside the per-module advice (0 A on an alarm means isolate that module).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from batteryops.core.config import DeratingParams


def recommended_current_limit(
    temp_max_c: np.ndarray,
    delta_t_forecast_c: np.ndarray,
    hazard_probability: np.ndarray,
    alarm: np.ndarray,
    params: DeratingParams,
) -> np.ndarray:
    """Current limit (A, magnitude, either direction) per row under the policy above.

    Args:
        temp_max_c: Hottest-sensor temperature now.
        delta_t_forecast_c: Forecast change over the next 30 s.
        hazard_probability: The hazard model's probability.
        alarm: Whether the persistent alarm is on.
        params: The ``derating`` section.

    Returns:
        The recommended limit, 0 to ``rated_current_a``.
    """
    rated = params.rated_current_a
    forecast = np.asarray(temp_max_c, dtype=float) + np.fmax(
        np.asarray(delta_t_forecast_c, dtype=float), 0.0
    )
    share = (params.stop_c - forecast) / (params.stop_c - params.derate_start_c)
    blind = params.missing_temperature_current_fraction
    thermal = rated * np.clip(np.nan_to_num(share, nan=blind), 0.0, 1.0)
    watched = np.nan_to_num(np.asarray(hazard_probability, dtype=float)) >= params.watch_probability
    hazard = np.where(watched, rated * params.watch_current_fraction, rated)
    limit = np.where(np.asarray(alarm, dtype=bool), 0.0, np.fmin(thermal, hazard))
    return np.floor(limit * 10.0 + 1e-9) / 10.0


def string_limits(racks: np.ndarray, timestamps: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """Per row, the limit of its rack's most restrictive module at that second.

    Args:
        racks: Each row's rack (series string).
        timestamps: Each row's second.
        limits: Each row's per-module limit (:func:`recommended_current_limit`).

    Returns:
        The string's limit, aligned with the rows.
    """
    frame = pd.DataFrame({"rack": racks, "ts": timestamps, "limit": limits})
    return frame.groupby(["rack", "ts"], sort=False)["limit"].transform("min").to_numpy()
