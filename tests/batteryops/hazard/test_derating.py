"""batteryops.hazard.derating: the recommended current limit policy."""

from __future__ import annotations

import numpy as np
import pytest

from batteryops.core.config import DeratingParams
from batteryops.hazard.derating import recommended_current_limit

POLICY = DeratingParams(
    rated_current_a=20.0,
    derate_start_c=45.0,
    stop_c=60.0,
    watch_probability=0.5,
    watch_current_fraction=0.5,
)


def _limit(temp: float, forecast: float = 0.0, probability: float = 0.0, alarm: bool = False):
    return recommended_current_limit(
        np.array([temp]), np.array([forecast]), np.array([probability]), np.array([alarm]), POLICY
    )[0]


def test_cool_quiet_module_gets_the_rated_current() -> None:
    assert _limit(30.0) == 20.0


def test_alarm_stops_the_module_whatever_the_temperature() -> None:
    assert _limit(25.0, probability=0.99, alarm=True) == 0.0


def test_limit_falls_linearly_with_the_forecast_temperature() -> None:
    assert _limit(45.0) == 20.0
    assert _limit(50.0, forecast=2.5) == pytest.approx(10.0)
    assert _limit(60.0) == 0.0
    assert _limit(70.0) == 0.0


def test_a_cooling_forecast_does_not_raise_the_limit() -> None:
    assert _limit(52.5, forecast=-10.0) == _limit(52.5)


def test_watched_module_is_capped_at_the_watch_fraction() -> None:
    assert _limit(30.0, probability=0.6) == 10.0
    assert _limit(57.0, probability=0.6) == pytest.approx(4.0)  # thermal limit lower still


def test_missing_temperature_leaves_only_the_hazard_limits() -> None:
    assert _limit(np.nan) == 20.0
    assert _limit(np.nan, probability=0.7) == 10.0


def test_limit_is_rounded_down_to_a_tenth_of_an_ampere() -> None:
    value = _limit(50.0, forecast=0.01)
    assert value == pytest.approx(np.floor(value * 10) / 10)
    assert value <= 20.0 * (60.0 - 50.01) / 15.0


def test_rated_current_and_temperatures_are_checked() -> None:
    with pytest.raises(ValueError, match="derate_start_c .* must be below"):
        DeratingParams(
            rated_current_a=20.0,
            derate_start_c=60.0,
            stop_c=45.0,
            watch_probability=0.5,
            watch_current_fraction=0.5,
        )
