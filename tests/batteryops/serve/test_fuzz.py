"""The live service never answers 500 to input: every operation of its OpenAPI schema, fuzzed.

Schemathesis generates requests from the service's own OpenAPI schema (bodies, paths and
queries of every operation) and sends them through one in-process client (the app's own event
loop; schemathesis' pytest loader does not yet run under pytest 9); every answer must be a
clear 2xx/4xx, never a server error. The hand-written cases below are the ones found before the
fuzzing existed (issue 17, point 7).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batteryops.core.config import parse_params
from batteryops.serve.app import Service, create_app
from batteryops.serve.champion import StaticSource
from batteryops.serve.notify import Notifier
from batteryops.serve.store import Store
from tests.batteryops.conftest import Trained
from tests.conftest import deep_merge

EXAMPLES = 60  # per operation; each example sends one request to every operation


@pytest.fixture
def client(raw_params, trained: Trained, tmp_path: Path) -> Iterator[TestClient]:
    params = parse_params(deep_merge(raw_params, {"serve": {"rate_limit_per_s": 100_000}}))
    service = Service(
        params,
        StaticSource(trained.scorer, "7", {"name": "battery-hazard", "version": "7"}),
        Store(f"sqlite:///{tmp_path / 'serve.db'}"),
        Notifier(params.serve.alerts),
    )
    # The lifespan runs: the scorer and the store are up, on the client's own event loop.
    with TestClient(create_app(service)) as test_client:
        yield test_client


def test_no_input_gets_a_server_error(client: TestClient) -> None:
    api = schemathesis.openapi.from_dict(client.app.openapi())
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 10
    seen: dict[str, set[int]] = {}

    # Derandomized: CI runs the cases that ran here (a new random case failing there would
    # block a landing for a bug nobody can reproduce); BATTERYOPS_FUZZ_RANDOM=1 explores afresh.
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=not os.environ.get("BATTERYOPS_FUZZ_RANDOM"),
    )
    @given(data=st.data())
    def every_operation(data: st.DataObject) -> None:
        for operation in operations:
            case = data.draw(operation.as_strategy(), label=operation.label)
            request = case.as_transport_kwargs(base_url=str(client.base_url))
            request.pop("cookies", None)
            response = client.request(**request)
            seen.setdefault(operation.label, set()).add(response.status_code)
            # 503 is the service's own "not available" (no SOH champion yet, overloaded), never
            # a crash; any other 5xx is.
            assert response.status_code < 500 or response.status_code == 503, (
                operation.label,
                case.as_curl_command(),
                response.text[:500],
            )

    every_operation()
    assert set(seen) == {operation.label for operation in operations}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'[{"timestamp": 1e20, "module_id": "R01-M01"}]', "application/json"),
        (b'[{"timestamp": -1e20, "module_id": "R01-M01"}]', "application/json"),
        (b"[" * 50_000 + b"]" * 50_000, "application/json"),
        (b'[{"timestamp": "2026-07-01T00:00:00Z", "module_id": "R01-M01"}]' * 1, "text/plain"),
        (b"timestamp,module_id,temp_max_c\n", "text/csv"),
    ],
    ids=["epoch-1e20", "epoch-minus-1e20", "nested", "json-as-text", "header-only-csv"],
)
def test_the_cases_found_by_hand_are_clear_answers(
    client: TestClient, body: bytes, content_type: str
) -> None:
    response = client.post("/api/telemetry", content=body, headers={"Content-Type": content_type})
    assert response.status_code < 500, response.text
    if content_type == "text/plain":
        assert response.status_code == 202, response.text
    else:
        assert response.status_code in (400, 422), response.text
        assert "; 2; " not in response.text
