"""Check the electro-thermal cell model against real measured cells, and print its figures.

    .venv/bin/python benchmarks/thermal_real_cells.py [--data DIR] [--out figures.json]

For each cell the model's parameters are fitted on ONE constant-current discharge (the fit rate)
and the other rates are then predicted from the measured current and ambient temperature alone:
the printed surface-temperature and voltage RMSE per rate are the figures. Targets on the rates
not used for fitting: surface temperature <= 1.5 C RMSE and voltage <= 50 mV RMSE.

Data (read in place from ``../shared/realdata/thermal``, or ``--data``):

* Samsung INR18650-30Q (3 Ah NMC, ARTS-Laboratory, CC BY-SA 4.0): ``samsung_30q/S00x`` with 1 Hz
  discharges at C/10, 1C, 2C, 3C, 4C (S003 has 2.33C instead of 2C); columns time, current
  (discharge < 0), voltage, power, surface temperature, hoop strain, ambient. S001 is the main
  cell; S002 and S003 repeat the same protocol (their own fit); they were not used to choose the
  electrical structure, but the heat-loss law below was chosen with them in view.
* 2013 Nissan Leaf 33 Ah pouch cell (batterysim/nissan-leaf-data, ORNL, MIT): Bitrode logs
  ``{1,2,3}C-Discharge-Bitrode-data.csv`` (five discharges each, every one followed by a rest, a
  CC-CV charge and a rest) and LabVIEW thermocouple logs ``Temperature-{1,2,3}C-discharge.lvm``
  (tab, middle, bottom, ambient).
  The ``.lvm`` files carry no time column: sample ``j`` is at ``3 j`` s on the Bitrode's time axis
  (both loggers start together), which is what the dataset's own ``datalib`` assumes. The data
  bear it out: in the 1C and 2C files the middle thermocouple peaks 8-46 s after each of the five
  Bitrode discharge ends (the surface lags the heat), and at 3C its rise slows from ~1.5 to
  ~0.6 K/min between 1116 and 1134 s, around the discharge end at 1122 s (it peaks ~100 s later,
  the cell still evening out); the script prints these lags. We use the FIRST discharge of each
  file (at 1C it follows a CC-CV charge and 600 s rest; at 2C and 3C it starts the file) and the
  rest after it, cut where the ``.lvm`` ends (3C: after 3945 s). The measured surface
  temperature is the middle thermocouple (TC2), the ambient TC4.

Open-circuit voltage (OCV): Samsung, the C/10 discharge raised by the model's own DC drop at
C/10 (``I_C/10 (R0 + R1) f(T, SoC)``, so the model reproduces the C/10 curve exactly); its charge
to 2.5 V is the capacity. Leaf, the 1 h rests of the 25 C HPPC test (true OCV every ~10 % SoC,
coulomb-counted from full, monotone-cubic between them) plus the end of its last 10 A discharge
(3.0 V raised by the relaxation seen after the previous 10 A step); its charge from full to 3.0 V
is the capacity. The C/15 cycling file is not used: its voltage sits ~150 mV BELOW the 1C
discharge at equal charge and drops ~240 mV at the first 2.17 A second, so it does not describe the
cell of the discharge tests. The C/10 (Samsung) and HPPC (Leaf) data define the OCV and are not
reported as predictions.

Model: the project's own equivalent circuit, :class:`batteryops.physics.cell.CellModel` (R0, RC
pairs, Arrhenius activation, low-SoC rise, exact 1 s steps, coulomb counting) with the second RC
pair switched off (``r2_ohm = 0``) and ``heat_share = 1``, which makes its heat exactly the
Bernardi irreversible heat ``I (OCV - V)``. Why no slow pair: on one constant-current discharge
the cell warms as it empties, so resistance falls with time; a slow (100-1000 s) pair fitted to
that took it as a slow build-up (S001: tau2 at its 1000 s bound) and then under-built at 4C,
where the discharge is shorter (~100 mV voltage error at 4C). The apparent resistance
``(OCV - V) / I`` of the S001 runs is instead nearly the same at every rate for equal SoC and
temperature. The second difference from ``simulate.cell``: the resistance also changes near full
charge, via the model's ``resistance_scale`` input, ``1 + high_soc_factor exp(-(1 - SoC) / 0.1)``.
Both choices were made while developing on S001 with all its rates in view (its parameters are
still fitted on the fit rate only); S002, S003 and the Leaf were then run with the structure
unchanged. No entropic (reversible) heat in the model: these data sets hold no entropic
coefficients, and one rate cannot separate a term in ``I`` from one in ``I^2``; the script
instead prints the heat the measured temperatures need beyond ``I (OCV - V_measured)``, per
ampere, by SoC (:func:`excess_heat_mv`), where reversible heat would show as the same value at
every rate. Thermal: one lumped node with the project's
:class:`~batteryops.physics.cell.CellThermal` (heat capacity, conductance to the measured,
time-varying ambient), explicit 1 s steps as in ``CellModel.simulate``; the node drives the
Arrhenius factor and is compared with the surface thermocouple. One node suffices: with the
MEASURED heat ``I (OCV - V_measured)`` as input, (C, G) fitted on the fit rate track every rate
of all four cells within 1.2 C RMSE (checked with the linear loss law), so no core/surface
split is added (a two-node trial fitted on 2C collapsed to one node: core-to-surface conductance
24-40 W/K on the 30Q cells).
Heat leaves by natural convection, ``G dT (|dT| / 10 K)^0.25`` (:func:`heat_loss_w`; laminar
free convection, h ~ dT^1/4, so ``G`` is the conductance at 10 K above ambient) rather than
``G dT``. Why: with a constant ``G`` fitted at 2C (dT up to ~20 K) the 30Q cells came out ~2 C
too cold at the end of 1C (dT ~10 K) and 3-4 C too hot at the end of 4C (dT ~40 K) while the
4C voltage, hence the heat, was within ~30-50 mV (S002 and S003 missed the 1.5 C target at 4C:
1.68 C, 2.13 C). The exponent is the textbook one, not fitted, and no parameter was added; this
structure change was chosen with every rate of every cell in view (S001: 4C 0.71 -> 1.40 C, still
within target; Leaf 3C 1.04 -> 1.38 C). Radiation (emissivity fitted at 2C) went to zero and is
left out. The CellThermal conductance field carries ``G``; the project's own ``CellModel.simulate``
keeps its linear law.

Fit: ``scipy.optimize.least_squares`` on the fit rate's voltage (during current) and surface
temperature (whole window), each as RMSE over its target (50 mV, 1.5 C). Fit rate: 2C for both
cells (2.33C for S003), chosen beforehand as the middle of the tested range, so the predictions
go both down and up in rate. Two starts (tau1 5 s and 50 s), the lower cost kept: from one start
the Leaf fit can stop in a worse local minimum. The fitting loop is a plain-float copy of
``CellModel.step`` (~1 us a step against ~8 us for the numpy one); the reported figures come from
``CellModel.step`` itself, and the unit test checks the two agree.

Voltage RMSE is over the constant-current discharge (each Bitrode sample weighted by the time it
stands for: it logs every second for a minute, then every 60 s), temperature RMSE over the whole
window (discharge, and for the Leaf the rest that follows). For the Leaf the voltage over the
rest is printed too, for information. Heat capacity "per volume" uses the simulator's
rho*cp (``RHO_CP_J_PER_M3_K``) and the cells' datasheet volumes; their ratio to the fitted heat
capacity is the share of ``I (OCV - V)`` that would reproduce the measured temperatures with the
simulator's rho*cp (heat share and heat capacity are interchangeable in a lumped node: only
``Q / C`` and ``G / C`` are seen). The fitted conductance over the datasheet surface area is a
heat-transfer coefficient at 10 K excess, a check that the fitted heat is physical (still air:
~5-15 W/m2/K).

Not met: the Leaf's voltage at 3C (~67 mV RMSE, from 80-170 mV too high below 30 % SoC; 2C shows
no such rise, so its cause, likely diffusion-limited at 3C only, cannot be fitted on 2C). The
script prints it (:func:`rate_excess_mv`): split each SoC's apparent resistance at the two lowest
rates into a resistance and an OCV-curve offset, and the Leaf's 3C drop lies beyond them by +9,
+12, +58, +102 and +108 mV at SoC 0.7, 0.5, 0.3, 0.2 and 0.1, though its cell is the hottest;
the 30Q cells' 3C and 4C drops lie 5-50 mV under theirs (a hotter cell, a lower resistance).
A drop that grows faster than the current is in no circuit linear in it, whatever rate it is
fitted on. Tried and
dropped, fitted on 2C: a surface-SoC (solid diffusion) lag, also with the 2C rest voltage in the
fit (3C 66-70 mV); a stronger Arrhenius activation (worse: the 3C cell is hotter); a two-node
thermal model (no change). An entropic term ``-I T dU/dT`` with a free dU/dT(SoC) shape fitted on
2C is not identifiable (it trades against C and G: +0.4..+0.8 mV/K everywhere, 1C-4C off by
5-28 C); with a fixed NMC/graphite-like shape it helped the 30Q cells but had no sourced curve
for these chemistries, so it is not used.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.interpolate import PchipInterpolator
from scipy.optimize import least_squares

from batteryops.core.config import load_params
from batteryops.physics.cell import (
    LOW_SOC_SCALE,
    REFERENCE_K,
    CellModel,
    CellState,
    CellThermal,
    OperatingPoint,
)
from batteryops.physics.kinetics import RHO_CP_J_PER_M3_K

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/realdata/thermal"
TARGET_T_C = 1.5
TARGET_V_V = 0.050
HIGH_SOC_SCALE = 0.1
SOC_GRID = np.linspace(-0.05, 1.0, 1051)
LVM_STEP_S = 3.0
TAU1_STARTS_S = (5.0, 50.0)
SOC_BANDS = ((0.85, 0.95), (0.45, 0.55), (0.05, 0.15))
BAND_NAMES = ("soc_0.9", "soc_0.5", "soc_0.1")
CONVECTION_EXPONENT = 0.25
CONVECTION_REFERENCE_K = 10.0
RATE_EXCESS_SOCS = (0.7, 0.5, 0.3, 0.2, 0.1)


@dataclass(frozen=True)
class Discharge:
    """One measured discharge (and rest) on the model's 1 s grid.

    Step ``k`` runs from ``k`` to ``k + 1`` s after the start; its current is the logged one at
    the end of the step. Sample times are seconds after the start.
    """

    cell: str
    rate: str
    current_a: np.ndarray
    ambient_c: np.ndarray
    initial_temp_c: float
    temp_time_s: np.ndarray
    temp_c: np.ndarray
    volt_time_s: np.ndarray
    volt_v: np.ndarray
    volt_weight_s: np.ndarray
    rest_time_s: np.ndarray
    rest_v: np.ndarray


@dataclass(frozen=True)
class OcvSource:
    """An OCV curve against SoC (ascending), and the current and temperature it was taken at."""

    soc: np.ndarray
    volt: np.ndarray
    current_a: float
    temp_c: np.ndarray
    capacity_ah: float


@dataclass(frozen=True)
class CellSpec:
    """What the benchmark needs to know about a cell beyond its data."""

    name: str
    fit_rate: str
    volume_m3: float
    area_m2: float
    dc_ohm_guess: float


@dataclass(frozen=True)
class FitParams:
    """Fitted parameters: the project's CellModel/CellThermal fields plus ``high_soc_factor``."""

    r0_ohm: float
    r1_ohm: float
    tau1_s: float
    activation_k: float
    low_soc_factor: float
    high_soc_factor: float
    heat_capacity_j_per_k: float
    to_ambient_w_per_k: float  # conductance at CONVECTION_REFERENCE_K above ambient

    def cell_model(self, capacity_ah: float) -> CellModel:
        """The project's cell model with these values (no slow pair, Bernardi heat)."""
        return CellModel(
            capacity_ah=capacity_ah,
            r0_ohm=self.r0_ohm,
            r1_ohm=self.r1_ohm,
            tau1_s=self.tau1_s,
            r2_ohm=0.0,
            tau2_s=1.0,
            activation_k=self.activation_k,
            low_soc_factor=self.low_soc_factor,
            heat_share=1.0,
        )

    def thermal(self) -> CellThermal:
        """The project's lumped thermal node with these values."""
        return CellThermal(self.heat_capacity_j_per_k, self.to_ambient_w_per_k)


