"""Family B's rack, one second at a time (numba): cells, air, room, HVAC, abuse, gas, sensors.

One call advances one rack by a chunk of seconds from its state (mutated in place) and returns
what its loggers see each second (:data:`OUTPUTS`). Modules are stacked in their rack in index
order: air enters the lowest at the room's temperature and warms as it rises.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from batteryops.familyb import cell

# Per-module parameters (columns of ``module_params``); times are seconds from the run's start.
COOLING, FAN_FAIL_S, FAN_FACTOR, LEAK_W, LEAK_CELL, CONTACT_OHM = range(6)
EXT_S, EXT_W, EXT_RAMP_S, EXT_CELL, OVERCHARGE_S, OVERCHARGE_A = range(6, 12)
MODULE_PARAMS = 12
# Per-rack room parameters: thermostat set point and half-band (C), cooling power (W), the
# room's conductance to outdoors (W/K) and heat capacity (J/K).
SETPOINT_C, BAND_C, COOLING_W, ROOM_UA_W_PER_K, ROOM_J_PER_K = range(5)
# What the loggers see per module and second.
OUTPUTS = [
    "sensor_1",
    "sensor_2",
    "sensor_3",
    "sensor_4",
    "air_in_c",
    "voltage_v",
    "cell_v_max",
    "cell_v_min",
    "current_a",
    "soc",
    "gas_co",
    "gas_h2",
    "gas_voc",
    "room_c",
]
SENSORS = 4
SENSOR_TAU_S = 15.0
GAS_EXCHANGE_S = 300.0
VENT_BURST_S = 30.0
VENT_BURST_PPM_PER_S = np.array([30.0, 15.0, 80.0])  # CO, H2, VOC while a vent is open
DENDRITE_SOC = 1.12  # an overcharged cell's plating pierces its separator from here ...
DENDRITE_R0_OHM, DENDRITE_TAU_S = 2.0, 300.0  # ... through a short that hardens this fast
ISC_FLOOR_OHM = 0.005  # a hard short in the end
LEAK_GROWTH_K = 8.0  # a soft short's heat grows e-fold per this many kelvin ...
LEAK_MAX_W = 300.0  # ... up to a hard short's
SOC_LIMITS = (0.08, 0.92)
# The rack's suppression floods a module this long after its point of no return: it leaves the
# heat balance (no propagation to its neighbours, which the judging leaves out from then anyway).
SUPPRESSED_AFTER_S = 60  # the converters stop charging / discharging beyond these


class RackState:
    """Everything of one rack that carries from one second to the next."""

    def __init__(self, modules: int, rng: np.random.Generator, room_c: float) -> None:
        shape = (modules, cell.CELLS)
        self.temp_c = np.full(shape, room_c + 2.0)
        self.soc = 0.5 + rng.normal(0, 0.01, shape)
        self.v_rc = np.zeros(shape)
        self.conversion = np.zeros((modules, cell.CELLS, len(cell.STAGES)))
        self.isc_start_s = np.full(shape, np.inf)
        self.isc_r0 = np.full(shape, np.inf)
        self.isc_tau_s = np.full(shape, np.inf)
        self.isc_floor = np.full(shape, ISC_FLOOR_OHM)
        self.vent_s = np.full(shape, np.inf)
        self.gas = np.zeros((modules, 3))
        self.sensor_c = np.full((modules, SENSORS), room_c + 2.0)
        self.room = np.array([room_c, 0.0])  # temperature, HVAC on (1) or off (0)
        self.pnr_s = np.full(modules, np.inf)
        self.first_vent_s = np.full(modules, np.inf)


def advance(
    state: RackState,
    start_s: int,
    current_a: np.ndarray,
    outdoor_c: np.ndarray,
    module_params: np.ndarray,
    cell_params: np.ndarray,
    sensors: np.ndarray,
    room_params: np.ndarray,
) -> np.ndarray:
    """Advance a rack ``len(outdoor_c)`` seconds; the logger view, (modules, seconds, OUTPUTS).

    Args:
        state: The rack's state (advanced in place).
        start_s: The first second's time from the run's start.
        current_a: (modules, seconds) converter current, + = discharge, before SoC limits.
        outdoor_c: Outdoor temperature per second.
        module_params: (modules, MODULE_PARAMS).
        cell_params: (modules, cells, 4): capacity factor, resistance factor, vent and
            separator-collapse temperatures (C).
        sensors: (modules, SENSORS, 2): cell index and coupling of each thermistor.
        room_params: The rack's room (SETPOINT_C ... ROOM_J_PER_K).
    """
    out = np.zeros((current_a.shape[0], len(outdoor_c), len(OUTPUTS)), dtype=np.float32)
    _advance(
        out,
        start_s,
        current_a,
        outdoor_c,
        module_params,
        cell_params,
        sensors,
        room_params,
        state.temp_c,
        state.soc,
        state.v_rc,
        state.conversion,
        state.isc_start_s,
        state.isc_r0,
        state.isc_tau_s,
        state.isc_floor,
        state.vent_s,
        state.gas,
        state.sensor_c,
        state.room,
        state.pnr_s,
        state.first_vent_s,
    )
    return out


@njit(cache=True)
def _ocv(soc: float) -> float:
    return np.interp(soc, cell.OCV_SOC, cell.OCV_V)


@njit(cache=True)
def _module_current(
    m: int, t: int, requested: float, mp: np.ndarray, soc: np.ndarray, first_vent: float
) -> float:
    """The module's current after its converter's SoC limits (none once its protection failed)."""
    if t >= first_vent:
        return 0.0  # the BMS opens the module's contactor once a cell vents
    if t >= mp[m, OVERCHARGE_S]:
        return -mp[m, OVERCHARGE_A]
    mean_soc = soc[m].mean()
    if requested < 0 and mean_soc >= SOC_LIMITS[1]:
        return 0.0
    if requested > 0 and mean_soc <= SOC_LIMITS[0]:
        return 0.0
    return requested


@njit(cache=True, nogil=True)  # generalize runs it beside the unlike fleet's judging
def _advance(  # noqa: PLR0913, PLR0915 - one compiled loop over the rack's physics
    out, start_s, current_a, outdoor_c, mp, cp, sensors, rp, temp, soc, v_rc, conv,
    isc_start, isc_r0, isc_tau, isc_floor, vent_s, gas, sensor_c, room, pnr_s, first_vent,
):  # fmt: skip
    modules, cells = temp.shape
    heat = np.zeros((modules, cells))
    rc_decay = math.exp(-1.0 / cell.TAU1_S)
    lag = 1.0 - math.exp(-1.0 / SENSOR_TAU_S)
    exchange = 1.0 - math.exp(-1.0 / GAS_EXCHANGE_S)
    for step in range(len(outdoor_c)):
        t = start_s + step
        air = room[0]
        to_air_total = 0.0
        for m in range(modules):
            if t >= pnr_s[m] + SUPPRESSED_AFTER_S:  # flooded: out of the rack's heat balance
                temp[m, :] = air
                continue
            current = _module_current(m, t, current_a[m, step], mp, soc, first_vent[m])
            conductance = cell.CELL_TO_AIR_W_PER_K * mp[m, COOLING]
            if t >= mp[m, FAN_FAIL_S]:
                conductance *= mp[m, FAN_FACTOR]
            v_sum, v_max, v_min, to_air = 0.0, -1e9, 1e9, 0.0
            co, h2, voc = 0.0, 0.0, 0.0
            for c in range(cells):
                temp_k = temp[m, c] + 273.15
                arrhenius = math.exp(
                    cell.RESISTANCE_EA_J_PER_MOL / cell.GAS_J_PER_MOL_K * (1 / temp_k - 1 / 298.15)
                )
                r0 = cell.R0_OHM * cp[m, c, 1] * arrhenius
                r1 = cell.R1_OHM * cp[m, c, 1] * arrhenius
                v_rc[m, c] = current * r1 + (v_rc[m, c] - current * r1) * rc_decay
                volts = _ocv(soc[m, c]) - current * r0 - v_rc[m, c]
                q = current * current * r0 + v_rc[m, c] ** 2 / r1
                q -= current * temp_k * np.interp(soc[m, c], cell.ENTROPY_SOC, cell.ENTROPY_V_PER_K)
                stored = -current
                if current < 0 and soc[m, c] > 1.0:  # overcharge: side reactions take a share
                    side = min(1.0, (soc[m, c] - 1.0) / 0.2)
                    q += side * -current * volts
                    stored *= 1.0 - side
                    if soc[m, c] >= DENDRITE_SOC and isc_start[m, c] == np.inf:
                        isc_start[m, c], isc_r0[m, c] = t, DENDRITE_R0_OHM
                        isc_tau[m, c] = DENDRITE_TAU_S
                if t >= isc_start[m, c] and soc[m, c] > 0:
                    r_short = max(
                        isc_floor[m, c],
                        isc_r0[m, c] * math.exp(-(t - isc_start[m, c]) / isc_tau[m, c]),
                    )
                    i_short = max(volts, 0.0) / r_short
                    q += volts * i_short
                    stored -= i_short
                soc[m, c] += stored / (3600.0 * cell.CAPACITY_AH * cp[m, c, 0])
                if c == int(mp[m, LEAK_CELL]):  # a latent soft short, activated by heat
                    q += min(
                        LEAK_MAX_W, mp[m, LEAK_W] * math.exp((temp[m, c] - 25.0) / LEAK_GROWTH_K)
                    )
                if c == 0:  # the module's terminal: busbar joint and outside heat source
                    q += current * current * mp[m, CONTACT_OHM]
                if abs(c - mp[m, EXT_CELL]) <= 1 and t >= mp[m, EXT_S]:  # shared by 3 cells
                    q += mp[m, EXT_W] / 3 * min(1.0, (t - mp[m, EXT_S]) / mp[m, EXT_RAMP_S])
                for k in range(conv.shape[2]):
                    rate = cell.STAGES[k, 0] * math.exp(
                        -cell.STAGES[k, 1] / (cell.GAS_J_PER_MOL_K * temp_k)
                    )
                    done = (1.0 - conv[m, c, k]) * (1.0 - math.exp(-rate))
                    conv[m, c, k] += done
                    q += done * cell.STAGES[k, 2] * cell.HEAT_CAPACITY_J_PER_K
                    escaping = 3000.0 * done * (10.0 if t >= vent_s[m, c] else 1.0)
                    if k == 0:
                        co += escaping
                    elif k == 1:
                        h2 += escaping
                voc += min(50.0, 0.05 * math.exp((temp[m, c] - 80.0) / 8.0))
                if temp[m, c] >= cp[m, c, 3] and isc_floor[m, c] > cell.SEPARATOR_SHORT_OHM:
                    isc_start[m, c], isc_r0[m, c] = t, cell.SEPARATOR_SHORT_OHM
                    isc_floor[m, c], isc_tau[m, c] = cell.SEPARATOR_SHORT_OHM, 1.0
                if temp[m, c] >= cp[m, c, 2] and vent_s[m, c] == np.inf:
                    vent_s[m, c] = t
                    first_vent[m] = min(first_vent[m], t)
                if vent_s[m, c] <= t < vent_s[m, c] + VENT_BURST_S:
                    co += VENT_BURST_PPM_PER_S[0]
                    h2 += VENT_BURST_PPM_PER_S[1]
                    voc += VENT_BURST_PPM_PER_S[2]
                q -= conductance * (temp[m, c] - air)
                to_air += conductance * (temp[m, c] - air)
                if c > 0:
                    q += cell.CELL_TO_CELL_W_PER_K * (temp[m, c - 1] - temp[m, c])
                if c < cells - 1:
                    q += cell.CELL_TO_CELL_W_PER_K * (temp[m, c + 1] - temp[m, c])
                if c == 0 or c == cells - 1:
                    q -= cell.END_PLATE_W_PER_K * (temp[m, c] - air)
                    to_air += cell.END_PLATE_W_PER_K * (temp[m, c] - air)
                if c == 0 and m > 0:
                    q += cell.MODULE_TO_MODULE_W_PER_K * (temp[m - 1, cells - 1] - temp[m, c])
                if c == cells - 1 and m < modules - 1:
                    q += cell.MODULE_TO_MODULE_W_PER_K * (temp[m + 1, 0] - temp[m, c])
                heat[m, c] = q
                v_sum += volts
                v_max, v_min = max(v_max, volts), min(v_min, volts)
            gas[m, 0] += co - gas[m, 0] * exchange
            gas[m, 1] += h2 - gas[m, 1] * exchange
            gas[m, 2] += voc - gas[m, 2] * exchange
            for s in range(SENSORS):
                seen = sensors[m, s, 1] * temp[m, int(sensors[m, s, 0])]
                sensor_c[m, s] += (seen + (1 - sensors[m, s, 1]) * air - sensor_c[m, s]) * lag
                out[m, step, s] = sensor_c[m, s]
            view = (air, v_sum, v_max, v_min, current, soc[m].mean(), gas[m, 0], gas[m, 1])
            for k in range(len(view)):
                out[m, step, SENSORS + k] = view[k]
            out[m, step, 12], out[m, step, 13] = gas[m, 2], room[0]
            air += to_air / cell.RACK_AIR_W_PER_K
            to_air_total += to_air
        for m in range(modules):
            rise = 0.0
            for c in range(cells):
                change = heat[m, c] / cell.HEAT_CAPACITY_J_PER_K
                temp[m, c] += change
                rise = max(rise, change)
            if rise >= 1.0 and pnr_s[m] == np.inf:
                pnr_s[m] = t
        _room_step(room, rp, outdoor_c[step], to_air_total)


@njit(cache=True)
def _room_step(room: np.ndarray, rp: np.ndarray, outdoor: float, rack_heat_w: float) -> None:
    """The room's air a second later; the thermostat switches the HVAC with hysteresis."""
    if room[0] > rp[SETPOINT_C] + rp[BAND_C]:
        room[1] = 1.0
    elif room[0] < rp[SETPOINT_C] - rp[BAND_C]:
        room[1] = 0.0
    flow = rp[ROOM_UA_W_PER_K] * (outdoor - room[0]) + rack_heat_w - room[1] * rp[COOLING_W]
    room[0] += flow / rp[ROOM_J_PER_K]
