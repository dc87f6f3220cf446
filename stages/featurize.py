"""DVC stage ``featurize``: labels and rolling features per rack, and the grouped module split.

Labels are made here, rack by rack, on the way to the features (there is no labelled copy of the
telemetry on disk: the features table carries the labels, and only it is read downstream).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.core.io import (
    atomic_dir,
    partition_files,
    read_json,
    release_memory,
    require,
    write_frame,
    write_json,
)
from batteryops.hazard import features, labels, split
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
    rows = copies = positives = 0
    training = {m for m, s in assignment.items() if s == "train"}
    with atomic_dir(paths.features_dir) as tmp, atomic_dir(paths.logger_copies_dir) as coarse:
        for path in partition_files(paths.telemetry_dir):
            labelled = labels.label_rack(_read(path), truth, params.label)
            positives += int(labelled[schema.HAZARD].sum())
            frame = features.featurize_rack(labelled, section)
            frame[schema.SPLIT] = frame[schema.MODULE_ID].map(assignment)
            split.check_no_leak(frame)
            rows += len(frame)
            write_frame(_plain_ids(frame), tmp / path.name, features.stored_columns(frame))
            del frame
            release_memory()
            train_rows = labelled[labelled[schema.MODULE_ID].isin(training)]
            del labelled
            for period in section.logger_copies_s if len(train_rows) else []:
                copy = features.featurize_rack(features.logger_copy(train_rows, period), section)
                copy[schema.SPLIT] = "train"
                copies += len(copy)
                write_frame(
                    _plain_ids(copy),
                    coarse / f"{path.stem}@{period}s.parquet",
                    features.stored_columns(copy),
                )
    counts = pd.Series(assignment).value_counts().to_dict()
    write_json(
        {"modules": assignment, "counts": counts, "features": features.feature_names(section)},
        paths.split,
    )
    log.info(
        "featurized %d rows (+%d of logger copies), %d hazard seconds; modules per split %s",
        rows,
        copies,
        positives,
        counts,
    )


def _read(path: Path) -> pd.DataFrame:
    """A rack's telemetry, ids as categoricals, Arrow's decode buffers handed back at once.

    Labelling and featurizing group, sort and map by module: on codes, not on a string per row
    (13 % of the stage's time). :func:`_plain_ids` turns them back into strings for the files.
    """
    import pyarrow.parquet as pq

    ids = [schema.RACK_ID, schema.MODULE_ID]
    frame = pq.read_table(path, read_dictionary=ids).to_pandas()
    release_memory()
    return frame


def _plain_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its categorical id columns as strings again (what readers get)."""
    for column in (schema.RACK_ID, schema.MODULE_ID, schema.SPLIT):
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(object)
    return frame


if __name__ == "__main__":
    run("featurize", main)
