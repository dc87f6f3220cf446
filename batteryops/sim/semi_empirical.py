"""A second, independently written ageing family: a semi-empirical model of another cell.

The default fleet (:mod:`batteryops.sim.ageing`) ages LG M50-type cells by degradation modes on
half-cell potentials. A model that learned from it could pass its own test by inverting that
simulator, so the health model is also judged on cells aged by a different kind of model: the
semi-empirical capacity and resistance laws Schmalstieg et al. fitted to a Sanyo UR18650E NMC
cell (2.05 Ah; J. Power Sources 257 (2014) 325, eqs. 3-4 and 8-9, Table 2):

    capacity share left   C = 1 - a_cal(V, T) t^0.75 - b_cyc(V_avg, DoD) sqrt(Q)
    resistance factor     R = 1 + a_res(V, T) t^0.75 + b_res(V_avg, DoD) Q

with ``t`` in days, ``Q`` the charge throughput in Ah, ``V`` the storage voltage, ``V_avg`` and
``DoD`` the cycle's mean voltage and depth. Past a share of capacity lost, a knee (lithium
plating) adds a loss growing with the square of the excess throughput, since the published law
has none and real cells show one. Cells differ by a lognormal factor on each rate. Every ageing
cycle of a protocol moves a fixed charge (its depth times the nominal capacity) at its rates; a
check-up every ``checkup_every`` cycles discharges fully at ``checkup_c_rate``. The cycler rows
carry the chamber's temperature (``ambient_c``) beside the self-heated, noisy cell's. There are
no low-rate curves: most cycler data has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import SecondAgeingParams

SOH = "soh"
# Schmalstieg et al. 2014, Table 2 (capacity, resistance; t in days, Q in Ah, T in K).
CAL_CAPACITY = (7.543, -23.75, 6976.0)  # a_cal = (7.543 V - 23.75) 1e6 exp(-6976 / T)
CYC_CAPACITY = (7.348e-3, 3.667, 7.600e-4, 4.081e-3)  # b_cyc = 7.348e-3 (V - 3.667)^2 + ...
CAL_RESISTANCE = (5.270, -16.32, 5986.0)  # a_res = (5.270 V - 16.32) 1e5 exp(-5986 / T)
CYC_RESISTANCE = (2.153e-4, 3.725, -1.521e-5, 2.798e-4)
REFERENCE_AH = 2.05  # the cell the law was fitted to: Q is scaled by the cell's capacity


@dataclass(frozen=True)
class SecondFamily:
    """Cycler rows of the second family and the true SOH per (cell, cycle)."""

    cycles: pd.DataFrame  # canonical cycle data (schema.CYCLE_COLUMNS)
    truth: pd.DataFrame  # cell, cycle, true SOH


def _rates(params: SecondAgeingParams, cells: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per cell, the four laws' coefficients at its conditions, times its own spread."""
    kelvin = cells["temperature_c"].to_numpy() + 273.15
    storage_v = params.storage_voltage_v
    mean_v = cells["mean_voltage_v"].to_numpy()
    depth = cells["depth_of_discharge"].to_numpy()
    a, b, e = CAL_CAPACITY
    a_cal = (a * storage_v + b) * 1e6 * np.exp(-e / kelvin)
    k2, v0, c0, kd = CYC_CAPACITY
    b_cyc = k2 * (mean_v - v0) ** 2 + c0 + kd * depth
    a, b, e = CAL_RESISTANCE
    a_res = (a * storage_v + b) * 1e5 * np.exp(-e / kelvin)
    k2, v0, c0, kd = CYC_RESISTANCE
    b_res = np.clip(k2 * (mean_v - v0) ** 2 + c0 + kd * depth, 0.0, None)
    return {
        "a_cal": a_cal * cells["_calendar"].to_numpy(),
        "b_cyc": b_cyc * cells["_cycling"].to_numpy(),
        "a_res": a_res,
        "b_res": b_res,
    }


