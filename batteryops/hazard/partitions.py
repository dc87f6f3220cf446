"""One rack × span partition of the telemetry, labelled and featurized: what ``featurize`` maps.

A rack's file is cut into spans of ``compute.partition_s`` (a day) aligned to the epoch
(:func:`rack_spans`), so that what one task holds does not grow with the days a file covers.
:func:`featurize_partition` reads one span's rows together with the readings its windows look
back on and its labels look ahead to (:func:`margins_s`), labels and featurizes them, keeps the
span's own rows, tags each row's split and writes ``<rack>.<span start>.parquet`` (and the
training modules' logger copies). The thermal observer, which remembers hours, carries its
state from one span of a rack to the next: the spans of a rack form a chain, racks run side by
side (:meth:`batteryops.core.compute.Runner.chain`), in this process or on Dask workers.

Each file is written under a temporary name and renamed, so a task that runs again (a lost Dask
worker) leaves whole files only; the same inputs give byte-identical files wherever the task runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import FeaturizeParams, LabelParams
from batteryops.core.io import release_memory, write_frame
from batteryops.hazard import features, labels, split

# Readings a span reads beyond its window's longest look-back, and beyond its labels' look-ahead.
MARGIN_S = 60
ObserverStates = dict[str, np.ndarray]


@dataclass(frozen=True)
class Span:
    """The rows of one rack file at epoch seconds ``start_s`` up to (not with) ``end_s``."""

    path: Path
    start_s: int
    end_s: int

    @property
    def seconds(self) -> tuple[int, int]:
        """``(start_s, end_s)``."""
        return self.start_s, self.end_s

    @property
    def name(self) -> str:
        """``<rack>.<start, UTC>``: the span's file name without suffix (sorts by rack, time)."""
        start = pd.Timestamp(self.start_s, unit="s", tz="UTC")
        return f"{self.path.stem}.{start:%Y-%m-%dT%H%M}"


