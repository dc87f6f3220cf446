"""DVC stage ``validate_cycles``: the Great Expectations suite of cycle data, plus cycle order."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from batteryops.core.config import Params
from batteryops.core.io import atomic_path, write_json
from batteryops.mlops import validation
from stages._common import StageFailure, run

log = logging.getLogger("stages.validate_cycles")
SUITE = "cycles"


def main(params: Params) -> None:
    """Validate the canonical cycle data; write report and metrics; stop on critical failure."""
    from batteryops.ingest.cycle_files import check_cycle_order

    paths = params.paths
    suite = validation.load_suite(Path(paths.expectations_dir) / f"{SUITE}.json")
    cycles = pd.read_parquet(paths.cycles)
    findings = validation.validate_frames(suite, {Path(paths.cycles).name: cycles})
    summary = validation.summarise(suite["name"], findings)
    order = check_cycle_order(cycles)
    if order:
        summary["success"] = False
        summary["critical_failures"] = summary["critical_failures"] + order[:20]
    summary["rows_validated"] = len(cycles)
    summary["cells"] = int(cycles["cell_id"].nunique())
    with atomic_path(paths.cycle_validation_report) as tmp:
        tmp.write_text(validation.render_html(suite["name"], findings))
    write_json(summary, paths.metrics.cycle_validation)
    for warning in summary["warnings"]:
        log.warning("expectation warning: %s", warning)
    if not summary["success"]:
        raise StageFailure(
            "critical expectations on cycle data failed (see "
            + paths.cycle_validation_report
            + "):\n  "
            + "\n  ".join(summary["critical_failures"])
        )
    log.info("cycle data valid: %d rows of %d cells", len(cycles), summary["cells"])


if __name__ == "__main__":
    run("validate_cycles", main)
