"""Physics-based simulation of a fleet of storage modules, with faults that reach thermal runaway.

Each module is a string of ``cells_series x cells_parallel`` LG M50-type (21700, 5 Ah) cells,
modelled with two thermal nodes:

* the *weakest cell* (``cell``), where faults live: its own ohmic heat, the heat of an internal
  short, and the four-reaction decomposition kinetics of Hatchard 2001 / Kim 2007
  (:mod:`batteryops.physics.kinetics`); exchanges heat with the module body;
* the *module body* (``module``): the other cells and the housing; ohmic heat, exchange with the
  rack's cooling air and with its neighbours in the rack, and any external heat.

Electrical: an equivalent circuit per cell (OCV(SoC), R0 rising at low temperature and low SoC,
one RC pair); modules of a rack are in series and share the rack current, a grid-storage duty
cycle (slow charge/discharge) with frequency-regulation noise.

The point of no return (PNR) is the first second at which the weakest cell's temperature rises at
``pnr_rate_c_per_s`` or faster (1 C/s by default, the usual runaway trigger). Off-gas (CO, H2, VOC)
rises from venting (weakest cell above ``vent_temp_c``) onward. After PNR the module burns: fire
heat spreads to its neighbours, temperature sensors saturate at ``sensor_max_c`` and then drop out.

Faults that reach runaway: internal short with exponentially ramping heat, external heating,
cooling failure under a heavy duty. Nuisances that must not: stuck or drifting temperature sensor,
spike-prone gas sensor, hot ambient day (whole rack), sustained high load (whole rack).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from batteryops import schema
from batteryops.config import SimulateParams
from batteryops.physics.kinetics import RHO_CP_J_PER_M3_K, ReactionState, react

logger = logging.getLogger(__name__)

# 21700 cell (LG M50): 21 mm x 70 mm.
CELL_VOLUME_M3 = np.pi * 0.0105**2 * 0.070
CELL_HEAT_CAPACITY_J_PER_K = RHO_CP_J_PER_M3_K * CELL_VOLUME_M3
# Approximate open-circuit voltage of the LG M50 (NMC811 / graphite-SiOx) cell against SoC.
OCV_SOC = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
OCV_V = np.array([2.90, 3.30, 3.43, 3.52, 3.58, 3.64, 3.71, 3.80, 3.89, 3.98, 4.07, 4.19])
TEMP_SENSORS_PER_MODULE = 8
GAS_RATIOS = {"gas_co_ppm": 1.0, "gas_h2_ppm": 0.6, "gas_voc_ppm": 2.0}
GAS_BASELINE_PPM = {"gas_co_ppm": 1.0, "gas_h2_ppm": 0.5, "gas_voc_ppm": 3.0}
GAS_SENSOR_MAX_PPM = 2000.0

FAULTS = ["internal_short", "external_heating", "cooling_failure"]
NUISANCES = ["stuck_sensor", "drifting_sensor", "gas_spikes"]
RACK_NUISANCES = ["hot_ambient", "high_load"]
NONE = "none"


@dataclass(frozen=True)
class FleetPlan:
    """Who is who in the fleet, drawn once from the seed (one element per module)."""

    rack_ids: list[str]
    module_ids: list[str]
    rack_index: np.ndarray
    position: np.ndarray
    fault_type: np.ndarray
    fault_start_s: np.ndarray
    nuisance_type: np.ndarray
    nuisance_start_s: np.ndarray
    capacity_scale: np.ndarray
    resistance_scale: np.ndarray
    sensor_coupling: np.ndarray
    rack_phase: np.ndarray
    hot_rack_start_s: np.ndarray
    high_load_rack_start_s: np.ndarray
    ev_rack: np.ndarray

    @property
    def modules(self) -> int:
        """Number of modules."""
        return len(self.module_ids)


def plan_fleet(params: SimulateParams) -> FleetPlan:
    """Draw the fleet: identities, faults, nuisances and cell-to-cell spread.

    Args:
        params: The ``simulate`` section.

    Returns:
        The plan.

    Raises:
        ValueError: If more faults and nuisances are asked for than there are modules.
    """
    rng = np.random.default_rng(params.seed)
    racks, per_rack = params.racks, params.modules_per_rack
    count = racks * per_rack
    fault_counts = params.faults.model_dump()
    nuisance_counts = {k: params.nuisances.model_dump()[k] for k in NUISANCES}
    wanted = sum(fault_counts.values()) + sum(nuisance_counts.values())
    if wanted > count:
        raise ValueError(
            f"simulate: {wanted} faulty and nuisance modules asked for, but the fleet has only "
            f"{count} modules (racks x modules_per_rack)"
        )
    if params.ev_profile_racks > racks:
        raise ValueError(f"simulate.ev_profile_racks exceeds simulate.racks ({racks})")
    for key in RACK_NUISANCES:
        if getattr(params.nuisances, f"{key}_racks") > racks:
            raise ValueError(f"simulate.nuisances.{key}_racks exceeds simulate.racks ({racks})")
    order = rng.permutation(count)
    fault_type = np.full(count, NONE, dtype=object)
    nuisance_type = np.full(count, NONE, dtype=object)
    cursor = 0
    for name, n in fault_counts.items():
        fault_type[order[cursor : cursor + n]] = name
        cursor += n
    for name, n in nuisance_counts.items():
        nuisance_type[order[cursor : cursor + n]] = name
        cursor += n
    latest_s = params.fault_latest_fraction * params.duration_s
    earliest_s = min(params.fault_earliest_s, latest_s)
    fault_start = np.where(fault_type != NONE, rng.uniform(earliest_s, latest_s, count), np.nan)
    nuisance_start = np.where(
        nuisance_type != NONE, rng.uniform(0.1, 0.6, count) * params.duration_s, np.nan
    )
    rack_starts = {}
    for key in RACK_NUISANCES:
        starts = np.full(racks, np.nan)
        chosen = rng.permutation(racks)[: getattr(params.nuisances, f"{key}_racks")]
        starts[chosen] = rng.uniform(0.1, 0.5, len(chosen)) * params.duration_s
        rack_starts[key] = starts
    rack_index = np.repeat(np.arange(racks), per_rack)
    for key in RACK_NUISANCES:
        affected = ~np.isnan(rack_starts[key][rack_index]) & (nuisance_type == NONE)
        affected &= fault_type == NONE
        nuisance_type[affected] = key
        nuisance_start[affected] = rack_starts[key][rack_index][affected]
    spread = params.cell_spread_fraction
    rack_ids = [f"R{r + 1:02d}" for r in range(racks)]
    return FleetPlan(
        rack_ids=rack_ids,
        module_ids=[f"{rack_ids[r]}-M{p + 1:02d}" for r in range(racks) for p in range(per_rack)],
        rack_index=rack_index,
        position=np.tile(np.arange(per_rack), racks),
        fault_type=fault_type,
        fault_start_s=fault_start,
        nuisance_type=nuisance_type,
        nuisance_start_s=nuisance_start,
        capacity_scale=1.0 + rng.uniform(-spread, spread, count),
        resistance_scale=1.0 + rng.uniform(-spread, spread, count) * 3,
        sensor_coupling=rng.uniform(params.sensor_coupling_min, params.sensor_coupling_max, count),
        rack_phase=rng.uniform(0, 2 * np.pi, racks),
        hot_rack_start_s=rack_starts["hot_ambient"],
        high_load_rack_start_s=rack_starts["high_load"],
        ev_rack=np.isin(np.arange(racks), rng.permutation(racks)[: params.ev_profile_racks]),
    )


def _ar1(noise: np.ndarray, memory_s: float) -> np.ndarray:
    """Unit-variance AR(1) process along axis 0 with a correlation time of ``memory_s``."""
    from scipy.signal import lfilter

    decay = np.exp(-1.0 / memory_s)
    return lfilter([np.sqrt(1 - decay**2)], [1.0, -decay], noise, axis=0)


def _rack_currents(params: SimulateParams, plan: FleetPlan, rng: np.random.Generator) -> np.ndarray:
    """Rack currents in A (+ = discharge), shape (duration_s, racks), before SoC limits."""
    seconds = np.arange(params.duration_s)
    module_capacity_ah = params.cell_capacity_ah * params.cells_parallel
    duty = np.sin(2 * np.pi * seconds[:, None] / params.duty_period_s + plan.rack_phase[None, :])
    # Frequency-regulation noise: an AR(1) process with a ~60 s memory.
    regulation = _ar1(rng.standard_normal((params.duration_s, params.racks)), 60.0)
    c_rate = params.duty_c_rate * duty + params.regulation_noise_c_rate * regulation
    if plan.ev_rack.any():
        # EV-like: drive (speed changes with ~20 s memory, regen braking), park, fast charge.
        drive = np.clip(
            params.ev_drive_mean_c_rate
            + params.ev_drive_std_c_rate * _ar1(rng.standard_normal(c_rate.shape), 20.0),
            -params.ev_charge_c_rate,
            params.ev_peak_c_rate,
        )
        cycle = (seconds[:, None] + plan.rack_phase[None, :] / (2 * np.pi) * params.ev_cycle_s) % (
            params.ev_cycle_s
        )
        ev = np.where(cycle < 0.5 * params.ev_cycle_s, drive, 0.0)
        ev = np.where(cycle >= 0.67 * params.ev_cycle_s, -params.ev_charge_c_rate, ev)
        c_rate = np.where(plan.ev_rack[None, :], ev, c_rate)
    heavy = np.sign(
        np.sin(2 * np.pi * seconds[:, None] / params.high_load_period_s + plan.rack_phase[None, :])
    )
    heavy_start = plan.high_load_rack_start_s.copy()
    for m in np.flatnonzero(plan.fault_type == "cooling_failure"):
        r = plan.rack_index[m]
        heavy_start[r] = np.fmin(heavy_start[r], plan.fault_start_s[m])
    is_heavy = seconds[:, None] >= np.nan_to_num(heavy_start, nan=np.inf)[None, :]
    c_rate = np.where(is_heavy, params.high_load_c_rate * heavy, c_rate)
    return c_rate * module_capacity_ah


PHYSICS_TRACES = [
    "t_cell",
    "t_mod",
    "ambient",
    "coolant",
    "current",
    "v_cell",
    "soc",
    "isc_w",
    "gas",
]


class FleetSimulator:
    """Integrates the fleet second by second, one chunk at a time, carrying state between chunks.

    Memory is bounded by the chunk: :meth:`advance` returns that chunk's physical traces only.
    """

    def __init__(self, params: SimulateParams, plan: FleetPlan):
        self.params, self.plan = params, plan
        n_mod = plan.modules
        self._rack_current = _rack_currents(params, plan, np.random.default_rng(params.seed + 1))
        self._n_cells = params.cells_series * params.cells_parallel
        self._cap_ah = params.cell_capacity_ah * plan.capacity_scale
        r0 = params.cell_r0_ohm * plan.resistance_scale
        self._r0 = np.where(
            plan.fault_type == "cooling_failure", r0 * params.cooling_failure_resistance_factor, r0
        )
        self._module_heat_capacity = (self._n_cells - 1) * CELL_HEAT_CAPACITY_J_PER_K + (
            params.housing_heat_capacity_j_per_k
        )
        self._fault_start = np.nan_to_num(plan.fault_start_s, nan=np.inf)
        self._hot_rack_start = np.nan_to_num(plan.hot_rack_start_s, nan=np.inf)[plan.rack_index]
        self.t = 0
        self.soc = np.full(n_mod, 0.5)
        self.v_rc = np.zeros(n_mod)
        t_air0 = params.ambient_mean_c + params.coolant_offset_c
        self.t_cell = np.full(n_mod, t_air0 + 2.0)
        self.t_mod = self.t_cell.copy()
        self.reactions = ReactionState.fresh(n_mod)
        self.vent_time = np.full(n_mod, np.nan)
        self.pnr_time = np.full(n_mod, np.nan)

    @property
    def done(self) -> bool:
        """Whether the whole duration has been simulated."""
        return self.t >= self.params.duration_s

    def advance(self, seconds: int) -> dict[str, np.ndarray]:
        """Simulate the next ``seconds`` (fewer at the end of the run).

        Returns:
            Physical traces of the chunk, arrays of shape (chunk seconds, modules).
        """
        params, plan = self.params, self.plan
        n_mod, racks, per_rack = plan.modules, params.racks, params.modules_per_rack
        steps = min(seconds, params.duration_s - self.t)
        rack_current, n_cells, cap_ah, r0 = (
            self._rack_current,
            self._n_cells,
            self._cap_ah,
            self._r0,
        )
        module_heat_capacity = self._module_heat_capacity
        fault_start, hot_rack_start = self._fault_start, self._hot_rack_start
        is_isc = plan.fault_type == "internal_short"
        is_ext = plan.fault_type == "external_heating"
        is_cool = plan.fault_type == "cooling_failure"
        soc, v_rc, t_cell, t_mod = self.soc, self.v_rc, self.t_cell, self.t_mod
        reactions, vent_time, pnr_time = self.reactions, self.vent_time, self.pnr_time
        rc_decay = np.exp(-1.0 / params.cell_tau1_s)
        out = {name: np.empty((steps, n_mod), dtype=np.float32) for name in PHYSICS_TRACES}
        for step in range(steps):
            t = self.t + step
            ambient = (
                params.ambient_mean_c
                + params.ambient_daily_amplitude_c * np.sin(2 * np.pi * (t / 86400.0 - 0.375))
                + np.where(t >= hot_rack_start, params.hot_ambient_delta_c, 0.0)
            )
            t_air = ambient + params.coolant_offset_c
            rack_mean_soc = soc.reshape(racks, per_rack).mean(axis=1)
            i_rack = rack_current[t].copy()
            i_rack[(rack_mean_soc < 0.1) & (i_rack > 0)] = 0.0
            i_rack[(rack_mean_soc > 0.95) & (i_rack < 0)] = 0.0
            i_cell = i_rack[plan.rack_index] / params.cells_parallel
            burning = ~np.isnan(pnr_time)

            temp_factor = np.exp(3000.0 * (1.0 / (t_cell + 273.15) - 1.0 / 298.15))
            soc_factor = 1.0 + 2.0 * np.clip(0.2 - soc, 0.0, 0.2)
            r0_now = r0 * temp_factor * soc_factor
            v_rc = rc_decay * v_rc + (1 - rc_decay) * i_cell * params.cell_r1_ohm * temp_factor
            ocv = np.interp(soc, OCV_SOC, OCV_V)
            v_cell = ocv - i_cell * r0_now - v_rc
            joule_w = i_cell**2 * r0_now + i_cell * v_rc
            soc = np.clip(soc - i_cell / (3600.0 * cap_ah), 0.0, 1.0)

            elapsed = t - fault_start
            isc_w = np.where(
                is_isc & (elapsed >= 0),
                np.minimum(
                    params.isc_initial_w * 2.0 ** (elapsed / params.isc_doubling_s),
                    params.isc_max_w,
                ),
                0.0,
            )
            ext_w = np.where(
                is_ext & (elapsed >= 0),
                params.external_heating_w * np.clip(elapsed / params.external_heating_ramp_s, 0, 1),
                0.0,
            )
            to_air = params.module_to_air_w_per_k * np.where(
                is_cool & (elapsed >= 0), params.cooling_failure_factor, 1.0
            )
            body = t_mod.reshape(racks, per_rack)
            padded = np.pad(body, ((0, 0), (1, 1)), mode="edge")
            neighbour_w = params.neighbour_w_per_k * (padded[:, :-2] + padded[:, 2:] - 2 * body)

            reaction_w = react(reactions, t_cell, 1.0) * CELL_VOLUME_M3
            exchange_w = params.cell_to_module_w_per_k * (t_cell - t_mod)
            cell_rate = (joule_w + isc_w + reaction_w - exchange_w) / CELL_HEAT_CAPACITY_J_PER_K
            module_rate = (
                (n_cells - 1) * joule_w
                + exchange_w
                + ext_w
                + neighbour_w.ravel()
                - to_air * (t_mod - t_air)
                + np.where(burning, params.post_pnr_fire_w, 0.0)
            ) / module_heat_capacity
            t_cell = t_cell + cell_rate
            t_mod = t_mod + module_rate

            newly_vented = np.isnan(vent_time) & (t_cell >= params.vent_temp_c)
            vent_time[newly_vented] = t
            newly_pnr = np.isnan(pnr_time) & (cell_rate >= params.pnr_rate_c_per_s)
            pnr_time[newly_pnr] = t

            since_vent = np.where(np.isnan(vent_time), 0.0, t - np.nan_to_num(vent_time))
            gas = (
                params.vent_gas_ppm_per_s
                * since_vent
                * (1.0 + np.clip(t_cell - params.vent_temp_c, 0, None) / 20.0)
            )
            row = out
            row["t_cell"][step], row["t_mod"][step], row["ambient"][step] = (
                t_cell,
                t_mod,
                ambient[plan.rack_index],
            )
            row["coolant"][step], row["current"][step] = (
                t_air[plan.rack_index],
                i_rack[plan.rack_index],
            )
            row["v_cell"][step], row["soc"][step], row["isc_w"][step], row["gas"][step] = (
                v_cell,
                soc,
                isc_w,
                gas,
            )

        self.soc, self.v_rc, self.t_cell, self.t_mod = soc, v_rc, t_cell, t_mod
        self.t += steps
        return out

    def truth(self) -> pd.DataFrame:
        """Ground truth per module so far (see :data:`batteryops.schema.TRUTH_COLUMNS`, seconds)."""
        plan = self.plan
        return pd.DataFrame(
            {
                schema.RACK_ID: [plan.rack_ids[r] for r in plan.rack_index],
                schema.MODULE_ID: plan.module_ids,
                "position": plan.position,
                "fault_type": plan.fault_type.astype(str),
                "fault_start": plan.fault_start_s,
                "nuisance_type": plan.nuisance_type.astype(str),
                "nuisance_start": plan.nuisance_start_s,
                "vent_time": self.vent_time.copy(),
                "pnr_time": self.pnr_time.copy(),
            }
        )


def simulate_fleet(
    params: SimulateParams, plan: FleetPlan
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Integrate the whole run in one chunk (see :class:`FleetSimulator` to stream).

    Args:
        params: The ``simulate`` section.
        plan: The fleet drawn by :func:`plan_fleet`.

    Returns:
        Physical traces as arrays of shape (duration_s, modules) keyed by name, and the ground
        truth per module (see :data:`batteryops.schema.TRUTH_COLUMNS`, times in seconds).
    """
    simulator = FleetSimulator(params, plan)
    physics = simulator.advance(params.duration_s)
    return physics, simulator.truth()


