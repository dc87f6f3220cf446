"""batteryops.hazard.derating: the recommended current limit policy."""

from __future__ import annotations

import numpy as np
import pytest

from batteryops.core.config import DeratingParams
from batteryops.hazard import derating
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


def test_missing_temperature_never_gives_the_full_current() -> None:
    # It left the thermal limit out: a module whose heat could not be seen got 20 A.
    assert _limit(np.nan) == 10.0  # missing_temperature_current_fraction 0.5 (default)
    assert _limit(np.nan, probability=0.7) == 10.0
    assert _limit(np.nan, alarm=True) == 0.0


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


BLIND = POLICY.model_copy(update={"missing_temperature_current_fraction": 0.25})


def test_a_module_without_temperature_never_gets_the_full_current() -> None:
    # A missing hottest-sensor reading left the thermal limit out: full rated current.
    limit = derating.recommended_current_limit(
        np.array([np.nan, 30.0]), np.array([np.nan, np.nan]), np.zeros(2), np.zeros(2), BLIND
    )
    assert limit[0] == 5.0  # 0.25 of 20 A
    assert limit[1] == 20.0  # a missing forecast alone: the temperature now is cool


def test_the_string_carries_its_most_restrictive_modules_limit() -> None:
    racks = np.array(["R01", "R01", "R01", "R02", "R01"])
    seconds = np.array([0, 0, 0, 0, 1])
    limits = np.array([20.0, 7.5, 0.0, 20.0, 20.0])
    assert derating.string_limits(racks, seconds, limits).tolist() == [
        0.0,
        0.0,
        0.0,
        20.0,
        20.0,
    ]


def test_the_watch_cut_reads_the_calibrated_probability(trained) -> None:
    # The model says 0.9 on a quiet second; calibrated on validation that is a 0.2 hazard, under
    # the 0.5 watch cut: the module keeps its current.
    from dataclasses import replace

    from batteryops.hazard.scoring import Scorer

    curve = {"x": [0.0, 1.0], "y": [0.0, 0.22]}
    scorer: Scorer = replace(trained.scorer, calibration_curve=curve)
    assert scorer.calibrated(np.array([0.9]))[0] == pytest.approx(0.198)
    assert trained.scorer.calibrated(np.array([0.9]))[0] == pytest.approx(0.9)
