"""Equivalent-circuit model of one LG M50 (21700, NMC811 / graphite-SiOx) cell, fitted to PyBaMM.

Electrical: ``V = OCV(SoC) - I R0 f - v1 - v2`` with two RC pairs (``dv_k/dt = (I R_k f - v_k) /
tau_k``, integrated exactly over each 1 s step) and coulomb counting. ``f`` raises every
resistance at low temperature (Arrhenius, ``activation_k`` = Ea/R) and at low SoC
(``1 + low_soc_factor * exp(-SoC / 0.1)``). Heat is ``heat_share * (I^2 R0 f + I v1)``: the
share of the fast polarisation (reaction and ohmic) dissipated where it arises. The slow pair is
mostly solid-state diffusion, whose energy goes into concentration gradients and comes back as
heat of mixing, which PyBaMM neglects and so do we. Chen2020 has no entropic coefficients, so there
is no reversible term either. ``heat_share`` is fitted to PyBaMM's total heating.

The open-circuit curve (:data:`OCV_TABLE`) is computed from the half-cell curves of PyBaMM's
Chen2020 set over its stoichiometry window, and the resistances and time constants are fitted to
SPMe runs (:mod:`batteryops.physics.chen2020` regenerates both; ``params.yaml`` holds the fitted
values). Beyond 100 % SoC (overcharge) the curve is extended linearly at
:data:`OVERCHARGE_SLOPE_V`: the cathode is being over-delithiated and lithium plates, and cells in
overcharge tests climb to about 4.8-5 V by 130-140 % SoC before they vent.

Thermal: a lumped node with a heat capacity and a conductance to its surroundings
(:class:`CellThermal`); in the fleet the surroundings of the weakest cell are its module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

OCV_TABLE_PATH = Path(__file__).with_name("lgm50_ocv_chen2020.csv")
_TABLE = np.loadtxt(OCV_TABLE_PATH, delimiter=",", skiprows=1)
OCV_TABLE = {"soc": _TABLE[:, 0], "ocv_v": _TABLE[:, 1]}
OVERCHARGE_SLOPE_V = 2.0
LOW_SOC_SCALE = 0.1
REFERENCE_K = 298.15
UPPER_CUT_OFF_V = 4.2
LOWER_CUT_OFF_V = 2.5


def ocv(soc: np.ndarray) -> np.ndarray:
    """Open-circuit voltage of the cell at ``soc`` (0-1; above 1 is overcharge)."""
    soc = np.asarray(soc)
    table_soc, table_v = OCV_TABLE["soc"], OCV_TABLE["ocv_v"]
    inside = np.interp(soc, table_soc, table_v)
    return np.where(soc > 1.0, table_v[-1] + OVERCHARGE_SLOPE_V * (soc - 1.0), inside)


@dataclass(frozen=True)
class CellThermal:
    """Lumped thermal node: heat capacity (J/K) and conductance to the surroundings (W/K)."""

    heat_capacity_j_per_k: float
    to_ambient_w_per_k: float


@dataclass
class CellState:
    """State of a set of cells (arrays of one shape): SoC and the two RC voltages."""

    soc: np.ndarray
    v1: np.ndarray = field(default=None)  # type: ignore[assignment]
    v2: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.soc = np.asarray(self.soc, dtype=float).copy()
        self.v1 = np.zeros_like(self.soc) if self.v1 is None else self.v1
        self.v2 = np.zeros_like(self.soc) if self.v2 is None else self.v2


@dataclass(frozen=True)
class OperatingPoint:
    """What a step needs from the state: resistance multiplier and open-circuit voltage."""

    factor: np.ndarray
    open_circuit_v: np.ndarray


@dataclass(frozen=True)
class CellModel:
    """Fitted equivalent circuit of one cell (resistances at 25 C and mid SoC)."""

    capacity_ah: float
    r0_ohm: float
    r1_ohm: float
    tau1_s: float
    r2_ohm: float
    tau2_s: float
    activation_k: float
    low_soc_factor: float
    heat_share: float = 1.0

    def resistance_factor(self, temp_c: np.ndarray, soc: np.ndarray) -> np.ndarray:
        """Multiplier of every resistance: Arrhenius in temperature, rising at low SoC."""
        temp_k = np.asarray(temp_c) + 273.15
        arrhenius = np.exp(self.activation_k * (1.0 / temp_k - 1.0 / REFERENCE_K))
        return arrhenius * (1.0 + self.low_soc_factor * np.exp(-np.asarray(soc) / LOW_SOC_SCALE))

    def operating_point(
        self,
        state: CellState,
        temp_c: np.ndarray,
        resistance_scale: np.ndarray | float = 1.0,
    ) -> OperatingPoint:
        """Resistance multiplier and open-circuit voltage at the start of a step."""
        factor = self.resistance_factor(temp_c, state.soc) * resistance_scale
        return OperatingPoint(factor=factor, open_circuit_v=ocv(state.soc))

    def current_limits(self, point: OperatingPoint) -> tuple[np.ndarray, np.ndarray]:
        """Largest discharge and charge currents (A, both >= 0) within the cut-off voltages.

        Uses the DC resistance (R0 + R1 + R2), so the current tapers a little before a cut-off is
        actually reached: the constant-voltage phase of a CC-CV charge, and the power derating
        near empty, seen one second at a time.
        """
        dc_ohm = (self.r0_ohm + self.r1_ohm + self.r2_ohm) * point.factor
        discharge = np.maximum((point.open_circuit_v - LOWER_CUT_OFF_V) / dc_ohm, 0.0)
        charge = np.maximum((UPPER_CUT_OFF_V - point.open_circuit_v) / dc_ohm, 0.0)
        return discharge, charge

    def step(
        self,
        state: CellState,
        current_a: np.ndarray,
        point: OperatingPoint,
        capacity_scale: np.ndarray | float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Advance one second at ``current_a`` (+ = discharge), in place.

        Args:
            state: Cell state; updated in place.
            current_a: Cell current over the step.
            point: :meth:`operating_point` of this state at the step's temperature.
            capacity_scale: Per-cell capacity multiplier (cell-to-cell spread).

        Returns:
            Terminal voltage and heat generated (W) over the step.
        """
        factor = point.factor
        state.v1 = self._decay1 * state.v1 + self._gain1 * current_a * factor
        state.v2 = self._decay2 * state.v2 + self._gain2 * current_a * factor
        drop_r0 = current_a * self.r0_ohm * factor
        voltage = point.open_circuit_v - drop_r0 - state.v1 - state.v2
        heat_w = self.heat_share * current_a * (drop_r0 + state.v1)
        state.soc = np.maximum(
            state.soc - current_a / (3600.0 * self.capacity_ah * capacity_scale), 0.0
        )
        return voltage, heat_w

    @cached_property
    def _decay1(self) -> float:
        return float(np.exp(-1.0 / self.tau1_s))

    @cached_property
    def _decay2(self) -> float:
        return float(np.exp(-1.0 / self.tau2_s))

    @cached_property
    def _gain1(self) -> float:
        return (1.0 - self._decay1) * self.r1_ohm

    @cached_property
    def _gain2(self) -> float:
        return (1.0 - self._decay2) * self.r2_ohm

    def voltage_with_temperature(
        self, current_a: np.ndarray, initial_soc: float, temp_c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Voltage and heat each second on a current profile at given temperatures (no thermal)."""
        state = CellState(soc=np.array(initial_soc))
        voltage, heat = np.empty(len(current_a)), np.empty(len(current_a))
        for k, (current, temp) in enumerate(zip(current_a, temp_c, strict=False)):
            voltage[k], heat[k] = self.step(state, current, self.operating_point(state, temp))
        return voltage, heat

    def simulate(
        self,
        thermal: CellThermal,
        current_a: np.ndarray,
        initial_soc: float,
        ambient_c: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One cell on a 1 Hz current profile with its lumped thermal node.

        Returns:
            Terminal voltage and cell temperature each second (the state at each second's start
            for temperature, as PyBaMM reports it).
        """
        state = CellState(soc=np.array(initial_soc))
        temp = float(ambient_c)
        voltage = np.empty(len(current_a))
        temperature = np.empty(len(current_a))
        for k, current in enumerate(current_a):
            temperature[k] = temp
            voltage[k], heat_w = self.step(state, current, self.operating_point(state, temp))
            temp += (
                heat_w - thermal.to_ambient_w_per_k * (temp - ambient_c)
            ) / thermal.heat_capacity_j_per_k
        return voltage, temperature
