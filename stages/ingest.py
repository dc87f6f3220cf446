"""DVC stage ``ingest``: the pipeline's canonical telemetry, from the simulator, files or both.

``source: simulated`` passes the generate stage's telemetry through; ``files`` ingests every
logger/BMS export under ``paths.raw_dir`` (unusable files go to ``paths.quarantine_dir`` with a
reason); ``both`` does both (module ids must not clash). In every mode the collected served
episodes of ``paths.served_dir`` join (:mod:`batteryops.ingest.served`). Ground truth comes from
the simulator, for files from ``truth.parquet`` or ``truth.csv`` in the raw folder
(:mod:`batteryops.ingest.truth`), for served episodes from the operators' verdicts.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.core.io import atomic_dir, partition_files, require, write_json, write_parquet
from batteryops.ingest import files, served, telemetry_files, truth
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
            for path in partition_files(paths.simulated_dir) if simulated_modules else []:
                files.link_or_copy(path, out / path.name)
            summary["simulated_modules"] = len(simulated_modules)
        if params.source in ("files", "both"):
            file_truth, report = _ingest_files(params, out, quarantine, simulated_modules)
            truths.append(file_truth)
            summary |= report
        try:
            served_truth, summary["served"] = served.land(paths.served_dir, params.ingest, out)
        except ValueError as error:
            raise StageFailure(str(error)) from None
        truths += [served_truth] if len(served_truth) else []
    all_truth = pd.concat(truths, ignore_index=True)
    write_parquet(all_truth, paths.truth)
    write_json(summary, paths.metrics.ingest)
    took = time.perf_counter() - started
    log.info("wrote %s (%d modules) in %.1f s", paths.telemetry_dir, len(all_truth), took)


def _ingest_files(
    params: Params, out: Path, quarantine: Path, simulated_modules: set[str]
) -> tuple[pd.DataFrame, dict]:
    """Ingest the raw folder into ``out`` (rack files); its truth and the ingest summary."""
    paths = params.paths
    require(paths.raw_dir)
    try:
        telemetry, report = telemetry_files.ingest([paths.raw_dir], params.ingest, quarantine)
    except telemetry_files.ModuleIdError as error:
        raise StageFailure(f"{paths.raw_dir}: {error}") from None
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
    telemetry_files.write_racks(telemetry, out, "" if params.source == "files" else "files-")
    try:
        file_truth, report["truth"] = truth.folder_truth(
            telemetry, Path(paths.raw_dir), params.ingest.fault_lookback_s
        )
    except ValueError as error:
        raise StageFailure(str(error)) from None
    counts = [report[k] for k in ("files_accepted", "files_rejected", "rows_in", "rows_out")]
    log.info(
        "ingested %d files (%d quarantined): %d rows in, %d out, dropped %s",
        *counts,
        report["rows_dropped"],
    )
    return file_truth, report


if __name__ == "__main__":
    run("ingest", main)