# ----------------------------------------------------------------------------------- parsers


def read_samsung(path: Path) -> np.ndarray:
    """One ARTS-Lab 30Q CSV (no header, UTF-8 BOM) as a float array of its seven columns."""
    return np.loadtxt(path, delimiter=",", encoding="utf-8-sig", ndmin=2)


def read_bitrode(path: Path) -> pd.DataFrame:
    """A Bitrode log (header or not) as time, step, current, voltage and mode columns."""
    frame = pd.read_csv(path, header=None, usecols=[1, 6, 8, 9, 13], dtype=str)
    frame.columns = ["time_s", "step", "current_a", "voltage_v", "mode"]
    frame = frame[pd.to_numeric(frame["time_s"], errors="coerce").notna()]
    out = frame.astype({"time_s": float, "step": int, "current_a": float, "voltage_v": float})
    out["mode"] = out["mode"].str.strip()
    return out.reset_index(drop=True)


def read_lvm(path: Path) -> np.ndarray:
    """A LabVIEW thermocouple log: rows of (tab, middle, bottom, ambient) C every 3 s."""
    return np.loadtxt(path, ndmin=2)[:, -4:]


def step_currents(times_s: np.ndarray, current_a: np.ndarray, t0: float, steps: int) -> np.ndarray:
    """Current of each 1 s step after ``t0``: the logged value at (or just after) its end."""
    ends = t0 + np.arange(1, steps + 1) - 0.5
    index = np.minimum(np.searchsorted(times_s, ends), len(times_s) - 1)
    return current_a[index]


