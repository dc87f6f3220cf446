"""Four-reaction thermal-abuse kinetics of a lithium-ion cell.

The model of Hatchard et al. 2001 (J. Electrochem. Soc. 148, A755) with the parameters of Kim,
Pesaran & Spotnitz 2007 (J. Power Sources 170, 476, Table 1), as gathered in
``shared/reference/thermal-abuse.md``:

========================== ========= ========= ======= ===================
reaction                   A (1/s)   Ea (J/mol) H (J/g) W (g/m3 of cell)
========================== ========= ========= ======= ===================
SEI decomposition          1.667e15  1.3508e5  257     6.104e5 (carbon)
negative-solvent           2.5e13    1.3508e5  1714    6.104e5 (carbon)
positive-solvent           6.667e13  1.396e5   314     1.221e6 (positive)
electrolyte decomposition  5.14e25   2.74e5    155     4.07e5 (electrolyte)
========================== ========= ========= ======= ===================

The SEI layer formed by the negative-solvent reaction slows that reaction:
``t_sei`` grows at the negative-solvent reaction's own rate (``dt_sei/dt = -dc_neg/dt``).

Each step integrates every reaction exactly at the temperature of the start of the step
(exponential decay for the first-order reactions, the logistic solution for the autocatalytic
cathode reaction). Concentrations therefore never leave [0, 1] whatever the step, and the heat
released is the enthalpy of what reacted, so the energy balance holds on coarse 1 s steps.
Everything is vectorised: arrays of any shape hold one cell per element.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GAS_CONSTANT_J_PER_MOL_K = 8.314
ZERO_C_IN_K = 273.15

# Kim et al. 2007, Table 1.
SEI_A, SEI_EA, SEI_H, SEI_W = 1.667e15, 1.3508e5, 257.0, 6.104e5
NEG_A, NEG_EA, NEG_H, NEG_W = 2.5e13, 1.3508e5, 1714.0, 6.104e5
POS_A, POS_EA, POS_H, POS_W = 6.667e13, 1.396e5, 314.0, 1.221e6
ELE_A, ELE_EA, ELE_H, ELE_W = 5.14e25, 2.74e5, 155.0, 4.07e5
T_SEI_REF = 0.033

# Lumped 18650 values used with the kinetics (Kim 2007): rho * cp in J/(m3 K).
RHO_CP_J_PER_M3_K = 2.14e6


@dataclass
class ReactionState:
    """Dimensionless reactant state of a set of cells (arrays of one shape)."""

    c_sei: np.ndarray
    c_neg: np.ndarray
    t_sei: np.ndarray
    alpha: np.ndarray
    c_e: np.ndarray

    @classmethod
    def fresh(cls, shape: int | tuple[int, ...]) -> ReactionState:
        """Initial state of Kim 2007: c_sei 0.15, c_neg 0.75, t_sei 0.033, alpha 0.04, c_e 1."""
        return cls(
            c_sei=np.full(shape, 0.15),
            c_neg=np.full(shape, 0.75),
            t_sei=np.full(shape, T_SEI_REF),
            alpha=np.full(shape, 0.04),
            c_e=np.full(shape, 1.0),
        )

    def take(self, index: np.ndarray) -> ReactionState:
        """The state of the cells at ``index`` (a copy)."""
        return ReactionState(
            c_sei=self.c_sei[index],
            c_neg=self.c_neg[index],
            t_sei=self.t_sei[index],
            alpha=self.alpha[index],
            c_e=self.c_e[index],
        )

    def put(self, index: np.ndarray, part: ReactionState) -> None:
        """Write ``part`` (from :meth:`take`) back at ``index``."""
        self.c_sei[index], self.c_neg[index], self.t_sei[index] = part.c_sei, part.c_neg, part.t_sei
        self.alpha[index], self.c_e[index] = part.alpha, part.c_e


def react_above(
    state: ReactionState, temp_c: np.ndarray, dt_s: float, floor_c: float = 50.0
) -> np.ndarray:
    """Like :func:`react`, for 1-D arrays, skipping cells at or below ``floor_c``.

    At 50 C the four reactions release 0.2 mW per 21700 cell and consume 2 % of its SEI per day
    (Kim 2007 rates; 0.03 mW and 0.4 % at 40 C), nothing against the 0.1-1 W of ohmic heat
    in service: skipping them keeps the fleet's per-second cost where the physics happens.
    """
    heat = np.zeros(np.shape(temp_c))
    hot = np.flatnonzero(np.asarray(temp_c) > floor_c)
    if hot.size:
        part = state.take(hot)
        heat[hot] = react(part, np.asarray(temp_c)[hot], dt_s)
        state.put(hot, part)
    return heat


def _arrhenius(
    pre_exponential: float, activation_j_per_mol: float, temp_k: np.ndarray
) -> np.ndarray:
    return pre_exponential * np.exp(-activation_j_per_mol / (GAS_CONSTANT_J_PER_MOL_K * temp_k))


def react(state: ReactionState, temp_c: np.ndarray, dt_s: float) -> np.ndarray:
    """Advance the four reactions by one step, in place.

    Args:
        state: Reactant state; updated in place.
        temp_c: Cell temperature over the step, in degrees Celsius.
        dt_s: Step length in seconds.

    Returns:
        Mean volumetric heat released over the step, in W per m3 of cell.
    """
    temp_k = np.asarray(temp_c, dtype=float) + ZERO_C_IN_K

    k_sei = _arrhenius(SEI_A, SEI_EA, temp_k)
    c_sei_new = state.c_sei * np.exp(-k_sei * dt_s)

    k_neg = _arrhenius(NEG_A, NEG_EA, temp_k) * np.exp(-state.t_sei / T_SEI_REF)
    c_neg_new = state.c_neg * np.exp(-k_neg * dt_s)

    k_pos = _arrhenius(POS_A, POS_EA, temp_k)
    alpha = np.clip(state.alpha, 1e-12, 1.0 - 1e-12)
    alpha_new = 1.0 / (1.0 + (1.0 - alpha) / alpha * np.exp(-k_pos * dt_s))

    k_ele = _arrhenius(ELE_A, ELE_EA, temp_k)
    c_e_new = state.c_e * np.exp(-k_ele * dt_s)

    heat_j_per_m3 = (
        SEI_H * SEI_W * (state.c_sei - c_sei_new)
        + NEG_H * NEG_W * (state.c_neg - c_neg_new)
        + POS_H * POS_W * (alpha_new - state.alpha)
        + ELE_H * ELE_W * (state.c_e - c_e_new)
    )
    state.t_sei = state.t_sei + (state.c_neg - c_neg_new)
    state.c_sei, state.c_neg, state.alpha, state.c_e = c_sei_new, c_neg_new, alpha_new, c_e_new
    return heat_j_per_m3 / dt_s
