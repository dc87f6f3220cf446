"""DVC stage ``validate``: Great Expectations on canonical telemetry and raw input files.

The canonical suite runs on every telemetry partition (a fixed sample of ``validate.sample_rows``
rows of each), its ranges of limited signals taken from ``ingest.limits``. When the source
includes files, the raw suite runs on the per-file table of the ingest summary (rows in, valid,
dropped and masked shares, quarantine). Both go into one report and one metrics file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from batteryops.core.config import Params
from batteryops.core.io import partition_files, require
from batteryops.mlops import validation
from stages._common import StageFailure, run

log = logging.getLogger("stages.validate")


def main(params: Params) -> None:
    """Validate each telemetry partition; write the report and metrics; stop on critical failure."""
    paths, section = params.paths, params.validate_
    suites = Path(paths.expectations_dir)
    suite = validation.with_limits(
        validation.load_suite(suites / f"{section.suite}.json"),
        params.ingest.limits,
        "ingest.limits",
    )
    batches = {
        path.name: validation.sample_rows(pd.read_parquet(path), section.sample_rows)
        for path in partition_files(paths.telemetry_dir)
    }
    runs = [(suite, batches)]
    if params.source != "simulated":
        require(paths.metrics.ingest)
        files = validation.ingest_files_frame(json.loads(Path(paths.metrics.ingest).read_text()))
        runs.append(
            (validation.load_suite(suites / f"{section.raw_suite}.json"), {"raw files": files})
        )
    rows = int(sum(len(frame) for frame in batches.values()))
    summary = validation.run_suites(
        runs, paths.validation_report, paths.metrics.validation, {"rows_validated": rows}
    )
    if not summary["success"]:
        raise StageFailure(
            validation.failure_message(summary, "critical expectations", paths.validation_report)
        )
    log.info(
        "validation passed: %d expectation runs on %d rows",
        summary["evaluated_expectations"],
        summary["rows_validated"],
    )


if __name__ == "__main__":
    run("validate", main)
