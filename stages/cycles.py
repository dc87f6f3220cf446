"""DVC stage ``cycles``: cycle data for the health task, simulated or from cycler exports.

``health.source: simulated`` ages the default cells (:mod:`batteryops.sim.ageing`) and writes their
cycler rows, checkpoint curves and truth. ``files`` ingests the exports in
``paths.raw_cycles_dir`` (:mod:`batteryops.ingest.cycle_files`: cycler exports of Arbin, Maccor,
Neware, BioLogic, Novonix, PEC, Battery Data Hub, NASA PCoE through
:mod:`batteryops.ingest.cyclers`, their records to ``paths.cycle_records``, and per-cycle CSV or
Parquet files); bad rows and unusable files go to
``paths.cycle_quarantine_dir`` with their reasons, and the truth tables are written empty.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.core.io import atomic_dir, write_json, write_parquet
from batteryops.ingest.records import RECORD_COLUMNS
from batteryops.sim import ageing
from stages._common import StageFailure, run

log = logging.getLogger("stages.cycles")
RECORDS = [schema.CELL_ID, *RECORD_COLUMNS]


def main(params: Params) -> None:
    """Write cycles, curves and truth for the configured source."""
    paths, started = params.paths, time.perf_counter()
    if params.health.source == "simulated":
        data = ageing.simulate_ageing(params.ageing)
        cycles, curves, cells, truth = data.cycles, data.curves, data.cells, data.truth
        with atomic_dir(paths.cycle_quarantine_dir):
            pass
        write_parquet(pd.DataFrame(columns=RECORDS), paths.cycle_records)  # no records aged
        log.info(
            "aged %d cells: %d cycles, %d curves, end of life at cycle %.0f-%.0f",
            len(cells),
            len(cycles),
            curves.groupby(schema.CYCLE_KEYS).ngroups,
            cells[ageing.EOL_CYCLE].min(),
            cells[ageing.EOL_CYCLE].max(),
        )
    else:
        from batteryops.ingest import cycle_files

        files = sorted(p for p in Path(paths.raw_cycles_dir).glob("*") if p.is_file())
        if not files:
            raise StageFailure(f"{paths.raw_cycles_dir}: no cycler export to ingest")
        try:
            with atomic_dir(paths.cycle_quarantine_dir) as quarantine:
                summary = cycle_files.ingest_cycle_files(
                    files, paths.cycles, quarantine, params.cycle_ingest, paths.cycle_records
                )
        except ValueError as error:
            raise StageFailure(str(error)) from None
        write_json(summary, Path(paths.cycle_quarantine_dir) / "summary.json")
        cycles = pd.read_parquet(paths.cycles)
        curves = pd.DataFrame(columns=schema.CURVE_COLUMNS)
        cells = pd.DataFrame(columns=ageing.TRUTH_CELL_COLUMNS)
        truth = pd.DataFrame(columns=ageing.TRUTH_CYCLE_COLUMNS)
    write_parquet(cycles, paths.cycles)
    write_parquet(curves, paths.curves)
    write_parquet(cells, paths.cell_truth)
    write_parquet(truth, paths.cycle_truth)
    log.info("wrote %s in %.1f s", paths.cycles, time.perf_counter() - started)


if __name__ == "__main__":
    run("cycles", main)
