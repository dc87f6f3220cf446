"""Stream a simulated fleet to files: one per rack, written one time chunk at a time.

Two formats: canonical Parquet (one row group per chunk; what the ``generate`` stage writes) and a
raw logger export as CSV, which also carries the imperfections canonical telemetry may not:
duplicated rows and clock jitter (``simulate.imperfections``), for the ingest path.

Sensor readings, Arrow tables and files of a chunk are made on a background thread while the next
chunk is simulated (numpy and Arrow release the GIL on large arrays); at most one chunk waits,
which bounds memory to about two chunks of the fleet.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from batteryops.core import schema
from batteryops.core.config import SimulateParams
from batteryops.core.io import parquet_writer
from batteryops.sim import simulate

ID_COLUMNS = [schema.RACK_ID, schema.MODULE_ID]
FORMATS = ("parquet", "logger-csv")


def write_fleet(
    params: SimulateParams,
    directory: str | Path,
    progress: Callable[[int, int], None] | None = None,
    file_format: str = "parquet",
) -> pd.DataFrame:
    """Simulate the fleet chunk by chunk into ``directory/<rack_id>.parquet`` (or ``.csv``).

    Args:
        params: The ``simulate`` section.
        directory: An existing, empty directory.
        progress: Called with (seconds simulated, total seconds) after each chunk.
        file_format: ``parquet`` (canonical telemetry) or ``logger-csv`` (raw logger export).

    Returns:
        The ground truth per module (times in seconds from the start).

    Raises:
        ValueError: For an unknown format.
    """
    if file_format not in FORMATS:
        raise ValueError(f"unknown format {file_format!r}; expected one of {FORMATS}")
    directory = Path(directory)
    plan = simulate.plan_fleet(params)
    simulator = simulate.FleetSimulator(params, plan)
    stuck_values: dict[int, float] = {}
    writers: dict[str, Any] = {}
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[None] | None = None
        while not simulator.done:
            start_s = simulator.t
            physics = simulator.advance(params.chunk_s)
            chunk = _Chunk(physics, simulator.truth(), start_s)
            del physics
            if pending is not None:
                pending.result()
            pending = pool.submit(
                _sense_and_write,
                params,
                plan,
                chunk,
                stuck_values,
                file_format,
                directory,
                writers,
                stack,
            )
            if progress is not None:
                progress(simulator.t, params.duration_s)
        if pending is not None:
            pending.result()
    return simulator.truth()


@dataclass(frozen=True)
class _Chunk:
    physics: dict[str, np.ndarray]
    truth: pd.DataFrame
    start_s: int


def _sense_and_write(
    params: SimulateParams,
    plan: simulate.FleetPlan,
    chunk: _Chunk,
    stuck_values: dict[int, float],
    file_format: str,
    directory: Path,
    writers: dict[str, Any],
    stack: ExitStack,
) -> None:
    """Sensor readings, tables and files of one chunk (on the writer thread, in chunk order).

    Large numpy and Arrow operations release the GIL, so this overlaps with the simulation of
    the next chunk, whose per-second loop is mostly Python overhead on small arrays.
    """
    signals = simulate.sensor_readings(
        params, plan, chunk.physics, chunk.truth, chunk.start_s, stuck_values
    )
    tables = list(simulate.telemetry_tables(params, plan, signals, chunk.start_s))
    del signals
    if file_format == "logger-csv":
        rng = np.random.default_rng([params.seed, 4, chunk.start_s])
        tables = [(rack, logger_rows(params, table, rng)) for rack, table in tables]
    _write_chunk(tables, directory, writers, stack)


def logger_rows(params: SimulateParams, table: pa.Table, rng: np.random.Generator) -> pa.Table:
    """What a logger writes for canonical rows: some rows twice, timestamps with jitter (ms)."""
    imperfect = params.imperfections
    jitter_ms = np.rint(rng.normal(0.0, imperfect.clock_jitter_ms, table.num_rows))
    repeats = 1 + (rng.random(table.num_rows) < imperfect.duplicate_fraction)
    order = np.repeat(np.arange(table.num_rows), repeats)  # a duplicate is an exact copy
    table = table.take(pa.array(order))
    stamps_ms = table[schema.TIMESTAMP].cast(pa.timestamp("ms", "UTC")).cast(pa.int64())
    jittered = stamps_ms.to_numpy() + jitter_ms[order].astype(np.int64)
    column = pa.array(jittered, pa.int64()).cast(pa.timestamp("ms", "UTC"))
    return table.set_column(0, schema.TIMESTAMP, column)


def _write_chunk(
    tables: list[tuple[str, Any]], directory: Path, writers: dict[str, Any], stack: ExitStack
) -> None:
    for rack_id, table in tables:
        if rack_id not in writers:
            if table.schema.field(schema.TIMESTAMP).type.unit == "ms":
                path = directory / f"{rack_id}.csv"
                writer = pa_csv.CSVWriter(str(path), table.schema)
            else:
                writer = parquet_writer(directory / f"{rack_id}.parquet", table.schema, ID_COLUMNS)
            writers[rack_id] = stack.enter_context(writer)
        writers[rack_id].write_table(table)