def sensor_readings(
    params: SimulateParams,
    plan: FleetPlan,
    physics: dict[str, np.ndarray],
    truth: pd.DataFrame,
    start_s: int = 0,
    stuck_values: dict[int, float] | None = None,
) -> dict[str, np.ndarray]:
    """Turn physical traces into what a BMS logs: sensor placement, noise, nuisances, dropouts.

    Args:
        params: The ``simulate`` section.
        plan: The fleet plan.
        physics: Traces of one chunk (from :class:`FleetSimulator` or :func:`simulate_fleet`).
        truth: Ground truth so far.
        start_s: Second of the run at which the chunk starts.
        stuck_values: Readings of stuck sensors, carried from chunk to chunk (updated in place).

    Returns:
        Canonical signals as arrays of shape (duration_s, modules).
    """
    rng = np.random.default_rng([params.seed, 2, start_s])
    steps, n_mod = physics["t_cell"].shape
    seconds = start_s + np.arange(steps)[:, None]
    t_cell, t_mod = (
        physics["t_cell"].astype(np.float32, copy=False),
        physics["t_mod"].astype(np.float32, copy=False),
    )

    def noisy(values: np.ndarray, sigma: float) -> np.ndarray:
        if sigma <= 0:
            return values
        return values + sigma * rng.standard_normal(values.shape, dtype=np.float32)

    # float32 throughout: what the telemetry stores, and half the memory traffic of float64.
    offset = np.random.default_rng([params.seed, 3]).uniform(0.3, 1.5, n_mod).astype(np.float32)
    hot_share = plan.sensor_coupling.astype(np.float32)[None, :] * (t_cell - t_mod)
    temp_max = noisy(t_mod + offset + hot_share, params.temp_noise_c)
    temp_avg = noisy(t_mod + hot_share / TEMP_SENSORS_PER_MODULE, params.temp_noise_c)
    temp_min = noisy(t_mod - offset, params.temp_noise_c)

    v_cell = physics["v_cell"].astype(np.float32, copy=False)
    pnr = truth["pnr_time"].to_numpy()
    after_pnr = seconds >= np.nan_to_num(pnr, nan=np.inf)[None, :]
    weak_v = v_cell - params.isc_cell_voltage_drop_v_per_w * physics["isc_w"]
    weak_v = np.where(after_pnr, 0.0, weak_v)
    cell_v_max = noisy(v_cell + 0.01, params.voltage_noise_v)
    cell_v_min = np.clip(noisy(np.minimum(weak_v, v_cell - 0.01), params.voltage_noise_v), 0, None)
    cells_series = params.cells_series
    voltage = np.clip(
        noisy(v_cell * (cells_series - 1) + weak_v, params.voltage_noise_v * 4), 0, None
    )

    signals = {
        "voltage_v": voltage,
        "current_a": noisy(physics["current"].astype(np.float32, copy=False), 0.05),
        "soc_pct": 100.0 * physics["soc"].astype(np.float32, copy=False),
        "temp_avg_c": temp_avg,
        "temp_max_c": temp_max,
        "temp_min_c": temp_min,
        "ambient_c": noisy(physics["ambient"].astype(np.float32, copy=False), 0.1),
        "coolant_c": noisy(physics["coolant"].astype(np.float32, copy=False), 0.1),
        "cell_v_max": cell_v_max,
        "cell_v_min": cell_v_min,
    }
    gas = physics["gas"].astype(np.float32, copy=False) * np.where(
        after_pnr, np.float32(10.0), np.float32(1.0)
    )
    for name, ratio in GAS_RATIOS.items():
        level = GAS_BASELINE_PPM[name] + ratio * gas
        signals[name] = np.clip(noisy(level, params.gas_noise_ppm), 0.0, GAS_SENSOR_MAX_PPM)

    _apply_nuisances(
        params, plan, signals, rng, start_s, {} if stuck_values is None else stuck_values
    )

    dropout_at = np.nan_to_num(pnr, nan=np.inf) + params.sensor_dropout_after_pnr_s
    for name in ("temp_avg_c", "temp_max_c", "temp_min_c"):
        values = np.minimum(signals[name], params.sensor_max_c)
        signals[name] = np.where(seconds >= dropout_at[None, :], np.nan, values)
    if params.dropout_fraction > 0:
        for values in signals.values():
            values[rng.random(values.shape, dtype=np.float32) < params.dropout_fraction] = np.nan
    return signals


