"""Feature drift with Evidently 0.7: training features as reference against the newest data.

:func:`sample_partitions` draws both samples from a partitioned feature table (via
:func:`sample_positions`), :func:`drift_report` compares them. Evidently is imported inside
:func:`drift_report` (its import costs several seconds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema, timegrid
from batteryops.core.config import DriftParams
from batteryops.core.io import read_rows


def sample_positions(
    meta: pd.DataFrame,
    current_window_s: int,
    reference_rows: int,
    current_rows: int,
    seed: int,
    arrived: set[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the reference (training split) and current (newest data) samples.

    The newest data are the rows that arrived since the training data: the modules in
    ``arrived`` (collected served episodes) when there are any; else the newest window of the
    table. The reference is the training split without them.

    Rows of incidents (a module past its guard before PNR, or after a neighbour vented; the
    ``trainable`` flag is false there) are left out of both: drift is about the data of normal
    operation that the model is trained on, not about a fire that the labels already cover.
    Needs only ``timestamp``, ``module_id``, ``split`` and ``trainable``, so a large table is
    sampled on those columns and its features read afterwards, partition by partition.

    Args:
        meta: Rows with ``timestamp``, ``module_id``, ``split`` and ``trainable``.
        current_window_s: Without ``arrived``: rows within this many seconds of the latest
            timestamp are the newest data.
        reference_rows: Rows sampled from the reference.
        current_rows: Rows sampled from the current window.
        seed: Sampling seed.
        arrived: Module ids of the data that arrived since training, or None.

    Returns:
        ``(reference, current)`` row positions into ``meta``.
    """
    normal = meta[schema.TRAINABLE].to_numpy(dtype=bool)
    if arrived:
        newest = meta[schema.MODULE_ID].isin(arrived).to_numpy()
    else:
        seconds = timegrid.epoch_seconds(meta[schema.TIMESTAMP])
        newest = seconds >= np.nanmax(seconds) - current_window_s
    positions = pd.Series(np.arange(len(meta)))
    before = (meta[schema.SPLIT] == "train").to_numpy()
    if arrived:
        before &= ~newest
    reference = positions[before & normal]
    current = positions[newest & normal]
    reference = reference.sample(min(reference_rows, len(reference)), random_state=seed)
    current = current.sample(min(current_rows, len(current)), random_state=seed)
    return reference.to_numpy(), current.to_numpy()


def sample_partitions(
    files: list[Path], features: list[str], params: DriftParams, arrived: set[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference and current feature rows of a table stored as partition files.

    Samples on four columns of the whole table (:func:`sample_positions`), then reads the
    features partition by partition: memory follows one partition, not the fleet.

    Args:
        files: The table's Parquet partitions, in order.
        features: The feature columns to read.
        params: The ``drift`` section (window, sample sizes, seed).
        arrived: Module ids of the data that arrived since training (see :func:`sample_positions`).

    Returns:
        ``(reference, current)`` feature rows, each in its sample's order.
    """
    keys = [schema.MODULE_ID, schema.SPLIT]
    metas = [
        read_rows(f, [schema.TIMESTAMP, *keys, schema.TRAINABLE], categorical=keys) for f in files
    ]
    offsets = np.cumsum([0] + [len(m) for m in metas])
    reference_at, current_at = sample_positions(
        _concat_categorical(metas, keys),
        params.current_window_s,
        params.reference_rows,
        params.current_rows,
        params.seed,
        arrived,
    )
    del metas
    reference, current = _gather(files, offsets, [reference_at, current_at], features)
    return reference, current


def _concat_categorical(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Frames stacked with their ``columns`` categorical over one set of categories.

    ``pd.concat`` of differing categories gives Python strings (3 GB for the default fleet).
    """
    for column in columns:
        for frame in frames:  # an empty file's column comes back plain
            frame[column] = frame[column].astype("category")
        union = sorted(set().union(*(frame[column].cat.categories for frame in frames)))
        for frame in frames:
            frame[column] = frame[column].cat.set_categories(union)
    return pd.concat(frames, ignore_index=True)


def _gather(
    files: list[Path], offsets: np.ndarray, samples: list[np.ndarray], features: list[str]
) -> list[pd.DataFrame]:
    """The feature rows at each sample's global positions (in its order), one read per file."""
    parts: list[list[pd.DataFrame]] = [[] for _ in samples]
    orders: list[list[np.ndarray]] = [[] for _ in samples]
    for i, path in enumerate(files):
        inside = [np.flatnonzero((at >= offsets[i]) & (at < offsets[i + 1])) for at in samples]
        if not any(len(rows) for rows in inside):
            continue
        local = [at[rows] - offsets[i] for at, rows in zip(samples, inside, strict=True)]
        wanted = np.unique(np.concatenate(local))
        frame = read_rows(path, features, wanted)
        for k, rows in enumerate(inside):
            if len(rows):
                parts[k].append(frame.iloc[np.searchsorted(wanted, local[k])])
                orders[k].append(rows)
    gathered = []
    for part, order in zip(parts, orders, strict=True):
        if not part:
            gathered.append(pd.DataFrame(columns=features))
            continue
        frame = pd.concat(part, ignore_index=True)
        by_order = np.argsort(np.concatenate(order), kind="stable")
        gathered.append(frame.iloc[by_order].reset_index(drop=True))
    return gathered


def drift_report(
    reference: pd.DataFrame, current: pd.DataFrame, html_path: str | Path, method: str
) -> dict[str, Any]:
    """Run Evidently's data-drift preset, save its HTML, return the drift summary.

    Args:
        reference: Reference feature rows.
        current: Current feature rows.
        html_path: Where the HTML report goes.
        method: Evidently's per-column drift method (e.g. ``psi``, ``wasserstein``, ``ks``).

    Returns:
        ``share_of_drifted_columns``, ``number_of_drifted_columns``, ``number_of_columns`` and
        ``drift_by_column`` (Evidently's per-column drift score).
    """
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset(method=method)]).run(
        current_data=current, reference_data=reference
    )
    snapshot.save_html(str(html_path))
    summary: dict[str, Any] = {"number_of_columns": int(reference.shape[1]), "drift_by_column": {}}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        kind = config.get("type", "")
        if kind.endswith("DriftedColumnsCount"):
            summary["share_of_drifted_columns"] = float(metric["value"]["share"])
            summary["number_of_drifted_columns"] = int(metric["value"]["count"])
        elif kind.endswith("ValueDrift"):
            summary["drift_by_column"][config["column"]] = {
                "score": float(metric["value"]),
                "method": config.get("method"),
                "threshold": config.get("threshold"),
            }
    if "share_of_drifted_columns" not in summary:
        raise RuntimeError("Evidently report has no DriftedColumnsCount metric")
    return summary
