"""Atomic file output and Parquet partition access.

Every writer here writes to a temporary sibling and renames it into place, so a killed stage
never leaves a half-written output behind (the rename is atomic on one file system).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    """Write one Parquet file atomically."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def parquet_writer(path: str | Path, schema: Any, dictionary_columns: list[str]) -> Any:
    """A streaming Parquet writer (one row group per ``write_table``).

    Dictionary encoding is kept to the given (low-cardinality) columns: tried on float signals
    it costs time and saves nothing.
    """
    import pyarrow.parquet as pq

    return pq.ParquetWriter(
        str(path), schema, use_dictionary=dictionary_columns, compression="snappy"
    )


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