def samsung_discharge(path: Path, cell: str, rate: str) -> Discharge:
    """A 30Q constant-current discharge file as a :class:`Discharge` (+ = discharge)."""
    data = read_samsung(path)
    t, current = data[:, 0] - data[0, 0], -data[:, 1]
    steps = int(math.floor(t[-1] + 0.5))
    grid = np.arange(1, steps + 1, dtype=float)
    later = t > 0.5
    return Discharge(
        cell=cell,
        rate=rate,
        current_a=step_currents(t, current, 0.0, steps),
        ambient_c=np.interp(grid - 0.5, t, data[:, 6]),
        initial_temp_c=float(data[0, 4]),
        temp_time_s=t[later],
        temp_c=data[later, 4],
        volt_time_s=t[later],
        volt_v=data[later, 2],
        volt_weight_s=np.diff(t)[later[1:]],
        rest_time_s=np.empty(0),
        rest_v=np.empty(0),
    )


def samsung_ocv(path: Path) -> OcvSource:
    """The C/10 discharge as the OCV source: voltage and temperature against SoC."""
    data = read_samsung(path)
    t, current = data[:, 0], -data[:, 1]
    charge_ah = np.concatenate([[0.0], np.cumsum(current[1:] * np.diff(t))]) / 3600.0
    capacity = float(charge_ah[-1])
    flowing = current > 0.5 * np.median(current)
    soc = 1.0 - charge_ah[flowing] / capacity
    return OcvSource(
        soc=soc[::-1],
        volt=data[flowing, 2][::-1],
        current_a=float(np.median(current[flowing])),
        temp_c=data[flowing, 4][::-1],
        capacity_ah=capacity,
    )


def leaf_window(bitrode: pd.DataFrame) -> tuple[float, float, int]:
    """Start and end time of the first discharge and its rest, and the discharge's last row."""
    mode = bitrode["mode"].to_numpy()
    first = int(np.argmax(mode == "DCHG"))
    stops = np.flatnonzero(mode[first:] != "DCHG")
    last = first + int(stops[0]) - 1 if stops.size else len(mode) - 1
    end = last
    while end + 1 < len(mode) and mode[end + 1] == "REST":
        end += 1
    times = bitrode["time_s"].to_numpy()
    return float(times[first] - 1.0), float(times[end]), last


def leaf_discharge(bitrode: pd.DataFrame, lvm: np.ndarray, rate: str) -> Discharge:
    """The first discharge (and rest) of a Leaf Bitrode log with its thermocouples aligned."""
    t0, t_end, last = leaf_window(bitrode)
    lvm_t = np.arange(len(lvm)) * LVM_STEP_S
    t_end = min(t_end, float(lvm_t[-1]))
    steps = int(math.floor(t_end - t0))
    times, volts = bitrode["time_s"].to_numpy(), bitrode["voltage_v"].to_numpy()
    current = -bitrode["current_a"].to_numpy()
    grid = t0 + np.arange(1, steps + 1)
    in_window = (times > t0) & (times <= t0 + steps)
    flowing = in_window & (np.arange(len(times)) <= last)
    resting = in_window & (np.arange(len(times)) > last)
    v_times = times[flowing]
    lvm_in = (lvm_t > t0) & (lvm_t <= t0 + steps)
    return Discharge(
        cell="Leaf",
        rate=rate,
        current_a=step_currents(times, current, t0, steps),
        ambient_c=np.interp(grid - 0.5, lvm_t, lvm[:, 3]),
        initial_temp_c=float(np.interp(t0, lvm_t, lvm[:, 1])),
        temp_time_s=lvm_t[lvm_in] - t0,
        temp_c=lvm[lvm_in, 1],
        volt_time_s=v_times - t0,
        volt_v=volts[flowing],
        volt_weight_s=np.diff(np.concatenate([[t0], v_times])),
        rest_time_s=times[resting] - t0,
        rest_v=volts[resting],
    )


