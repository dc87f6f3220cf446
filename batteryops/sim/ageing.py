"""Cycle ageing of LG M50-type cells by degradation modes, for the state-of-health task.

Each cell is three charges (:mod:`batteryops.physics.half_cells`): the negative and positive
electrodes' capacities and the cyclable lithium. Every cycle removes some of each:

- **LLI by SEI growth**, with the square root of time (calendar) and of equivalent full cycles
  (cycling), Arrhenius in temperature (Broussely et al. 2005; Schmalstieg et al. 2014).
- **LLI by lithium plating**, per cycle, rising with the charge rate and as the temperature falls
  (an Arrhenius term with the opposite sign; Waldmann et al. 2014, J. Power Sources 262, 129).
- **LAM of the negative electrode** (particle cracking and isolation of the graphite-SiOx) and
  **LAM of the positive**, per cycle, rising with the discharge rate and temperature.
- **The knee**, by two routes to runaway plating (Attia et al. 2022, J. Electrochem. Soc. 169,
  060517, review both): (1) as the negative electrode loses material while the lithium stays,
  its stoichiometry at 4.2 V (``x_100``) climbs towards 1 and more of each charge plates;
  (2) the SEI and plated lithium fill the negative electrode's pores, and past a share of lost
  lithium the rising local overpotential makes plating feed on itself (Yang et al. 2017, J. Power
  Sources 360, 28: "transition from linear to nonlinear aging"). Once ``x_100`` reaches 1 the
  capacity is set by the negative electrode and falls with its every loss.

The capacity (low-rate, between 2.5 and 4.2 V) and the C/20-like discharge curves at checkpoint
cycles come from the half-cell potentials over the shifted stoichiometry window, so incremental-
capacity (dQ/dV) peaks move and shrink as a real cell's do. Per cycle the "cycler" reports the
capacity at the protocol's discharge rate (lower by the resistive loss), a pulse resistance,
throughputs, rates, time and the cell's temperature, with noise, and its chamber's temperature
(``ambient_c``: the set-point, without noise). Every rate is in ``params.yaml`` (``ageing:``); a
seed makes the fleet reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import AgeingParams, AgeingRates
from batteryops.physics import half_cells

GAS_CONSTANT = 8.314462618
REFERENCE_K = 298.15
SOH = "soh"
EOL_CYCLE = "eol_cycle"
TRUTH_CELL_COLUMNS = [
    schema.CELL_ID,
    "temperature_c",
    "protocol",
    "charge_c_rate",
    "discharge_c_rate",
    "depth_of_discharge",
    "initial_capacity_ah",
    EOL_CYCLE,
]
TRUTH_CYCLE_COLUMNS = [schema.CELL_ID, schema.CYCLE, SOH, "lli", "lam_neg", "lam_pos", "x_100"]


@dataclass(frozen=True)
class AgeingData:
    """What the simulator writes: cycler rows, checkpoint curves and the truth beside them."""

    cycles: pd.DataFrame  # canonical cycle data (schema.CYCLE_COLUMNS)
    curves: pd.DataFrame  # schema.CURVE_COLUMNS
    cells: pd.DataFrame  # TRUTH_CELL_COLUMNS: conditions and end of life per cell
    truth: pd.DataFrame  # TRUTH_CYCLE_COLUMNS: true SOH and degradation modes per cycle


def arrhenius(temperature_c: np.ndarray, activation_j_per_mol: float) -> np.ndarray:
    """``exp(-Ea/R (1/T - 1/T_ref))``: 1 at 25 C, above 1 when hotter for a positive ``Ea``."""
    kelvin = np.asarray(temperature_c, dtype=float) + 273.15
    return np.exp(-activation_j_per_mol / GAS_CONSTANT * (1.0 / kelvin - 1.0 / REFERENCE_K))


def _cells(params: AgeingParams, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for temperature in params.temperatures_c:
        for protocol in params.protocols:
            for k in range(params.cells_per_condition):
                rows.append(
                    {
                        schema.CELL_ID: f"T{temperature:02.0f}-{protocol.name}-{k + 1:02d}",
                        "temperature_c": float(temperature),
                        "protocol": protocol.name,
                        "charge_c_rate": protocol.charge_c_rate,
                        "discharge_c_rate": protocol.discharge_c_rate,
                        "depth_of_discharge": protocol.depth_of_discharge,
                    }
                )
    cells = pd.DataFrame(rows)
    n = len(cells)
    spread = params.spread
    # One "quality" factor scales every mode of a cell (a cell that loses material early goes on
    # losing it), plus a smaller independent part per mode.
    quality = rng.lognormal(0.0, spread.rate_fraction, n)
    for mode in ("sei", "plating", "lam_neg", "lam_pos"):
        cells[f"_{mode}"] = quality * rng.lognormal(0.0, spread.mode_fraction, n)
    for name in ("q_neg", "q_pos", "n_li"):
        cells[f"_{name}"] = rng.normal(1.0, spread.capacity_fraction, n)
    cells["_resistance"] = rng.normal(1.0, spread.resistance_fraction, n)
    return cells


def simulate_ageing(params: AgeingParams) -> AgeingData:
    """Cycle every cell of the default fleet until it falls below ``end_soh`` (or ``max_cycles``).

    Returns:
        The cycler data, checkpoint curves and truth (see :class:`AgeingData`).
    """
    rng = np.random.default_rng(params.seed)
    cells = _cells(params, rng)
    n = len(cells)
    rates = params.rates
    depth = cells["depth_of_discharge"].to_numpy()
    q_neg0 = half_cells.Q_NEG_AH * cells["_q_neg"].to_numpy()
    q_pos0 = half_cells.Q_POS_AH * cells["_q_pos"].to_numpy()
    n_li0 = half_cells.N_LI_AH * cells["_n_li"].to_numpy()
    _, _, capacity0 = half_cells.window(q_neg0, q_pos0, n_li0)
    sei_k, plating_k, lam_neg_k, lam_pos_k = _mode_rates(params, cells)
    resistance0 = _fresh_resistance(params, cells)
    hours_per_cycle = _hours_per_cycle(cells, params.rest_h)
    lli_plating = np.zeros(n)
    lam_neg = np.zeros(n)
    lam_pos = np.zeros(n)
    efc = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    eol = np.full(n, np.nan)
    records: list[dict[str, np.ndarray]] = []
    curves: list[pd.DataFrame] = []
    for cycle in range(params.max_cycles + 1):
        days = cycle * hours_per_cycle / 24.0
        lli = _lost_lithium(rates, sei_k, days, efc, lli_plating)
        q_neg, q_pos, n_li = q_neg0 * (1 - lam_neg), q_pos0 * (1 - lam_pos), n_li0 * (1 - lli)
        _, x100, capacity = half_cells.window(q_neg, q_pos, n_li)
        soh = capacity / capacity0
        eol = np.where(np.isnan(eol) & (soh <= params.eol_soh), cycle, eol)
        resistance = resistance0 * (
            1 + params.resistance_growth_per_lli * lli + params.resistance_growth_per_lam * lam_neg
        )
        traces = {
            "soh": soh,
            "capacity": capacity,
            "resistance": resistance,
            "lli": lli,
            "lam_neg": lam_neg,
            "lam_pos": lam_pos,
            "x_100": x100,
            "efc": efc,
            "days": days,
        }
        records.append(_record(alive, cycle, traces))
        if cycle % params.checkpoint_every == 0:
            curves += _checkpoint_curves(
                params, cells, np.flatnonzero(alive), cycle, q_neg, q_pos, n_li, resistance, rng
            )
        alive &= soh > params.end_soh
        if not alive.any():
            break
        # A partial cycle moves a share of the charge a full one does, and ages the cell by it.
        lli_plating += alive * depth * plating_k * _knee_factor(rates, x100, lli)
        lam_neg += alive * depth * lam_neg_k
        lam_pos += alive * depth * lam_pos_k
        efc += alive * np.minimum(soh, depth)
    return _assemble(params, cells, capacity0, eol, records, curves, resistance0, rng)


def _hours_per_cycle(cells: pd.DataFrame, rest_h: float) -> np.ndarray:
    """Per cell, the hours of one ageing cycle of its protocol: charge, discharge and rest."""
    depth = cells["depth_of_discharge"].to_numpy()
    return (
        depth / cells["charge_c_rate"].to_numpy()
        + depth / cells["discharge_c_rate"].to_numpy()
        + rest_h
    )


def _mode_rates(
    params: AgeingParams, cells: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cell, the rate constants of SEI growth, plating and LAM of either electrode.

    Each is the cell's own factor times its protocol's C-rate dependence and its chamber's
    Arrhenius term (plating rises as the temperature falls).
    """
    rates = params.rates
    temp = cells["temperature_c"].to_numpy()
    c_ch = cells["charge_c_rate"].to_numpy()
    c_dis = cells["discharge_c_rate"].to_numpy()
    sei_k = cells["_sei"].to_numpy() * arrhenius(temp, rates.sei_activation_j_per_mol)
    plating_k = (
        rates.plating_per_cycle
        * cells["_plating"].to_numpy()
        * c_ch**rates.plating_c_rate_exponent
        * arrhenius(temp, -rates.plating_activation_j_per_mol)
    )
    lam_neg_k = (
        rates.lam_neg_per_cycle
        * cells["_lam_neg"].to_numpy()
        * c_dis**rates.lam_c_rate_exponent
        * arrhenius(temp, rates.lam_activation_j_per_mol)
    )
    lam_pos_k = (
        rates.lam_pos_per_cycle
        * cells["_lam_pos"].to_numpy()
        * c_dis**rates.lam_c_rate_exponent
        * arrhenius(temp, rates.lam_activation_j_per_mol)
    )
    return sei_k, plating_k, lam_neg_k, lam_pos_k


