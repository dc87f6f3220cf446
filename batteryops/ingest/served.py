"""Served telemetry and operators' verdicts as a data source the next training run reads.

``batteryops collect`` (and the monitoring's retraining) writes one batch folder per collection
under ``paths.served_dir`` (DVC-tracked), each with the service's accepted rows as they arrived
(``telemetry.parquet``, canonical columns, ids as served) and one verdict per module
(``verdicts.csv``):

- ``no_alarm``: the module raised no alarm while served; it trains as healthy operation;
- ``false_alarm``: every alarm it raised was judged false by an operator; it trains as healthy,
  which is the feedback that teaches the model not to alarm there again;
- ``confirmed``: an operator judged an alarm true; it trains as a runaway whose point of no return
  is the alarm's close (or the module's last served second), detection window
  ``ingest.fault_lookback_s`` before it: the operator stopped it, so PNR is an upper bound;
- ``unjudged``: alarms without a verdict (an acknowledgement is none). Such modules are not
  written into the batch (a label would be a guess); their rows stay in the landing's
  ``exported`` folder.

:func:`read` turns every batch into canonical telemetry and truth. A served stretch of a module is
an episode of its own (``<module>@<batch>``, rack ``<rack>@<batch>``), so it never merges with the
module's training rows, and it always trains (:func:`batteryops.hazard.split.assign_splits`): the
held-out modules stay those the champion was judged on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema, timegrid
from batteryops.core.config import IngestParams
from batteryops.core.io import write_parquet
from batteryops.ingest import telemetry_files
from batteryops.ingest import truth as truths

TELEMETRY, VERDICTS = "telemetry.parquet", "verdicts.csv"
VERDICT_COLUMNS = [schema.MODULE_ID, "verdict", "alarms", "first_alarm_ts", "last_alarm_ts"]
SEPARATOR = "@"


def module_verdicts(telemetry: pd.DataFrame, alarms: pd.DataFrame) -> pd.DataFrame:
    """One verdict per served module from its alarms in the served time range (module docstring).

    Args:
        telemetry: Canonical rows (``module_id``, ``timestamp``).
        alarms: ``module_id``, ``opened_ts``, ``closed_ts`` (epoch seconds) and ``review``.

    Returns:
        :data:`VERDICT_COLUMNS`, one row per module of ``telemetry``.
    """
    seconds = timegrid.epoch_seconds(telemetry[schema.TIMESTAMP])
    span = (
        pd.DataFrame({schema.MODULE_ID: telemetry[schema.MODULE_ID].to_numpy(), "s": seconds})
        .groupby(schema.MODULE_ID)["s"]
        .agg(["min", "max"])
    )
    rows = []
    for module, (first, last) in span.iterrows():
        mine = alarms[
            (alarms[schema.MODULE_ID] == module)
            & (alarms["opened_ts"] >= first)
            & (alarms["opened_ts"] <= last)
        ]
        review = mine["review"].fillna("").astype(str)
        if mine.empty:
            verdict = "no_alarm"
        elif (review == "true_alarm").any():
            verdict = "confirmed"
        elif (review == "false_alarm").all():
            verdict = "false_alarm"
        else:
            verdict = "unjudged"
        closed = mine["closed_ts"].fillna(last)
        rows.append(
            (
                module,
                verdict,
                len(mine),
                int(mine["opened_ts"].min()) if len(mine) else None,
                int(min(closed.max(), last)) if len(mine) else None,
            )
        )
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def write_batch(telemetry: pd.DataFrame, alarms: pd.DataFrame, served_dir: Path) -> dict[str, Any]:
    """Write one batch folder (judged modules only); its summary.

    Args:
        telemetry: The landed canonical rows.
        alarms: Every alarm the service opened, with its ``review``.
        served_dir: The folder of batches.

    Returns:
        ``batch`` (folder name), ``rows``, ``modules`` and the module count per verdict.
    """
    verdicts = module_verdicts(telemetry, alarms)
    batch = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    judged = verdicts[verdicts["verdict"] != "unjudged"]
    rows = telemetry[telemetry[schema.MODULE_ID].isin(judged[schema.MODULE_ID])]
    rows = rows.sort_values([schema.RACK_ID, schema.MODULE_ID, schema.TIMESTAMP], kind="stable")
    rows = rows.drop_duplicates([schema.MODULE_ID, schema.TIMESTAMP], keep="last")
    folder = served_dir / batch
    folder.mkdir(parents=True, exist_ok=False)
    write_parquet(rows.reset_index(drop=True), folder / TELEMETRY)
    verdicts.to_csv(folder / VERDICTS, index=False)
    counts = verdicts["verdict"].value_counts()
    return {
        "batch": batch,
        "rows": len(rows),
        "modules": int(judged[schema.MODULE_ID].nunique()),
        **{k: int(counts.get(k, 0)) for k in ("no_alarm", "false_alarm", "confirmed", "unjudged")},
    }


def batches(served_dir: str | Path) -> list[Path]:
    """The batch folders of ``served_dir`` (those holding telemetry), oldest first."""
    folder = Path(served_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / TELEMETRY).is_file())


def read(served_dir: str | Path, fault_lookback_s: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every batch as canonical telemetry (episode ids) and its truth.

    Raises:
        ValueError: A batch without ``verdicts.csv``, or with a verdict this module does not know.
    """
    telemetry, truth = [], []
    for folder in batches(served_dir):
        path = folder / VERDICTS
        if not path.is_file():
            raise ValueError(f"{path}: missing (each served batch needs its verdicts)")
        verdicts = pd.read_csv(path, dtype={schema.MODULE_ID: str})
        known = {"no_alarm", "false_alarm", "confirmed", "unjudged"}
        unknown = set(verdicts["verdict"]) - known
        if unknown:
            raise ValueError(f"{path}: column 'verdict' holds {sorted(unknown)}; expected {known}")
        rows = pd.read_parquet(folder / TELEMETRY)
        rows = rows[rows[schema.MODULE_ID].isin(verdicts[schema.MODULE_ID])].copy()
        given = _episode_truth(verdicts, folder.name)
        for column in (schema.MODULE_ID, schema.RACK_ID):
            rows[column] = rows[column].astype(str) + SEPARATOR + folder.name
        telemetry.append(rows)
        truth.append(truths.file_truth(rows, given, str(folder), fault_lookback_s))
    if not telemetry:
        return pd.DataFrame(columns=schema.CANONICAL_COLUMNS), pd.DataFrame(
            columns=schema.TRUTH_COLUMNS
        )
    return pd.concat(telemetry, ignore_index=True), pd.concat(truth, ignore_index=True)