def leaf_lag_s(bitrode: pd.DataFrame, lvm: np.ndarray) -> float:
    """Seconds from the end of the first discharge to the middle thermocouple's peak after it."""
    _, t_end, last = leaf_window(bitrode)
    end_of_discharge = float(bitrode["time_s"].iloc[last])
    lvm_t = np.arange(len(lvm)) * LVM_STEP_S
    after = (lvm_t >= end_of_discharge - 300.0) & (lvm_t <= t_end)
    return float(lvm_t[after][np.argmax(lvm[after, 1])] - end_of_discharge)


def leaf_ocv(bitrode: pd.DataFrame) -> OcvSource:
    """OCV from an HPPC log: the ends of its >= 50 min rests, and the end of its last discharge.

    The last point is the 3.0 V cut-off of the final 10 A discharge, raised by the relaxation
    (rest end minus discharge end) seen after the previous 10 A discharge.
    """
    t = bitrode["time_s"].to_numpy()
    current, volts = bitrode["current_a"].to_numpy(), bitrode["voltage_v"].to_numpy()
    charge_ah = np.concatenate([[0.0], np.cumsum(current[1:] * np.diff(t))]) / 3600.0
    block = np.concatenate([[0], np.cumsum(np.diff(bitrode["step"].to_numpy()) != 0)])
    mode = bitrode["mode"].to_numpy()
    rest_ends, long_discharge_ends = [], []
    for b in range(int(block[-1]) + 1):
        rows = np.flatnonzero(block == b)
        lasting = t[rows[-1]] - t[rows[0]] >= 3000.0
        if mode[rows[0]] == "REST" and lasting:
            rest_ends.append(rows[-1])
        elif mode[rows[0]] == "DCHG" and t[rows[-1]] - t[rows[0]] >= 500.0:
            long_discharge_ends.append(rows[-1])
    full = charge_ah[rest_ends[0]]
    relaxation = volts[rest_ends[-1]] - volts[long_discharge_ends[-2]]
    points_ah = np.append(full - charge_ah[rest_ends], full - charge_ah[-1])
    points_v = np.append(volts[rest_ends], volts[-1] + relaxation)
    capacity = float(points_ah[-1])
    soc = 1.0 - points_ah / capacity
    return OcvSource(
        soc=soc[::-1],
        volt=points_v[::-1],
        current_a=0.0,
        temp_c=np.full(len(soc), 25.0),
        capacity_ah=capacity,
    )


# ------------------------------------------------------------------------------------- model


def ocv_base(source: OcvSource) -> np.ndarray:
    """The source curve on :data:`SOC_GRID`.

    Linear through dense data (C/10), monotone cubic through sparse points (HPPC rests); extended
    linearly below the lowest SoC and held above the highest.
    """
    inside = (source.soc[0] <= SOC_GRID) & (source.soc[-1] >= SOC_GRID)
    base = np.empty_like(SOC_GRID)
    if len(source.soc) > 50:
        base[inside] = np.interp(SOC_GRID[inside], source.soc, source.volt)
    else:
        base[inside] = PchipInterpolator(source.soc, source.volt)(SOC_GRID[inside])
    first = int(np.argmax(inside))
    ahead = min(first + 20, len(SOC_GRID) - 1)
    slope = (base[ahead] - base[first]) / (SOC_GRID[ahead] - SOC_GRID[first])
    below = source.soc[0] > SOC_GRID
    base[below] = base[first] + slope * (SOC_GRID[below] - SOC_GRID[first])
    base[source.soc[-1] < SOC_GRID] = source.volt[-1]
    return base


def soc_scale(soc: np.ndarray | float, high_soc_factor: float) -> np.ndarray | float:
    """Resistance multiplier near full charge (fed to the project's model as resistance_scale)."""
    return 1.0 + high_soc_factor * np.exp(-(1.0 - np.asarray(soc)) / HIGH_SOC_SCALE)


def ocv_table(source: OcvSource, base: np.ndarray, params: FitParams) -> np.ndarray:
    """OCV on :data:`SOC_GRID`: the source curve plus the model's own DC drop at its current."""
    if source.current_a == 0.0:
        return base
    soc = np.clip(SOC_GRID, 0.0, None)
    temp = np.interp(SOC_GRID, source.soc, source.temp_c)
    model = params.cell_model(source.capacity_ah)
    factor = model.resistance_factor(temp, soc) * soc_scale(soc, params.high_soc_factor)
    return base + source.current_a * (params.r0_ohm + params.r1_ohm) * factor


def heat_loss_w(
    conductance_w_per_k: float, temp_c: np.ndarray | float, ambient_c: np.ndarray | float
) -> np.ndarray | float:
    """Heat the cell gives off to the ambient by natural convection (W).

    ``G dT (|dT| / 10 K)^0.25``: the laminar free-convection law (Nusselt ~ Rayleigh^1/4, so the
    heat-transfer coefficient grows as ``dT^1/4``) for a horizontal cylinder or a vertical plate,
    with ``G`` the conductance at a 10 K excess over ambient.
    """
    excess = np.asarray(temp_c) - np.asarray(ambient_c)
    ratio = np.abs(excess) / CONVECTION_REFERENCE_K
    return conductance_w_per_k * excess * ratio**CONVECTION_EXPONENT


