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
cooling failure under a heavy duty, overcharge. Nuisances that must not: stuck or drifting
temperature sensor, spike-prone gas sensor, hot ambient day (whole rack), sustained high load
(whole rack), and benign heat in one module (issue 18: hotter than its neighbours for a reason
that is no hazard): a busy module carrying more current than its rack (a parallel string or a
module-level converter, at most the heavy duty's rate), a poorly cooled position, a warm busbar
joint (I^2 R into the module body), temperature sensors reading high after a swap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from batteryops.core import schema
from batteryops.core.config import SimulateParams
from batteryops.physics.cell import (
    LOW_SOC_SCALE,
    LOWER_CUT_OFF_V,
    OCV_TABLE,
    OVERCHARGE_SLOPE_V,
    REFERENCE_K,
    UPPER_CUT_OFF_V,
    CellModel,
    CellState,
)
from batteryops.physics.kinetics import RHO_CP_J_PER_M3_K, ReactionState
from batteryops.sim import kernel

logger = logging.getLogger(__name__)

# 21700 cell (LG M50): 21 mm x 70 mm; rho*cp of Kim 2007, the value its kinetics were fitted with.
CELL_VOLUME_M3 = np.pi * 0.0105**2 * 0.070
CELL_HEAT_CAPACITY_J_PER_K = RHO_CP_J_PER_M3_K * CELL_VOLUME_M3
TEMP_SENSORS_PER_MODULE = 8
GAS_RATIOS = {"gas_co_ppm": 1.0, "gas_h2_ppm": 0.6, "gas_voc_ppm": 2.0}
GAS_BASELINE_PPM = {"gas_co_ppm": 1.0, "gas_h2_ppm": 0.5, "gas_voc_ppm": 3.0}
GAS_SENSOR_MAX_PPM = 2000.0
CELL_V_SENSOR_MAX = 5.0

FAULTS = ["internal_short", "external_heating", "cooling_failure", "overcharge"]
NUISANCES = [
    "stuck_sensor",
    "drifting_sensor",
    "gas_spikes",
    "busy_module",
    "poor_cooling",
    "contact_resistance",
    "calibration_offset",
]
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
    gap_module: np.ndarray
    gap_start_s: np.ndarray
    gap_end_s: np.ndarray
    # Benign cell-voltage spread per module (``simulate.cell_imbalance_soc_max`` and
    # ``cell_resistance_mismatch_max``); none when absent.
    cell_imbalance_soc: np.ndarray | None = None
    cell_resistance_mismatch: np.ndarray | None = None
    # Modules without a fault whose cells are aged like a cooling-failure module's
    # (``simulate.aged_module_share``); none when absent.
    aged: np.ndarray | None = None

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
    _check_counts(params, fault_counts, nuisance_counts)
    order = rng.permutation(count)
    fault_type, nuisance_type = _module_types(order, fault_counts, nuisance_counts)
    latest_s = params.fault_latest_fraction * params.duration_s
    earliest_s = min(params.fault_earliest_s, latest_s)
    fault_start = np.where(fault_type != NONE, rng.uniform(earliest_s, latest_s, count), np.nan)
    nuisance_start = np.where(
        nuisance_type != NONE, rng.uniform(0.1, 0.6, count) * params.duration_s, np.nan
    )
    rack_starts = _rack_nuisance_starts(params, rng)
    rack_index = np.repeat(np.arange(racks), per_rack)
    for key in RACK_NUISANCES:
        affected = ~np.isnan(rack_starts[key][rack_index]) & (nuisance_type == NONE)
        affected &= fault_type == NONE
        nuisance_type[affected] = key
        nuisance_start[affected] = rack_starts[key][rack_index][affected]
    spread = params.cell_spread_fraction
    rack_ids = [f"R{r + 1:02d}" for r in range(racks)]
    gap_module, gap_start, gap_end = _logger_gaps(params, count, rng)
    # Drawn from a stream of their own, so that adding them left every other draw as it was.
    balance = np.random.default_rng([params.seed, 7])
    imbalance = balance.uniform(0.0, params.cell_imbalance_soc_max, count)
    mismatch = balance.uniform(0.0, params.cell_resistance_mismatch_max, count)
    aged = (balance.uniform(0.0, 1.0, count) < params.aged_module_share) & (fault_type == NONE)
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
        gap_module=gap_module,
        gap_start_s=gap_start,
        gap_end_s=gap_end,
        cell_imbalance_soc=imbalance,
        cell_resistance_mismatch=mismatch,
        aged=aged,
    )


