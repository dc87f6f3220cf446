"""The live service over HTTP and WebSocket: intake, scoring, alarms, feedback, bad input, keys."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from batteryops.core import schema
from batteryops.core.config import Params, parse_params
from batteryops.health.model import IncompatibleModelError
from batteryops.serve.app import Service, api_key_for, create_app
from batteryops.serve.champion import Loaded, StaticSource
from batteryops.serve.intake import csv_bytes
from batteryops.serve.notify import Notifier
from batteryops.serve.store import Store
from tests.batteryops.conftest import Trained
from tests.conftest import deep_merge


def _params(raw: dict[str, Any], **serve: Any) -> Params:
    return parse_params(deep_merge(raw, {"serve": serve}))


def _service(params: Params, trained: Trained, url: str, source: Any = None) -> Service:
    return Service(
        params,
        source or StaticSource(trained.scorer, "7", {"name": "battery-hazard", "version": "7"}),
        Store(url),
        Notifier(params.serve.alerts),
    )


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.copy()
    out[schema.TIMESTAMP] = out[schema.TIMESTAMP].map(lambda t: t.isoformat())
    return json.loads(out.to_json(orient="records"))


def _wait_scored(client: TestClient, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get("/api/status").json()
        if status["received_rows"] and status["scored_rows"] >= status["received_rows"]:
            return status
        time.sleep(0.1)
    raise AssertionError(f"not scored in {timeout_s} s: {status}")


@pytest.fixture
def healthy(trained: Trained) -> pd.DataFrame:
    """Ten minutes of a healthy rack."""
    frame = trained.healthy_rack
    start = frame[schema.TIMESTAMP].min()
    return frame[frame[schema.TIMESTAMP] < start + pd.Timedelta(minutes=10)].reset_index(drop=True)


@pytest.fixture
def client(raw_params, trained: Trained, tmp_path: Path):
    params = _params(raw_params, rate_limit_per_s=1000)
    service = _service(params, trained, f"sqlite:///{tmp_path / 'serve.db'}")
    with TestClient(create_app(service)) as test_client:
        yield test_client


def test_json_batch_is_scored_and_stored(client: TestClient, healthy: pd.DataFrame) -> None:
    first = healthy[healthy[schema.TIMESTAMP] < healthy[schema.TIMESTAMP].min() + pd.Timedelta(60)]
    response = client.post("/api/telemetry", json={"rows": _rows(healthy)})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == len(healthy)
    assert len(first) > 0
    _wait_scored(client)
    fleet = client.get("/api/fleet").json()
    assert {m["module_id"] for m in fleet["modules"]} == set(healthy[schema.MODULE_ID])
    assert fleet["model"]["version"] == "7"
    module = healthy[schema.MODULE_ID].iloc[0]
    history = client.get(f"/api/modules/{module}/history", params={"seconds": 3600}).json()
    assert len(history["history"]) == (healthy[schema.MODULE_ID] == module).sum()
    assert all(0 <= h["probability"] <= 1 for h in history["history"])
    assert not any(h["alarm"] for h in history["history"])
    assert client.get(f"/api/modules/{module}").json()["current_limit_a"] > 0


def test_the_service_scores_into_postgresql(
    raw_params, trained: Trained, healthy: pd.DataFrame, postgres
) -> None:
    # A team's deployment: serve.database_url on a PostgreSQL server; the same tables and reads.
    url = postgres.database()
    params = _params(raw_params, rate_limit_per_s=1000, database_url=url)
    with TestClient(create_app(_service(params, trained, url))) as client:
        response = client.post("/api/telemetry", json={"rows": _rows(healthy)})
        assert response.status_code == 202, response.text
        _wait_scored(client)
        fleet = client.get("/api/fleet").json()
        assert {m["module_id"] for m in fleet["modules"]} == set(healthy[schema.MODULE_ID])
        ack = client.post("/api/alarms/4294967296/ack", json={})  # past 32 bits: absent, not a 500
        assert ack.status_code == 404, ack.text
    stored = Store(url).counts()
    assert (
        stored["scores"] == len(healthy)
        and stored["modules"] == healthy[schema.MODULE_ID].nunique()
    )


def test_canonical_csv_and_a_logger_export_are_accepted(
    client: TestClient, healthy: pd.DataFrame
) -> None:
    half = healthy[schema.TIMESTAMP].min() + pd.Timedelta(minutes=5)
    response = client.post(
        "/api/telemetry",
        content=csv_bytes(healthy[healthy[schema.TIMESTAMP] < half]),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 202, response.text
    # A logger's own layout: other names, mV and °F, semicolons and decimal commas.
    later = healthy[healthy[schema.TIMESTAMP] >= half]
    export = pd.DataFrame(
        {
            "Time": later[schema.TIMESTAMP].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Module": later[schema.MODULE_ID],
            "Voltage (mV)": later["voltage_v"] * 1000,
            "Temp Max [°F]": later["temp_max_c"] * 9 / 5 + 32,
            "temp_avg_c": later["temp_avg_c"],
        }
    )
    text = export.to_csv(sep=";", index=False, decimal=",")
    response = client.post(
        "/api/telemetry", content=text.encode(), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == len(later)
    _wait_scored(client)
    module = later[schema.MODULE_ID].iloc[0]
    state = client.get(f"/api/modules/{module}").json()
    expected = later[later[schema.MODULE_ID] == module]["temp_max_c"].iloc[-1]
    assert state["temp_max_c"] == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "malformed JSON"),
        (b'{"rows": 5}', 422, "expected a JSON list"),
        (b"[]", 422, "no rows"),
        (b'[{"module_id": "R01-M01"}]', 422, "missing 'timestamp'"),
        (
            b'[{"timestamp": "2026-07-01T08:00:00Z", "module_id": "R01-M01", "temp_max_c": "hot"}]',
            422,
            "column 'temp_max_c': expected a finite number",
        ),
        (
            b'[{"timestamp": "2026-07-01T08:00:00Z", "module_id": "R01-M01", "tmp": 1}]',
            422,
            "unknown column 'tmp'",
        ),
        (b'[{"timestamp": "yesterday", "module_id": "R01-M01"}]', 422, "column 'timestamp'"),
        (b'[{"timestamp": "2026-07-01T08:00:00Z", "module_id": "../etc"}]', 422, "module_id"),
        (b'[{"timestamp": "2026-07-01T08:00:00Z", "module_id": 7}]', 422, "expected text"),
    ],
)
def test_malformed_batches_are_refused_clearly(
    client: TestClient, body: bytes, status: int, says: str
) -> None:
    response = client.post(
        "/api/telemetry", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert says in response.json()["error"]
    assert client.get("/api/status").json()["received_rows"] == 0


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"temp_max_c": 10**400}, "expected a finite number"),
        ({"temp_max_c": 1e39}, "expected a finite number"),
        ({"timestamp": True}, "expected a time"),
        ({"module_id": "R01-M01\n"}, "module_id"),
        ({"rack_id": "<img src=x onerror=alert(1)>"}, "rack_id"),
        ({"rack_id": 5}, "expected text"),
        ({"timestamp": "1970-01-01T00:00:10Z"}, "serve.max_age_s"),
    ],
)
def test_hostile_values_are_refused(
    client: TestClient, healthy: pd.DataFrame, change: dict, says: str
) -> None:
    rows = _rows(healthy.head(3))
    rows[1] |= change
    response = client.post(
        "/api/telemetry",
        content=json.dumps(rows).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert says in response.json()["error"]
    assert client.get("/api/status").json()["received_rows"] == 0


def test_physically_impossible_values_are_masked_not_refused(
    client: TestClient, healthy: pd.DataFrame
) -> None:
    rows = _rows(healthy.head(3))
    rows[-1]["temp_max_c"] = 5000.0  # past ingest.limits: a glitch, not heat
    assert client.post("/api/telemetry", json=rows).status_code == 202
    _wait_scored(client)
    module = rows[-1]["module_id"]
    history = client.get(f"/api/modules/{module}/history").json()["history"]
    assert history[-1]["temp_max_c"] is None


def test_a_bad_row_refuses_the_whole_batch(client: TestClient, healthy: pd.DataFrame) -> None:
    rows = _rows(healthy.head(50))
    rows[37]["timestamp"] = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)).isoformat()
    response = client.post("/api/telemetry", json=rows)
    assert response.status_code == 422
    assert (
        "row" in response.json()["error"]
        and "ahead of the server's clock" in response.json()["error"]
    )
    time.sleep(0.5)
    status = client.get("/api/status").json()
    assert status["received_rows"] == 0
    assert status["storage"]["scores"] == 0
    # The same rows, mended, are then accepted: nothing of the refused batch was remembered.
    rows[37]["timestamp"] = _rows(healthy.head(50))[37]["timestamp"]
    assert client.post("/api/telemetry", json=rows).status_code == 202


def test_out_of_order_and_repeated_seconds_are_refused(
    client: TestClient, healthy: pd.DataFrame
) -> None:
    module = healthy[healthy[schema.MODULE_ID] == healthy[schema.MODULE_ID].iloc[0]]
    assert client.post("/api/telemetry", json=_rows(module.iloc[10:20])).status_code == 202
    again = client.post("/api/telemetry", json=_rows(module.iloc[15:25]))
    assert again.status_code == 409
    assert "not after its last accepted second" in again.json()["error"]
    older = client.post("/api/telemetry", json=_rows(module.iloc[0:5]))
    assert older.status_code == 409
    doubled = _rows(module.iloc[20:22]) + _rows(module.iloc[21:22])
    response = client.post("/api/telemetry", json=doubled)
    assert response.status_code == 422 and "one row per module and second" in response.text


def test_unknown_module_and_alarm_are_404(client: TestClient) -> None:
    assert client.get("/api/modules/R99-M99").status_code == 404
    assert client.get("/api/modules/R99-M99/history").status_code == 404
    assert client.post("/api/alarms/12345/ack", json={}).status_code == 404
    assert client.get("/api/alarms", params={"state": "bogus"}).status_code == 422


def test_oversized_bodies_and_batches_are_refused(
    raw_params, trained: Trained, tmp_path: Path, healthy: pd.DataFrame
) -> None:
    params = _params(raw_params, max_body_mb=0.01, max_rows_per_request=100)
    service = _service(params, trained, f"sqlite:///{tmp_path / 'serve.db'}")
    with TestClient(create_app(service)) as client:
        big = client.post(
            "/api/telemetry",
            content=b"[" + b" " * 20_000 + b"]",
            headers={"Content-Type": "application/json"},
        )
        assert big.status_code == 413
        many = client.post("/api/telemetry", json=_rows(healthy.head(101)))
        assert many.status_code in (413,), many.text
        # Streamed without a length, the limit still holds.
        chunks = (b" " * 4096 for _ in range(5))
        streamed = client.post(
            "/api/telemetry", content=chunks, headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert client.get("/api/health").status_code == 200


def test_a_flood_of_requests_is_throttled_and_the_service_stays_up(
    raw_params, trained: Trained, tmp_path: Path
) -> None:
    params = _params(raw_params, rate_limit_per_s=20)
    service = _service(params, trained, f"sqlite:///{tmp_path / 'serve.db'}")
    with TestClient(create_app(service)) as client:
        codes = [client.get("/api/fleet").status_code for _ in range(200)]
        assert codes.count(429) > 100
        assert codes[:20] == [200] * 20
        time.sleep(1.0)
        assert client.get("/api/health").status_code == 200


def test_writes_need_the_key_beyond_localhost(
    raw_params, trained: Trained, tmp_path: Path, healthy: pd.DataFrame, monkeypatch
) -> None:
    params = _params(raw_params, rate_limit_per_s=1000)
    monkeypatch.delenv(params.serve.api_key_env, raising=False)
    with pytest.raises(SystemExit, match="API key"):
        api_key_for(params, "0.0.0.0")
    assert api_key_for(params, "127.0.0.1") == (None, False)
    monkeypatch.setenv(params.serve.api_key_env, "s3cret")
    key, required = api_key_for(params, "0.0.0.0")
    service = _service(params, trained, f"sqlite:///{tmp_path / 'serve.db'}")
    with TestClient(create_app(service, key, required)) as client:
        rows = _rows(healthy.head(10))
        assert client.post("/api/telemetry", json=rows).status_code == 401
        wrong = client.post("/api/telemetry", json=rows, headers={"X-API-Key": "guess"})
        assert wrong.status_code == 401
        ok = client.post("/api/telemetry", json=rows, headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 202
        assert client.get("/api/fleet").status_code == 200  # reads stay open


def test_a_runaway_alarms_before_pnr_and_review_persists(
    raw_params, trained: Trained, tmp_path: Path
) -> None:
    params = _params(raw_params, rate_limit_per_s=1000)
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    runaway = trained.truth.dropna(subset=["pnr_time"]).iloc[0]
    frame = trained.frames[runaway[schema.RACK_ID]]
    frame = frame[frame[schema.TIMESTAMP] <= runaway["pnr_time"]]
    frame = frame[frame[schema.TIMESTAMP] >= runaway["fault_start"] - pd.Timedelta(minutes=20)]
    service = _service(params, trained, url)
    with TestClient(create_app(service)) as client, client.websocket_connect("/ws") as socket:
        seconds = frame[schema.TIMESTAMP].astype("int64") // 10**9
        for start in range(int(seconds.min()), int(seconds.max()) + 1, 300):
            part = frame[(seconds >= start) & (seconds < start + 300)]
            assert client.post("/api/telemetry", json=_rows(part)).status_code == 202
        _wait_scored(client)
        kinds = set()
        while "alarm" not in kinds:
            kinds.add(json.loads(socket.receive_text())["type"])
        alarms = client.get("/api/alarms").json()
        mine = [a for a in alarms if a["module_id"] == runaway[schema.MODULE_ID]]
        assert mine, alarms
        assert mine[-1]["opened_ts"] < runaway["pnr_time"].value // 10**9
        assert mine[-1]["top_features"].count("=") >= 1
        reviewed = client.post(f"/api/alarms/{mine[-1]['id']}/ack", json={"by": "op"}).json()
        assert reviewed["review"] == "acknowledged"
        assert client.get(f"/api/modules/{runaway[schema.MODULE_ID]}").json()["alarm"]
    # Another process on the same database sees the review.
    stored = Store(url).alarm(mine[-1]["id"])
    assert stored["review"] == "acknowledged" and stored["reviewed_by"] == "op"


def test_champion_moving_reloads_the_model(
    raw_params, trained: Trained, tmp_path: Path, healthy: pd.DataFrame
) -> None:
    class Moving(StaticSource):
        def __init__(self) -> None:
            super().__init__(trained.scorer, "1")

        def promote(self, version: str) -> None:
            self._loaded = Loaded(trained.scorer, version, {"version": version})

    source = Moving()
    params = _params(raw_params, rate_limit_per_s=1000, model_poll_s=0.2)
    service = _service(params, trained, f"sqlite:///{tmp_path / 'serve.db'}", source)
    with TestClient(create_app(service)) as client:
        assert client.get("/api/model").json()["version"] == "1"
        source.promote("2")
        deadline = time.monotonic() + 10
        while client.get("/api/model").json()["version"] != "2":
            assert time.monotonic() < deadline, "model not reloaded"
            time.sleep(0.1)
        client.post("/api/telemetry", json=_rows(healthy.head(40)))
        _wait_scored(client)
        module = healthy[schema.MODULE_ID].iloc[0]
        assert client.get(f"/api/modules/{module}").json()["model_version"] == "2"


def test_the_live_page_and_api_docs_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "batteryops · live fleet" in page.text
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/telemetry", "/api/fleet", "/api/alarms", "/api/soh", "/api/model"} <= set(paths)


def test_multi_step_forecast_endpoint(client: TestClient, healthy: pd.DataFrame) -> None:
    assert client.post("/api/telemetry", json=_rows(healthy)).status_code == 202
    _wait_scored(client)
    module = healthy[schema.MODULE_ID].iloc[0]
    found = client.get(f"/api/modules/{module}/forecast", params={"steps": 25}).json()
    assert len(found["forecast"]) == 25 and found["step_s"] == 30
    last = healthy[healthy[schema.MODULE_ID] == module]["temp_max_c"].iloc[-1]
    # A healthy module's temperature stays near where it is over 12.5 minutes.
    assert abs(found["forecast"][-1]["temp_max_c"] - last) < 10
    assert client.get(f"/api/modules/{module}/forecast", params={"steps": 26}).status_code == 422
    assert client.get("/api/modules/R99-M99/forecast").status_code == 404


def test_a_scorer_that_falls_behind_pushes_back(
    raw_params, trained: Trained, tmp_path: Path, healthy: pd.DataFrame
) -> None:
    from batteryops.serve.intake import BatchError

    params = _params(raw_params, max_pending_rows=150)
    service = _service(params, trained, f"sqlite:///{tmp_path / 'serve.db'}")  # no loop runs
    seconds = healthy[schema.TIMESTAMP].astype("int64") // 10**9
    first = int(seconds.min())
    service.ingest_frame(healthy[seconds < first + 20])  # 120 rows waiting (6 modules)
    service.ingest_frame(healthy[(seconds >= first + 20) & (seconds < first + 40)])  # 240
    with pytest.raises(BatchError, match="rows behind") as refused:
        service.ingest_frame(healthy[(seconds >= first + 40) & (seconds < first + 60)])
    assert refused.value.status == 429
    service.tick()  # the scorer catches up; intake opens again
    service.ingest_frame(healthy[(seconds >= first + 40) & (seconds < first + 60)])


def test_a_backlog_is_scored_over_several_ticks_of_bounded_size(
    raw_params, trained: Trained, tmp_path: Path, healthy: pd.DataFrame
) -> None:
    params = _params(raw_params, max_rows_per_tick=100)
    service = _service(params, trained, f"sqlite:///{tmp_path / 'serve.db'}")  # no loop runs
    seconds = healthy[schema.TIMESTAMP].astype("int64") // 10**9
    first = int(seconds.min())
    for start in range(first, first + 60, 10):  # six batches of 60 rows (6 modules x 10 s)
        service.ingest_frame(healthy[(seconds >= start) & (seconds < start + 10)])
    scored = []
    while service.engine.pending_rows:
        service.tick()
        scored.append(service.scored_rows - sum(scored))
    # Whole batches, oldest first, until at least 100 rows: two batches (120 rows) a tick.
    assert scored == [120, 120, 120]


def test_a_restart_closes_open_alarms_and_remembers_each_modules_last_second(
    raw_params, trained: Trained, tmp_path: Path, healthy: pd.DataFrame
) -> None:
    from batteryops.serve.intake import BatchError

    params = _params(raw_params)
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    first = _service(params, trained, url)
    first.ingest_frame(healthy.head(60))
    first.tick()
    alarm = {
        "module_id": healthy[schema.MODULE_ID].iloc[0],
        "rack_id": "R01",
        "opened_ts": 5,
        "last_ts": 9,
        "peak_probability": 0.99,
        "top_features": "",
        "review": "none",
    }
    first.store.write_tick([], [], [alarm], [])

    again = _service(params, trained, url)  # the service restarts on the same database
    stored = again.store.alarms()
    assert stored[0]["closed_ts"] == 9 and stored[0]["note"] == "open when the service stopped"
    with pytest.raises(BatchError, match="not after its last accepted second"):
        again.ingest_frame(healthy.head(60))
    again.ingest_frame(healthy.iloc[60:120])  # newer seconds go on


def test_an_open_alarm_is_sent_again_when_its_peak_rises(
    raw_params, trained: Trained, tmp_path: Path
) -> None:
    """The page's alarm list shows each alarm's peak probability and explanation: while the
    alarm stays open and its peak rises, the updated row is broadcast (not only at onset)."""
    params = _params(raw_params, rate_limit_per_s=1000)
    service = _service(params, trained, f"sqlite:///{tmp_path / 'serve.db'}")
    runaway = trained.truth.dropna(subset=["pnr_time"]).iloc[0]
    frame = trained.frames[runaway[schema.RACK_ID]]
    frame = frame[frame[schema.TIMESTAMP] <= runaway["pnr_time"]]
    frame = frame[frame[schema.TIMESTAMP] >= runaway["fault_start"] - pd.Timedelta(minutes=20)]
    seconds = frame[schema.TIMESTAMP].astype("int64") // 10**9
    sent: dict[int, list[dict[str, Any]]] = {}
    for start in range(int(seconds.min()), int(seconds.max()) + 1, 60):
        service.ingest_frame(frame[(seconds >= start) & (seconds < start + 60)])
        for message in service.tick():
            if message["type"] == "alarm":
                sent.setdefault(message["alarm"]["id"], []).append(message["alarm"])
    mine = [rows for rows in sent.values() if rows[0]["module_id"] == runaway[schema.MODULE_ID]]
    assert mine, sent
    rows = max(mine, key=len)
    assert len(rows) >= 2, rows
    peaks = [row["peak_probability"] for row in rows]
    assert peaks == sorted(peaks) and peaks[-1] > peaks[0]
    # Each message is the stored row as it then was.
    assert rows[-1]["peak_probability"] == service.store.alarm(rows[-1]["id"])["peak_probability"]


class _OldHealthChampion(StaticSource):
    """A registry whose SOH champion was saved by an older batteryops."""

    def health(self) -> tuple[Any, str] | None:
        raise IncompatibleModelError("its health settings lack checkup")

    def health_version(self) -> str | None:
        return "10"


def test_an_old_soh_champion_neither_stops_the_service_nor_hides_why(
    raw_params, trained: Trained, tmp_path: Path
) -> None:
    params = _params(raw_params, rate_limit_per_s=1000)
    source = _OldHealthChampion(trained.scorer, "7", {"name": "battery-hazard", "version": "7"})
    service = _service(params, trained, f"sqlite:///{tmp_path / 'serve.db'}", source)
    with TestClient(create_app(service)) as client:
        assert client.get("/api/status").status_code == 200
        response = client.post("/api/cycles", json=[{"cell_id": "A", "cycle": 1}])
    assert response.status_code == 409
    assert "lack checkup" in response.text
