"""Atomic file output and Parquet partition access.

Every writer here writes to a temporary sibling and renames it into place, so a killed stage
never leaves a half-written output behind (the rename is atomic on one file system).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


class MissingInputError(FileNotFoundError):
    """Raised when a stage's declared input is absent."""


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` if the block succeeds.

    The temporary name keeps ``path``'s suffix, for writers that infer the format from it.

    Args:
        path: The final file.

    Yields:
        A temporary file path in the same directory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o644)  # mkstemp makes files private; outputs are ordinary project files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it in for ``path`` on success.

    Args:
        path: The final directory (replaced whole).

    Yields:
        An empty temporary directory in the same parent.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_json(data: Any, path: str | Path) -> None:
    """Write JSON atomically (sorted keys, indented, NaN written as null)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_finite(data), indent=2, sort_keys=True) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def read_json(path: str | Path) -> Any:
    """Read a JSON file, naming it if it is missing."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: file not found")
    return json.loads(path.read_text())


# How tables are stored: LZ4 on byte-stream-split floats. Tried on a features partition
# (2 M rows, 66 columns) against Snappy: a third smaller, written and read faster.
COMPRESSION = "lz4"


def storage_options(schema: Any, dictionary_columns: list[str] | None = None) -> dict:
    """Parquet writer options for an Arrow ``schema``: LZ4, floats byte-stream split, times delta.

    Byte-stream splitting stores each float's bytes in separate streams (the exponent bytes of
    a sensor signal repeat, its low mantissa bytes are noise), which compresses well. Dictionary
    encoding is kept to ``dictionary_columns`` (default: the string and dictionary columns): on
    float signals it costs time and saves nothing, and it excludes the split.
    """
    import pyarrow as pa

    if dictionary_columns is None:
        dictionary_columns = [
            f.name
            for f in schema
            if pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type)
            or pa.types.is_dictionary(f.type)
        ]
    timestamps = [f.name for f in schema if pa.types.is_timestamp(f.type)]
    return {
        "compression": COMPRESSION,
        "use_dictionary": dictionary_columns,
        "use_byte_stream_split": [f.name for f in schema if pa.types.is_floating(f.type)],
        # Seconds one after another: their differences pack into a few bits (a featurized rack's
        # timestamps 39 MB -> 0.04 MB).
        "column_encoding": {name: "DELTA_BINARY_PACKED" for name in timestamps},
    }


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    """Write one Parquet file atomically (:func:`storage_options`: strings as dictionaries)."""
    with atomic_path(path) as tmp:
        write_frame(frame, tmp)


# Rows per row group of :func:`write_frame` (pyarrow's own default for ``write_table``).
ROW_GROUP_ROWS = 1 << 20


def write_frame(
    frame: pd.DataFrame,
    path: str | Path,
    columns: list[str] | None = None,
    rows: np.ndarray | None = None,
) -> None:
    """Write a frame (or its ``columns``, or the rows at positions ``rows``) to Parquet in place.

    Converted to Arrow one row group at a time (:func:`storage_options`): a whole-frame
    conversion would hold a second copy of the frame (1.8 GB for a featurized rack of the
    default fleet). Only the chosen columns are converted (selecting them in pandas would copy
    each row group first). Callers own atomicity.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    whole = pa.Schema.from_pandas(frame, preserve_index=False)
    columns = list(frame.columns) if columns is None else columns
    schema = pa.schema([whole.field(name) for name in columns])
    count = len(frame) if rows is None else len(rows)
    with pq.ParquetWriter(str(path), schema, **storage_options(schema)) as writer:
        for start in range(0, max(count, 1), ROW_GROUP_ROWS):
            if rows is None:
                part = frame.iloc[start : start + ROW_GROUP_ROWS]
            else:
                part = frame.iloc[rows[start : start + ROW_GROUP_ROWS]]
            # The schema names the columns to convert: only those are.
            writer.write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False))


def parquet_writer(path: str | Path, schema: Any, dictionary_columns: list[str]) -> Any:
    """A streaming Parquet writer (one row group per ``write_table``; :func:`storage_options`)."""
    import pyarrow.parquet as pq

    return pq.ParquetWriter(str(path), schema, **storage_options(schema, dictionary_columns))


def partition_files(directory: str | Path) -> list[Path]:
    """The Parquet files of a partitioned dataset, in name order.

    Raises:
        MissingInputError: If the directory is absent or holds no Parquet file.
    """
    directory = Path(directory)
    files = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
    if not files:
        raise MissingInputError(f"{directory}: no Parquet partitions found")
    return files


def read_partitions(directory: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read every partition of a dataset into one frame."""
    frames = [pd.read_parquet(path, columns=columns) for path in partition_files(directory)]
    return pd.concat(frames, ignore_index=True)


def read_rows(
    path: str | Path,
    columns: list[str],
    keep: Callable[[pd.DataFrame], Any] | np.ndarray | None = None,
    by: list[str] | None = None,
    categorical: list[str] | None = None,
) -> pd.DataFrame:
    """Some rows of a Parquet file: only ``by`` go to pandas to choose them, the rest after.

    Converting a whole partition to pandas costs several times decoding it; choosing the rows
    on a few columns first, and taking them in Arrow row group by row group, decodes one row
    group of the other columns at a time and converts only what is kept.

    Args:
        path: The Parquet file.
        columns: The columns returned.
        keep: The rows to keep (a boolean mask or positions, in the order wanted), or a function
            giving them from the ``by`` columns of the whole file as a frame. None: every row.
        by: The columns ``keep`` reads (any of them may be outside ``columns``).
        categorical: String columns returned as pandas categoricals (a Python string per row of
            a module id takes 8 bytes and a hash on every comparison; a code takes 1).
    """
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path, read_dictionary=categorical)
    if keep is None:
        table = source.read(columns=columns)
    else:
        chosen = np.asarray(
            keep(source.read(columns=by or []).to_pandas()) if callable(keep) else keep
        )
        rows = np.flatnonzero(chosen) if chosen.dtype == bool else chosen.astype(np.int64)
        table = _take(source, columns, rows)
    frame = table.to_pandas()
    del table
    release_memory()
    return frame


def _take(source: Any, columns: list[str], rows: np.ndarray) -> Any:
    """The Arrow rows at ``rows`` (in that order) of a ``ParquetFile``, one row group at a time."""
    import pyarrow as pa

    order = np.argsort(rows, kind="stable")
    ascending = rows[order]
    pieces, start = [], 0
    for group in range(source.num_row_groups):
        size = source.metadata.row_group(group).num_rows
        lo, hi = np.searchsorted(ascending, [start, start + size])
        if hi > lo:
            table = source.read_row_group(group, columns=columns)
            pieces.append(table.take(pa.array(ascending[lo:hi] - start, type=pa.int64())))
        start += size
    if not pieces:
        return source.schema_arrow.empty_table().select(columns)
    taken = pa.concat_tables(pieces)
    if np.any(order[1:] < order[:-1]):  # positions given out of order: put them back
        taken = taken.take(pa.array(np.argsort(order, kind="stable"), type=pa.int64()))
    return taken


def release_memory() -> None:
    """Hand memory freed by dropped tables and frames back to the system.

    Two allocators keep freed memory for reuse: Arrow's pool (its decode buffers) and glibc's
    heap (pandas and NumPy arrays, fragmented by the many sizes a stage allocates). A stage that
    reads one rack after another otherwise holds every rack's worth of both: evaluate kept 1.4 GB
    of Arrow buffers (peak 6.4 GB), and after two racks 0.75 GB of freed heap that
    ``malloc_trim`` returns.
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


# glibc's mallopt parameter for the most heaps (arenas) threads may allocate from.
M_ARENA_MAX = -8


def share_one_heap() -> None:
    """Let threads started from now on allocate from the process's one glibc heap.

    glibc gives threads heaps of their own (up to 8 per core), and memory freed in them stays
    with them: evaluate scoring two rack-days at once on threads peaked 0.6 GB higher (4.4 GB,
    3.8 with one thread or one heap) in the threshold search after it, at the same speed with
    one heap. Call before the threads start.
    """
    libc = _glibc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_ARENA_MAX, 1)


@functools.cache
def _glibc() -> Any:
    """glibc, for ``malloc_trim`` (None where the C library is another: musl, macOS)."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def require(*paths: str | Path) -> None:
    """Fail early, naming every declared input that is missing.

    Raises:
        MissingInputError: If any path does not exist.
    """
    missing = [str(path) for path in paths if not Path(path).exists()]
    if missing:
        raise MissingInputError(
            "missing input: " + ", ".join(missing) + " (run the stage that produces it, "
            "or `dvc repro` to run the whole pipeline)"
        )
