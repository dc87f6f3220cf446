"""End to end from logger files: the pipeline run on exports in data/raw instead of the simulator.

The tiny fleet is written as a raw logger CSV export (duplicated rows, clock jitter, logger gaps)
with its truth beside it, plus one unusable file; ``source: files`` then runs the hazard DAG on
the real tools. One copy of the project, its own tests in order.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from batteryops.core import workspace
from tests.conftest import ROOT, TINY_OVERRIDES, deep_merge
from tests.e2e.test_pipeline import BIN, _env, _run, _write_params

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("from-files")
    workspace.copy_checkout(ROOT, copy)
    workspace.copy_compiled_kernels(ROOT, copy)  # compiled by earlier runs here, if any
    _write_params(copy, deep_merge(TINY_OVERRIDES, {"source": "files"}))
    export = copy / "export"
    # The same tiny fleet, as a logger would have written it.
    tiny = deep_merge(TINY_OVERRIDES, {"source": "simulated"})
    _write_params(copy, tiny)
    _run(copy, str(BIN / "batteryops"), "simulate", "--out", str(export), "--format", "logger-csv")
    _write_params(copy, deep_merge(TINY_OVERRIDES, {"source": "files"}))
    raw = copy / "data" / "raw"
    for path in export.iterdir():
        shutil.move(str(path), raw / path.name)
    (raw / "notes.csv").write_text("operator notes\nall fine\n")
    workspace.commit_all(copy, "tiny fleet from files", _env(copy))
    # The hazard branch only: the health task does not read data/raw (test_pipeline runs it).
    _run(copy, str(BIN / "dvc"), "repro", "register")
    return copy


def test_ingest_summary_counts_what_the_logger_did(project: Path) -> None:
    summary = json.loads((project / "metrics/ingest.json").read_text())
    assert summary["source"] == "files"
    assert summary["files_accepted"] == 3  # one CSV per rack
    assert summary["files_rejected"] == 1
    assert summary["rows_dropped"]["duplicate_rows"] > 0
    assert summary["rows_out"] > 0.95 * summary["rows_in"]
    reason = json.loads((project / "data/quarantine/003_notes.csv.reason.json").read_text())
    assert "no timestamp column" in reason["reason"]


def test_pipeline_runs_end_to_end_from_files(project: Path) -> None:
    hazard = json.loads((project / "metrics/hazard.json").read_text())
    assert hazard["events"] >= 1
    assert hazard["event_recall"] > 0
    checked = json.loads((project / "metrics/validation.json").read_text())
    assert checked["success"] is True
    assert checked["suite"] == "canonical_telemetry + raw_telemetry"
    assert any("'accepted'" in warning for warning in checked["warnings"])  # the quarantined file
    registry = json.loads((project / "metrics/registry.json").read_text())
    # The same tiny fleet as test_pipeline's, where every gate holds: promoted here too.
    assert registry["decision"] == "promoted", registry["reasons"]
    truth = pd.read_parquet(project / "data/interim/truth.parquet")
    assert truth["pnr_time"].notna().sum() == sum(TINY_OVERRIDES["simulate"]["faults"].values())
    telemetry = pd.read_parquet(project / "data/interim/telemetry")
    assert not telemetry.duplicated(["module_id", "timestamp"]).any()
    assert (telemetry["timestamp"].dt.tz is not None) and str(telemetry["timestamp"].dt.tz) == "UTC"