def _apply_nuisances(
    params: SimulateParams,
    plan: FleetPlan,
    signals: dict[str, np.ndarray],
    rng: np.random.Generator,
    start_s: int,
    stuck_values: dict[int, float],
) -> None:
    """Sensor nuisances: stuck and drifting temperature sensors, gas spikes (in place)."""
    steps = signals["temp_max_c"].shape[0]
    seconds = start_s + np.arange(steps)
    for m in np.flatnonzero(plan.nuisance_type == "stuck_sensor"):
        start = max(int(plan.nuisance_start_s[m]) - start_s, 0)
        if start >= steps:
            continue
        stuck_values.setdefault(int(m), float(signals["temp_max_c"][start, m]))
        signals["temp_max_c"][start:, m] = stuck_values[int(m)]
    for m in np.flatnonzero(plan.nuisance_type == "drifting_sensor"):
        start = int(plan.nuisance_start_s[m])
        drift = params.drift_c_per_h * np.clip(seconds - start, 0, None) / 3600.0
        signals["temp_max_c"][:, m] += drift
        signals["temp_avg_c"][:, m] += drift / TEMP_SENSORS_PER_MODULE
    for m in np.flatnonzero(plan.nuisance_type == "gas_spikes"):
        spikes = rng.random(steps) < params.gas_spike_rate_per_h / 3600.0
        spikes |= np.roll(spikes, 1) | np.roll(spikes, 2)
        for name in ("gas_co_ppm", "gas_voc_ppm"):
            signals[name][spikes, m] += params.gas_spike_ppm * rng.uniform(0.5, 1.5, spikes.sum())


