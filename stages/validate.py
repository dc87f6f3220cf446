"""DVC stage ``validate``: Great Expectations on canonical telemetry and raw input files.

The canonical suite runs on every telemetry partition. When the source includes files, the raw
suite runs on the per-file table of the ingest summary (rows in, valid, dropped and masked
shares, quarantine). Both go into one report and one metrics file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from batteryops.core.config import Params
from batteryops.core.io import atomic_path, partition_files, require, write_json
from batteryops.mlops import validation
from stages._common import StageFailure, run

log = logging.getLogger("stages.validate")


def main(params: Params) -> None:
    """Validate each telemetry partition; write the report and metrics; stop on critical failure."""
    paths, section = params.paths, params.validate_
    suite_path = Path(paths.expectations_dir) / f"{section.suite}.json"
    suite = validation.load_suite(suite_path)
    batches = {}
    for path in partition_files(paths.telemetry_dir):
        frame = pd.read_parquet(path)
        if len(frame) > section.sample_rows:
            frame = frame.sample(section.sample_rows, random_state=0).sort_index()
        batches[path.name] = frame
    findings = validation.validate_frames(suite, batches)
    names = [suite["name"]]
    if params.source != "simulated":
        require(paths.metrics.ingest)
        raw_suite = validation.load_suite(
            Path(paths.expectations_dir) / f"{section.raw_suite}.json"
        )
        files = validation.ingest_files_frame(json.loads(Path(paths.metrics.ingest).read_text()))
        findings += validation.validate_frames(raw_suite, {"raw files": files})
        names.append(raw_suite["name"])
    summary = validation.summarise(" + ".join(names), findings)
    summary["rows_validated"] = int(sum(len(frame) for frame in batches.values()))
    with atomic_path(paths.validation_report) as tmp:
        tmp.write_text(validation.render_html(" + ".join(names), findings))
    write_json(summary, paths.metrics.validation)
    for warning in summary["warnings"]:
        log.warning("expectation warning: %s", warning)
    if not summary["success"]:
        raise StageFailure(
            "critical expectations failed (see "
            + paths.validation_report
            + "):\n  "
            + "\n  ".join(summary["critical_failures"])
        )
    log.info(
        "validation passed: %d expectation runs on %d rows",
        summary["evaluated_expectations"],
        summary["rows_validated"],
    )


if __name__ == "__main__":
    run("validate", main)
