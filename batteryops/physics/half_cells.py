"""Half-cell open-circuit potentials of the LG M50 and the full cell's stoichiometry window.

The potentials are the Chen2020 fits that PyBaMM ships (``pybamm.ParameterValues("Chen2020")``,
functions ``graphite_LGM50_ocp_Chen2020`` and ``nmc_LGM50_ocp_Chen2020``; Chen et al. 2020, J.
Electrochem. Soc. 167, 080534). They are written out here so the pipeline runs without PyBaMM;
``tests/batteryops/test_ageing.py`` checks them against PyBaMM's own functions. The electrode
capacities and the cyclable lithium follow from the same parameter set (maximum concentrations,
active-material fractions, thicknesses, electrode area, initial concentrations at 100 % SoC).

A cell is described by three charges in Ah: the negative electrode's capacity ``q_neg``, the
positive's ``q_pos`` and the cyclable lithium ``n_li`` (``x q_neg + y q_pos = n_li``, with x and y
the stoichiometries). Degradation modes shrink them: loss of lithium inventory (LLI) lowers
``n_li``, loss of active material (LAM) on each electrode lowers ``q_neg`` or ``q_pos``
(Birkl et al. 2017, J. Power Sources 341, 373; Dubarry et al. 2012).
"""

from __future__ import annotations

import numpy as np

FARADAY_C_PER_MOL = 96485.33212
UPPER_CUT_OFF_V = 4.2
LOWER_CUT_OFF_V = 2.5
_ELECTRODE_AREA_M2 = 0.065 * 1.58
# Chen2020: (maximum concentration mol/m3, active fraction, thickness m, concentration at 100 % SoC)
_NEG = (33133.0, 0.75, 85.2e-6, 29866.0)
_POS = (63104.0, 0.665, 75.6e-6, 17038.0)


def _electrode_ah(c_max: float, fraction: float, thickness: float) -> float:
    return FARADAY_C_PER_MOL * c_max * fraction * thickness * _ELECTRODE_AREA_M2 / 3600.0


Q_NEG_AH = _electrode_ah(*_NEG[:3])
Q_POS_AH = _electrode_ah(*_POS[:3])
N_LI_AH = _NEG[3] / _NEG[0] * Q_NEG_AH + _POS[3] / _POS[0] * Q_POS_AH


def u_neg(x: np.ndarray) -> np.ndarray:
    """Graphite-SiOx potential (V vs Li) at stoichiometry ``x`` (Chen2020 fit)."""
    x = np.asarray(x, dtype=float)
    return (
        1.9793 * np.exp(-39.3631 * x)
        + 0.2482
        - 0.0909 * np.tanh(29.8538 * (x - 0.1234))
        - 0.04478 * np.tanh(14.9159 * (x - 0.2769))
        - 0.0205 * np.tanh(30.4444 * (x - 0.6103))
    )


def u_pos(y: np.ndarray) -> np.ndarray:
    """NMC811 potential (V vs Li) at stoichiometry ``y`` (Chen2020 fit)."""
    y = np.asarray(y, dtype=float)
    return (
        -0.8090 * y
        + 4.4875
        - 0.0428 * np.tanh(18.5138 * (y - 0.5542))
        - 17.7326 * np.tanh(15.7890 * (y - 0.3117))
        + 17.5842 * np.tanh(15.9308 * (y - 0.3120))
    )


def full_cell_v(x: np.ndarray, q_neg, q_pos, n_li) -> np.ndarray:
    """Full-cell open-circuit voltage with the negative electrode at stoichiometry ``x``."""
    return u_pos((n_li - x * q_neg) / q_pos) - u_neg(x)


def _x_bounds(q_neg, q_pos, n_li) -> tuple[np.ndarray, np.ndarray]:
    low = np.clip((n_li - q_pos) / q_neg, 1e-4, None)  # positive electrode full (y = 1)
    high = np.clip(n_li / q_neg, None, 1.0)  # negative electrode full, or all lithium in it
    return low, high


def x_at_voltage(voltage_v: float, q_neg, q_pos, n_li, iterations: int = 32) -> np.ndarray:
    """Negative-electrode stoichiometry where the open-circuit voltage is ``voltage_v``.

    The voltage rises monotonically with x (lithium moves from the positive to the negative
    electrode on charge), so bisection converges; where the window cannot reach ``voltage_v``
    the bound nearest to it is returned (e.g. a negative electrode too small to take the
    lithium that 4.2 V would need: it is full at x = 1).
    """
    q_neg, q_pos, n_li = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (q_neg, q_pos, n_li))
    )
    low, high = _x_bounds(q_neg, q_pos, n_li)
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        above = full_cell_v(mid, q_neg, q_pos, n_li) > voltage_v
        high = np.where(above, mid, high)
        low = np.where(above, low, mid)
    return 0.5 * (low + high)


def window(q_neg, q_pos, n_li) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stoichiometries at the cut-offs and the low-rate capacity between them.

    Returns:
        ``(x_0, x_100, capacity_ah)``: the negative electrode's stoichiometry at 2.5 V and at
        4.2 V, and the charge between them.
    """
    x0 = x_at_voltage(LOWER_CUT_OFF_V, q_neg, q_pos, n_li)
    x100 = x_at_voltage(UPPER_CUT_OFF_V, q_neg, q_pos, n_li)
    return x0, x100, (x100 - x0) * np.asarray(q_neg, dtype=float)


def discharge_curve(
    q_neg: float, q_pos: float, n_li: float, points: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """Open-circuit discharge curve from 4.2 V to 2.5 V: (capacity discharged Ah, voltage V)."""
    x0, x100, _ = window(q_neg, q_pos, n_li)
    x = np.linspace(float(x100), float(x0), points)
    return (float(x100) - x) * q_neg, full_cell_v(x, q_neg, q_pos, n_li)
