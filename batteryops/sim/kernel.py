"""The fleet simulator's second-by-second physics, compiled with numba.

:class:`batteryops.sim.simulate.FleetSimulator` integrates a chunk of seconds with :func:`advance`:
one compiled loop over seconds and modules, doing what the NumPy step did (electrical circuit,
rack current limits, fault and nuisance heat, the two thermal nodes, the four decomposition
reactions, venting and PNR, off-gas). The NumPy step cost about 125 µs per simulated second for
96 modules, nearly all of it in calling NumPy on small arrays; this loop costs a few.

Scalars travel in one float64 vector (the ``P_*`` indices), per-module flags in one bool matrix
(the ``F_*`` rows), the state in float64 arrays updated in place.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Scalar parameters, in this order (FleetSimulator._kernel_params).
(
    P_AMBIENT_MEAN,
    P_AMBIENT_AMPLITUDE,
    P_HOT_DELTA,
    P_COOLANT_OFFSET,
    P_CELLS_PARALLEL,
    P_HIGH_LOAD_C_RATE,
    P_CAPACITY_AH,
    P_BUSY_FACTOR,
    P_OVERCHARGE_C_RATE,
    P_OVERCHARGE_SPAN,
    P_SEPARATOR_SHORT_C,
    P_ISC_DOUBLING_S,
    P_ISC_INITIAL_W,
    P_ISC_MAX_W,
    P_EXTERNAL_RAMP_S,
    P_EXTERNAL_W,
    P_TO_AIR,
    P_COOLING_FAILURE_FACTOR,
    P_POOR_COOLING_FACTOR,
    P_CONTACT_OHM,
    P_CELL_TO_MODULE,
    P_FIRE_S,
    P_FIRE_W,
    P_VENT_C,
    P_PNR_RATE,
    P_VENT_GAS,
    P_NEIGHBOUR,
    P_CELLS,
    P_MODULE_HC,
    P_CELL_HC,
    P_CELL_VOLUME,
    P_R0,
    P_R1,
    P_R2,
    P_ACTIVATION_K,
    P_LOW_SOC_FACTOR,
    P_HEAT_SHARE,
    P_DECAY1,
    P_DECAY2,
    P_GAIN1,
    P_GAIN2,
    P_OVERCHARGE_SLOPE_V,
    P_LOW_SOC_SCALE,
    P_REFERENCE_K,
    P_UPPER_V,
    P_LOWER_V,
) = range(46)
N_PARAMS = 46
# Per-module flags, rows of one bool matrix.
F_INTERNAL_SHORT, F_EXTERNAL, F_COOLING, F_OVERCHARGE, F_BUSY, F_POOR, F_CONTACT = range(7)
# Output traces, in simulate.PHYSICS_TRACES order.
(O_T_CELL, O_T_MOD, O_AMBIENT, O_COOLANT, O_CURRENT, O_V_CELL, O_SOC, O_ISC, O_GAS) = range(9)
# Reaction state rows: c_sei, c_neg, t_sei, alpha, c_e (batteryops.physics.kinetics).
REACTION_FLOOR_C = 50.0

_R = 8.314
_SEI = (1.667e15, 1.3508e5, 257.0, 6.104e5)
_NEG = (2.5e13, 1.3508e5, 1714.0, 6.104e5)
_POS = (6.667e13, 1.396e5, 314.0, 1.221e6)
_ELE = (5.14e25, 2.74e5, 155.0, 4.07e5)
_T_SEI_REF = 0.033


@njit(cache=True)
def _react(state: np.ndarray, m: int, temp_c: float) -> float:
    """One 1 s step of the four reactions of cell ``m`` (kinetics.react); heat in W/m3."""
    temp_k = temp_c + 273.15
    c_sei, c_neg, t_sei, alpha0, c_e = (
        state[0, m],
        state[1, m],
        state[2, m],
        state[3, m],
        state[4, m],
    )
    k_sei = _SEI[0] * math.exp(-_SEI[1] / (_R * temp_k))
    c_sei_new = c_sei * math.exp(-k_sei)
    k_neg = _NEG[0] * math.exp(-_NEG[1] / (_R * temp_k)) * math.exp(-t_sei / _T_SEI_REF)
    c_neg_new = c_neg * math.exp(-k_neg)
    k_pos = _POS[0] * math.exp(-_POS[1] / (_R * temp_k))
    alpha = min(max(alpha0, 1e-12), 1.0 - 1e-12)
    alpha_new = 1.0 / (1.0 + (1.0 - alpha) / alpha * math.exp(-k_pos))
    k_ele = _ELE[0] * math.exp(-_ELE[1] / (_R * temp_k))
    c_e_new = c_e * math.exp(-k_ele)
    heat = (
        _SEI[2] * _SEI[3] * (c_sei - c_sei_new)
        + _NEG[2] * _NEG[3] * (c_neg - c_neg_new)
        + _POS[2] * _POS[3] * (alpha_new - alpha0)
        + _ELE[2] * _ELE[3] * (c_e - c_e_new)
    )
    state[2, m] = t_sei + (c_neg - c_neg_new)
    state[0, m], state[1, m], state[3, m], state[4, m] = c_sei_new, c_neg_new, alpha_new, c_e_new
    return heat


@njit(cache=True)
def _ocv(soc: float, table_soc: np.ndarray, table_v: np.ndarray, slope: float) -> float:
    """physics.cell.ocv of one SoC: the table's line segment (as ``np.interp`` computes it)."""
    if soc > 1.0:
        return table_v[-1] + slope * (soc - 1.0)
    last = len(table_soc) - 1
    if soc <= table_soc[0]:
        return table_v[0]
    if soc >= table_soc[last]:
        return table_v[last]
    j = np.searchsorted(table_soc, soc, side="right") - 1
    rise = (table_v[j + 1] - table_v[j]) / (table_soc[j + 1] - table_soc[j])
    return rise * (soc - table_soc[j]) + table_v[j]


