"""Health features of one constant-current, constant-voltage (CC-CV) charge.

What a field battery logs between check-ups is mostly charges, often partial: no full reference
discharge. These features read one charge's voltage, current and temperature series and need
neither the discharge before nor after it:

* **voltage-window capacity**: the charge passed in the CC phase while the voltage climbs from
  ``low`` to ``high`` (e.g. 3.9 to 4.1 V). A cell that lost capacity climbs through any window
  on less charge; a charge that starts inside the window gives NaN, never a part (Tian et al.
  2020, J. Power Sources 474, 228669 and the "partial charging segment" literature);
* **CC and CV split**: charge and time to the end of the CC phase (the current leaves its set
  value as the voltage reaches its limit), then charge and time in the CV phase until the
  current tapers to ``taper_share`` of the CC current. A more resistive cell reaches the limit
  earlier and takes more of its charge at constant voltage;
* **incremental capacity** dQ/dV of the CC phase (:mod:`batteryops.health.incremental_capacity`):
  the height and place of its largest peak in :data:`PEAK_WINDOW_V`. At the ~0.75 C of the NASA
  cells the peaks are smeared by overpotential: the model is told, not assumed, whether they
  help;
* the total charge, the CC start voltage (how empty the cell was), and the cell temperature's
  mean, highest value and rise over the charge.

Currents here are + into the cell (charging). A short opposite pulse at the start of a charge
(NASA's ~2.5 s, 3 A) counts for nothing: only charging current is integrated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from batteryops.health import incremental_capacity

PEAK_WINDOW_V = (3.75, 4.15)
PEAK_GRID_STEP_V = 0.005
PEAK_SMOOTH_V = 0.02
CC_SHARE = 0.5  # a sample charges at the CC current when above this share of the largest current
CC_END_SHARE = 0.95  # the CC phase ends when the current first falls below this share of its value
TAPER_SHARE = 0.1  # the CV phase ends when the current first falls below this share


def window_name(low_v: float, high_v: float) -> str:
    """The feature name of a voltage window: ``window_ah_3p90_4p10``."""
    return f"window_ah_{low_v:.2f}_{high_v:.2f}".replace(".", "p")


def feature_names(windows: Sequence[tuple[float, float]]) -> list[str]:
    """The names :func:`charge_features` returns for these windows, in its order."""
    return [
        "charge_ah",
        "cc_start_v",
        "cc_ah",
        "cc_s",
        "cv_ah",
        "cv_s",
        *(window_name(low, high) for low, high in windows),
        "ic_peak_v",
        "ic_peak_ah_per_v",
        "temperature_mean_c",
        "temperature_max_c",
        "temperature_rise_c",
    ]


def _cumulative_charge_ah(time_s: np.ndarray, current_a: np.ndarray) -> np.ndarray:
    """Charge into the cell since the first sample (Ah), trapezoids of the charging current."""
    charging = np.clip(current_a, 0.0, None)
    steps = np.diff(time_s) * (charging[1:] + charging[:-1]) / 2.0 / 3600.0
    return np.concatenate([[0.0], np.cumsum(steps)])


def _phases(current_a: np.ndarray) -> tuple[int, int, int, float]:
    """Indices where the CC phase starts and ends and the CV phase ends, and the CC current."""
    largest = float(np.max(current_a))
    at_cc = np.flatnonzero(current_a >= CC_SHARE * largest)
    start = int(at_cc[0])
    cc_current = float(np.median(current_a[at_cc]))
    below = np.flatnonzero(current_a[start:] < CC_END_SHARE * cc_current)
    cc_end = start + int(below[0]) if below.size else len(current_a) - 1
    tapered = np.flatnonzero(current_a[cc_end:] < TAPER_SHARE * cc_current)
    cv_end = cc_end + int(tapered[0]) if tapered.size else len(current_a) - 1
    return start, cc_end, cv_end, cc_current


def _window_ah(voltage_v: np.ndarray, charge_ah: np.ndarray, low_v: float, high_v: float) -> float:
    """Charge passed as the CC voltage climbs from ``low_v`` to ``high_v``; NaN if not covered."""
    if voltage_v.size < 2 or voltage_v[0] > low_v or np.max(voltage_v) < high_v:
        return np.nan
    climbed = np.maximum.accumulate(voltage_v)  # a monotone climb: noise never goes back
    first_low, first_high = np.searchsorted(climbed, [low_v, high_v], side="left")
    at_low = np.interp(low_v, climbed[: first_low + 1], charge_ah[: first_low + 1])
    at_high = np.interp(high_v, climbed[: first_high + 1], charge_ah[: first_high + 1])
    return float(at_high - at_low)


def _ic_peak(voltage_v: np.ndarray, charge_ah: np.ndarray) -> tuple[float, float]:
    """Place (V) and height (Ah/V) of the largest dQ/dV peak of a CC charge in the window."""
    low_v, high_v = PEAK_WINDOW_V
    grid = incremental_capacity.voltage_grid(low_v - 0.1, high_v + 0.05, PEAK_GRID_STEP_V)
    # incremental_capacity counts charge discharged; a charge's Q grows with V, so pass -Q.
    grid, dqdv = incremental_capacity.incremental_capacity(
        voltage_v, -charge_ah, grid, smooth_v=PEAK_SMOOTH_V
    )
    found = incremental_capacity.ic_peak_features(grid, dqdv, {"charge": PEAK_WINDOW_V})
    return found["ic_charge_v"], found["ic_charge_height"]


def charge_features(
    time_s: np.ndarray,
    voltage_v: np.ndarray,
    current_a: np.ndarray,
    temperature_c: np.ndarray,
    windows: Sequence[tuple[float, float]],
) -> dict[str, float]:
    """Features of one CC-CV charge (module docstring); NaN where the charge cannot give one.

    Args:
        time_s: Time of each sample (s), increasing.
        voltage_v: Terminal voltage (V).
        current_a: Current, + into the cell (A).
        temperature_c: Cell temperature (°C); NaN where not measured.
        windows: Voltage windows (low V, high V) whose CC charge to measure.

    Returns:
        :func:`feature_names` ``(windows)`` and their values.
    """
    time_s, voltage_v, current_a, temperature_c = (
        np.asarray(a, dtype=float) for a in (time_s, voltage_v, current_a, temperature_c)
    )
    features = dict.fromkeys(feature_names(windows), np.nan)
    if time_s.size < 3 or not np.any(current_a > 0):
        return features
    charge_ah = _cumulative_charge_ah(time_s, current_a)
    start, cc_end, cv_end, _ = _phases(current_a)
    cc_v, cc_q = voltage_v[start : cc_end + 1], charge_ah[start : cc_end + 1]
    features |= {
        "charge_ah": float(charge_ah[-1]),
        "cc_start_v": float(voltage_v[start]),
        "cc_ah": float(charge_ah[cc_end] - charge_ah[start]),
        "cc_s": float(time_s[cc_end] - time_s[start]),
        "cv_ah": float(charge_ah[cv_end] - charge_ah[cc_end]),
        "cv_s": float(time_s[cv_end] - time_s[cc_end]),
    }
    for low_v, high_v in windows:
        features[window_name(low_v, high_v)] = _window_ah(cc_v, cc_q, low_v, high_v)
    if cc_v.size >= 3:
        features["ic_peak_v"], features["ic_peak_ah_per_v"] = _ic_peak(cc_v, cc_q)
    if np.isfinite(temperature_c).any():
        features["temperature_mean_c"] = float(np.nanmean(temperature_c))
        features["temperature_max_c"] = float(np.nanmax(temperature_c))
        first = temperature_c[np.isfinite(temperature_c)][0]
        features["temperature_rise_c"] = features["temperature_max_c"] - float(first)
    return features