def _fresh_resistance(params: AgeingParams, cells: pd.DataFrame) -> np.ndarray:
    """Per cell, the fresh pulse resistance at its chamber temperature (ohm)."""
    temp = cells["temperature_c"].to_numpy()
    return (
        params.resistance_ohm
        * cells["_resistance"].to_numpy()
        * np.exp(params.resistance_activation_k * (1.0 / (temp + 273.15) - 1.0 / REFERENCE_K))
    )


def _lost_lithium(
    rates: AgeingRates,
    sei_k: np.ndarray,
    days: np.ndarray,
    efc: np.ndarray,
    lli_plating: np.ndarray,
) -> np.ndarray:
    """Lost lithium (share): SEI growth with the square roots of time and cycling, plus plating."""
    return (
        sei_k
        * (
            rates.sei_calendar_per_sqrt_day * np.sqrt(days)
            + rates.sei_cycle_per_sqrt_efc * np.sqrt(efc)
        )
        + lli_plating
    )


def _record(alive: np.ndarray, cycle: int, traces: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One cycle's row of every living cell: its index, the cycle and each trace's value."""
    return {
        "idx": np.flatnonzero(alive),
        "cycle": np.full(alive.sum(), cycle),
        **{name: values[alive] for name, values in traces.items()},
    }


def _knee_factor(rates: AgeingRates, x100: np.ndarray, lli: np.ndarray) -> np.ndarray:
    """How much faster than its base rate each cell plates: by both routes to the knee.

    (1) The negative electrode's stoichiometry at full charge nearing 1, (2) lost lithium past
    the pore-clogging share.
    """
    saturation = np.clip((x100 - rates.knee_x) / (1.0 - rates.knee_x), 0.0, 1.0)
    clogging = np.clip((lli - rates.pore_clogging_lli) / rates.pore_clogging_lli, 0.0, None)
    return 1.0 + rates.knee_gain * saturation**2 + rates.pore_clogging_gain * clogging**2


def _checkpoint_curves(
    params: AgeingParams,
    cells: pd.DataFrame,
    indices: np.ndarray,
    cycle: int,
    q_neg: np.ndarray,
    q_pos: np.ndarray,
    n_li: np.ndarray,
    resistance: np.ndarray,
    rng: np.random.Generator,
) -> list[pd.DataFrame]:
    """Low-rate discharge curves of the living cells at a checkpoint cycle."""
    out = []
    current = params.curve_c_rate * params.nominal_capacity_ah
    for i in indices:
        capacity, voltage = half_cells.discharge_curve(
            q_neg[i], q_pos[i], n_li[i], params.curve_points
        )
        voltage = voltage - current * resistance[i]
        voltage = voltage + rng.normal(0.0, params.noise.voltage_v, voltage.size)
        out.append(
            pd.DataFrame(
                {
                    schema.CELL_ID: cells[schema.CELL_ID].iat[i],
                    schema.CYCLE: cycle,
                    "voltage_v": voltage,
                    "capacity_ah": capacity,
                }
            )
        )
    return out


def _assemble(
    params: AgeingParams,
    cells: pd.DataFrame,
    capacity0: np.ndarray,
    eol: np.ndarray,
    records: list[dict[str, np.ndarray]],
    curves: list[pd.DataFrame],
    resistance0: np.ndarray,
    rng: np.random.Generator,
) -> AgeingData:
    rec = {key: np.concatenate([r[key] for r in records]) for key in records[0]}
    idx = rec["idx"]
    order = np.lexsort((rec["cycle"], idx))
    rec = {key: value[order] for key, value in rec.items()}
    cell_ids = cells[schema.CELL_ID].to_numpy()[rec["idx"]]
    cycles = _cycler_rows(params, cells, rec, cell_ids, resistance0, rng)
    truth = pd.DataFrame(
        {
            schema.CELL_ID: cell_ids,
            schema.CYCLE: rec["cycle"].astype("int64"),
            SOH: rec["soh"],
            "lli": rec["lli"],
            "lam_neg": rec["lam_neg"],
            "lam_pos": rec["lam_pos"],
            "x_100": rec["x_100"],
        }
    )
    summary = cells[TRUTH_CELL_COLUMNS[:6]].copy()
    summary["initial_capacity_ah"] = capacity0
    summary[EOL_CYCLE] = eol
    curve_frame = pd.concat(curves, ignore_index=True)
    return AgeingData(
        cycles=cycles[schema.CYCLE_COLUMNS].sort_values(schema.CYCLE_KEYS, ignore_index=True),
        curves=curve_frame.sort_values(schema.CYCLE_KEYS, kind="stable", ignore_index=True),
        cells=summary,
        truth=truth.sort_values(schema.CYCLE_KEYS, ignore_index=True),
    )


def _cycler_rows(
    params: AgeingParams,
    cells: pd.DataFrame,
    rec: dict[str, np.ndarray],
    cell_ids: np.ndarray,
    resistance0: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """What the cycler reports per (cell, cycle) row of ``rec``, with measurement noise.

    A checkpoint cycle is a check-up: a full discharge at ``curve_c_rate``. Every other cycle is
    an ageing cycle of the cell's protocol: a partial one moves a fixed charge (its depth times
    the nominal capacity) until the cell can no longer deliver it before the voltage limit.
    """
    idx = rec["idx"]
    noise = params.noise
    checkup = rec["cycle"] % params.checkpoint_every == 0
    c_ch = cells["charge_c_rate"].to_numpy()[idx]
    c_dis = np.where(checkup, params.curve_c_rate, cells["discharge_c_rate"].to_numpy()[idx])
    depth = np.where(checkup, 1.0, cells["depth_of_discharge"].to_numpy()[idx])
    # The capacity the cycler measures at the cycle's rate: the resistive drop ends the
    # discharge early, by a share that grows with the rate and the resistance.
    rate_loss = params.rate_capacity_loss * c_dis * rec["resistance"] / resistance0[idx]
    full = rec["capacity"] * (1 - rate_loss)
    delivered = np.where(depth < 1.0, np.minimum(depth * params.nominal_capacity_ah, full), full)
    measured = delivered + rng.normal(0, noise.capacity_ah, idx.size)
    # Time as the kinetics count it: every cycle takes the protocol's hours (a check-up's longer
    # low-rate discharge is not counted).
    hours = _hours_per_cycle(cells, params.rest_h)[idx]
    heating = params.self_heating_c_per_c_rate * 0.5 * (c_ch + c_dis)
    chamber_c = cells["temperature_c"].to_numpy()[idx]
    cycles = pd.DataFrame(
        {
            schema.CELL_ID: cell_ids,
            schema.CYCLE: rec["cycle"].astype("int64"),
            "temperature_c": chamber_c + heating + rng.normal(0, noise.temperature_c, idx.size),
            "capacity_ah": measured,
            "resistance_ohm": rec["resistance"]
            * (1 + rng.normal(0, noise.resistance_fraction, idx.size)),
            "charge_throughput_ah": 0.0,
            "discharge_throughput_ah": 0.0,
            "charge_c_rate": c_ch,
            "discharge_c_rate": c_dis,
            "depth_of_discharge": depth,
            "time_s": (rec["cycle"] + 1) * hours * 3600.0,
            "temperature_max_c": np.nan,  # the cycle's one temperature, set below
            "charge_time_s": 3600.0 * depth / c_ch,  # the protocol's constant-current charge
            "ambient_c": chamber_c,  # the set-point, without noise
        }
    )
    cycles["temperature_max_c"] = cycles["temperature_c"]  # the model has one per cycle
    grouped = cycles.groupby(schema.CELL_ID, sort=False)["capacity_ah"]
    cycles["discharge_throughput_ah"] = grouped.cumsum()
    cycles["charge_throughput_ah"] = cycles["discharge_throughput_ah"] / params.coulombic_efficiency
    cycles["capacity_ah"] = cycles["capacity_ah"].clip(lower=0.0)
    return cycles
