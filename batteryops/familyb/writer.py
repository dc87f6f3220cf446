"""Run family B's racks and write what their loggers report, one canonical Parquet file per rack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from batteryops.core import schema
from batteryops.core.config import FamilyBParams
from batteryops.familyb import fleet, plant

DAY_S = 86400


def write_fleet(params: FamilyBParams, directory: str | Path) -> pd.DataFrame:
    """Simulate every rack into ``directory/<rack_id>.parquet``; the ground truth per module."""
    directory = Path(directory)
    start = _start(params)
    rows = []
    for r, rack in enumerate(fleet.plan_fleet(params)):
        rng = np.random.default_rng([params.seed, r])
        state = plant.RackState(len(rack.module_ids), rng, float(rack.room[plant.SETPOINT_C]))
        for m, victim, r0, tau in rack.isc:
            state.isc_start_s[m, victim] = rack.fault_start_s[m]
            state.isc_r0[m, victim], state.isc_tau_s[m, victim] = r0, tau
        logger = _Logger(rack, rng, params.duration_s)
        with pq.ParquetWriter(directory / f"{rack.rack_id}.parquet", _SCHEMA) as writer:
            for first in range(0, params.duration_s, params.chunk_s):
                seconds = np.arange(first, min(first + params.chunk_s, params.duration_s))
                seen = plant.advance(
                    state,
                    int(first),
                    duty_current(rack, seconds, params, rng),
                    outdoor(rack, seconds, params, r),
                    rack.module_params,
                    rack.cell_params,
                    rack.sensors,
                    rack.room,
                )
                writer.write_table(logger.table(seen, seconds, start, state))
        rows.append(_truth(rack, state, start))
    return pd.concat(rows, ignore_index=True)


def duty_current(
    rack: fleet.RackPlan, seconds: np.ndarray, params: FamilyBParams, rng: np.random.Generator
) -> np.ndarray:
    """Each module's requested current (A, + = discharge): the rack's duty times its share."""
    hour = (seconds % DAY_S) / 3600.0
    c_rate = np.zeros(len(seconds))
    if rack.duty == "peak_shaving":
        c_rate[(hour >= 1) & (hour < 5)] = -0.25
        c_rate[(hour >= 17) & (hour < 19)] = 0.5
    elif rack.duty == "solar_shift":
        c_rate[(hour >= 10.5) & (hour < 13)] = -0.3
        c_rate[(hour >= 18) & (hour < 19.25)] = 0.6
    elif rack.duty == "heavy_arbitrage":
        for begin, sign in ((1, -1), (6, 1), (11, -1), (18, 1)):
            c_rate[(hour >= begin) & (hour < begin + 0.75)] = sign * 1.0
    else:  # frequency regulation: an AR(1) setpoint with a one-minute memory
        shocks = rng.normal(0.0, 0.3 * np.sqrt(1 - np.exp(-2 / 60)), len(seconds))
        c_rate = np.clip(_ar1(shocks, np.exp(-1 / 60)), -0.8, 0.8)
    c_rate = c_rate + rng.normal(0.0, 0.01, len(seconds))
    return np.clip(np.outer(rack.share, c_rate), -1.2, 1.2) * fleet.ONE_C_A


def _ar1(shocks: np.ndarray, memory: float) -> np.ndarray:
    out = np.empty_like(shocks)
    level = 0.0
    for i, shock in enumerate(shocks):
        level = memory * level + shock
        out[i] = level
    return out


def outdoor(rack: fleet.RackPlan, seconds: np.ndarray, params: FamilyBParams, r: int) -> np.ndarray:
    """Outdoor temperature (C): a daily swing peaking mid-afternoon, and the heat wave's racks'."""
    swing = 26.0 + r * 0.3 + 7.0 * np.sin(2 * np.pi * (seconds % DAY_S - 9 * 3600) / DAY_S)
    if rack.nuisance == "heat_wave":
        middle = params.duration_s / 2
        swing = swing + 16.0 * np.exp(-(((seconds - middle) / (0.35 * DAY_S)) ** 2))
    return swing


_SCHEMA = pa.schema(
    [pa.field(schema.TIMESTAMP, pa.timestamp("ns", tz="UTC"))]
    + [pa.field(column, pa.string()) for column in (schema.RACK_ID, schema.MODULE_ID)]
    + [pa.field(column, pa.float32()) for column in schema.SIGNALS]
)
GAS_BASE_PPM = np.array([0.8, 0.5, 1.5])
GAS_MAX_PPM = 2000.0


class _Logger:
    """A rack's BMS and site logger: sensor error, its SoC estimate, clock offsets, lost rows."""

    def __init__(self, rack: fleet.RackPlan, rng: np.random.Generator, duration_s: int) -> None:
        self.rack, self.rng = rack, rng
        modules = len(rack.module_ids)
        self.soc_error = np.zeros(modules)
        self.offset_c = np.where(
            np.array(rack.nuisances) == "calibration_offset", rng.uniform(2.5, 4.0, modules), 0.0
        )
        self.stuck_at_s = np.where(
            np.array(rack.nuisances) == "stuck_sensor",
            rng.uniform(0.2, 0.8, modules) * duration_s,
            np.inf,
        )
        self.stuck_value = np.full(modules, np.nan)
        self.dead_after_s = rng.uniform(20, plant.SUPPRESSED_AFTER_S, modules)

    def table(
        self, seen: np.ndarray, seconds: np.ndarray, start: pd.Timestamp, state: plant.RackState
    ) -> pa.Table:
        """The rows the loggers keep of one chunk (sorted by module, then time)."""
        frames = []
        for m, module_id in enumerate(self.rack.module_ids):
            frame = self._module(m, seen[m].astype(np.float64), seconds)
            frame.insert(0, schema.MODULE_ID, module_id)
            frame.insert(0, schema.RACK_ID, self.rack.rack_id)
            shifted = seconds + int(self.rack.clock_offset_s[m])
            frame.insert(0, schema.TIMESTAMP, start + pd.to_timedelta(shifted, unit="s"))
            kept = (seconds <= state.pnr_s[m] + self.dead_after_s[m]) & (
                self.rng.random(len(seconds)) >= fleet.LOST_ROW_FRACTION
            )
            frames.append(frame[kept])
        return pa.Table.from_pandas(pd.concat(frames, ignore_index=True), _SCHEMA, False)

    def _module(self, m: int, seen: np.ndarray, seconds: np.ndarray) -> pd.DataFrame:
        rng, count = self.rng, len(seconds)
        temps = seen[:, :4] + rng.normal(0, fleet.NOISE["temp"], (count, 4)) + self.offset_c[m]
        stuck = seconds >= self.stuck_at_s[m]
        if stuck.any():
            if np.isnan(self.stuck_value[m]):
                self.stuck_value[m] = temps[np.argmax(stuck), 1]
            temps[stuck, 1] = self.stuck_value[m]
        temps = np.round(temps, 1)
        self.soc_error[m] = self.soc_error[m] * 0.9 + rng.normal(0, 0.5)
        gas = seen[:, 10:13] + GAS_BASE_PPM + rng.normal(0, fleet.NOISE["gas"], (count, 3))
        if self.rack.nuisances[m] == "gas_cross_sensitivity":  # humidity on the H2 cell
            gas[:, 1] += 6.0 * (1 + np.sin(2 * np.pi * seconds / DAY_S))
        return pd.DataFrame(
            {
                "voltage_v": seen[:, 5] + rng.normal(0, fleet.NOISE["voltage"], count),
                "current_a": seen[:, 8] + rng.normal(0, fleet.NOISE["current"], count),
                "soc_pct": np.clip(100 * seen[:, 9] + self.soc_error[m], 0, 100),
                "temp_avg_c": temps.mean(axis=1),
                "temp_max_c": temps.max(axis=1),
                "temp_min_c": temps.min(axis=1),
                "ambient_c": seen[:, 13] + rng.normal(0, fleet.NOISE["temp"], count),
                "coolant_c": seen[:, 4] + rng.normal(0, fleet.NOISE["temp"], count),
                "cell_v_max": np.round(seen[:, 6] + rng.normal(0, fleet.NOISE["cell_v"], count), 3),
                "cell_v_min": np.round(seen[:, 7] + rng.normal(0, fleet.NOISE["cell_v"], count), 3),
                "gas_co_ppm": np.clip(gas[:, 0], 0, GAS_MAX_PPM),
                "gas_h2_ppm": np.clip(gas[:, 1], 0, GAS_MAX_PPM),
                "gas_voc_ppm": np.clip(gas[:, 2], 0, GAS_MAX_PPM),
            }
        )