def _check_counts(
    params: SimulateParams, fault_counts: dict[str, int], nuisance_counts: dict[str, int]
) -> None:
    """Raise if the faults, nuisances or rack-wide settings ask for more than the fleet has."""
    racks = params.racks
    count = racks * params.modules_per_rack
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


def _module_types(
    order: np.ndarray, fault_counts: dict[str, int], nuisance_counts: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Fault and nuisance type per module: the counts dealt out in the (shuffled) ``order``."""
    count = len(order)
    fault_type = np.full(count, NONE, dtype=object)
    nuisance_type = np.full(count, NONE, dtype=object)
    cursor = 0
    for name, n in fault_counts.items():
        fault_type[order[cursor : cursor + n]] = name
        cursor += n
    for name, n in nuisance_counts.items():
        nuisance_type[order[cursor : cursor + n]] = name
        cursor += n
    return fault_type, nuisance_type


def _rack_nuisance_starts(
    params: SimulateParams, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Per rack-wide nuisance, its start per rack (NaN on racks without it).

    Each rack carries at most one rack-wide nuisance while there are racks enough, so that
    neither hides the other.
    """
    racks = params.racks
    rack_starts = {}
    rack_order, rack_cursor = rng.permutation(racks), 0
    for key in RACK_NUISANCES:
        starts = np.full(racks, np.nan)
        n = getattr(params.nuisances, f"{key}_racks")
        chosen = np.roll(rack_order, -rack_cursor)[:n]
        rack_cursor += n
        starts[chosen] = rng.uniform(0.1, 0.5, len(chosen)) * params.duration_s
        rack_starts[key] = starts
    return rack_starts


def _logger_gaps(
    params: SimulateParams, modules: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logger gaps (spans with no rows): module index, first and past-last second of each."""
    imperfect = params.imperfections
    expected = imperfect.logger_gaps_per_module_day * params.duration_s / 86400.0
    counts = rng.poisson(expected, modules)
    module = np.repeat(np.arange(modules), counts)
    start = rng.integers(0, params.duration_s, len(module))
    length = rng.integers(imperfect.logger_gap_s_min, imperfect.logger_gap_s_max + 1, len(module))
    return module, start, np.minimum(start + length, params.duration_s)


def _ar1(noise: np.ndarray, memory_s: float) -> np.ndarray:
    """Unit-variance AR(1) process along axis 0 with a correlation time of ``memory_s``."""
    from scipy.signal import lfilter

    decay = np.exp(-1.0 / memory_s)
    return lfilter([np.sqrt(1 - decay**2)], [1.0, -decay], noise, axis=0)


def _rack_currents(params: SimulateParams, plan: FleetPlan, rng: np.random.Generator) -> np.ndarray:
    """Rack currents in A (+ = discharge), shape (duration_s, racks), before SoC limits."""
    seconds = np.arange(params.duration_s)
    module_capacity_ah = params.cell.capacity_ah * params.cells_parallel
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
    return c_rate * module_capacity_ah


def _heavy_duty_start(plan: FleetPlan) -> np.ndarray:
    """Per rack, the second from which it runs the heavy duty, inf if never.

    Heavy duty is the high-load nuisance, and the load under which a module's cooling fails.
    """
    start = plan.high_load_rack_start_s.copy()
    for m in np.flatnonzero(plan.fault_type == "cooling_failure"):
        r = plan.rack_index[m]
        start[r] = np.fmin(start[r], plan.fault_start_s[m])
    return np.nan_to_num(start, nan=np.inf)


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


def cell_model(params: SimulateParams) -> CellModel:
    """The cell's equivalent circuit from the ``simulate.cell`` params."""
    return CellModel(**params.cell.model_dump())


def overcharge_heat_w(
    current_a: np.ndarray, voltage_v: np.ndarray, soc: np.ndarray, span_soc: float
) -> np.ndarray:
    """Heat of the side reactions of a cell charged past 100 % SoC, in W.

    Beyond full charge the cathode is over-delithiated and lithium plates on the anode; a rising
    share of the charge current feeds electrolyte oxidation and plated lithium reacting with the
    electrolyte instead of being stored. That share grows linearly from 0 at 100 % SoC to 1 at
    ``1 + span_soc``, and its electrical power (current times terminal voltage) becomes heat.
    """
    share = np.clip((soc - 1.0) / span_soc, 0.0, 1.0)
    return share * np.maximum(-current_a, 0.0) * voltage_v


class FleetSimulator:
    """Integrates the fleet second by second, one chunk at a time, carrying state between chunks.

    Memory is bounded by the chunk: :meth:`advance` returns that chunk's physical traces only.
    """

    def __init__(self, params: SimulateParams, plan: FleetPlan):
        self.params, self.plan = params, plan
        n_mod = plan.modules
        self.cell = cell_model(params)
        self._rack_current = _rack_currents(params, plan, np.random.default_rng(params.seed + 1))
        self._n_cells = params.cells_series * params.cells_parallel
        self._module_heat_capacity = (self._n_cells - 1) * CELL_HEAT_CAPACITY_J_PER_K + (
            params.housing_heat_capacity_j_per_k
        )
        self._fault_start = np.nan_to_num(plan.fault_start_s, nan=np.inf)
        # When each module's weakest cell starts shorting: at fault start for an internal short,
        # or once it overheats past the separator's limit (set as it happens).
        self.short_start = np.where(plan.fault_type == "internal_short", self._fault_start, np.inf)
        self._hot_rack_start = np.nan_to_num(plan.hot_rack_start_s, nan=np.inf)[plan.rack_index]
        self._faults = {name: plan.fault_type == name for name in FAULTS}
        self._nuisance = {name: plan.nuisance_type == name for name in NUISANCES}
        self._nuisance_start = np.nan_to_num(plan.nuisance_start_s, nan=np.inf)
        self._heavy_start = _heavy_duty_start(plan)
        self._heavy_direction = np.ones(params.racks)  # +1 discharging, -1 charging
        # Aged cells: every cooling-failure module's, and those of the healthy or nuisance
        # modules drawn aged, so that aged cells alone do not mark a module that will fail.
        aged = self._faults["cooling_failure"]
        if plan.aged is not None:
            aged = aged | plan.aged
        self._resistance_scale = plan.resistance_scale * np.where(
            aged, params.cooling_failure_resistance_factor, 1.0
        )
        self.t = 0
        self.cells = CellState(soc=np.full(n_mod, 0.5))
        t_air0 = params.ambient_mean_c + params.coolant_offset_c
        self.t_cell = np.full(n_mod, t_air0 + 2.0)
        self.t_mod = self.t_cell.copy()
        # Rows c_sei, c_neg, t_sei, alpha, c_e (kinetics.ReactionState.fresh) per module.
        fresh = ReactionState.fresh(n_mod)
        self._cell_reactions = np.stack(
            [fresh.c_sei, fresh.c_neg, fresh.t_sei, fresh.alpha, fresh.c_e]
        )
        self._body_reactions = self._cell_reactions.copy()
        self.vent_time = np.full(n_mod, np.nan)
        self.pnr_time = np.full(n_mod, np.nan)
        self._flags = np.stack(
            [
                self._faults["internal_short"],
                self._faults["external_heating"],
                self._faults["cooling_failure"],
                self._faults["overcharge"],
                self._nuisance["busy_module"],
                self._nuisance["poor_cooling"],
                self._nuisance["contact_resistance"],
            ]
        )
        self._p = self._kernel_params()

    @property
    def done(self) -> bool:
        """Whether the whole duration has been simulated."""
        return self.t >= self.params.duration_s

    def advance(self, seconds: int) -> dict[str, np.ndarray]:
        """Simulate the next ``seconds`` (fewer at the end of the run).

        Returns:
            Physical traces of the chunk, arrays of shape (chunk seconds, modules).
        """
        steps = min(seconds, self.params.duration_s - self.t)
        out = np.empty((len(PHYSICS_TRACES), steps, self.plan.modules), dtype=np.float32)
        kernel.advance(
            self.t,
            steps,
            self._p,
            self._rack_current,
            self.plan.rack_index,
            self.params.modules_per_rack,
            self._flags,
            self._fault_start,
            self._nuisance_start,
            self._hot_rack_start,
            self._heavy_start,
            self._resistance_scale,
            self.plan.capacity_scale.astype(float),
            OCV_TABLE["soc"],
            OCV_TABLE["ocv_v"],
            self.cells.soc,
            self.cells.v1,
            self.cells.v2,
            self.t_cell,
            self.t_mod,
            self._cell_reactions,
            self._body_reactions,
            self.vent_time,
            self.pnr_time,
            self.short_start,
            self._heavy_direction,
            out,
        )
        self.t += steps
        return {name: out[k] for k, name in enumerate(PHYSICS_TRACES)}

    def _kernel_params(self) -> np.ndarray:
        """The scalars :func:`batteryops.sim.kernel.advance` reads, in its ``P_*`` order."""
        params, cell = self.params, self.cell
        values = [
            params.ambient_mean_c,
            params.ambient_daily_amplitude_c,
            params.hot_ambient_delta_c,
            params.coolant_offset_c,
            params.cells_parallel,
            params.high_load_c_rate,
            params.cell.capacity_ah,
            params.busy_module_current_factor,
            params.overcharge_c_rate,
            params.overcharge_side_reaction_soc,
            params.separator_short_c,
            params.isc_doubling_s,
            params.isc_initial_w,
            params.isc_max_w,
            params.external_heating_ramp_s,
            params.external_heating_w,
            params.module_to_air_w_per_k,
            params.cooling_failure_factor,
            params.poor_cooling_factor,
            params.contact_resistance_ohm,
            params.cell_to_module_w_per_k,
            params.post_pnr_fire_s,
            params.post_pnr_fire_w,
            params.vent_temp_c,
            params.pnr_rate_c_per_s,
            params.vent_gas_ppm_per_s,
            params.neighbour_w_per_k,
            self._n_cells,
            self._module_heat_capacity,
            CELL_HEAT_CAPACITY_J_PER_K,
            CELL_VOLUME_M3,
            cell.r0_ohm,
            cell.r1_ohm,
            cell.r2_ohm,
            cell.activation_k,
            cell.low_soc_factor,
            cell.heat_share,
            float(np.exp(-1.0 / cell.tau1_s)),
            float(np.exp(-1.0 / cell.tau2_s)),
            (1.0 - float(np.exp(-1.0 / cell.tau1_s))) * cell.r1_ohm,
            (1.0 - float(np.exp(-1.0 / cell.tau2_s))) * cell.r2_ohm,
            OVERCHARGE_SLOPE_V,
            LOW_SOC_SCALE,
            REFERENCE_K,
            UPPER_CUT_OFF_V,
            LOWER_CUT_OFF_V,
        ]
        assert len(values) == kernel.N_PARAMS
        return np.asarray(values, dtype=float)

    def truth(self) -> pd.DataFrame:
        """Ground truth per module so far (:data:`~batteryops.core.schema.TRUTH_COLUMNS`, s)."""
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
        truth per module (see :data:`batteryops.core.schema.TRUTH_COLUMNS`, times in seconds).
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
    # float32 throughout: what the telemetry stores, and half the memory traffic of float64.
    # The noise comes from one generator in a fixed order (temperatures, voltages, current,
    # ambient, coolant, gases, then outliers, nuisances and dropouts).
    rng = np.random.default_rng([params.seed, 2, start_s])
    steps = physics["t_cell"].shape[0]
    seconds = start_s + np.arange(steps)[:, None]
    temp_avg, temp_max, temp_min = _temperature_readings(params, plan, physics, rng)
    pnr = truth["pnr_time"].to_numpy()
    after_pnr = seconds >= np.nan_to_num(pnr, nan=np.inf)[None, :]
    voltage, cell_v_max, cell_v_min = _voltage_readings(params, plan, physics, after_pnr, rng)
    signals = {
        "voltage_v": voltage,
        "current_a": _noisy(rng, physics["current"].astype(np.float32, copy=False), 0.05),
        # The BMS's SoC estimate is bounded to 0-100 % (it cannot see charge past full).
        "soc_pct": np.clip(100.0 * physics["soc"].astype(np.float32, copy=False), 0, 100),
        "temp_avg_c": temp_avg,
        "temp_max_c": temp_max,
        "temp_min_c": temp_min,
        "ambient_c": _noisy(rng, physics["ambient"].astype(np.float32, copy=False), 0.1),
        "coolant_c": _noisy(rng, physics["coolant"].astype(np.float32, copy=False), 0.1),
        "cell_v_max": cell_v_max,
        "cell_v_min": cell_v_min,
    }
    gas = physics["gas"].astype(np.float32, copy=False) * np.where(
        after_pnr, np.float32(10.0), np.float32(1.0)
    )
    for name, ratio in GAS_RATIOS.items():
        level = GAS_BASELINE_PPM[name] + ratio * gas
        signals[name] = np.clip(_noisy(rng, level, params.gas_noise_ppm), 0.0, GAS_SENSOR_MAX_PPM)

    _apply_outliers(params, signals, rng)  # before the nuisances: a stuck sensor stays stuck
    _apply_nuisances(
        params, plan, signals, rng, start_s, {} if stuck_values is None else stuck_values
    )
    _apply_dropouts(params, signals, seconds, pnr, rng)
    return signals


def _noisy(rng: np.random.Generator, values: np.ndarray, sigma: float) -> np.ndarray:
    """``values`` plus float32 Gaussian noise of ``sigma`` (``values`` itself if ``sigma`` <= 0)."""
    if sigma <= 0:
        return values
    return values + sigma * rng.standard_normal(values.shape, dtype=np.float32)


def _temperature_readings(
    params: SimulateParams,
    plan: FleetPlan,
    physics: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Module temperature sensors: average, maximum and minimum (noise drawn max, avg, min).

    The hottest sensor sits a fixed offset above the body and sees part of the weakest cell's
    excess (the module's ``sensor_coupling``); the average sees an eighth of that. A cell colder
    than the body (a module heated from outside, its cells lagging) pulls the coolest sensor
    down, not the hottest: a logger's maximum never falls below its mean.
    """
    t_cell, t_mod = (
        physics["t_cell"].astype(np.float32, copy=False),
        physics["t_mod"].astype(np.float32, copy=False),
    )
    n_mod = t_cell.shape[1]
    offset = np.random.default_rng([params.seed, 3]).uniform(0.3, 1.5, n_mod).astype(np.float32)
    hot_share = plan.sensor_coupling.astype(np.float32)[None, :] * (t_cell - t_mod)
    temp_max = _noisy(rng, t_mod + offset + np.maximum(hot_share, 0), params.temp_noise_c)
    temp_avg = _noisy(rng, t_mod + hot_share / TEMP_SENSORS_PER_MODULE, params.temp_noise_c)
    temp_min = _noisy(rng, t_mod - offset + np.minimum(hot_share, 0), params.temp_noise_c)
    return temp_avg, temp_max, temp_min


def _voltage_readings(
    params: SimulateParams,
    plan: FleetPlan,
    physics: dict[str, np.ndarray],
    after_pnr: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Module voltage and the highest and lowest cell voltage (noise drawn max, min, module).

    The highest and lowest cells sit 20 mV apart plus the module's benign spread
    (:func:`benign_spread_v`). The weakest cell sags in proportion to its internal short's
    power and reads 0 V once the module burns.
    """
    v_cell = physics["v_cell"].astype(np.float32, copy=False)
    half = 0.01 + 0.5 * benign_spread_v(params, plan, physics)
    weak_v = v_cell - params.isc_cell_voltage_drop_v_per_w * physics["isc_w"]
    weak_v = np.where(after_pnr, 0.0, weak_v)
    # Cell-voltage channels read 0-5 V (the range of common BMS front ends): an overcharged cell
    # pins at full scale.
    cell_v_max = np.clip(_noisy(rng, v_cell + half, params.voltage_noise_v), 0, CELL_V_SENSOR_MAX)
    cell_v_min = np.clip(
        _noisy(rng, np.minimum(weak_v, v_cell - half), params.voltage_noise_v),
        0,
        CELL_V_SENSOR_MAX,
    )
    cells_series = params.cells_series
    voltage = np.clip(
        _noisy(rng, v_cell * (cells_series - 1) + weak_v, params.voltage_noise_v * 4), 0, None
    )
    return voltage, cell_v_max, cell_v_min


def benign_spread_v(
    params: SimulateParams, plan: FleetPlan, physics: dict[str, np.ndarray]
) -> np.ndarray:
    """The spread between a healthy module's highest and lowest cell beyond 20 mV, in V.

    Cells of one module drift apart in state of charge (self-discharge, balancing) and in
    resistance (ageing, a weaker weld). The SoC gap shows through the OCV curve, widest near
    empty and full: ``OCV(soc + gap / 2) - OCV(soc - gap / 2)``; the resistance gap under load:
    ``|I| / cells_parallel x r0 x mismatch``. Both are drawn per module (:func:`plan_fleet`).
    """
    imbalance, mismatch = plan.cell_imbalance_soc, plan.cell_resistance_mismatch
    if imbalance is None or mismatch is None or not (imbalance.any() or mismatch.any()):
        return np.zeros_like(physics["v_cell"], dtype=np.float32)
    soc = np.clip(physics["soc"], 0.0, 1.0)
    gap = imbalance[None, :]
    table_soc, table_v = OCV_TABLE["soc"], OCV_TABLE["ocv_v"]
    by_soc = np.interp(soc + gap / 2, table_soc, table_v) - np.interp(
        soc - gap / 2, table_soc, table_v
    )
    per_cell_a = np.abs(physics["current"]) / params.cells_parallel
    by_load = per_cell_a * params.cell.r0_ohm * mismatch[None, :]
    return (by_soc + by_load).astype(np.float32)


def _apply_dropouts(
    params: SimulateParams,
    signals: dict[str, np.ndarray],
    seconds: np.ndarray,
    pnr: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Temperatures saturate, then drop out after PNR; any reading drops out at random.

    Updates ``signals`` in place (the temperature arrays are replaced).
    """
    dropout_at = np.nan_to_num(pnr, nan=np.inf) + params.sensor_dropout_after_pnr_s
    for name in ("temp_avg_c", "temp_max_c", "temp_min_c"):
        values = np.minimum(signals[name], params.sensor_max_c)
        signals[name] = np.where(seconds >= dropout_at[None, :], np.nan, values)
    if params.dropout_fraction > 0:
        for values in signals.values():
            values.reshape(-1)[_sparse_hits(rng, values.size, params.dropout_fraction)] = np.nan


def _sparse_hits(rng: np.random.Generator, size: int, fraction: float) -> np.ndarray:
    """Flat indices hit with probability ``fraction`` each (drawn as a count, then positions).

    For small fractions this costs a few random numbers per hit instead of one per element.
    Positions drawn twice count once, a negligible shortfall at the rates used here.
    """
    return rng.integers(0, size, rng.binomial(size, fraction))


def _apply_outliers(
    params: SimulateParams, signals: dict[str, np.ndarray], rng: np.random.Generator
) -> None:
    """Single-sample spikes of either sign on temperature and cell-voltage channels (in place)."""
    imperfect = params.imperfections
    if imperfect.outlier_fraction <= 0:
        return
    sizes = {
        "temp_max_c": imperfect.outlier_temp_c,
        "temp_avg_c": imperfect.outlier_temp_c,
        "temp_min_c": imperfect.outlier_temp_c,
        "cell_v_max": imperfect.outlier_cell_v,
        "cell_v_min": imperfect.outlier_cell_v,
    }
    for name, size in sizes.items():
        values = signals[name]
        hit = np.unique(_sparse_hits(rng, values.size, imperfect.outlier_fraction))
        sign = np.where(rng.random(hit.size) < 0.5, -1.0, 1.0).astype(np.float32)
        values.reshape(-1)[hit] += sign * np.float32(size)
    np.clip(signals["cell_v_max"], 0, CELL_V_SENSOR_MAX, out=signals["cell_v_max"])
    np.clip(signals["cell_v_min"], 0, CELL_V_SENSOR_MAX, out=signals["cell_v_min"])


def _apply_nuisances(
    params: SimulateParams,
    plan: FleetPlan,
    signals: dict[str, np.ndarray],
    rng: np.random.Generator,
    start_s: int,
    stuck_values: dict[int, float],
) -> None:
    """Sensor nuisances: stuck, drifting and offset temperature sensors, gas spikes (in place)."""
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
        drift = np.minimum(
            params.drift_c_per_h * np.clip(seconds - start, 0, None) / 3600.0, params.drift_max_c
        )
        signals["temp_max_c"][:, m] += drift
        signals["temp_avg_c"][:, m] += drift / TEMP_SENSORS_PER_MODULE
    for m in np.flatnonzero(plan.nuisance_type == "calibration_offset"):
        start = max(int(plan.nuisance_start_s[m]) - start_s, 0)  # after a sensor swap
        for name in ("temp_max_c", "temp_avg_c", "temp_min_c"):
            signals[name][start:, m] += params.calibration_offset_c
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
    present = _rows_present(plan, start_s, steps).T
    # Module-major once per signal; a rack's modules are contiguous, so each rack is a view.
    by_module = {
        name: np.ascontiguousarray(signals[name].T, dtype=np.float32) for name in schema.SIGNALS
    }
    for r, rack_id in enumerate(plan.rack_ids):
        members = np.flatnonzero(plan.rack_index == r)
        first_m, end_m = int(members[0]), int(members[-1]) + 1
        columns = {
            schema.TIMESTAMP: pa.array(np.tile(times_ns, len(members)), pa.timestamp("ns", "UTC")),
            schema.RACK_ID: _repeated_strings([rack_id] * len(members), steps),
            schema.MODULE_ID: _repeated_strings(plan.module_ids[first_m:end_m], steps),
        }
        for name in schema.SIGNALS:
            columns[name] = pa.array(by_module[name][first_m:end_m].ravel())
        table = pa.table(columns)
        keep = present[first_m:end_m].ravel()
        yield rack_id, table if keep.all() else table.filter(pa.array(keep))


def _repeated_strings(values: list[str], times: int) -> pa.Array:
    """A string array holding each value ``times`` times in a row, built from raw buffers."""
    encoded = [value.encode() for value in values]
    lengths = np.repeat(np.array([len(e) for e in encoded], dtype=np.int64), times)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    data = np.concatenate([np.tile(np.frombuffer(e, dtype=np.uint8), times) for e in encoded])
    if offsets[-1] < 2**31:
        array_type, offsets = pa.string(), offsets.astype(np.int32)
    else:
        array_type = pa.large_string()
    array = pa.Array.from_buffers(
        array_type, len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return array.cast(pa.string()) if array_type != pa.string() else array


def _rows_present(plan: FleetPlan, start_s: int, steps: int) -> np.ndarray:
    """(steps, modules) mask of the rows the loggers kept: False inside a logger gap."""
    present = np.ones((steps, plan.modules), dtype=bool)
    for module, first, end in zip(plan.gap_module, plan.gap_start_s, plan.gap_end_s, strict=True):
        lo, hi = max(first - start_s, 0), min(end - start_s, steps)
        if lo < hi:
            present[lo:hi, module] = False
    return present


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


def empty_truth() -> pd.DataFrame:
    """A truth table with no module (the columns and types of :func:`truth_with_times`)."""
    times = pd.Series(pd.to_datetime([], utc=True))
    return pd.DataFrame(
        {
            schema.RACK_ID: pd.Series([], dtype=object),
            schema.MODULE_ID: pd.Series([], dtype=object),
            "position": pd.Series([], dtype=np.int64),
            "fault_type": pd.Series([], dtype=object),
            "fault_start": times,
            "nuisance_type": pd.Series([], dtype=object),
            "nuisance_start": times,
            "vent_time": times,
            "pnr_time": times,
        }
    )


def _start_time(params: SimulateParams) -> pd.Timestamp:
    start = pd.Timestamp(params.start_time)
    return start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
