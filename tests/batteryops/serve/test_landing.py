"""batteryops.serve.landing: what the service accepted becomes a DVC-tracked training batch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from batteryops.core import schema
from batteryops.ingest import served
from batteryops.serve.landing import EXPORTED, Landing, collect
from batteryops.serve.store import Store
from tests.batteryops.ingest.test_served import MODULES, T0, _telemetry


def test_batches_are_buffered_and_written_whole(tmp_path: Path) -> None:
    rows = _telemetry(MODULES, seconds=10)  # 50 rows
    landing = Landing(tmp_path / "landing", flush_s=3600, flush_rows=120)
    assert landing.write(rows, 1) is None and landing.write(rows, 2) is None
    written = landing.write(rows, 3)  # 150 rows >= 120: flushed
    assert written is not None and written.name.endswith("-00000003.parquet")
    assert len(pd.read_parquet(written)) == 150
    assert landing.write(rows, 4) is None
    assert landing.flush(due_only=True) is None  # not an hour old
    assert landing.flush() is not None  # the service stopping
    assert sum(len(pd.read_parquet(p)) for p in landing.pending()) == 200
    assert landing.flush() is None
    # A file the service is still writing (atomic_path's hidden temporary) is not collected.
    (landing.folder / ".0000000000000-00000009.parquet.abc.tmp.parquet").write_bytes(b"")
    assert len(landing.pending()) == 2


def _project(root: Path) -> None:
    """A git repository with DVC, as the pipeline's project is."""
    dvc = Path(sys.executable).parent / "dvc"
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([str(dvc), "init", "-q"], cwd=root, check=True)
    (root / ".gitignore").write_text("/feedback/\n/serve/\n")


def test_collect_moves_landed_rows_into_a_tracked_batch(tmp_path: Path) -> None:
    _project(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'serve.db'}")
    start = int(T0.timestamp())
    ids = store.write_tick(
        [],
        [],
        [
            {
                "module_id": "HV-2",
                "rack_id": "R1",
                "opened_ts": start + 10,
                "last_ts": start + 20,
                "closed_ts": start + 20,
                "peak_probability": 0.99,
            }
        ],
        [],
    )
    store.review(ids[0], "false_alarm", "operator", "fan failure, not a cell")
    landing = Landing(tmp_path / "serve/landing")
    landing.write(_telemetry(MODULES), 1)
    landing.flush()

    summary = collect(landing, store, "feedback", tmp_path)
    assert summary["tracked"] == "feedback.dvc" and (tmp_path / "feedback.dvc").is_file()
    assert (summary["false_alarm"], summary["no_alarm"], summary["modules"]) == (1, 4, 5)
    assert not landing.pending()  # moved aside, not deleted
    assert len(list((tmp_path / "serve/landing" / EXPORTED / summary["batch"]).iterdir())) == 1
    _, truth = served.read(tmp_path / "feedback", 3600)
    episode = truth.set_index(schema.MODULE_ID).loc[f"HV-2@{summary['batch']}"]
    assert episode["nuisance_type"] == "served_false_alarm"
    # Nothing landed since: nothing to collect.
    assert collect(landing, store, "feedback", tmp_path)["batch"] is None
