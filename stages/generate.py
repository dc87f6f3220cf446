"""DVC stage ``generate``: simulate the fleet; stream canonical telemetry and ground truth."""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack

from batteryops import schema, simulate
from batteryops.config import Params
from batteryops.io import atomic_dir, parquet_writer, write_parquet
from stages._common import run

log = logging.getLogger("stages.generate")
ID_COLUMNS = [schema.RACK_ID, schema.MODULE_ID]


def main(params: Params) -> None:
    """Simulate chunk by chunk into one Parquet file per rack, then write the ground truth."""
    sim, paths = params.simulate, params.paths
    started = time.perf_counter()
    plan = simulate.plan_fleet(sim)
    faults = ", ".join(f"{k}={v}" for k, v in sim.faults.model_dump().items())
    log.info("simulating %d modules x %d s (%s)", plan.modules, sim.duration_s, faults)
    simulator = simulate.FleetSimulator(sim, plan)
    stuck_values: dict[int, float] = {}
    with atomic_dir(paths.telemetry_dir) as tmp, ExitStack() as writers:
        open_writers: dict[str, object] = {}
        while not simulator.done:
            start_s = simulator.t
            physics = simulator.advance(sim.chunk_s)
            signals = simulate.sensor_readings(
                sim, plan, physics, simulator.truth(), start_s, stuck_values
            )
            del physics
            for rack_id, table in simulate.telemetry_tables(sim, plan, signals, start_s):
                if rack_id not in open_writers:
                    writer = parquet_writer(tmp / f"{rack_id}.parquet", table.schema, ID_COLUMNS)
                    open_writers[rack_id] = writers.enter_context(writer)
                open_writers[rack_id].write_table(table)
            log.info(
                "simulated %d of %d s (%.0f%%) in %.1f s",
                simulator.t,
                sim.duration_s,
                100.0 * simulator.t / sim.duration_s,
                time.perf_counter() - started,
            )
        writers.close()
    truth = simulator.truth()
    write_parquet(simulate.truth_with_times(sim, truth), paths.truth)
    runaways = int(truth["pnr_time"].notna().sum())
    log.info(
        "wrote %s (%d runaways) in %.1f s",
        paths.telemetry_dir,
        runaways,
        time.perf_counter() - started,
    )


if __name__ == "__main__":
    run("generate", main)