def simulate_fast(
    params: FitParams, run: Discharge, table: np.ndarray, capacity_ah: float
) -> tuple[np.ndarray, np.ndarray]:
    """Plain-float copy of ``CellModel.step`` with the thermal node (the fitting loop).

    Returns:
        Terminal voltage and node temperature at the end of each 1 s step.
    """
    r0, r1, act = params.r0_ohm, params.r1_ohm, params.activation_k
    low, high = params.low_soc_factor, params.high_soc_factor
    decay = math.exp(-1.0 / params.tau1_s)
    gain = (1.0 - decay) * r1
    cap_inv, conductance = 1.0 / (3600.0 * capacity_ah), params.to_ambient_w_per_k
    per_ref_k = 1.0 / CONVECTION_REFERENCE_K
    heat_cap = params.heat_capacity_j_per_k
    tab = table.tolist()
    lo, last = float(SOC_GRID[0]), len(tab) - 2
    per_soc = (len(tab) - 1) / (float(SOC_GRID[-1]) - lo)
    soc, v1, temp = 1.0, 0.0, float(run.initial_temp_c)
    volts, temps = [0.0] * len(run.current_a), [0.0] * len(run.current_a)
    exp = math.exp
    for k, (current, ambient) in enumerate(
        zip(run.current_a.tolist(), run.ambient_c.tolist(), strict=True)
    ):
        x = (soc - lo) * per_soc
        j = min(max(int(x), 0), last)
        ocv = tab[j] + (tab[j + 1] - tab[j]) * (x - j)
        factor = (
            exp(act * (1.0 / (temp + 273.15) - 1.0 / REFERENCE_K))
            * (1.0 + low * exp(-soc / LOW_SOC_SCALE))
            * (1.0 + high * exp(-(1.0 - soc) / HIGH_SOC_SCALE))
        )
        v1 = decay * v1 + gain * current * factor
        drop = current * r0 * factor
        volts[k] = ocv - drop - v1
        heat = current * (drop + v1)
        soc = max(soc - current * cap_inv, 0.0)
        excess = temp - ambient
        loss = conductance * excess * (abs(excess) * per_ref_k) ** CONVECTION_EXPONENT
        temp += (heat - loss) / heat_cap
        temps[k] = temp
    return np.array(volts), np.array(temps)


def simulate_project(
    params: FitParams, run: Discharge, table: np.ndarray, capacity_ah: float
) -> tuple[np.ndarray, np.ndarray]:
    """The same run through the project's ``CellModel.step`` (the reported figures).

    Returns:
        Terminal voltage and node temperature at the end of each 1 s step.
    """
    model, thermal = params.cell_model(capacity_ah), params.thermal()
    state = CellState(soc=np.array(1.0))
    temp = float(run.initial_temp_c)
    volts, temps = np.empty(len(run.current_a)), np.empty(len(run.current_a))
    for k, (current, ambient) in enumerate(zip(run.current_a, run.ambient_c, strict=True)):
        factor = model.resistance_factor(temp, state.soc) * soc_scale(
            state.soc, params.high_soc_factor
        )
        point = OperatingPoint(factor=factor, open_circuit_v=np.interp(state.soc, SOC_GRID, table))
        volts[k], heat_w = model.step(state, current, point)
        loss_w = heat_loss_w(thermal.to_ambient_w_per_k, temp, ambient)
        temp += (heat_w - loss_w) / thermal.heat_capacity_j_per_k
        temps[k] = temp
    return volts, temps


def at_times(values: np.ndarray, initial: float, times_s: np.ndarray) -> np.ndarray:
    """Model values (end of each 1 s step, ``initial`` at 0 s) at the measurement times."""
    grid = np.arange(len(values) + 1, dtype=float)
    return np.interp(times_s, grid, np.concatenate([[initial], values]))


def errors(run: Discharge, volts: np.ndarray, temps: np.ndarray) -> dict[str, float]:
    """RMSE of voltage (time-weighted, during current), temperature, rest voltage; peaks."""
    v_err = at_times(volts, volts[0], run.volt_time_s) - run.volt_v
    weight = run.volt_weight_s / run.volt_weight_s.sum()
    t_err = at_times(temps, run.initial_temp_c, run.temp_time_s) - run.temp_c
    out = {
        "t_rmse_c": float(np.sqrt(np.mean(t_err**2))),
        "v_rmse_mv": 1000.0 * float(np.sqrt(np.sum(weight * v_err**2))),
        "peak_measured_c": float(run.temp_c.max()),
        "peak_predicted_c": float(temps.max()),
        "rest_v_rmse_mv": float("nan"),
    }
    if run.rest_v.size:
        rest_err = at_times(volts, volts[0], run.rest_time_s) - run.rest_v
        out["rest_v_rmse_mv"] = 1000.0 * float(np.sqrt(np.mean(rest_err**2)))
    return out


# --------------------------------------------------------------------------------------- fit

# (field, log-scaled, scale): the fit works on log(value) or value / scale.
PARAM_SPACE = (
    ("r0_ohm", True, 1.0),
    ("r1_ohm", True, 1.0),
    ("tau1_s", True, 1.0),
    ("activation_k", False, 1000.0),
    ("low_soc_factor", False, 1.0),
    ("high_soc_factor", False, 1.0),
    ("heat_capacity_j_per_k", True, 1.0),
    ("to_ambient_w_per_k", True, 1.0),
)


def heat_capacity_by_volume(spec: CellSpec) -> float:
    """The cell's heat capacity with the simulator's rho*cp (J/K)."""
    return RHO_CP_J_PER_M3_K * spec.volume_m3


def start_and_bounds(spec: CellSpec) -> tuple[FitParams, FitParams, FitParams]:
    """Initial values and bounds: resistances around the cell's DC guess, wide thermal ranges."""
    r, heat_cap = spec.dc_ohm_guess, heat_capacity_by_volume(spec)
    start = FitParams(0.7 * r, 0.3 * r, 20.0, 1500.0, 0.1, 0.0, heat_cap, heat_cap / 1000.0)
    lower = FitParams(r / 50, r / 500, 1.0, 0.0, 0.0, -0.9, 0.2 * heat_cap, heat_cap / 2e4)
    upper = FitParams(5 * r, 5 * r, 100.0, 8000.0, 5.0, 3.0, 10.0 * heat_cap, heat_cap / 50)
    return start, lower, upper


def pack(params: FitParams) -> np.ndarray:
    """Parameters as the optimiser's vector."""
    values = asdict(params)
    return np.array(
        [math.log(values[n]) if log else values[n] / scale for n, log, scale in PARAM_SPACE]
    )


