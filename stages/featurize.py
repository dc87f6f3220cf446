"""DVC stage ``featurize``: labels and rolling features per rack, and the grouped module split.

Labels are made here, rack by rack, on the way to the features (there is no labelled copy of the
telemetry on disk: the features table carries the labels, and only it is read downstream). The
partitions are rack × day (:mod:`batteryops.hazard.partitions`): a rack's days one after another
(the thermal observer's state passes from day to day), its racks ``compute.threads`` at a time
on threads of this process, or side by side on Dask workers when ``compute.cluster`` is set
(:mod:`batteryops.core.compute`).
"""

from __future__ import annotations

import logging

import pandas as pd

from batteryops.core.compute import partitions_runner
from batteryops.core.config import Params
from batteryops.core.io import atomic_dir, partition_files, read_json, require, write_json
from batteryops.hazard import features, split
from batteryops.hazard.partitions import featurize_partition, rack_spans
from stages._common import StageFailure, run

log = logging.getLogger("stages.featurize")


def main(params: Params) -> None:
    """Label and featurize every rack of the validated telemetry; tag each row's split."""
    paths, section = params.paths, params.featurize
    require(paths.truth, paths.metrics.validation)
    if not read_json(paths.metrics.validation).get("success", False):
        raise StageFailure(f"{paths.metrics.validation} says validation failed; not featurizing")
    truth = pd.read_parquet(paths.truth)
    assignment = split.assign_splits(truth, section.split)
    with (
        atomic_dir(paths.features_dir) as tmp,
        atomic_dir(paths.logger_copies_dir) as coarse,
        partitions_runner(params.compute) as runner,
    ):
        counts = runner.chain(
            featurize_partition,
            [
                rack_spans(f, params.compute.partition_s)
                for f in partition_files(paths.telemetry_dir)
            ],
            truth=truth,
            assignment=assignment,
            featurize=section,
            label=params.label,
            features_dir=tmp,
            copies_dir=coarse,
        )
    modules = pd.Series(assignment).value_counts().to_dict()
    write_json(
        {"modules": assignment, "counts": modules, "features": features.feature_names(section)},
        paths.split,
    )
    log.info(
        "featurized %d rows (+%d of logger copies), %d hazard seconds; modules per split %s",
        sum(c.rows for c in counts),
        sum(c.copies for c in counts),
        sum(c.positives for c in counts),
        modules,
    )


if __name__ == "__main__":
    run("featurize", main)
