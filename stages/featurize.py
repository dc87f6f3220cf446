"""DVC stage ``featurize``: rolling features per rack and the grouped module split."""

from __future__ import annotations

import logging

import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.core.io import atomic_dir, partition_files, require, write_json
from batteryops.hazard import features, split
from stages._common import run

log = logging.getLogger("stages.featurize")


def main(params: Params) -> None:
    """Featurize every labelled rack, tag each row with its module's split."""
    paths, section = params.paths, params.featurize
    require(paths.truth)
    truth = pd.read_parquet(paths.truth)
    assignment = split.assign_splits(truth, section.split)
    rows = copies = 0
    training = {m for m, s in assignment.items() if s == "train"}
    with atomic_dir(paths.features_dir) as tmp, atomic_dir(paths.logger_copies_dir) as coarse:
        for path in partition_files(paths.labelled_dir):
            labelled = pd.read_parquet(path)
            frame = features.featurize_rack(labelled, section)
            frame[schema.SPLIT] = frame[schema.MODULE_ID].map(assignment)
            split.check_no_leak(frame)
            rows += len(frame)
            frame.to_parquet(tmp / path.name, index=False)
            train_rows = labelled[labelled[schema.MODULE_ID].isin(training)]
            for period in section.logger_copies_s if len(train_rows) else []:
                copy = features.featurize_rack(features.logger_copy(train_rows, period), section)
                copy[schema.SPLIT] = "train"
                copies += len(copy)
                copy.to_parquet(coarse / f"{path.stem}@{period}s.parquet", index=False)
    counts = pd.Series(assignment).value_counts().to_dict()
    write_json(
        {"modules": assignment, "counts": counts, "features": features.feature_names(section)},
        paths.split,
    )
    log.info(
        "featurized %d rows (+%d of logger copies); modules per split %s", rows, copies, counts
    )


if __name__ == "__main__":
    run("featurize", main)
