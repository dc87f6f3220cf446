"""DVC stage ``generate``: simulate the fleet; write canonical telemetry and ground truth."""

from __future__ import annotations

import logging
import time

from batteryops import simulate
from batteryops.config import Params
from batteryops.io import atomic_dir, write_parquet
from stages._common import run

log = logging.getLogger("stages.generate")


def main(params: Params) -> None:
    """Simulate ``params.simulate`` and write one Parquet file per rack plus the truth table."""
    sim, paths = params.simulate, params.paths
    started = time.perf_counter()
    plan = simulate.plan_fleet(sim)
    log.info(
        "simulating %d modules x %d s (%s)",
        plan.modules,
        sim.duration_s,
        ", ".join(f"{k}={v}" for k, v in sim.faults.model_dump().items()),
    )
    physics, truth = simulate.simulate_fleet(sim, plan)
    signals = simulate.sensor_readings(sim, plan, physics, truth)
    del physics
    with atomic_dir(paths.telemetry_dir) as tmp:
        for rack_id, frame in simulate.telemetry_frames(sim, plan, signals):
            frame.to_parquet(tmp / f"{rack_id}.parquet", index=False)
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
