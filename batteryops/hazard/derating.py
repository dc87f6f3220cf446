"""Derating advice: a recommended current limit per module and second.

Policy (every number in ``params.yaml`` under ``derating``):

1. **Alarm** (the hazard model's persistent alarm is on): limit 0 A. Stop charging and
   discharging the module and isolate it; current cannot stop an internal short, but it stops
   adding Joule and side-reaction heat (overcharge) to one.
2. **Thermal**: the forecast temperature ``T + dT30`` (hottest sensor now plus the regressor's
   30 s change, never less than now) is held below ``stop_c``: the limit falls linearly from the
   rated current at ``derate_start_c`` to 0 at ``stop_c`` (the overheat threshold of the labels).
3. **Watch**: a hazard probability at or over ``watch_probability`` but no alarm caps the limit
   at ``watch_current_fraction`` of the rated current. Joule heat goes with the square of the
   current, so half the current is a quarter of the heat while the module is watched.

The recommendation is the smallest of the limits that apply, rounded down to 0.1 A. A missing
temperature or forecast leaves the thermal limit out (the hazard limits still apply).
"""

from __future__ import annotations

import numpy as np

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
    thermal = rated * np.clip(np.nan_to_num(share, nan=1.0), 0.0, 1.0)
    watched = np.nan_to_num(np.asarray(hazard_probability, dtype=float)) >= params.watch_probability
    hazard = np.where(watched, rated * params.watch_current_fraction, rated)
    limit = np.where(np.asarray(alarm, dtype=bool), 0.0, np.fmin(thermal, hazard))
    return np.floor(limit * 10.0 + 1e-9) / 10.0
