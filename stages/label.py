"""DVC stage ``label``: hazard, overheat and 30 s temperature-change labels, one file per rack."""

from __future__ import annotations

import logging

import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.core.io import atomic_dir, partition_files, read_json, require
from batteryops.hazard import labels
from stages._common import StageFailure, run

log = logging.getLogger("stages.label")


def main(params: Params) -> None:
    """Label every rack partition of the validated telemetry."""
    paths = params.paths
    require(paths.truth, paths.metrics.validation)
    if not read_json(paths.metrics.validation).get("success", False):
        raise StageFailure(f"{paths.metrics.validation} says validation failed; not labelling")
    truth = pd.read_parquet(paths.truth)
    positives = 0
    with atomic_dir(paths.labelled_dir) as tmp:
        for path in partition_files(paths.telemetry_dir):
            labelled = labels.label_rack(pd.read_parquet(path), truth, params.label)
            positives += int(labelled[schema.HAZARD].sum())
            labelled.to_parquet(tmp / path.name, index=False)
    log.info("labelled %s: %d hazard seconds", paths.labelled_dir, positives)


if __name__ == "__main__":
    run("label", main)