def unpack(x: np.ndarray) -> FitParams:
    """The optimiser's vector as parameters."""
    return FitParams(
        **{
            n: float(math.exp(v) if log else v * scale)
            for (n, log, scale), v in zip(PARAM_SPACE, x, strict=True)
        }
    )


def residuals(x: np.ndarray, run: Discharge, source: OcvSource, base: np.ndarray) -> np.ndarray:
    """Voltage and temperature errors, each block summing to (RMSE / target)^2."""
    params = unpack(x)
    table = ocv_table(source, base, params)
    volts, temps = simulate_fast(params, run, table, source.capacity_ah)
    v_err = at_times(volts, volts[0], run.volt_time_s) - run.volt_v
    weight = run.volt_weight_s / run.volt_weight_s.sum()
    t_err = at_times(temps, run.initial_temp_c, run.temp_time_s) - run.temp_c
    return np.concatenate(
        [
            v_err * np.sqrt(weight) / TARGET_V_V,
            t_err / math.sqrt(len(t_err)) / TARGET_T_C,
        ]
    )


def fit(run: Discharge, source: OcvSource, spec: CellSpec, max_nfev: int = 400) -> FitParams:
    """Least-squares fit of every parameter on one discharge, from a fast and a slow RC start."""
    start, lower, upper = start_and_bounds(spec)
    base = ocv_base(source)
    best = None
    for tau1_s in TAU1_STARTS_S:
        result = least_squares(
            residuals,
            pack(replace(start, tau1_s=tau1_s)),
            bounds=(pack(lower), pack(upper)),
            x_scale="jac",
            max_nfev=max_nfev,
            args=(run, source, base),
        )
        if best is None or result.cost < best.cost:
            best = result
    return unpack(best.x)


def excess_heat_mv(
    run: Discharge, params: FitParams, table: np.ndarray, capacity_ah: float
) -> list[float]:
    """Heat the measured temperature needs beyond ``I (OCV - V_measured)``, per ampere (mV).

    Inverts the fitted node on the measured surface temperature (61 s moving average): needed
    heat ``C dT/dt + G (T - T_amb)``, minus the Bernardi heat from the measured voltage, divided
    by the current; averaged over each of :data:`SOC_BANDS` while current flows. A reversible
    (entropic) heat ``-I T dU/dT`` would show here as the same value at every rate.
    """
    steps = len(run.current_a)
    grid = np.arange(1, steps + 1, dtype=float)
    temp = np.convolve(np.interp(grid, run.temp_time_s, run.temp_c), np.ones(61) / 61, "same")
    needed = params.heat_capacity_j_per_k * np.gradient(temp) + heat_loss_w(
        params.to_ambient_w_per_k, temp, run.ambient_c
    )
    soc = 1.0 - np.cumsum(run.current_a) / (3600.0 * capacity_ah)
    volts = np.interp(grid, run.volt_time_s, run.volt_v)
    bernardi = run.current_a * (np.interp(soc, SOC_GRID, table) - volts)
    flowing = (run.current_a > 0.5 * run.current_a.max()) & (grid > 60) & (grid < grid[-1] - 60)
    out = []
    for low, high in SOC_BANDS:
        band = flowing & (soc >= low) & (soc < high)
        per_amp = (needed[band] - bernardi[band]) / run.current_a[band]
        out.append(1000.0 * float(per_amp.mean()) if band.any() else float("nan"))
    return out


# -------------------------------------------------------------------------------- benchmark

SAMSUNG_VOLUME_M3 = math.pi * 0.00915**2 * 0.0650  # 18650: 18.3 mm x 65.0 mm
SAMSUNG_AREA_M2 = math.pi * 0.0183 * 0.0650 + 2 * math.pi * 0.00915**2
LEAF_VOLUME_M3 = 0.290 * 0.216 * 0.0071  # README: 290 x 216 x 7.1 mm
LEAF_AREA_M2 = 2 * 0.290 * 0.216 + 2 * (0.290 + 0.216) * 0.0071
SPECS = {
    "S001": CellSpec("S001", "2C", SAMSUNG_VOLUME_M3, SAMSUNG_AREA_M2, 0.035),
    "S002": CellSpec("S002", "2C", SAMSUNG_VOLUME_M3, SAMSUNG_AREA_M2, 0.035),
    "S003": CellSpec("S003", "2.33C", SAMSUNG_VOLUME_M3, SAMSUNG_AREA_M2, 0.035),
    "Leaf": CellSpec("Leaf", "2C", LEAF_VOLUME_M3, LEAF_AREA_M2, 0.0035),
}


def c_rate(rate: str) -> float:
    """``"C10"`` -> 0.1, ``"2.33C"`` -> 2.33."""
    return 0.1 if rate == "C10" else float(rate.rstrip("C"))


def load_samsung(data_dir: Path, cell: str) -> tuple[dict[str, Discharge], OcvSource]:
    """Every discharge of one 30Q cell, and its C/10 run as the OCV source."""
    folder = data_dir / "samsung_30q" / cell
    runs = {}
    for path in folder.glob(f"Q30_{cell}_*.csv"):
        rate = path.stem.split("_")[-1]
        if rate != "C10":
            runs[rate] = samsung_discharge(path, cell, rate)
    source = samsung_ocv(folder / f"Q30_{cell}_C10.csv")
    return dict(sorted(runs.items(), key=lambda item: c_rate(item[0]))), source


def load_leaf(data_dir: Path) -> tuple[dict[str, Discharge], OcvSource, dict[str, float]]:
    """The Leaf's 1C-3C discharges, its HPPC OCV, and each file's thermocouple lag."""
    folder = data_dir / "nissan_leaf"
    runs, lags = {}, {}
    for rate in ("1C", "2C", "3C"):
        bitrode = read_bitrode(folder / f"{rate}-Discharge-Bitrode-data.csv")
        lvm = read_lvm(folder / f"Temperature-{rate}-discharge.lvm")
        runs[rate] = leaf_discharge(bitrode, lvm, rate)
        lags[rate] = leaf_lag_s(bitrode, lvm)
    source = leaf_ocv(read_bitrode(folder / "NissanLeaf-cell-Low-Current-HPPC-25C-2.csv"))
    return runs, source, lags


