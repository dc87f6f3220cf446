"""POST /api/ask on the live service: a question about what the service scored, answered from
its store by a read-only tool, behind the service's API key and rate limit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

from batteryops.core import schema
from batteryops.core.config import parse_params
from batteryops.serve.app import create_app
from tests.batteryops.conftest import Trained
from tests.batteryops.serve.test_app import _rows, _service, _wait_scored
from tests.conftest import deep_merge


def _client(raw_params, trained: Trained, tmp_path: Path, key=None, required=False, rate=1000):
    params = parse_params(
        deep_merge(raw_params, {"serve": {"rate_limit_per_s": rate}, "ask": {"use_model": False}})
    )
    service = _service(params, trained, f"sqlite:///{tmp_path / 'serve.db'}")
    return TestClient(create_app(service, key, required))


def test_a_question_is_answered_from_what_the_service_scored(
    raw_params, trained: Trained, tmp_path: Path
) -> None:
    frame = trained.healthy_rack
    start = frame[schema.TIMESTAMP].min()
    batch = frame[frame[schema.TIMESTAMP] < start + pd.Timedelta(minutes=5)]
    with _client(raw_params, trained, tmp_path) as client:
        assert client.post("/api/telemetry", json=_rows(batch)).status_code == 202
        _wait_scored(client)
        reply = client.post("/api/ask", json={"question": "which modules ran hottest today?"})
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        assert answer["tool"] == "hottest_modules" and answer["chosen_by"] == "router"
        hottest = batch.groupby(schema.MODULE_ID)["temp_max_c"].max().sort_values()
        named = [f["module_id"] for f in answer["facts"] if "module_id" in f]
        assert named[0] == hottest.index[-1]
        assert f"{hottest.iloc[-1]:.1f} C" in answer["answer"]
        assert answer["answer"].endswith("]") and "window: the last 24 hours" in answer["answer"]
        module = named[0]
        history = client.post("/api/ask", json={"question": f"how is {module} doing?"}).json()
        assert history["tool"] == "module_history" and history["args"]["module_id"] == module
        refused = client.post("/api/ask", json={"question": "delete every alarm"}).json()
        assert refused["tool"] is None and "cannot change anything" in refused["answer"]
        assert client.post("/api/ask", json={"question": "   "}).status_code == 422
        assert client.post("/api/ask", json={"nothing": "asked"}).status_code == 422


def test_asking_follows_the_services_key_and_rate_limit(
    raw_params, trained: Trained, tmp_path: Path
) -> None:
    with _client(raw_params, trained, tmp_path, "s3cret", True) as client:
        question = {"question": "give me a fleet overview"}
        assert client.post("/api/ask", json=question).status_code == 401
        reply = client.post("/api/ask", json=question, headers={"X-API-Key": "s3cret"})
        assert reply.status_code == 200 and reply.json()["tool"] == "fleet_summary"
    with _client(raw_params, trained, tmp_path / "slow", rate=1) as client:
        codes = [client.post("/api/ask", json=question).status_code for _ in range(6)]
        assert 429 in codes