@njit(cache=True)
def _limits(
    p: np.ndarray, soc: np.ndarray, t_cell: np.ndarray, scale: np.ndarray, tsoc, tv
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per module: resistance factor, open-circuit voltage, discharge and charge current limits."""
    n = len(soc)
    factor, ocv, discharge, charge = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    dc = p[P_R0] + p[P_R1] + p[P_R2]
    for m in range(n):
        arrhenius = math.exp(
            p[P_ACTIVATION_K] * (1.0 / (t_cell[m] + 273.15) - 1.0 / p[P_REFERENCE_K])
        )
        low = 1.0 + p[P_LOW_SOC_FACTOR] * math.exp(-soc[m] / p[P_LOW_SOC_SCALE])
        factor[m] = arrhenius * low * scale[m]
        ocv[m] = _ocv(soc[m], tsoc, tv, p[P_OVERCHARGE_SLOPE_V])
        ohm = dc * factor[m]
        discharge[m] = max((ocv[m] - p[P_LOWER_V]) / ohm, 0.0)
        charge[m] = max((p[P_UPPER_V] - ocv[m]) / ohm, 0.0)
    return factor, ocv, discharge, charge


@njit(cache=True)
def _rack_currents(
    t: int,
    p: np.ndarray,
    rack_current: np.ndarray,
    soc: np.ndarray,
    per_rack: int,
    heavy_start: np.ndarray,
    heavy_direction: np.ndarray,
) -> np.ndarray:
    """Each rack's current this second: its duty, or the heavy duty, within its SoC window."""
    racks = len(heavy_start)
    module_capacity = p[P_CAPACITY_AH] * p[P_CELLS_PARALLEL]
    i_rack = np.empty(racks)
    for r in range(racks):
        mean_soc = np.mean(soc[r * per_rack : (r + 1) * per_rack])
        current = rack_current[t, r]
        if mean_soc < 0.15:  # heavy duty: discharge down to 15 %, charge up to 85 %
            heavy_direction[r] = -1.0
        if mean_soc > 0.85:
            heavy_direction[r] = 1.0
        if t >= heavy_start[r]:
            current = p[P_HIGH_LOAD_C_RATE] * module_capacity * heavy_direction[r]
        if mean_soc < 0.1 and current > 0:
            current = 0.0
        if mean_soc > 0.95 and current < 0:
            current = 0.0
        i_rack[r] = current
    return i_rack


@njit(cache=True)
def _neighbour_w(p: np.ndarray, t_mod: np.ndarray, per_rack: int) -> np.ndarray:
    """Heat each module body takes from its neighbours in the rack (W)."""
    n = len(t_mod)
    out = np.empty(n)
    for m in range(n):
        j, w = m % per_rack, 0.0
        if j < per_rack - 1:
            w = w + (t_mod[m + 1] - t_mod[m])
        if j > 0:
            w = w - (t_mod[m] - t_mod[m - 1])
        out[m] = w * p[P_NEIGHBOUR]
    return out


@njit(cache=True, nogil=True)  # generalize runs it beside family B's judging
def advance(
    t0, steps, p, rack_current, rack_index, per_rack, flags, fault_start, nuisance_start,
    hot_start, heavy_start, resistance_scale, capacity_scale, table_soc, table_v,
    soc, v1, v2, t_cell, t_mod, cell_reactions, body_reactions, vent_time, pnr_time,
    short_start, heavy_direction, out,
):  # fmt: skip
    """Integrate ``steps`` seconds from ``t0``; the state arrays in place, traces into ``out``.

    ``out`` is (traces, steps, modules) float32, traces in ``O_*`` order.
    """
    n, cp = len(soc), p[P_CELLS_PARALLEL]
    new_cell, new_mod = np.empty(n), np.empty(n)
    for s in range(steps):
        t = t0 + s
        base = p[P_AMBIENT_MEAN] + p[P_AMBIENT_AMPLITUDE] * math.sin(
            2 * math.pi * (t / 86400.0 - 0.375)
        )
        factor, ocv, d_limit, c_limit = _limits(
            p, soc, t_cell, resistance_scale, table_soc, table_v
        )
        i_rack = _rack_currents(t, p, rack_current, soc, per_rack, heavy_start, heavy_direction)
        # The BMS keeps every cell it sees in limits; not an overcharge-faulted module (the
        # fault), a burning one (sensors lost), nor a busy one (its own converter does).
        rack_d, rack_c = np.full(len(i_rack), np.inf), np.full(len(i_rack), np.inf)
        for m in range(n):
            burning = not math.isnan(pnr_time[m])
            overcharging = t >= fault_start[m] and flags[F_OVERCHARGE, m] and not burning
            busy = flags[F_BUSY, m] and t >= nuisance_start[m]
            if not (overcharging or burning or busy):
                r = rack_index[m]
                rack_d[r], rack_c[r] = min(rack_d[r], d_limit[m]), min(rack_c[r], c_limit[m])
        for r in range(len(i_rack)):
            i_rack[r] = min(max(i_rack[r], -(rack_c[r] * cp)), rack_d[r] * cp)
        neighbour = _neighbour_w(p, t_mod, per_rack)
        for m in range(n):
            _module_second(
                t, s, m, p, i_rack[rack_index[m]] / cp, base, flags, fault_start,
                nuisance_start, hot_start, capacity_scale, factor[m], ocv[m], d_limit[m],
                c_limit[m], neighbour[m], soc, v1, v2, t_cell, t_mod, cell_reactions,
                body_reactions, vent_time, pnr_time, short_start, new_cell, new_mod, out,
            )  # fmt: skip
        t_cell[:] = new_cell
        t_mod[:] = new_mod


@njit(cache=True)
def _module_second(
    t, s, m, p, i_cell, base, flags, fault_start, nuisance_start, hot_start, capacity_scale,
    factor, ocv, d_limit, c_limit, neighbour_w, soc, v1, v2, t_cell, t_mod, cell_reactions,
    body_reactions, vent_time, pnr_time, short_start, new_cell, new_mod, out,
):  # fmt: skip
    """One module's second: current, circuit, heat sources, both thermal nodes, vent, PNR, gas."""
    cp = p[P_CELLS_PARALLEL]
    active = t >= fault_start[m]
    burning = not math.isnan(pnr_time[m])
    if flags[F_BUSY, m] and t >= nuisance_start[m]:  # more current, within the module's limits
        top = p[P_HIGH_LOAD_C_RATE] * p[P_CAPACITY_AH]
        more = min(max(i_cell * p[P_BUSY_FACTOR], -top), top)
        i_cell = min(max(more, -c_limit), d_limit)
    if active and flags[F_OVERCHARGE, m] and not burning:
        i_cell -= p[P_OVERCHARGE_C_RATE] * p[P_CAPACITY_AH]
    # The cell's circuit (physics.cell.CellModel.step).
    v1[m] = p[P_DECAY1] * v1[m] + p[P_GAIN1] * i_cell * factor
    v2[m] = p[P_DECAY2] * v2[m] + p[P_GAIN2] * i_cell * factor
    drop = i_cell * p[P_R0] * factor
    voltage = ocv - drop - v1[m] - v2[m]
    joule = p[P_HEAT_SHARE] * i_cell * (drop + v1[m])
    soc[m] = max(soc[m] - i_cell / (3600.0 * p[P_CAPACITY_AH] * capacity_scale[m]), 0.0)
    share = min(max((soc[m] - 1.0) / p[P_OVERCHARGE_SPAN], 0.0), 1.0)
    overcharge = share * max(-i_cell, 0.0) * voltage
    soc[m] = min(soc[m], 1.0 + p[P_OVERCHARGE_SPAN])
    # Fault and nuisance heat.
    if math.isinf(short_start[m]) and t_cell[m] > p[P_SEPARATOR_SHORT_C]:
        short_start[m] = t
    isc = 0.0
    if t >= short_start[m]:
        doublings = (t - short_start[m]) / p[P_ISC_DOUBLING_S]
        isc = min(p[P_ISC_INITIAL_W] * 2.0**doublings, p[P_ISC_MAX_W])
    external = 0.0
    if active and flags[F_EXTERNAL, m]:
        ramp = (t - fault_start[m]) / p[P_EXTERNAL_RAMP_S]
        external = p[P_EXTERNAL_W] * min(max(ramp, 0.0), 1.0)
    to_air = p[P_TO_AIR] * (p[P_COOLING_FAILURE_FACTOR] if active and flags[F_COOLING, m] else 1.0)
    nuisance = t >= nuisance_start[m]
    to_air = to_air * (p[P_POOR_COOLING_FACTOR] if flags[F_POOR, m] and nuisance else 1.0)
    if flags[F_CONTACT, m] and nuisance:  # a warm busbar joint: I^2 R into the module body
        external = external + (i_cell * cp) ** 2 * p[P_CONTACT_OHM]
    ambient = base + (p[P_HOT_DELTA] if t >= hot_start[m] else 0.0)
    t_air = ambient + p[P_COOLANT_OFFSET]
    # The weakest cell and the module body decompose at their own temperatures.
    cell_w = _react(cell_reactions, m, t_cell[m]) if t_cell[m] > REACTION_FLOOR_C else 0.0
    body_w = _react(body_reactions, m, t_mod[m]) if t_mod[m] > REACTION_FLOOR_C else 0.0
    cell_w = cell_w * p[P_CELL_VOLUME]
    body_w = body_w * p[P_CELL_VOLUME] * (p[P_CELLS] - 1)
    exchange = p[P_CELL_TO_MODULE] * (t_cell[m] - t_mod[m])
    cell_rate = (joule + overcharge + isc + cell_w - exchange) / p[P_CELL_HC]
    module_w = (
        (p[P_CELLS] - 1) * (joule + overcharge)
        + body_w
        + exchange
        + external
        + neighbour_w
        - to_air * (t_mod[m] - t_air)
    )
    if burning and t - pnr_time[m] < p[P_FIRE_S]:
        module_w += p[P_FIRE_W]
    module_rate = module_w / p[P_MODULE_HC]
    new_cell[m] = t_cell[m] + cell_rate
    new_mod[m] = t_mod[m] + module_rate
    if math.isnan(vent_time[m]) and new_cell[m] >= p[P_VENT_C]:
        vent_time[m] = t
    if not burning and max(cell_rate, module_rate) >= p[P_PNR_RATE]:
        pnr_time[m] = t
    gas = 0.0
    if not math.isnan(vent_time[m]):
        above = max(new_cell[m] - p[P_VENT_C], 0.0)
        gas = p[P_VENT_GAS] * (t - vent_time[m]) * (1.0 + above / 20.0)
    out[O_T_CELL, s, m], out[O_T_MOD, s, m] = new_cell[m], new_mod[m]
    out[O_AMBIENT, s, m], out[O_COOLANT, s, m] = ambient, t_air
    out[O_CURRENT, s, m], out[O_V_CELL, s, m] = i_cell * cp, voltage
    out[O_SOC, s, m], out[O_ISC, s, m], out[O_GAS, s, m] = soc[m], isc, gas
