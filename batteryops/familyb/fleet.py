"""Family B's fleet: who carries which fault or nuisance, duty cycles, weather, loggers, files.

:func:`write_fleet` simulates rack by rack, a chunk of seconds at a time
(:func:`batteryops.familyb.plant.advance`), and writes canonical telemetry, one Parquet file per
rack, as its own loggers report it: four thermistors per module placed and coupled differently
in each, a BMS's SoC estimate with its own error, per-module clock offsets, lost rows. Returns
the ground truth (times as UTC timestamps; ``pnr_time`` missing where no runaway happened).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from batteryops.core.config import FamilyBParams
from batteryops.familyb import cell, plant

DUTIES = ("peak_shaving", "frequency_regulation", "solar_shift", "heavy_arbitrage")
ONE_C_A = cell.CAPACITY_AH
LOST_ROW_FRACTION = 0.003
CLOCK_OFFSET_S = 4  # each module's BMS clock is off by up to this many seconds
SENSORS_AWAY_STREAM = 0x5E5  # tags the generator that moves thermistors (racks use [seed, r])
NOISE = {"temp": 0.15, "cell_v": 0.001, "voltage": 0.01, "current": 0.05, "gas": 0.3}


@dataclass
class RackPlan:
    """One rack: its duty, its room, and per module its kind, parameters and sensors."""

    rack_id: str
    duty: str
    nuisance: str
    room: np.ndarray
    module_ids: list[str]
    faults: list[str]
    fault_start_s: np.ndarray
    nuisances: list[str]
    share: np.ndarray
    module_params: np.ndarray
    cell_params: np.ndarray
    sensors: np.ndarray
    clock_offset_s: np.ndarray
    isc: list[tuple[int, int, float, float]] = field(default_factory=list)


def plan_fleet(params: FamilyBParams) -> list[RackPlan]:
    """Draw the fleet: racks' duties and rooms, then faults and nuisances on their modules."""
    rng = np.random.default_rng(params.seed)
    duties = [DUTIES[(i + 3) % len(DUTIES)] for i in range(params.racks)]  # rack 1: heavy
    rack_kinds = _rack_nuisances(params, rng)
    racks = [
        _rack(params, r, duties[r], rack_kinds[r], rng) for r in range(params.racks)
    ]  # fmt: skip
    free = [(r, m) for r in range(params.racks) for m in range(params.modules_per_rack)]
    order = rng.permutation(len(free))
    free = [free[i] for i in order]
    latest = params.fault_latest_fraction * params.duration_s
    for kind, count in params.faults.model_dump().items():
        for _ in range(count):
            heavy = kind == "cooling_failure"
            slot = next(s for s in free if not heavy or racks[s[0]].duty == "heavy_arbitrage")
            free.remove(slot)
            start = float(rng.uniform(params.fault_earliest_s, latest))
            _add_fault(racks[slot[0]], slot[1], kind, start, rng)
    for kind, count in params.nuisances.model_dump().items():
        if kind.endswith("_racks"):
            continue
        for _ in range(count):
            r, m = free.pop()
            _add_nuisance(racks[r], m, kind, rng)
    if params.sensor_min_distance_cells:
        _sensors_away(racks, params.sensor_min_distance_cells, params.seed)
    return racks


def _sensors_away(racks: list[RackPlan], cells_away: int, seed: int) -> None:
    """Move the thermistors of each module whose fault starts in one cell ``cells_away`` from it.

    Their couplings stay; their cells are drawn again among those far enough, from a generator
    of their own (everything else of the fleet is as drawn without it).
    """
    rng = np.random.default_rng([seed, SENSORS_AWAY_STREAM, cells_away])
    for rack in racks:
        failing = failing_cells(rack)
        for m in np.flatnonzero(failing >= 0):
            far = np.flatnonzero(np.abs(np.arange(cell.CELLS) - failing[m]) >= cells_away)
            rack.sensors[m, :, 0] = np.sort(rng.choice(far, plant.SENSORS, replace=False))


def failing_cells(rack: RackPlan) -> np.ndarray:
    """Per module, the cell where its fault starts (-1: no fault, or every cell, as overcharge).

    The shorted cell, the one with the latent soft short under a fan that fails, or the middle
    of the three cells an outside source heats.
    """
    cells = np.full(len(rack.module_ids), -1, dtype=np.int64)
    for m, kind in enumerate(rack.faults):
        if kind == "external_heating":
            cells[m] = int(rack.module_params[m, plant.EXT_CELL])
        elif kind == "cooling_failure":
            cells[m] = int(rack.module_params[m, plant.LEAK_CELL])
    for m, victim, _, _ in rack.isc:
        cells[m] = victim
    return cells