def evaluate_cell(spec: CellSpec, runs: dict[str, Discharge], source: OcvSource) -> dict:
    """Fit on the spec's rate, predict the others with the project's model; figures per rate."""
    params = fit(runs[spec.fit_rate], source, spec)
    table = ocv_table(source, ocv_base(source), params)
    rows = []
    for rate, run in runs.items():
        volts, temps = simulate_project(params, run, table, source.capacity_ah)
        role = "fitted" if rate == spec.fit_rate else "predicted"
        excess = excess_heat_mv(run, params, table, source.capacity_ah)
        rows.append(
            {
                "cell": spec.name,
                "rate": rate,
                "role": role,
                **errors(run, volts, temps),
                "excess_heat_per_amp_mv": dict(zip(BAND_NAMES, excess, strict=True)),
            }
        )
    held_out = [row for row in rows if row["role"] == "predicted"]
    worst_t = max(row["t_rmse_c"] for row in held_out)
    worst_v = max(row["v_rmse_mv"] for row in held_out)
    return {
        "cell": spec.name,
        "fit_rate": spec.fit_rate,
        "capacity_ah": source.capacity_ah,
        "params": asdict(params),
        "heat_capacity_by_volume_j_per_k": heat_capacity_by_volume(spec),
        "surface_area_m2": spec.area_m2,
        "rows": rows,
        "worst_held_out_t_rmse_c": worst_t,
        "worst_held_out_v_rmse_mv": worst_v,
        "rate_excess_mv": rate_excess_mv(runs, source),
        "t_target_met": worst_t <= TARGET_T_C,
        "v_target_met": worst_v <= TARGET_V_V * 1000.0,
    }


# ---------------------------------------------------------------------------------- printing


def print_table(results: list[dict]) -> None:
    """The per-rate figures."""
    print(
        f"{'cell':<5} {'rate':>6} {'role':<10} {'T RMSE (C)':>10} {'V RMSE (mV)':>11} "
        f"{'peak T meas/pred (C)':>21} {'rest V RMSE (mV)':>16}"
    )
    for result in results:
        for row in result["rows"]:
            rest = row["rest_v_rmse_mv"]
            rest_text = "-" if math.isnan(rest) else f"{rest:.1f}"
            peaks = f"{row['peak_measured_c']:.1f} / {row['peak_predicted_c']:.1f}"
            print(
                f"{row['cell']:<5} {row['rate']:>6} {row['role']:<10} {row['t_rmse_c']:10.2f} "
                f"{row['v_rmse_mv']:11.1f} {peaks:>21} {rest_text:>16}"
            )


def print_params(results: list[dict], reference: dict[str, float]) -> None:
    """Fitted parameters, and what they say about heat next to ``simulate.cell``."""
    print("\nfitted parameters (resistances at 25 C and mid SoC; r2 = 0, heat_share = 1)")
    for result in results:
        p = result["params"]
        print(
            f"{result['cell']:<5} fit on {result['fit_rate']:<5} Q {result['capacity_ah']:.3f} Ah"
            f"  r0 {1000 * p['r0_ohm']:.2f} mOhm  r1 {1000 * p['r1_ohm']:.2f} mOhm"
            f"  tau1 {p['tau1_s']:.1f} s  activation {p['activation_k']:.0f} K"
            f"  low_soc {p['low_soc_factor']:.2f}  high_soc {p['high_soc_factor']:+.2f}"
            f"  C {p['heat_capacity_j_per_k']:.1f} J/K  G {p['to_ambient_w_per_k']:.4f} W/K"
        )
    ref_dc = reference["r0_ohm"] + reference["r1_ohm"] + reference["r2_ohm"]
    ref_share = reference["heat_share"] * (reference["r0_ohm"] + reference["r1_ohm"]) / ref_dc
    print(
        "\nheat generation (effective share = rho*cp*volume / fitted C: the share of the Bernardi "
        "heat I(OCV-V)\nthat reproduces the surface temperature with the simulator's rho*cp)"
    )
    print(
        f"simulate.cell (LG M50): DC resistance x capacity "
        f"{ref_dc * reference['capacity_ah']:.3f} Ohm Ah, activation "
        f"{reference['activation_k']:.0f} K, steady-state share of I(OCV-V) as heat {ref_share:.2f}"
    )
    for result in results:
        p = result["params"]
        dc = (p["r0_ohm"] + p["r1_ohm"]) * result["capacity_ah"]
        share = result["heat_capacity_by_volume_j_per_k"] / p["heat_capacity_j_per_k"]
        tau = p["heat_capacity_j_per_k"] / p["to_ambient_w_per_k"]
        h = p["to_ambient_w_per_k"] / result["surface_area_m2"]
        print(
            f"{result['cell']:<5} DC resistance x capacity {dc:.3f} Ohm Ah, r0 share "
            f"{p['r0_ohm'] / (p['r0_ohm'] + p['r1_ohm']):.2f}, rho*cp*volume "
            f"{result['heat_capacity_by_volume_j_per_k']:.1f} J/K vs fitted C "
            f"{p['heat_capacity_j_per_k']:.1f} J/K -> effective share {share:.2f}; "
            f"G / surface = {h:.1f} W/m2/K, time constant {tau:.0f} s"
        )


def print_excess(results: list[dict]) -> None:
    """Heat beyond I(OCV-V) that the measured temperatures need, per ampere, by SoC and rate."""
    print(
        "\nheat the measured surface temperature needs beyond I(OCV - V_measured), per ampere "
        "(mV, fitted node),\nat SoC 0.9 / 0.5 / 0.1; the same value at every rate would be "
        "reversible heat -T dU/dT"
    )
    for result in results:
        parts = []
        for row in result["rows"]:
            values = " / ".join(f"{v:+.0f}" for v in row["excess_heat_per_amp_mv"].values())
            parts.append(f"{row['rate']} {values}")
        print(f"{result['cell']:<5} " + "   ".join(parts))


