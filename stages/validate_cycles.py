"""DVC stage ``validate_cycles``: the Great Expectations suite of cycle data, plus cycle order.

The suite's ranges of limited columns are taken from ``cycle_ingest.limits``; the order of cycles
per cell is checked by :func:`batteryops.ingest.cycle_files.check_cycle_order`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.ingest.cycle_files import check_cycle_order
from batteryops.mlops import validation
from stages._common import StageFailure, run

log = logging.getLogger("stages.validate_cycles")
SUITE = "cycles"


def main(params: Params) -> None:
    """Validate the canonical cycle data; write report and metrics; stop on critical failure."""
    paths = params.paths
    suite = validation.with_limits(
        validation.load_suite(Path(paths.expectations_dir) / f"{SUITE}.json"),
        params.cycle_ingest.limits,
        "cycle_ingest.limits",
    )
    cycles = pd.read_parquet(paths.cycles)
    summary = validation.run_suites(
        [(suite, {Path(paths.cycles).name: cycles})],
        paths.cycle_validation_report,
        paths.metrics.cycle_validation,
        {"rows_validated": len(cycles), "cells": int(cycles[schema.CELL_ID].nunique())},
        more_critical=check_cycle_order(cycles)[:20],
    )
    if not summary["success"]:
        raise StageFailure(
            validation.failure_message(
                summary, "critical expectations on cycle data", paths.cycle_validation_report
            )
        )
    log.info("cycle data valid: %d rows of %d cells", len(cycles), summary["cells"])


if __name__ == "__main__":
    run("validate_cycles", main)
