"""batteryops.serve.store on both databases a deployment uses: SQLite and a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from batteryops.serve.store import Store

MODULE, RACK = "R01-M01", "R01"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "postgresql":
        return Store(request.getfixturevalue("postgres").database())
    return Store(f"sqlite:///{tmp_path / 'serve.db'}")


def _second(ts: int, probability: float, alarm: bool = False) -> dict:
    return {
        "module_id": MODULE,
        "ts": ts,
        "rack_id": RACK,
        "probability": probability,
        "alarm": alarm,
        "current_limit_a": 0.0 if alarm else 100.0,
        "forecast_c": 30.0,
        "temp_max_c": 31.0,
        "gas_co_ppm": 1.0,
        "current_a": 20.0,
        "temp_avg_c": 29.0,
        "ambient_c": 25.0,
        "soc_pct": 50.0,
        "voltage_v": 52.0,
    }


def _module(ts: int, probability: float, first_ts: int) -> dict:
    row = {k: v for k, v in _second(ts, probability).items() if k in _MODULE_KEYS}
    return row | {"first_ts": first_ts, "last_ts": ts, "top_features": "", "model_version": "7"}


_MODULE_KEYS = {"module_id", "rack_id", "probability", "alarm", "current_limit_a", "forecast_c"}
_MODULE_KEYS |= {"temp_max_c"}


def test_a_tick_upserts_scores_and_modules_and_keeps_the_first_second(store: Store) -> None:
    store.write_tick([_second(100, 0.1)], [_module(100, 0.1, first_ts=100)], [], [])
    store.write_tick(
        [_second(100, 0.2), _second(101, 0.3)], [_module(101, 0.3, first_ts=101)], [], []
    )
    assert [row["probability"] for row in store.history(MODULE, 0, 10)] == [0.2, 0.3]
    module = store.module(MODULE)
    assert (module["first_ts"], module["last_ts"], module["probability"]) == (100, 101, 0.3)
    assert store.counts() == {"scores": 2, "modules": 1, "alarms": 0, "feedback": 0, "health": 0}


def test_alarms_open_update_close_on_restart_and_take_a_review(store: Store) -> None:
    opened = {
        "module_id": MODULE,
        "rack_id": RACK,
        "opened_ts": 200,
        "last_ts": 200,
        "peak_probability": 0.999,
        "top_features": "temp_rise",
        "model_version": "7",
    }
    (alarm_id,) = store.write_tick([_second(200, 0.999, True)], [], [opened], [])
    store.write_tick([], [], [], [{"id": alarm_id, "last_ts": 230, "peak_probability": 1.0}])
    assert [a["id"] for a in store.alarms("open")] == [alarm_id]
    store.write_tick([], [_module(230, 1.0, first_ts=200)], [], [])
    closed, newest = store.recover()
    assert (closed, newest) == (1, {MODULE: 230})
    assert store.alarm(alarm_id)["closed_ts"] == 230
    reviewed = store.review(alarm_id, "true_alarm", "operator", "vented")
    assert (reviewed["review"], reviewed["reviewed_by"]) == ("true_alarm", "operator")
    assert store.alarms("unreviewed") == []
    with pytest.raises(ValueError, match="review must be one of"):
        store.review(alarm_id, "maybe", None, None)


def test_an_alarm_id_beyond_32_bits_is_simply_absent(store: Store) -> None:
    # The API accepts ids up to 2**63 - 1 (routes.MAX_ALARM_ID); PostgreSQL's INTEGER would fail.
    assert store.alarm(2**40) is None
    assert store.review(2**62, "acknowledged", None, None) is None


def test_health_upserts_per_cell_and_scores_are_pruned(store: Store) -> None:
    row = {"cell_id": "C1", "cycle": 10, "soh": 0.95, "at": 1.0, "health_class": "healthy"}
    store.write_health([row])
    store.write_health([row | {"cycle": 20, "soh": 0.94}])
    assert [(h["cycle"], h["soh"]) for h in store.health()] == [(20, 0.94)]
    store.write_tick([_second(ts, 0.1) for ts in (1, 2, 3)], [], [], [])
    assert store.prune(before_ts=3) == 2
    assert [row["ts"] for row in store.recent_scores(0, 10)] == [3]