def _rack_nuisances(params: FamilyBParams, rng: np.random.Generator) -> list[str]:
    kinds = ["none"] * params.racks
    wanted = ["hvac_cycling"] * params.nuisances.hvac_cycling_racks
    wanted += ["heat_wave"] * params.nuisances.heat_wave_racks
    if len(wanted) > params.racks:
        raise ValueError(f"family B: {len(wanted)} rack nuisances for {params.racks} racks")
    for slot, kind in zip(rng.permutation(params.racks), wanted, strict=False):
        kinds[int(slot)] = kind
    return kinds


def _rack(
    params: FamilyBParams, r: int, duty: str, nuisance: str, rng: np.random.Generator
) -> RackPlan:
    modules, cells = params.modules_per_rack, cell.CELLS
    rack_id = f"B-rack-{r + 1:02d}"
    room = np.array(
        [
            rng.uniform(21.0, 24.0),
            4.0 if nuisance == "hvac_cycling" else 0.5,
            1800.0 if nuisance == "heat_wave" else 4000.0,
            100.0,
            3.0e5,
        ]
    )
    module_params = np.zeros((modules, plant.MODULE_PARAMS))
    module_params[:, plant.COOLING] = rng.uniform(0.85, 1.15, modules)
    for column in (plant.FAN_FAIL_S, plant.EXT_S, plant.OVERCHARGE_S):
        module_params[:, column] = np.inf
    module_params[:, [plant.LEAK_CELL, plant.EXT_CELL]] = -1
    module_params[:, [plant.FAN_FACTOR, plant.EXT_RAMP_S]] = 1.0
    cell_params = np.stack(
        [
            rng.normal(1.0, 0.015, (modules, cells)),
            rng.normal(1.0, 0.04, (modules, cells)),
            rng.uniform(*cell.VENT_C, (modules, cells)),
            rng.uniform(*cell.SEPARATOR_C, (modules, cells)),
        ],
        axis=-1,
    )
    sensors = np.zeros((modules, plant.SENSORS, 2))
    for m in range(modules):
        sensors[m, :, 0] = np.sort(rng.choice(cells, plant.SENSORS, replace=False))
        sensors[m, :, 1] = rng.uniform(0.55, 0.9, plant.SENSORS)
    return RackPlan(
        rack_id=rack_id,
        duty=duty,
        nuisance=nuisance,
        room=room,
        module_ids=[f"{rack_id}-m{m + 1:02d}" for m in range(modules)],
        faults=["none"] * modules,
        fault_start_s=np.full(modules, np.nan),
        nuisances=[nuisance] * modules,
        share=rng.uniform(0.95, 1.05, modules),
        module_params=module_params,
        cell_params=cell_params,
        sensors=sensors,
        clock_offset_s=rng.integers(-CLOCK_OFFSET_S, CLOCK_OFFSET_S + 1, modules),
    )


def _add_fault(rack: RackPlan, m: int, kind: str, start: float, rng: np.random.Generator) -> None:
    rack.faults[m], rack.fault_start_s[m] = kind, start
    mp = rack.module_params[m]
    victim = int(rng.integers(cell.CELLS))
    if kind == "internal_short":
        rack.isc.append((m, victim, float(rng.uniform(2.0, 5.0)), float(rng.uniform(300, 900))))
    elif kind == "external_heating":
        mp[plant.EXT_S], mp[plant.EXT_W] = start, rng.uniform(600.0, 1200.0)
        mp[plant.EXT_RAMP_S], mp[plant.EXT_CELL] = rng.uniform(1800.0, 3600.0), rng.choice([1, 12])
    elif kind == "cooling_failure":  # its fan stops; a latent soft short feeds on the heat
        mp[plant.FAN_FAIL_S], mp[plant.FAN_FACTOR] = start, 0.05
        mp[plant.LEAK_W], mp[plant.LEAK_CELL] = rng.uniform(1.5, 2.5), victim
    elif kind == "overcharge":  # its converter's protection fails: it charges at C/2 on
        mp[plant.OVERCHARGE_S], mp[plant.OVERCHARGE_A] = start, 0.5 * ONE_C_A


def _add_nuisance(rack: RackPlan, m: int, kind: str, rng: np.random.Generator) -> None:
    rack.nuisances[m] = kind
    if kind == "busy_module":
        rack.share[m] = rng.uniform(1.4, 1.6)
    elif kind == "poor_cooling":
        rack.module_params[m, plant.COOLING] = rng.uniform(0.5, 0.6)
    elif kind == "contact_resistance":
        rack.module_params[m, plant.CONTACT_OHM] = rng.uniform(5e-3, 10e-3)
