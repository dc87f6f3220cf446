"""benchmarks/hot_spot_rise.py: the hottest sensor's rise over its module's mean."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks import hot_spot_rise as hsr


def _module(seconds: np.ndarray, hottest: np.ndarray, mean: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(seconds, unit="s", utc=True),
            "module_id": "R01-M01",
            "temp_max_c": hottest,
            "temp_avg_c": mean,
        }
    )


def test_a_single_reading_glitch_is_dropped_and_a_confirmed_jump_kept() -> None:
    readings = np.array([25.0, 25.1, 50.0, 25.2, 25.2, 40.0, 40.1, 40.2])
    kept = hsr._held_back(readings, 5.0)
    assert np.isnan(kept[2])  # the next reading does not confirm it
    np.testing.assert_array_equal(kept[[0, 1, 3, 4, 5, 6, 7]], readings[[0, 1, 3, 4, 5, 6, 7]])


def test_a_hottest_sensor_outrunning_its_mean_reads_its_rate_at_any_logging_period() -> None:
    for period in (1, 10, 30):
        seconds = np.arange(0, 3600, period)
        mean = 25.0 + 0.5 * seconds / 60  # the whole module warms 0.5 C/min (load)
        hottest = mean + 1.0 + 0.8 * seconds / 60  # one sensor 0.8 C/min faster
        rise = hsr.hot_spot_rise_from_readings(_module(seconds, hottest, mean))
        late = rise["v"].to_numpy()[seconds >= 600]
        np.testing.assert_allclose(late, 0.8, atol=1e-6)


def test_the_observers_column_is_what_the_alarm_reads_at_any_logging_period() -> None:
    for period in (1, 10, 30):
        seconds = np.arange(0, 3600, period)
        mean = 25.0 + 0.5 * seconds / 60
        hottest = mean + 1.0 + 0.8 * seconds / 60
        rise = hsr.hot_spot_rise_from_observer(_module(seconds, hottest, mean))
        late = rise["v"].to_numpy()[seconds >= 2400]  # both means caught up
        np.testing.assert_allclose(late, 0.8, atol=0.02)
        assert np.isnan(rise["v"].to_numpy()[seconds < 300]).all()  # warming up


def test_a_glitch_at_a_30_s_logger_does_not_read_as_a_hot_spot() -> None:
    seconds = np.arange(0, 3600, 30)
    mean = np.full(len(seconds), 25.0)
    hottest = mean + 1.0
    hottest[60] = 50.0  # one reading 25 C off
    rise = hsr.hot_spot_rise_from_readings(_module(seconds, hottest, mean))
    assert np.nanmax(np.abs(rise["v"].to_numpy())) < 1e-9


def test_levels_after_a_vent_and_before_a_fault_are_told_apart() -> None:
    at = pd.Timestamp("2026-07-01", tz="UTC")
    minutes = [at + pd.Timedelta(minutes=m) for m in range(100)]
    truth = pd.DataFrame(
        {
            "rack_id": ["R01", "R01"],
            "module_id": ["R01-M01", "R01-M02"],
            "fault_type": ["none", "internal_short"],
            "nuisance_type": ["none", "none"],
            "fault_start": [pd.NaT, at + pd.Timedelta(minutes=60)],
            "vent_time": [pd.NaT, at + pd.Timedelta(minutes=95)],
            "pnr_time": [pd.NaT, at + pd.Timedelta(minutes=98)],
        }
    )
    healthy = np.full(100, 0.1)
    healthy[96] = 2.0  # beside its neighbour's fire
    failing = np.full(100, 0.2)
    failing[30] = 0.9  # before its fault: benign
    failing[80] = 0.9  # 18 min before PNR
    rise = pd.DataFrame(
        {
            "module_id": ["R01-M01"] * 100 + ["R01-M02"] * 100,
            "t": minutes * 2,
            "v": np.concatenate([healthy, failing]),
        }
    )
    found = hsr.judged(rise, truth)
    assert found["benign_by_nuisance"]["none"]["max"] == 0.1
    assert found["after_first_vent"]["max"] == 2.0
    assert found["benign_by_nuisance"]["before its fault"]["max"] == 0.9
    assert found["runaway_leads_min"]["R01-M02"]["0.8"] == 18.0


def test_a_mean_above_the_hottest_sensor_is_not_a_reading() -> None:
    seconds = np.arange(0, 3600, 30)
    hottest = np.full(len(seconds), 26.0)
    mean = np.full(len(seconds), 25.0)
    mean[60:62] = 45.0  # two readings in a row: a confirmed jump, but above the hottest sensor
    rise = hsr.hot_spot_rise_from_readings(_module(seconds, hottest, mean))
    assert np.nanmax(np.abs(rise["v"].to_numpy())) < 1e-9