def _cells(params: SecondAgeingParams, rng: np.random.Generator) -> pd.DataFrame:
    rows = [
        {
            schema.CELL_ID: f"S{temperature:02.0f}-{protocol.name}-{k + 1:02d}",
            "temperature_c": float(temperature),
            "charge_c_rate": protocol.charge_c_rate,
            "discharge_c_rate": protocol.discharge_c_rate,
            "depth_of_discharge": protocol.depth_of_discharge,
            "mean_voltage_v": protocol.mean_voltage_v,
        }
        for temperature in params.temperatures_c
        for protocol in params.protocols
        for k in range(params.cells_per_condition)
    ]
    cells = pd.DataFrame(rows)
    n = len(cells)
    cells["_calendar"] = rng.lognormal(0.0, params.rate_spread_fraction, n)
    cells["_cycling"] = rng.lognormal(0.0, params.rate_spread_fraction, n)
    cells["_capacity"] = rng.normal(1.0, params.capacity_spread_fraction, n)
    return cells


def simulate_second_family(params: SecondAgeingParams) -> SecondFamily:
    """Age every cell of the second family until its SOH falls below ``end_soh``."""
    rng = np.random.default_rng(params.seed)
    cells = _cells(params, rng)
    rates = _rates(params, cells)
    frames = [
        _cell_rows(params, cells.iloc[i], {k: v[i] for k, v in rates.items()}, rng)
        for i in range(len(cells))
    ]
    rows = pd.concat(frames, ignore_index=True)
    truth = rows[[*schema.CYCLE_KEYS, SOH]].copy()
    return SecondFamily(rows[schema.CYCLE_COLUMNS], truth)


def _cell_rows(
    params: SecondAgeingParams,
    cell: pd.Series,
    rates: dict[str, float],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One cell's cycler rows, cycle by cycle until its end of life."""
    capacity0 = params.nominal_capacity_ah * cell["_capacity"]
    depth, c_ch, c_dis = (
        cell["depth_of_discharge"],
        cell["charge_c_rate"],
        cell["discharge_c_rate"],
    )
    cycles = np.arange(params.max_cycles + 1)
    checkup = cycles % params.checkup_every == 0
    moved = np.where(checkup, 1.0, depth) * params.nominal_capacity_ah  # Ah per discharge
    throughput = 2.0 * np.concatenate([[0.0], np.cumsum(moved)[:-1]])  # charge + discharge
    scaled = throughput * REFERENCE_AH / params.nominal_capacity_ah
    hours = np.where(
        checkup, 1.0 / c_ch + 1.0 / params.checkup_c_rate, depth * (1 / c_ch + 1 / c_dis)
    )
    days = np.concatenate([[0.0], np.cumsum(hours + params.rest_h)[:-1]]) / 24.0
    lost = rates["a_cal"] * days**0.75 + rates["b_cyc"] * np.sqrt(scaled)
    excess = np.clip(lost - params.knee_onset_loss, 0.0, None)
    soh = 1.0 - lost - params.knee_gain * excess**2
    life = soh > params.end_soh
    last = int(np.argmin(life)) if not life.all() else len(cycles) - 1
    keep = slice(0, last + 1)
    resistance = params.resistance_ohm * (1 + rates["a_res"] * days**0.75 + rates["b_res"] * scaled)
    rate = np.where(checkup, params.checkup_c_rate, c_dis)
    full = capacity0 * soh * (1 - params.rate_capacity_loss * rate * resistance / resistance[0])
    delivered = np.where(checkup | (depth >= 1.0), full, np.minimum(moved, full))
    measured = np.clip(delivered + rng.normal(0, params.noise_capacity_ah, cycles.size), 0, None)
    chamber_c = cell["temperature_c"]
    temperature = chamber_c + params.self_heating_c_per_c_rate * 0.5 * (c_ch + rate)
    temperature = temperature + rng.normal(0, params.noise_temperature_c, cycles.size)
    frame = pd.DataFrame(
        {
            schema.CELL_ID: cell[schema.CELL_ID],
            schema.CYCLE: cycles,
            "temperature_c": temperature,
            "capacity_ah": measured,
            "resistance_ohm": resistance
            * (1 + rng.normal(0, params.noise_resistance_fraction, cycles.size)),
            "discharge_throughput_ah": np.cumsum(measured),
            "charge_c_rate": c_ch,
            "discharge_c_rate": rate,
            "depth_of_discharge": np.where(checkup, 1.0, depth),
            "time_s": (days * 24.0 + hours + params.rest_h) * 3600.0,
            "charge_time_s": 3600.0 * np.where(checkup, 1.0, depth) / c_ch,
            "ambient_c": chamber_c,
            SOH: soh,
        }
    )
    frame["charge_throughput_ah"] = frame["discharge_throughput_ah"] / params.coulombic_efficiency
    frame["temperature_max_c"] = frame["temperature_c"]
    return frame.iloc[keep]
