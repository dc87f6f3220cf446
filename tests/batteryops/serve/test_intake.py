"""batteryops.serve.intake: posted batches parsed, masked at ingest's limits, and checked whole."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.serve.intake import BatchError, Gate, parse

NOW = pd.Timestamp("2026-07-01T08:00:00Z")


def _json_rows(temps: list[float]) -> bytes:
    rows = [
        {
            "timestamp": (NOW + pd.Timedelta(seconds=i)).isoformat(),
            "module_id": "R01-M01",
            "temp_max_c": temp,
        }
        for i, temp in enumerate(temps)
    ]
    return json.dumps(rows).encode()


def _csv_rows(temps: list[float]) -> bytes:
    lines = ["timestamp,module_id,temp_max_c"]
    lines += [
        f"{(NOW + pd.Timedelta(seconds=i)).isoformat()},R01-M01,{temp:g}"
        for i, temp in enumerate(temps)
    ]
    return "\n".join(lines).encode()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(_json_rows, "application/json"), (_csv_rows, "text/csv")],
    ids=["json", "export"],
)
def test_a_runaway_reading_is_kept_and_one_past_the_limit_is_masked(
    params: Params, body, content_type: str
) -> None:
    # The same limits as ingest (ingest.limits): 700 C is thermal runaway, kept; past the limit a
    # reading is physically impossible and masked, as ingest masks it.
    high = params.ingest.limits["temp_max_c"][1]
    rows = parse(body([700.0, high + 100.0, 25.0]), content_type, params.ingest)
    temps = rows["temp_max_c"]
    assert temps.iloc[0] == 700.0
    assert np.isnan(temps.iloc[1])
    assert temps.iloc[2] == 25.0
    assert temps.dtype == np.float32


def test_the_gate_names_the_first_row_too_old_or_too_far_ahead(params: Params) -> None:
    rows = parse(_json_rows([25.0, 25.0, 25.0]), "application/json", params.ingest)
    now = NOW.timestamp()
    too_late = Gate(params.serve, clock=lambda: now + params.serve.max_age_s + 1.5)
    with pytest.raises(BatchError, match=r"row 0, column 'timestamp': .* serve.max_age_s") as old:
        too_late.check(rows)
    assert old.value.status == 422
    too_early = Gate(params.serve, clock=lambda: now - params.serve.max_future_s + 0.5)
    with pytest.raises(BatchError, match=r"row 1, column 'timestamp': .* ahead of the server"):
        too_early.check(rows)
    assert (
        Gate(params.serve, clock=lambda: now).check(rows)[schema.MODULE_ID].tolist()
        == ["R01-M01"] * 3
    )


@pytest.mark.parametrize("epoch", [1e20, -1e20, 1e300])
def test_an_epoch_far_out_of_range_is_a_clear_422(params: Params, epoch: float) -> None:
    body = json.dumps([{"timestamp": epoch, "module_id": "R01-M01", "temp_max_c": 25.0}])
    with pytest.raises(BatchError) as refused:
        parse(body.encode(), "application/json", params.ingest)
    assert refused.value.status == 422
    assert "row 0, column 'timestamp'" in refused.value.message


def test_json_nested_too_deep_is_a_clear_400(params: Params) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(BatchError) as refused:
        parse(body, "application/json", params.ingest)
    assert refused.value.status == 400
    assert "nested too deeply" in refused.value.message


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream"])
def test_json_sent_as_text_is_read_as_json(params: Params, content_type: str) -> None:
    rows = parse(_json_rows([25.0] * 80), content_type, params.ingest)
    assert len(rows) == 80 and (rows["temp_max_c"] == 25.0).all()


def test_a_header_only_csv_says_so_plainly(params: Params) -> None:
    with pytest.raises(BatchError) as refused:
        parse(b"timestamp,module_id,temp_max_c\n", "text/csv", params.ingest)
    assert refused.value.status == 422
    message = refused.value.message
    assert message.startswith("export refused: ") and "; 2; " not in message
    assert "line 2" in message or "no data rows" in message


def _reading(module: str, second: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            schema.TIMESTAMP: [NOW + pd.Timedelta(seconds=second)],
            schema.MODULE_ID: [module],
            schema.RACK_ID: ["R01"],
        }
    )
    for column in schema.SIGNALS:
        frame[column] = np.float32(25.0)
    return frame


def test_a_logger_slower_than_the_model_was_judged_at_is_refused_by_name(params: Params) -> None:
    # Issue 18: a 10 s or 30 s logger is scored at its rate; a slower one is refused, never
    # silently unalarmed. One dropout is no slow logger: the median of recent steps decides.
    gate = Gate(params.serve, clock=lambda: NOW.timestamp() + 3600, max_period_s=30)
    for second in (0, 30, 60, 90, 300, 330):  # a 30 s logger with one 210 s dropout
        gate.accept(gate.check(_reading("R01-M01", second)))
    with pytest.raises(BatchError, match=r"module 'R01-M02': one reading every 60 s") as slow:
        for k in range(6):
            gate.accept(gate.check(_reading("R01-M02", 60 * k)))
    assert slow.value.status == 422 and k == 5  # judged once it has five steps