def _episode_truth(verdicts: pd.DataFrame, batch: str) -> pd.DataFrame:
    """Truth rows (``file_truth``'s ``given``) of a batch's episodes from their verdicts."""
    verdicts = verdicts[verdicts["verdict"] != "unjudged"]
    confirmed = (verdicts["verdict"] == "confirmed").to_numpy()
    last = pd.to_datetime(verdicts["last_alarm_ts"], unit="s", utc=True)
    return pd.DataFrame(
        {
            schema.MODULE_ID: verdicts[schema.MODULE_ID].astype(str) + SEPARATOR + batch,
            "fault_type": np.where(confirmed, schema.SERVED_KIND + "confirmed", "none"),
            "nuisance_type": np.where(confirmed, "none", schema.SERVED_KIND + verdicts["verdict"]),
            "pnr_time": last.where(confirmed),
        }
    )


def land(served_dir: str | Path, params: IngestParams, out: Path) -> tuple[pd.DataFrame, dict]:
    """Write the served episodes as rack files (``served-<rack>@<batch>``) into ``out``.

    Returns:
        Their truth, and the ingest summary's ``served`` entry (batches, rows, episodes per kind).

    Raises:
        ValueError: As :func:`read`.
    """
    telemetry, truth = read(served_dir, params.fault_lookback_s)
    telemetry_files.write_racks(telemetry, out, "served-")
    kinds = pd.concat([truth["fault_type"], truth["nuisance_type"]])
    summary = {
        "batches": len(batches(served_dir)),
        "rows": len(telemetry),
        "episodes": len(truth),
        **{k: int(v) for k, v in kinds[kinds != "none"].value_counts().items()},
    }
    return truth, summary
