"""Replay recorded telemetry into the service at N x real time (demos, tests, load).

The source is canonical Parquet (the pipeline's ``data/interim/telemetry``) or logger exports
(read with the ingest stage's code). Rows go through the same checks as posted batches
(:meth:`batteryops.serve.service.Service.ingest_frame`), one slice of data time per wall-clock step.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import IngestParams

log = logging.getLogger("batteryops.serve.replay")
STEP_S = 0.2  # wall-clock seconds between slices


def load(
    source: str | Path,
    ingest_params: IngestParams,
    start: str | None = None,
    hours: float | None = None,
) -> pd.DataFrame:
    """Telemetry to replay, sorted by time: a folder of canonical Parquet, or logger exports.

    Args:
        source: A folder or file.
        ingest_params: How to read logger exports.
        start: Replay from this UTC time on (ISO 8601); default the first row.
        hours: Replay this many hours of data; default all.
    """
    source = Path(source)
    parquet = [source] if source.suffix == ".parquet" else sorted(source.glob("*.parquet"))
    since = None
    if start:
        since = pd.Timestamp(start)
        since = since.tz_localize("UTC") if since.tzinfo is None else since.tz_convert("UTC")
    if parquet:
        # Only the rows replayed are read (a fleet's days of telemetry need not fit twice).
        filters = [(schema.TIMESTAMP, ">=", since)] if since is not None else None
        frame = pd.concat(
            (pd.read_parquet(path, filters=filters) for path in parquet), ignore_index=True
        )
    else:
        from batteryops.ingest import telemetry_files

        frame, _ = telemetry_files.ingest(
            [source], ingest_params, source.parent / "replay_quarantine"
        )
    if frame.empty:
        raise ValueError(f"{source}: no telemetry to replay")
    frame = frame[[c for c in schema.CANONICAL_COLUMNS if c in frame.columns]]
    times = frame[schema.TIMESTAMP]
    first = since if since is not None else times.min()
    keep = times >= first
    if hours is not None:
        keep &= times < first + pd.Timedelta(hours=hours)
    return frame[keep].sort_values(schema.TIMESTAMP, kind="stable").reset_index(drop=True)


async def replay(service, frame: pd.DataFrame, speed: float, stop: asyncio.Event) -> int:
    """Feed ``frame`` to ``service`` at ``speed`` x real time; returns the rows sent."""
    seconds = frame[schema.TIMESTAMP].astype("int64").to_numpy() // 10**9
    clock, end, position, sent = int(seconds[0]) - 1, int(seconds[-1]), 0, 0
    log.info(
        "replaying %d rows (%s to %s) at %gx",
        len(frame),
        frame[schema.TIMESTAMP].iloc[0],
        frame[schema.TIMESTAMP].iloc[-1],
        speed,
    )
    carry = 0.0
    while clock < end and not stop.is_set():
        carry += speed * STEP_S
        step, carry = int(carry), carry - int(carry)
        if step:
            clock += step
            upto = int(np.searchsorted(seconds, clock, side="right"))
            limit = service.settings.max_rows_per_request
            # Faster than the scorer keeps up with: wait rather than pile up rows in memory.
            while service.engine is not None and service.engine.pending_rows > 4 * limit:
                await asyncio.sleep(STEP_S)
            for first in range(position, upto, limit):  # in requests the service accepts
                part = frame.iloc[first : min(first + limit, upto)]
                try:
                    await asyncio.to_thread(service.ingest_frame, part)
                    sent += len(part)
                except ValueError as error:  # a refused slice is logged; the replay goes on
                    log.warning("replay slice refused: %s", error)
            position = max(position, upto)
        await asyncio.sleep(STEP_S)
    log.info("replay finished: %d rows", sent)
    return sent
