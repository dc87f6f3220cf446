"""DVC stage ``drift_report``: Evidently drift of the newest data against the training features.

The newest data are the served episodes collected since (``batteryops collect``: served telemetry
and operators' verdicts, trained on in this run), else the newest window of the telemetry. A share
of drifted columns above ``drift.max_drift_share`` sets ``retrain`` in ``metrics/drift.json``; it
blocks no registration: a candidate trained on the data that drifted is that retraining.
"""

from __future__ import annotations

import logging

import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.core.io import atomic_path, partition_files, read_json, write_json
from batteryops.mlops import drift
from stages._common import run

log = logging.getLogger("stages.drift_report")


def main(params: Params) -> None:
    """Compare training-split features with the newest data; write HTML and drift metrics."""
    paths, section = params.paths, params.drift
    features = read_json(paths.split)["features"]
    files = partition_files(paths.features_dir)
    truth = pd.read_parquet(paths.truth, columns=[schema.MODULE_ID, "fault_type", "nuisance_type"])
    kinds = truth["fault_type"] + truth["nuisance_type"]
    arrived = set(truth.loc[kinds.str.contains(schema.SERVED_KIND), schema.MODULE_ID])
    reference, current = drift.sample_partitions(files, features, section, arrived)
    with atomic_path(paths.drift_report) as tmp:
        summary = drift.drift_report(reference, current, tmp, section.method)
    summary |= {
        "reference_rows": len(reference),
        "current_rows": len(current),
        "method": section.method,
        "current": "served" if arrived else "newest_window",
        "current_modules": len(arrived) if arrived else None,
        "max_drift_share": section.max_drift_share,
        "retrain": summary["share_of_drifted_columns"] > section.max_drift_share,
    }
    by_column = summary.pop("drift_by_column")
    write_json(summary, paths.metrics.drift)
    write_json(by_column, paths.drift_columns)
    log.info(
        "drift of the %s: %d of %d feature columns (share %.2f)%s",
        summary["current"],
        summary["number_of_drifted_columns"],
        summary["number_of_columns"],
        summary["share_of_drifted_columns"],
        ": retrain on the new data" if summary["retrain"] else "",
    )


if __name__ == "__main__":
    run("drift_report", main)