def _truth(rack: fleet.RackPlan, state: plant.RackState, start: pd.Timestamp) -> pd.DataFrame:
    def times(values: np.ndarray) -> pd.Series:
        finite = np.where(np.isfinite(values), values, np.nan)
        return pd.Series(start + pd.to_timedelta(finite, unit="s"))

    modules = len(rack.module_ids)
    return pd.DataFrame(
        {
            schema.RACK_ID: rack.rack_id,
            schema.MODULE_ID: rack.module_ids,
            "position": np.arange(modules, dtype=np.int64),
            "fault_type": rack.faults,
            "fault_start": times(rack.fault_start_s),
            "nuisance_type": rack.nuisances,
            "nuisance_start": times(np.where(np.array(rack.nuisances) == "none", np.nan, 0.0)),
            "vent_time": times(state.first_vent_s),
            "pnr_time": times(state.pnr_s),
        }
    )


def placement(params: FamilyBParams) -> pd.DataFrame:
    """Per module of the fleet: where its fault starts, and how far from its thermistors.

    ``failing_cell`` as :func:`batteryops.familyb.fleet.failing_cells` gives it (-1: none);
    ``sensor_distance_cells``: how many cells away the nearest of the module's four
    thermistors is (0: on it; -1 likewise). Drawn by the same plan as :func:`write_fleet`, so
    the same for the same parameters.
    """
    frames = []
    for rack in fleet.plan_fleet(params):
        failing = fleet.failing_cells(rack)
        placed = rack.sensors[:, :, 0].astype(np.int64)
        distance = np.abs(placed - failing[:, None]).min(axis=1)
        frames.append(
            pd.DataFrame(
                {
                    schema.MODULE_ID: rack.module_ids,
                    "failing_cell": failing,
                    "sensor_distance_cells": np.where(failing >= 0, distance, -1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _start(params: FamilyBParams) -> pd.Timestamp:
    start = pd.Timestamp(params.start_time)
    return start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
