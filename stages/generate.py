"""DVC stage ``generate``: simulate the fleet; stream canonical telemetry and ground truth.

With ``source: files`` there is nothing to simulate: the stage writes an empty telemetry folder
and truth, so that the DAG stays the same whatever the source.
"""

from __future__ import annotations

import logging
import time

from batteryops.core.config import Params
from batteryops.core.io import atomic_dir, write_parquet
from batteryops.sim import fleet_writer, simulate
from stages._common import run

log = logging.getLogger("stages.generate")


def main(params: Params) -> None:
    """Simulate chunk by chunk into one Parquet file per rack, then write the ground truth."""
    sim, paths = params.simulate, params.paths
    started = time.perf_counter()
    if params.source == "files":
        with atomic_dir(paths.simulated_dir):
            pass
        write_parquet(simulate.empty_truth(), paths.simulated_truth)
        log.info("source is 'files': nothing simulated")
        return
    faults = ", ".join(f"{k}={v}" for k, v in sim.faults.model_dump().items())
    log.info(
        "simulating %d modules x %d s (%s)",
        sim.racks * sim.modules_per_rack,
        sim.duration_s,
        faults,
    )

    def progress(done_s: int, total_s: int) -> None:
        log.info(
            "simulated %d of %d s (%.0f%%) in %.1f s",
            done_s,
            total_s,
            100.0 * done_s / total_s,
            time.perf_counter() - started,
        )

    with atomic_dir(paths.simulated_dir) as tmp:
        truth = fleet_writer.write_fleet(sim, tmp, progress)
    write_parquet(simulate.truth_with_times(sim, truth), paths.simulated_truth)
    runaways = int(truth["pnr_time"].notna().sum())
    log.info(
        "wrote %s (%d runaways) in %.1f s",
        paths.simulated_dir,
        runaways,
        time.perf_counter() - started,
    )


if __name__ == "__main__":
    run("generate", main)
