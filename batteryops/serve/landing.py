"""What the service accepted, kept whole so that the next training run can learn from it.

The store keeps the few signals the page and the monitoring need; training needs every canonical
column. :class:`Landing` writes each accepted batch, as the intake checked it, to one Parquet file
under ``paths.landing_dir``; :func:`collect` turns those files and the operators' verdicts into a
new folder of ``paths.served_dir`` (:mod:`batteryops.ingest.served` reads it) and moves the
collected files aside (``exported/<stamp>/``): nothing the service accepted is dropped.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from batteryops.core import schema
from batteryops.core.io import write_parquet
from batteryops.ingest import served
from batteryops.serve.store import ALARMS, Store

log = logging.getLogger("batteryops.serve.landing")
EXPORTED = "exported"


class Landing:
    """Accepted batches, buffered and written as one Parquet file per flush.

    A file is named by its flush time (milliseconds) and its last batch number. The buffer is
    written when it holds ``flush_rows`` rows or its oldest batch is ``flush_s`` old, and when
    the service stops: a logger posting every second makes a file a minute, not one a second.
    A crash loses at most that minute of landing (the scores are in the store).
    """

    def __init__(self, folder: str | Path, flush_s: float = 60.0, flush_rows: int = 200_000):
        self.folder = Path(folder)
        self.flush_s, self.flush_rows = flush_s, flush_rows
        self._buffer: list[pd.DataFrame] = []
        self._rows, self._since, self._batch = 0, 0.0, 0
        self._lock = threading.Lock()

    def write(self, rows: pd.DataFrame, batch: int) -> Path | None:
        """Buffer one checked batch of canonical rows; the file written if this flushed."""
        with self._lock:
            if not self._buffer:
                self._since = time.monotonic()
            self._buffer.append(rows[schema.CANONICAL_COLUMNS])
            self._rows, self._batch = self._rows + len(rows), batch
            due = time.monotonic() - self._since >= self.flush_s
            return self._flush() if due or self._rows >= self.flush_rows else None

    def flush(self, due_only: bool = False) -> Path | None:
        """Write what is buffered (only if ``flush_s`` old, with ``due_only``); the file or None."""
        with self._lock:
            if due_only and time.monotonic() - self._since < self.flush_s:
                return None
            return self._flush()

    def _flush(self) -> Path | None:
        if not self._buffer:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{time.time_ns() // 10**6:013d}-{self._batch:08d}.parquet"
        write_parquet(pd.concat(self._buffer, ignore_index=True), path)
        self._buffer, self._rows = [], 0
        return path

    def pending(self) -> list[Path]:
        """The landed files not collected yet, oldest first (never one still being written)."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("*.parquet") if not p.name.startswith("."))


def verdicts(store: Store) -> pd.DataFrame:
    """Every alarm the service opened, with its operator verdict (``review``, may be empty)."""
    columns = [ALARMS.c.id, ALARMS.c.module_id, ALARMS.c.opened_ts, ALARMS.c.closed_ts]
    with store.engine.connect() as connection:
        alarms = pd.read_sql(sa.select(*columns, ALARMS.c.review), connection)
    return alarms.rename(columns={"id": "alarm_id"})


def collect(landing: Landing, store: Store, served_dir: str | Path, root: Path) -> dict[str, Any]:
    """Landed telemetry and verdicts into a new ``served_dir`` batch, tracked by DVC.

    Args:
        landing: Where the service landed what it accepted.
        store: The service's database (the alarms and their verdicts).
        served_dir: The DVC-tracked folder of collected batches.
        root: The project (for ``dvc add``).

    Returns:
        The batch's summary (:func:`batteryops.ingest.served.write_batch`) and ``tracked``;
        ``{"batch": None}`` when nothing landed since the last collection.
    """
    files = landing.pending()
    if not files:
        return {"batch": None, "rows": 0}
    folder = root / served_dir  # an absolute served_dir stays itself
    telemetry = pd.concat((pd.read_parquet(f) for f in files), ignore_index=True)
    summary = served.write_batch(telemetry, verdicts(store), folder)
    aside = landing.folder / EXPORTED / summary["batch"]
    aside.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.move(path, aside / path.name)
    summary["tracked"] = track(folder, root)
    log.info("collected %s: %s", summary["batch"], summary)
    return summary


def track(folder: Path, root: Path) -> str:
    """``dvc add`` the folder; its ``.dvc`` file (beside it) is what git versions."""
    dvc = Path(sys.executable).parent / "dvc"
    target = root / folder
    dvc_file = target.parent / f"{target.name}.dvc"
    done = subprocess.run(
        [str(dvc), "add", str(target)],
        cwd=root,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"dvc add {target} failed: {done.stderr.strip() or done.stdout}")
    return str(dvc_file.relative_to(root))
