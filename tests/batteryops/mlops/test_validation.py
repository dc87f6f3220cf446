"""batteryops.mlops.validation: the canonical telemetry suite on small good and bad frames.

The suite's ranges of limited signals come from ``ingest.limits`` (:func:`with_limits`), the table
ingest and the service's intake mask physically impossible values with.

Great Expectations costs seconds to import and set up, so every batch runs in one module-scoped
validation and the tests read its findings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.mlops import validation
from batteryops.mlops.validation import Finding
from tests.batteryops.conftest import TinyFleet
from tests.conftest import ROOT

SUITE_PATH = ROOT / "expectations" / "canonical_telemetry.json"
START = pd.Timestamp("2026-07-01T00:00:00Z")
ROWS_PER_MODULE = 20
LEVELS = {
    "voltage_v": 58.0,
    "current_a": 10.0,
    "soc_pct": 50.0,
    "temp_avg_c": 25.0,
    "temp_max_c": 26.0,
    "temp_min_c": 24.0,
    "ambient_c": 24.0,
    "coolant_c": 20.0,
    "cell_v_max": 3.72,
    "cell_v_min": 3.70,
    "gas_co_ppm": 1.0,
    "gas_h2_ppm": 0.5,
    "gas_voc_ppm": 3.0,
}


def _good() -> pd.DataFrame:
    frames = []
    for module_id in ("R01-M01", "R01-M02"):
        frame = pd.DataFrame(
            {
                schema.TIMESTAMP: START + pd.to_timedelta(np.arange(ROWS_PER_MODULE), unit="s"),
                schema.RACK_ID: "R01",
                schema.MODULE_ID: module_id,
            }
        )
        for name, level in LEVELS.items():
            frame[name] = np.float32(level)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _batches(simulated: pd.DataFrame) -> dict[str, pd.DataFrame]:
    soc = _good()
    soc.loc[5, "soc_pct"] = 150.0
    duplicate = pd.concat([_good(), _good().iloc[[3]]], ignore_index=True)
    warm = _good()
    warm.loc[7, "ambient_c"] = 90.0  # one ambient reading past ingest.limits: a warning, not a stop
    return {
        "good": _good(),
        "simulated": simulated,
        "soc": soc,
        "duplicate": duplicate,
        "warm": warm,
        "no_gas_voc": _good().drop(columns=["gas_voc_ppm"]),
        # As stored telemetry is: float32 (widened for Great Expectations' vectorised checks).
        "soc_float32": soc.astype(
            {c: np.float32 for c in soc.columns if pd.api.types.is_float_dtype(soc[c])}
        ),
    }


@pytest.fixture(scope="module")
def suite(params: Params) -> dict:
    return validation.with_limits(
        validation.load_suite(SUITE_PATH), params.ingest.limits, "ingest.limits"
    )


@pytest.fixture(scope="module")
def findings(suite: dict, tiny_fleet: TinyFleet) -> dict[str, list[Finding]]:
    rack = next(iter(tiny_fleet.frames.values()))
    simulated = rack[rack[schema.TIMESTAMP] < START.replace(hour=9)]  # the first hour
    assert len(simulated) > 1000
    results = validation.validate_frames(suite, _batches(simulated))
    by_batch: dict[str, list[Finding]] = {}
    for finding in results:
        by_batch.setdefault(finding.batch, []).append(finding)
    return by_batch


def _failed(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not f.success]


def test_load_suite(suite: dict) -> None:
    assert suite["name"] == "canonical_telemetry"
    columns = suite["expectations"][0]["kwargs"]["column_set"]
    assert columns == schema.CANONICAL_COLUMNS


def test_load_suite_rejects_a_non_suite(tmp_path: Path) -> None:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ValueError, match=r"suite\.json: not an expectation suite"):
        validation.load_suite(path)
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="needs 'name' and 'expectations'"):
        validation.load_suite(path)


def test_one_finding_per_expectation_and_batch(
    suite: dict, findings: dict[str, list[Finding]]
) -> None:
    assert set(findings) == {
        "good",
        "simulated",
        "soc",
        "duplicate",
        "warm",
        "no_gas_voc",
        "soc_float32",
    }
    for batch in findings.values():
        assert len(batch) == len(suite["expectations"])


def test_good_frame_passes(findings: dict[str, list[Finding]]) -> None:
    assert _failed(findings["good"]) == []
    summary = validation.summarise("canonical_telemetry", findings["good"])
    assert summary["success"] is True
    assert summary["critical_failures"] == [] and summary["warnings"] == []
    assert summary["success_percent"] == 100.0


def test_simulated_telemetry_passes(findings: dict[str, list[Finding]]) -> None:
    summary = validation.summarise("canonical_telemetry", findings["simulated"])
    assert summary["success"] is True, summary["critical_failures"]


def test_soc_out_of_range_fails_critical(findings: dict[str, list[Finding]]) -> None:
    (failed,) = _failed(findings["soc"])
    assert failed.critical
    assert failed.column == "soc_pct"
    assert failed.unexpected_count == 1
    assert failed.examples == [150.0]
    text = failed.describe()
    assert "'soc_pct'" in text and "150" in text and "soc:" in text
    summary = validation.summarise("canonical_telemetry", findings["soc"])
    assert summary["success"] is False
    assert summary["critical_failures"] == [text]


def test_float32_telemetry_gets_the_findings_of_float64(
    findings: dict[str, list[Finding]],
) -> None:
    assert [(f.expectation, f.column, f.success, f.unexpected_count, f.examples)
            for f in findings["soc_float32"]] == [
        (f.expectation, f.column, f.success, f.unexpected_count, f.examples)
        for f in findings["soc"]
    ]  # fmt: skip


def test_duplicate_key_fails_critical(findings: dict[str, list[Finding]]) -> None:
    (failed,) = _failed(findings["duplicate"])
    assert failed.critical
    assert failed.expectation == "expect_compound_columns_to_be_unique"
    assert failed.column == "timestamp,module_id"
    assert "R01-M01" in failed.describe()
    assert validation.summarise("x", findings["duplicate"])["success"] is False


def test_non_critical_failure_is_a_warning(findings: dict[str, list[Finding]]) -> None:
    (failed,) = _failed(findings["warm"])
    assert not failed.critical
    assert failed.column == "ambient_c"
    summary = validation.summarise("canonical_telemetry", findings["warm"])
    assert summary["success"] is True
    assert summary["critical_failures"] == []
    assert summary["warnings"] == [failed.describe()]


def test_missing_column_fails_critical(findings: dict[str, list[Finding]]) -> None:
    failed = _failed(findings["no_gas_voc"])
    assert any(f.expectation == "expect_table_columns_to_match_set" for f in failed)
    assert any(f.column == "gas_voc_ppm" and f.critical for f in failed)
    assert validation.summarise("x", findings["no_gas_voc"])["success"] is False


def test_render_html_marks_failures(findings: dict[str, list[Finding]]) -> None:
    page = validation.render_html("canonical_telemetry", findings["soc"] + findings["warm"])
    assert page.startswith("<!doctype html>")
    assert "<td>FAIL</td>" in page and "<td>warn</td>" in page and "<td>pass</td>" in page
    assert "overall <b>FAILED</b>" in page
    assert page.index("FAIL</td>") < page.index("warn</td>") < page.index("pass</td>")
    good = validation.render_html("canonical_telemetry", findings["good"])
    assert "FAIL" not in good and "overall <b>passed</b>" in good


def test_render_html_escapes() -> None:
    finding = Finding("<b>", "expect_x", "c<1>", True, False, 1, 10.0, ["<script>"])
    page = validation.render_html("s&t", [finding])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "s&amp;t" in page and "&lt;b&gt;" in page


def test_describe_without_examples_or_count() -> None:
    finding = Finding("b", "expect_x", "(table)", False, False, None, None)
    assert finding.describe() == "b: expect_x failed on column '(table)'; example values: none"


def test_summarise_empty() -> None:
    summary = validation.summarise("s", [])
    assert summary["success"] is True
    assert summary["evaluated_expectations"] == 0


def test_raw_suite_on_the_ingest_summary_warns_on_quarantine_and_fails_on_empty_files() -> None:
    suite = validation.load_suite(ROOT / "expectations" / "raw_telemetry.json")
    summary = {
        "files": [
            {
                "path": "a.csv",
                "accepted": True,
                "rows_in": 100,
                "rows_out": 99,
                "rows_dropped": {"malformed_row": 1},
                "values_masked": {},
                "columns": {"t": "x"},
            },
            {
                "path": "b.csv",
                "accepted": False,
                "rows_in": 0,
                "rows_out": 0,
                "rows_dropped": {},
                "values_masked": {},
                "columns": {},
            },
        ]
    }
    frame = validation.ingest_files_frame(summary)
    assert frame["dropped_share"].tolist() == [0.01, 0.0]
    findings = validation.validate_frames(suite, {"raw files": frame})
    result = validation.summarise(suite["name"], findings)
    assert result["success"] is True
    assert any("accepted" in warning for warning in result["warnings"])
    summary["files"][0]["rows_out"] = 0  # an accepted file that gave nothing: critical
    findings = validation.validate_frames(
        suite, {"raw files": validation.ingest_files_frame(summary)}
    )
    assert validation.summarise(suite["name"], findings)["success"] is False


# --- limits: written once, in ingest.limits -----------------------------------------------------


def test_the_suite_writes_no_bounds_of_its_own_for_limited_signals(params: Params) -> None:
    raw = validation.load_suite(SUITE_PATH)
    ranged = [e for e in raw["expectations"] if e["type"] == validation.RANGE]
    assert ranged and all(e["meta"]["bounds_from"] == "ingest.limits" for e in ranged)
    assert not any("min_value" in e["kwargs"] or "max_value" in e["kwargs"] for e in ranged)
    filled = validation.with_limits(raw, params.ingest.limits, "ingest.limits")
    for expectation in filled["expectations"]:
        if expectation["type"] == validation.RANGE:
            kwargs = expectation["kwargs"]
            assert (kwargs["min_value"], kwargs["max_value"]) == params.ingest.limits[
                kwargs["column"]
            ]
    assert "min_value" not in raw["expectations"][5]["kwargs"]  # the suite read is not changed


def _range_suite(**kwargs: float) -> dict:
    return {
        "name": "s",
        "expectations": [
            {
                "type": validation.RANGE,
                "kwargs": {"column": "temp_max_c", **kwargs},
                "meta": {"critical": True, "bounds_from": "ingest.limits"},
            }
        ],
    }


def test_with_limits_refuses_a_column_without_a_limit_or_a_second_copy() -> None:
    with pytest.raises(ValueError, match="'temp_max_c' has no limit in ingest.limits"):
        validation.with_limits(_range_suite(), {"soc_pct": (0.0, 100.0)}, "ingest.limits")
    with pytest.raises(ValueError, match="remove its own max_value"):
        validation.with_limits(
            _range_suite(max_value=400), {"temp_max_c": (-60.0, 1500.0)}, "ingest.limits"
        )
    own = _range_suite(min_value=-40, max_value=400)
    del own["expectations"][0]["meta"]["bounds_from"]
    with pytest.raises(ValueError, match="the range of 'temp_max_c' is written in ingest.limits"):
        validation.with_limits(own, {"temp_max_c": (-60.0, 1500.0)}, "ingest.limits")


def test_a_runaway_reading_passes_and_one_past_the_limit_stops(
    suite: dict, params: Params, tmp_path: Path
) -> None:
    # 700 C is thermal runaway (600-900 C): ingest keeps it, so validation must not stop on it.
    # Past ingest.limits a value cannot be in canonical telemetry (ingest masks it): critical.
    high = params.ingest.limits["temp_max_c"][1]
    runaway, impossible = _good(), _good()
    runaway.loc[4, ["temp_max_c", "temp_avg_c"]] = [700.0, 650.0]
    impossible.loc[4, "temp_max_c"] = high + 100.0
    summary = validation.run_suites(
        [(suite, {"runaway": runaway, "impossible": impossible})],
        tmp_path / "report.html",
        tmp_path / "metrics.json",
        {"rows_validated": 2 * len(runaway)},
    )
    (failure,) = summary["critical_failures"]
    assert failure.startswith("impossible: expect_column_values_to_be_between failed on column")
    assert "'temp_max_c'" in failure and not summary["success"]
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written == summary and written["rows_validated"] == 2 * len(runaway)
    assert written["evaluated_expectations"] == 2 * len(suite["expectations"])
    assert "overall <b>FAILED</b>" in (tmp_path / "report.html").read_text()
    message = validation.failure_message(summary, "critical expectations", "r.html")
    assert message == "critical expectations failed (see r.html):\n  " + failure


def test_run_suites_joins_suites_and_fails_on_checks_outside_them(tmp_path: Path) -> None:
    first = {"name": "a", "expectations": []}
    second = {"name": "b", "expectations": []}
    summary = validation.run_suites(
        [(first, {}), (second, {})],
        tmp_path / "report.html",
        tmp_path / "metrics.json",
        more_critical=["cell 'x': cycle 3 at row 2 repeats"],
    )
    assert summary["suite"] == "a + b"
    assert summary["success"] is False
    assert summary["critical_failures"] == ["cell 'x': cycle 3 at row 2 repeats"]
    assert "Validation report: a + b" in (tmp_path / "report.html").read_text()
    passed = validation.run_suites([(first, {})], tmp_path / "r.html", tmp_path / "m.json")
    assert passed["success"] is True and passed["critical_failures"] == []


def test_sample_rows_keeps_order_and_small_frames_whole() -> None:
    frame = pd.DataFrame({"x": np.arange(100)})
    assert validation.sample_rows(frame, 200) is frame
    sample = validation.sample_rows(frame, 10)
    assert len(sample) == 10 and sample["x"].is_monotonic_increasing
    pd.testing.assert_frame_equal(sample, validation.sample_rows(frame, 10))