def telemetry_tables(
    params: SimulateParams, plan: FleetPlan, signals: dict[str, np.ndarray], start_s: int = 0
) -> Iterator[tuple[str, pa.Table]]:
    """Yield canonical telemetry one rack at a time as Arrow tables, sorted by module then time.

    Built column by column from the arrays (no pandas round trip), which is what makes writing a
    large fleet fast.

    Args:
        params: The ``simulate`` section.
        plan: The fleet plan.
        signals: Canonical signals from :func:`sensor_readings`.
        start_s: Second of the run at which these signals start.

    Yields:
        ``(rack_id, table)`` pairs in the canonical schema.
    """
    steps = signals["temp_max_c"].shape[0]
    first = _start_time(params) + pd.Timedelta(seconds=start_s)
    times_ns = first.value + np.arange(steps, dtype=np.int64) * 1_000_000_000
    module_ids = np.array(plan.module_ids)
    for r, rack_id in enumerate(plan.rack_ids):
        members = np.flatnonzero(plan.rack_index == r)
        rows = steps * len(members)
        which = np.repeat(np.arange(len(members), dtype=np.int32), steps)
        columns = {
            schema.TIMESTAMP: pa.array(np.tile(times_ns, len(members)), pa.timestamp("ns", "UTC")),
            schema.RACK_ID: pa.DictionaryArray.from_arrays(
                np.zeros(rows, dtype=np.int32), pa.array([rack_id])
            ).cast(pa.string()),
            schema.MODULE_ID: pa.DictionaryArray.from_arrays(
                which, pa.array(module_ids[members].tolist())
            ).cast(pa.string()),
        }
        for name in schema.SIGNALS:
            columns[name] = pa.array(signals[name][:, members].T.ravel().astype(np.float32))
        yield rack_id, pa.table(columns)


def telemetry_frames(
    params: SimulateParams, plan: FleetPlan, signals: dict[str, np.ndarray], start_s: int = 0
) -> Iterator[tuple[str, pd.DataFrame]]:
    """Like :func:`telemetry_tables`, as pandas frames."""
    for rack_id, table in telemetry_tables(params, plan, signals, start_s):
        yield rack_id, table.to_pandas()


def truth_with_times(params: SimulateParams, truth: pd.DataFrame) -> pd.DataFrame:
    """Convert the truth's second offsets into UTC timestamps."""
    start = _start_time(params)
    converted = truth.copy()
    for column in ("fault_start", "nuisance_start", "vent_time", "pnr_time"):
        converted[column] = start + pd.to_timedelta(converted[column], unit="s")
    return converted


def _start_time(params: SimulateParams) -> pd.Timestamp:
    start = pd.Timestamp(params.start_time)
    return start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