def rack_spans(path: Path, span_s: int) -> list[Span]:
    """The spans of ``span_s`` seconds, aligned to the epoch, that hold a rack file's rows."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    first, last = None, None
    for batch in pq.ParquetFile(path).iter_batches(columns=[schema.TIMESTAMP]):
        stamps = pc.min_max(batch.column(0).cast("int64"))
        if stamps["min"].is_valid:
            lo, hi = stamps["min"].as_py(), stamps["max"].as_py()
            first = lo if first is None else min(first, lo)
            last = hi if last is None else max(last, hi)
    if first is None:
        return []
    unit = _ticks_per_second(pq.ParquetFile(path).schema_arrow.field(schema.TIMESTAMP).type)
    start, end = first // unit // span_s * span_s, last // unit + 1
    return [Span(Path(path), s, s + span_s) for s in range(start, end, span_s)]


def margins_s(featurize: FeaturizeParams, label: LabelParams) -> tuple[int, int]:
    """Seconds of readings before and after a span that its rows' features and labels read.

    Back: twice the longest trailing window of any feature or label (a slope's window reaches
    back its own length plus a smoothing window; the heat balance pairs a slope with a power
    mean), plus a margin. Ahead: the labels' longest look-ahead, plus a margin.
    """
    trailing = [
        *featurize.slope_windows_s,
        *featurize.rolling_windows_s,
        featurize.heat_balance_window_s,
        features.SLOPE_SMOOTHING_S,
        features.STUCK_WINDOW_S,
        features.MISSING_WINDOW_S,
        features.CURRENT_WINDOW_S,
        features.RACK_HOLD_S,
        2 * features.HELD_HALF_S,
        label.delta_t_median_s,
    ]
    ahead = max(label.overheat_horizon_s, label.delta_t_horizon_s)
    return 2 * max(trailing) + MARGIN_S, ahead + MARGIN_S


@dataclass(frozen=True)
class PartitionCounts:
    """What one partition added: feature rows, logger-copy rows, hazard seconds."""

    rows: int
    copies: int
    positives: int


def featurize_partition(
    span: Span,
    carried: ObserverStates | None,
    truth: pd.DataFrame,
    assignment: dict[str, str],
    featurize: FeaturizeParams,
    label: LabelParams,
    features_dir: Path,
    copies_dir: Path,
) -> tuple[PartitionCounts, ObserverStates]:
    """Label and featurize one span of a rack; write its features and logger copies.

    Args:
        span: The rack file and the seconds whose rows this partition writes.
        carried: The observer states after the rack's previous span (None for its first).
        truth: The fleet's truth table (labels).
        assignment: Module -> split (``train``, ``validation``, ``test``).
        featurize: The ``featurize`` section.
        label: The ``label`` section.
        features_dir: Where ``<span>.parquet`` of features goes.
        copies_dir: Where ``<span>@<period>s.parquet`` logger copies go.

    Returns:
        The partition's row counts, and the observer states after its rows (for the next span).
    """
    back, ahead = margins_s(featurize, label)
    window = _read(span.path, span.start_s - back, span.end_s + ahead)
    states = dict(carried or {})  # a task run again must start from the same states
    if window.empty:
        return PartitionCounts(0, 0, 0), states
    labelled = labels.label_rack(window, truth, label)
    inputs = list(labelled.columns)
    del window
    frame = features.featurize_rack(labelled, featurize, states, span.seconds)
    del labelled  # the featurized frame carries the input columns too
    release_memory()
    kept = _in_span(frame, span)
    frame[schema.SPLIT] = frame[schema.MODULE_ID].map(assignment)
    split.check_no_leak(frame)
    rows, positives = len(kept), int(frame[schema.HAZARD].to_numpy()[kept].sum())
    if rows:
        _write(_plain_ids(frame), Path(features_dir) / f"{span.name}.parquet", kept)
    training = frame[schema.MODULE_ID].isin({m for m, s in assignment.items() if s == "train"})
    train_rows = frame.loc[training.to_numpy(), inputs] if featurize.logger_copies_s else None
    del frame
    release_memory()
    copies = 0
    for period in featurize.logger_copies_s if train_rows is not None and len(train_rows) else []:
        copy = features.featurize_rack(
            features.logger_copy(train_rows, period), featurize, states, span.seconds
        )
        kept = _in_span(copy, span)
        copy[schema.SPLIT] = "train"
        copies += len(kept)
        if len(kept):
            _write(_plain_ids(copy), Path(copies_dir) / f"{span.name}@{period}s.parquet", kept)
    return PartitionCounts(rows, copies, positives), states


def _in_span(frame: pd.DataFrame, span: Span) -> np.ndarray:
    """Positions of the frame's rows at the span's seconds (the others were history)."""
    seconds = features.whole_seconds(frame[schema.TIMESTAMP])
    return np.flatnonzero((seconds >= span.start_s) & (seconds < span.end_s))


def _write(frame: pd.DataFrame, path: Path, rows: np.ndarray) -> None:
    """The stored columns of the rows at ``rows`` to ``path``, whole or not at all.

    A temporary name, then a rename; the rows go out a row group at a time (no copy of the
    frame's span).
    """
    partial = path.with_name(f".{path.name}.partial")
    write_frame(frame, partial, features.stored_columns(frame), rows)
    os.replace(partial, path)


def _read(path: Path, start_s: int, end_s: int) -> pd.DataFrame:
    """A rack's telemetry from ``start_s`` up to ``end_s``, ids as categoricals.

    Row group by row group: one whose timestamp statistics lie outside the seconds is skipped
    unread, the others are decoded one at a time and cut to the seconds, so what is held is the
    window and one row group. Labelling and featurizing group, sort and map by module: on codes,
    not on a string per row (13 % of the stage's time). :func:`_plain_ids` turns them back into
    strings for the files.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ids = [schema.RACK_ID, schema.MODULE_ID]
    source = pq.ParquetFile(path, read_dictionary=ids)
    kind = source.schema_arrow.field(schema.TIMESTAMP).type
    ticks = _ticks_per_second(kind)
    start = pa.scalar(start_s * ticks, pa.int64()).cast(kind)
    end = pa.scalar(end_s * ticks, pa.int64()).cast(kind)
    column = source.schema_arrow.get_field_index(schema.TIMESTAMP)
    parts = []
    for group in range(source.num_row_groups):
        stats = source.metadata.row_group(group).column(column).statistics
        if stats is not None and stats.has_min_max:
            low, high = pa.scalar(stats.min, kind), pa.scalar(stats.max, kind)
            if pc.less(high, start).as_py() or not pc.less(low, end).as_py():
                continue
        table = source.read_row_group(group)
        stamps = table.column(schema.TIMESTAMP)
        parts.append(table.filter(pc.and_(pc.greater_equal(stamps, start), pc.less(stamps, end))))
        del table
    if not parts:
        return source.schema_arrow.empty_table().to_pandas()
    frame = pa.concat_tables(parts).to_pandas()
    del parts
    release_memory()
    return frame


def _ticks_per_second(kind: object) -> int:
    """Ticks per second of an Arrow timestamp type."""
    return {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[kind.unit]  # type: ignore[attr-defined]


def _plain_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its categorical id columns as strings again (what readers get)."""
    for column in (schema.RACK_ID, schema.MODULE_ID, schema.SPLIT):
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(object)
    return frame
