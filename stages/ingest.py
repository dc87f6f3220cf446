"""DVC stage ``ingest``: the pipeline's canonical telemetry, from the simulator, files or both.

``source: simulated`` passes the generate stage's telemetry through; ``files`` ingests every
logger/BMS export under ``paths.raw_dir`` (unusable files go to ``paths.quarantine_dir`` with a
reason); ``both`` does both (module ids must not clash). Ground truth comes from the simulator,
and for files from ``truth.parquet`` or ``truth.csv`` in the raw folder (per module: ``module_id``
and, for modules that ran away, ``pnr_time``; optional ``fault_type``, ``fault_start``,
``vent_time``, ``rack_id``, ``position``). Without one, every file module counts as never running
away, which evaluates false alarms but cannot train a hazard model.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.core.io import atomic_dir, partition_files, require, write_json, write_parquet
from batteryops.ingest import telemetry_files
from stages._common import StageFailure, run

log = logging.getLogger("stages.ingest")


def main(params: Params) -> None:
    """Write canonical telemetry (one Parquet file per rack), truth and the ingest summary."""
    paths = params.paths
    started = time.perf_counter()
    truths: list[pd.DataFrame] = []
    summary: dict = {"source": params.source}
    with atomic_dir(paths.telemetry_dir) as out, atomic_dir(paths.quarantine_dir) as quarantine:
        simulated_modules: set[str] = set()
        if params.source in ("simulated", "both"):
            require(paths.simulated_dir, paths.simulated_truth)
            simulated = pd.read_parquet(paths.simulated_truth)
            simulated_modules = set(simulated[schema.MODULE_ID])
            truths.append(simulated)
            files = partition_files(paths.simulated_dir) if simulated_modules else []
            for path in files:
                _link_or_copy(path, out / path.name)
            summary["simulated_modules"] = len(simulated_modules)
        if params.source in ("files", "both"):
            require(paths.raw_dir)
            telemetry, report = telemetry_files.ingest([paths.raw_dir], params.ingest, quarantine)
            clash = simulated_modules & set(telemetry[schema.MODULE_ID].unique())
            if clash:
                raise StageFailure(
                    f"source 'both': module ids in {paths.raw_dir} clash with simulated ones "
                    f"({sorted(clash)[:5]}); rename them in the files or use source 'files'"
                )
            if telemetry.empty:
                raise StageFailure(
                    f"{paths.raw_dir}: no usable telemetry ({report['files_rejected']} files "
                    f"quarantined in {paths.quarantine_dir}, see their .reason.json)"
                )
            telemetry_files.write_racks(
                telemetry, out, "" if params.source == "files" else "files-"
            )
            truths.append(_file_truth(Path(paths.raw_dir), telemetry))
            summary |= report
            log.info(
                "ingested %d files (%d quarantined): %d rows in, %d out, dropped %s",
                report["files_accepted"],
                report["files_rejected"],
                report["rows_in"],
                report["rows_out"],
                report["rows_dropped"],
            )
    truth = pd.concat(truths, ignore_index=True)
    write_parquet(truth, paths.truth)
    write_json(summary, paths.metrics.ingest)
    log.info(
        "wrote %s (%d modules) in %.1f s",
        paths.telemetry_dir,
        len(truth),
        time.perf_counter() - started,
    )


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _file_truth(raw_dir: Path, telemetry: pd.DataFrame) -> pd.DataFrame:
    """Truth for ingested modules: from truth.parquet/.csv in the raw folder, else 'no runaway'."""
    modules = telemetry[[schema.RACK_ID, schema.MODULE_ID]].drop_duplicates().reset_index(drop=True)
    modules["position"] = modules.groupby(schema.RACK_ID).cumcount()
    given = None
    for name in ("truth.parquet", "truth.csv"):
        path = raw_dir / name
        if path.is_file():
            given = pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)
            break
    if given is None:
        log.warning(
            "%s has no truth.parquet or truth.csv: every module counts as never running away",
            raw_dir,
        )
        given = pd.DataFrame({schema.MODULE_ID: modules[schema.MODULE_ID]})
    if schema.MODULE_ID not in given.columns:
        raise StageFailure(f"{raw_dir}/truth: no module_id column (columns: {list(given.columns)})")
    given = given[given[schema.MODULE_ID].isin(modules[schema.MODULE_ID])]
    given = given.drop(columns=[c for c in (schema.RACK_ID, "position") if c in given])
    truth = modules.merge(given, on=schema.MODULE_ID, how="left")
    for column in ("fault_type", "nuisance_type"):
        truth[column] = truth[column].fillna("none") if column in truth else "none"
    for column in ("fault_start", "nuisance_start", "vent_time", "pnr_time"):
        values = truth[column] if column in truth else pd.Series(pd.NaT, index=truth.index)
        truth[column] = pd.to_datetime(values, utc=True, errors="coerce")
    truth["position"] = truth["position"].astype(np.int64)
    return truth[schema.TRUTH_COLUMNS]


if __name__ == "__main__":
    run("ingest", main)
