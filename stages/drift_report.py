"""DVC stage ``drift_report``: Evidently drift of the newest data against the training features."""

from __future__ import annotations

import logging

from batteryops import drift, schema
from batteryops.config import Params
from batteryops.io import atomic_path, read_json, read_partitions, write_json
from stages._common import run

log = logging.getLogger("stages.drift_report")


def main(params: Params) -> None:
    """Compare training-split features with the newest window; write HTML and drift metrics."""
    paths, section = params.paths, params.drift
    features = read_json(paths.split)["features"]
    frame = read_partitions(
        paths.features_dir, columns=[schema.TIMESTAMP, schema.SPLIT, schema.TRAINABLE] + features
    )
    reference, current = drift.reference_and_current(
        frame,
        features,
        section.current_window_s,
        section.reference_rows,
        section.current_rows,
        section.seed,
    )
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
