"""Monitoring flags a hotter fleet (and alerts, and would retrain) but not the fleet it knows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import parse_params
from batteryops.serve.monitor import METRICS, monitor
from batteryops.serve.notify import Notifier
from batteryops.serve.store import MONITORED, Store
from tests.batteryops.conftest import small_fleet
from tests.conftest import deep_merge


def _quiet_fleet(raw_params: dict, seed: int, **changes) -> pd.DataFrame:
    """A fleet without faults or nuisances: 2 racks x 8 modules x 3 h of one simulator seed."""
    quiet = {
        "seed": seed,
        "racks": 2,
        "modules_per_rack": 8,
        "duration_s": 10800,
        "chunk_s": 10800,
        "faults": dict.fromkeys(
            ("internal_short", "external_heating", "cooling_failure", "overcharge"), 0
        ),
        "nuisances": dict.fromkeys(
            (
                "stuck_sensor",
                "drifting_sensor",
                "gas_spikes",
                "hot_ambient_racks",
                "high_load_racks",
                "busy_module",
                "poor_cooling",
                "contact_resistance",
                "calibration_offset",
            ),
            0,
        ),
    }
    params = parse_params(deep_merge(raw_params, {"simulate": quiet | changes}))
    frames, _ = small_fleet(params)
    return pd.concat(frames.values(), ignore_index=True)


def _serve(store: Store, frame: pd.DataFrame, probability: float = 0.001) -> None:
    rows = pd.DataFrame(
        {
            "module_id": frame[schema.MODULE_ID],
            "ts": frame[schema.TIMESTAMP].astype("int64") // 10**9,
            "rack_id": frame[schema.RACK_ID],
            "probability": probability,
            "alarm": False,
            "current_limit_a": 20.0,
            "forecast_c": 0.0,
            **{name: frame[name].astype(float) for name in MONITORED},
        }
    )
    rows[MONITORED] = rows[MONITORED].astype(object).where(rows[MONITORED].notna(), None)
    store.write_tick(rows.to_dict("records"), [], [], [])


@pytest.fixture(scope="module")
def fleets(raw_params):
    """The training fleet's days, another day of the same fleet, and that day 10 C hotter."""
    reference = _quiet_fleet(raw_params, seed=1)
    same = _quiet_fleet(raw_params, seed=2)
    base = parse_params(raw_params).simulate.ambient_mean_c
    hotter = _quiet_fleet(raw_params, seed=2, ambient_mean_c=base + 10.0)
    return reference[MONITORED], same, hotter


@pytest.fixture
def setting(raw_params, fleets, tmp_path: Path):
    params = parse_params(
        deep_merge(raw_params, {"serve": {"monitor": {"retrain_on_breach": True}}})
    )
    reference, same, hotter = fleets
    return params, reference, {"same": same, "hotter": hotter}, tmp_path


def _run(setting, which: str, caplog):
    params, reference, fleets, root = setting
    store = Store(f"sqlite:///{root / 'serve.db'}")
    _serve(store, fleets[which])
    started = []
    notifier = Notifier(params.serve.alerts)
    summary = monitor(
        params, root, store, notifier, reference, retrain=lambda r: started.append(r) or {"ok": 1}
    )
    assert json.loads((root / METRICS).read_text())["verdict"] == summary["verdict"]
    assert (root / "reports/monitoring.html").stat().st_size > 0
    return summary, started, caplog.records


def test_the_fleet_it_knows_is_no_breach(setting, caplog) -> None:
    summary, started, records = _run(setting, "same", caplog)
    assert summary["breach"] is False, json.dumps(summary["drift"]["by_column"])
    assert summary["proxies"]["rows"] == len(setting[2]["same"])
    assert started == []
    assert not any("ALERT monitoring" in r.getMessage() for r in records)


def test_a_hotter_climate_is_drift_alerted_and_retrained(setting, caplog) -> None:
    summary, started, records = _run(setting, "hotter", caplog)
    assert summary["breach"] is True, json.dumps(summary["drift"], default=str)[:1500]
    assert any(b.startswith("drift") for b in summary["breaches"])
    assert {"temp_max_c", "ambient_c"} <= set(summary["drift"]["drifted_columns"])
    assert started == [setting[3]]
    assert any("ALERT monitoring drift" in r.getMessage() for r in records)


def test_a_drifting_sensor_fleet_is_drift(setting) -> None:
    params, reference, fleets, root = setting
    store = Store(f"sqlite:///{root / 'serve.db'}")
    served = fleets["same"].copy()
    seconds = (served[schema.TIMESTAMP] - served[schema.TIMESTAMP].min()).dt.total_seconds()
    served["temp_max_c"] += (6.0 * seconds / seconds.max()).astype(np.float32)  # 0 -> +6 C
    _serve(store, served)
    summary = monitor(params, root, store, None, reference, retrain=lambda r: {})
    assert summary["breach"] is True, summary["drift"]["by_column"]
    assert summary["drift"]["drifted_columns"] == ["temp_max_c"]
    assert any("temp_max_c" in b for b in summary["breaches"])


def test_operators_marking_alarms_false_is_a_breach(setting, caplog) -> None:
    params, _, fleets, root = setting
    store = Store(f"sqlite:///{root / 'serve.db'}")
    newest = int(fleets["same"][schema.TIMESTAMP].max().value // 10**9)
    alarm = {
        "module_id": "R01-M01",
        "rack_id": "R01",
        "peak_probability": 0.99,
        "top_features": "",
        "model_version": "1",
        "review": "none",
    }
    opened = [
        alarm | {"opened_ts": newest - 600 + t, "last_ts": newest - 600 + t} for t in range(8)
    ]
    old = alarm | {"opened_ts": newest - 10**6, "last_ts": newest - 10**6}  # outside the window
    ids = store.write_tick([], [], [*opened, old], [])
    for alarm_id in ids[:5]:
        store.review(alarm_id, "false_alarm", "op", None)
    store.review(ids[5], "true_alarm", "op", None)
    store.review(ids[6], "acknowledged", "op", None)  # seen, not judged
    store.review(ids[8], "true_alarm", "op", None)
    summary, _, _ = _run(setting, "same", caplog)
    assert summary["feedback"] == {
        "reviewed": 6,
        "false_alarms": 5,
        "acknowledged": 1,
        "realised_precision": 1 / 6,
    }
    assert any("realised precision" in b for b in summary["breaches"])


def test_too_little_served_data_gives_no_verdict(setting, tmp_path: Path) -> None:
    params, reference, fleets, _ = setting
    store = Store(f"sqlite:///{tmp_path / 'few.db'}")
    _serve(store, fleets["same"].head(10))
    summary = monitor(params, tmp_path, store, None, reference, retrain=lambda r: {})
    assert summary["verdict"] == "too little served data" and summary["breach"] is False


def test_retraining_starts_the_pipeline_flow_in_the_project(tmp_path: Path) -> None:
    import time

    from batteryops.serve.monitor import start_retraining

    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "__init__.py").write_text("")
    (tmp_path / "flows" / "pipeline.py").write_text(
        "from pathlib import Path\nPath('ran').write_text('flow ran')\nprint('flow started')\n"
    )
    started = start_retraining(tmp_path)
    deadline = time.monotonic() + 30
    while not (tmp_path / "ran").exists():
        assert time.monotonic() < deadline, "the flow did not start"
        time.sleep(0.1)
    assert started["started"] and started["pid"] > 0
    time.sleep(0.5)
    assert "flow started" in (tmp_path / "reports" / "retrain.log").read_text()