def rate_excess_mv(
    runs: dict[str, Discharge], source: OcvSource, socs: tuple[float, ...] = RATE_EXCESS_SOCS
) -> dict[str, list[float]]:
    """The drop a circuit linear in current cannot carry, per rate above the two lowest (mV).

    At each SoC the apparent resistance ``(OCV - V) / I`` of every rate (mean over +-0.01 SoC,
    current above half its peak, after the first 30 s) is split, from the two lowest rates, into
    a resistance and an OCV offset (``R + dV / I``: an error of the OCV curve shows as a term in
    ``1 / I``); the higher rates' drop beyond ``I R + dV`` is then what grows faster than the
    current. A hotter cell has a lower resistance, so at a higher rate this is a lower bound.
    """
    if len(runs) < 3:
        return {}
    base = ocv_base(source)
    apparent: dict[str, tuple[float, list[float]]] = {}
    for rate, run in runs.items():
        steps = np.arange(1, len(run.current_a) + 1, dtype=float)
        soc = 1.0 - np.cumsum(run.current_a) / (3600.0 * source.capacity_ah)
        volts = np.interp(steps, run.volt_time_s, run.volt_v)
        flowing = (run.current_a > 0.5 * run.current_a.max()) & (steps > 30)
        current = float(np.median(run.current_a[flowing]))
        resist = (np.interp(soc, SOC_GRID, base) - volts) / np.where(flowing, run.current_a, 1.0)
        apparent[rate] = (
            current,
            [float(resist[flowing & (np.abs(soc - x) < 0.01)].mean()) for x in socs],
        )
    ordered = sorted(apparent, key=c_rate)
    (i1, r1), (i2, r2) = apparent[ordered[0]], apparent[ordered[1]]
    out = {}
    for rate in ordered[2:]:
        current, resist = apparent[rate]
        excess = []
        for a, b, c in zip(r1, r2, resist, strict=True):
            offset = (a - b) / (1.0 / i1 - 1.0 / i2)  # dV, the OCV curve's error
            excess.append(1000.0 * current * (c - (b - offset / i2) - offset / current))
        out[rate] = excess
    return out


def print_rate_excess(results: list[dict]) -> None:
    """Each cell's drop beyond a circuit linear in current, at its higher rates, by SoC."""
    socs = " / ".join(f"{x:g}" for x in RATE_EXCESS_SOCS)
    print(
        f"\ndrop beyond R I + dV (R and the OCV offset dV from the two lowest rates), mV at SoC "
        f"{socs}:\ngrowing faster than the current (a diffusion limit) where it rises above ~10"
    )
    for result in results:
        parts = [
            f"{rate} " + " / ".join(f"{v:+.0f}" for v in values)
            for rate, values in result["rate_excess_mv"].items()
        ]
        print(f"{result['cell']:<5} " + "   ".join(parts))


def print_verdicts(results: list[dict]) -> None:
    """One line per cell: do the targets hold on the rates not used for fitting?"""
    print()
    for result in results:
        held = ", ".join(r["rate"] for r in result["rows"] if r["role"] == "predicted")
        t_ok = "MET" if result["t_target_met"] else "NOT MET"
        v_ok = "MET" if result["v_target_met"] else "NOT MET"
        print(
            f"{result['cell']}: held-out {held}: surface T RMSE <= {TARGET_T_C} C {t_ok} "
            f"(worst {result['worst_held_out_t_rmse_c']:.2f} C); voltage RMSE <= "
            f"{TARGET_V_V * 1000:.0f} mV {v_ok} (worst {result['worst_held_out_v_rmse_mv']:.1f} mV)"
        )


# -------------------------------------------------------------------------------------- main


def json_safe(value: object) -> object:
    """``value`` with NaN replaced by None (JSON has no NaN) and numpy scalars as Python's."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="realdata/thermal folder")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    parser.add_argument(
        "--cells", nargs="+", default=list(SPECS), choices=list(SPECS), help="cells to run"
    )
    return parser.parse_args(argv)


def missing_data(data_dir: Path, cells: list[str]) -> list[Path]:
    """The data folders this run needs that are absent."""
    needed = {
        data_dir / "nissan_leaf" if c == "Leaf" else data_dir / "samsung_30q" / c for c in cells
    }
    return sorted(path for path in needed if not path.is_dir())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 2 when the data are absent."""
    args = parse_args(argv)
    absent = missing_data(args.data, args.cells)
    if absent:
        print(
            f"thermal_real_cells: measured-cell data not found under {args.data} "
            f"(missing: {', '.join(str(p) for p in absent)}); expected "
            f"{DEFAULT_DATA} or --data DIR",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    results = []
    for cell in args.cells:
        if cell == "Leaf":
            runs, source, lags = load_leaf(args.data)
            lag_text = ", ".join(f"{rate} {lag:.0f} s" for rate, lag in lags.items())
            print(f"Leaf: middle thermocouple peaks after the discharge ends by {lag_text}")
        else:
            runs, source = load_samsung(args.data, cell)
        results.append(evaluate_cell(SPECS[cell], runs, source))
    print()
    print_table(results)
    reference = load_params(ROOT / "params.yaml").simulate.cell.model_dump()
    print_params(results, reference)
    print_excess(results)
    print_rate_excess(results)
    print_verdicts(results)
    print(f"\nruntime {time.perf_counter() - started:.1f} s")
    if args.out is not None:
        figures = {
            "targets": {"t_rmse_c": TARGET_T_C, "v_rmse_mv": TARGET_V_V * 1000.0},
            "cells": results,
        }
        args.out.write_text(json.dumps(json_safe(figures), indent=2, allow_nan=False) + "\n")
        print(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
