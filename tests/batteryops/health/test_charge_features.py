"""batteryops.health.charge_features: features of one CC-CV charge."""

from __future__ import annotations

import numpy as np
import pytest

from batteryops.health.charge_features import charge_features, feature_names, window_name

CC_A = 1.5
STEP_S = 5.0
WINDOWS = ((3.9, 4.1),)


def cc_cv_charge(
    start_v: float = 3.5, volts_per_ah: float = 0.5, tau_s: float = 1200.0, pulse: bool = True
) -> tuple[np.ndarray, ...]:
    """A charge whose CC voltage climbs linearly with charge to 4.2 V, then tapers at 4.2 V."""
    cc_ah = (4.2 - start_v) / volts_per_ah
    cc_s = cc_ah / CC_A * 3600.0
    time = np.arange(0.0, cc_s + 5 * tau_s, STEP_S)
    in_cc = time <= cc_s
    current = np.where(in_cc, CC_A, CC_A * np.exp(-(time - cc_s) / tau_s))
    voltage = np.where(in_cc, start_v + volts_per_ah * CC_A * time / 3600.0, 4.2)
    if pulse:  # NASA's ~2.5 s pulse out of the cell as a charge starts
        current[0], voltage[0] = -3.0, start_v - 0.4
    temperature = 25.0 + 3.0 * time / time[-1]
    return time, voltage, current, temperature


def test_window_charge_is_the_window_over_the_slope() -> None:
    features = charge_features(*cc_cv_charge(volts_per_ah=0.5), WINDOWS)
    assert features[window_name(3.9, 4.1)] == pytest.approx(0.2 / 0.5, rel=0.01)
    steeper = charge_features(*cc_cv_charge(volts_per_ah=0.625), WINDOWS)
    assert steeper[window_name(3.9, 4.1)] == pytest.approx(0.2 / 0.625, rel=0.01)


def test_cc_and_cv_split_and_the_pulse_counts_for_nothing() -> None:
    features = charge_features(*cc_cv_charge(start_v=3.5, volts_per_ah=0.5, tau_s=1200.0), WINDOWS)
    # The CC phase ends as the current leaves 95 % of its value, the CV phase at 10 %.
    taper_ah = CC_A * 1200.0 / 3600.0
    assert features["cc_ah"] == pytest.approx(0.7 / 0.5 + taper_ah * 0.05, rel=0.01)
    assert features["cc_start_v"] == pytest.approx(3.5, abs=0.01)
    assert features["cv_ah"] == pytest.approx(taper_ah * (0.95 - 0.1), rel=0.02)
    assert features["charge_ah"] == pytest.approx(0.7 / 0.5 + taper_ah * (1 - np.exp(-5)), rel=0.01)
    assert features["temperature_rise_c"] == pytest.approx(3.0, rel=0.01)


def test_a_charge_starting_inside_the_window_gives_no_window_charge() -> None:
    features = charge_features(*cc_cv_charge(start_v=3.95, pulse=False), WINDOWS)
    assert np.isnan(features[window_name(3.9, 4.1)])
    assert np.isfinite(features["cc_ah"])


def test_no_charging_current_gives_all_nan_with_every_name() -> None:
    time = np.arange(10.0)
    features = charge_features(time, np.full(10, 3.7), -np.ones(10), np.full(10, 25.0), WINDOWS)
    assert list(features) == feature_names(WINDOWS)
    assert all(np.isnan(value) for value in features.values())
