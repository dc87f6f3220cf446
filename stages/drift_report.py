"""DVC stage ``drift_report``: Evidently drift of the newest data against the training features."""

from __future__ import annotations

import logging

from batteryops.core.config import Params
from batteryops.core.io import atomic_path, partition_files, read_json, write_json
from batteryops.mlops import drift
from stages._common import run

log = logging.getLogger("stages.drift_report")


def main(params: Params) -> None:
    """Compare training-split features with the newest window; write HTML and drift metrics."""
    paths, section = params.paths, params.drift
    features = read_json(paths.split)["features"]
    files = partition_files(paths.features_dir)
    reference, current = drift.sample_partitions(files, features, section)
    with atomic_path(paths.drift_report) as tmp:
        summary = drift.drift_report(reference, current, tmp, section.method)
    summary |= {
        "reference_rows": len(reference),
        "current_rows": len(current),
        "method": section.method,
    }
    by_column = summary.pop("drift_by_column")
    write_json(summary, paths.metrics.drift)
    write_json(by_column, paths.drift_columns)
    log.info(
        "drift: %d of %d feature columns drifted (share %.2f)",
        summary["number_of_drifted_columns"],
        summary["number_of_columns"],
        summary["share_of_drifted_columns"],
    )


if __name__ == "__main__":
    run("drift_report", main)
