"""Stream a simulated fleet to Parquet: one file per rack, one row group per time chunk.

Arrow writes outside the GIL, so each chunk is written on a background thread while the next
chunk is simulated; at most one chunk waits to be written, which bounds memory to about two
chunks of the fleet.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd

from batteryops import schema, simulate
from batteryops.config import SimulateParams
from batteryops.io import parquet_writer

ID_COLUMNS = [schema.RACK_ID, schema.MODULE_ID]


def write_fleet(
    params: SimulateParams,
    directory: str | Path,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Simulate the fleet chunk by chunk into ``directory/<rack_id>.parquet``.

    Args:
        params: The ``simulate`` section.
        directory: An existing, empty directory.
        progress: Called with (seconds simulated, total seconds) after each chunk.

    Returns:
        The ground truth per module (times in seconds from the start).
    """
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
            signals = simulate.sensor_readings(
                params, plan, physics, simulator.truth(), start_s, stuck_values
            )
            tables = list(simulate.telemetry_tables(params, plan, signals, start_s))
            del physics, signals
            if pending is not None:
                pending.result()
            pending = pool.submit(_write_chunk, tables, directory, writers, stack)
            if progress is not None:
                progress(simulator.t, params.duration_s)
        if pending is not None:
            pending.result()
    return simulator.truth()


def _write_chunk(
    tables: list[tuple[str, Any]], directory: Path, writers: dict[str, Any], stack: ExitStack
) -> None:
    for rack_id, table in tables:
        if rack_id not in writers:
            writer = parquet_writer(directory / f"{rack_id}.parquet", table.schema, ID_COLUMNS)
            writers[rack_id] = stack.enter_context(writer)
        writers[rack_id].write_table(table)
