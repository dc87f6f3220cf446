"""DVC stage ``drift_report``: Evidently drift of the newest data against the training features."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from batteryops.core import schema
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
    # Sample on three columns of the whole table, then read features partition by partition:
    # memory follows one rack, not the fleet.
    metas = [
        pd.read_parquet(f, columns=[schema.TIMESTAMP, schema.SPLIT, schema.TRAINABLE])
        for f in files
    ]
    offsets = np.cumsum([0] + [len(m) for m in metas])
    reference_at, current_at = drift.sample_positions(
        pd.concat(metas, ignore_index=True),
        section.current_window_s,
        section.reference_rows,
        section.current_rows,
        section.seed,
    )
    del metas
    reference, current = (
        _gather(files, offsets, at, features) for at in (reference_at, current_at)
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


def _gather(
    files: list, offsets: np.ndarray, positions: np.ndarray, features: list[str]
) -> pd.DataFrame:
    """The feature rows at global ``positions`` (in the order given), file by file."""
    parts, order = [], []
    for i, path in enumerate(files):
        inside = np.flatnonzero((positions >= offsets[i]) & (positions < offsets[i + 1]))
        if len(inside):
            frame = pd.read_parquet(path, columns=features)
            parts.append(frame.iloc[positions[inside] - offsets[i]])
            order.append(inside)
    if not parts:
        return pd.DataFrame(columns=features)
    gathered = pd.concat(parts, ignore_index=True)
    return gathered.iloc[np.argsort(np.concatenate(order), kind="stable")].reset_index(drop=True)


if __name__ == "__main__":
    run("drift_report", main)
