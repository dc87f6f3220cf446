"""Degradation-mode analysis: lithium and active-material losses fitted to low-rate curves.

A C/20-like discharge curve is the difference of the two half-cell potentials over the window
each electrode is cycled in. Fitting the electrodes' capacities and starting stoichiometries to
the measured curve (the "OCV fitting" of Birkl et al. 2017, J. Power Sources 341, 373; Dubarry
et al. 2012, J. Power Sources 219, 204) tells the loss of lithium inventory (LLI) from the loss
of active material on each electrode (LAM), which capacity alone cannot. The half-cell
potentials are those of the LG M50 (:mod:`batteryops.physics.half_cells`); for another chemistry
this analysis does not apply and its features are left missing.

Features per checkpoint, relative to the cell's first curve: ``dma_lli``, ``dma_lam_neg``,
``dma_lam_pos``; and the negative electrode's stoichiometry at full charge, ``dma_x_100``: when
it nears 1 the negative electrode has no room left for the lithium a charge brings, and lithium
plating (the usual cause of a late-life knee) becomes likely. ``dma_cycles_to_lli_10``/``_20``
are the cycles left until the lost lithium reaches 10 % / 20 %, from a fit of the LLI so far to
``a sqrt(n) + b n`` (SEI growth with the square root of time and charge throughput, plating and
other losses per cycle; Broussely et al. 2005, Yang et al. 2017): lithium loss is what ends
most cells' lives, and past a share of it the pores clog and the fade turns into a knee.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from batteryops.core import schema
from batteryops.physics import half_cells

FIT_POINTS = 80
DMA_COLUMNS = [
    "dma_lli",
    "dma_lam_neg",
    "dma_lam_pos",
    "dma_x_100",
    "dma_lli_per_100",
    "dma_lam_neg_per_100",
    "dma_x_100_per_100",
    "dma_cycles_to_lli_10",
    "dma_cycles_to_lli_20",
]
LLI_LEVELS = {"dma_cycles_to_lli_10": 0.10, "dma_cycles_to_lli_20": 0.20}


def _model_v(theta: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    q_neg, q_pos, x_start, y_start, offset = theta
    x = x_start - capacity / q_neg
    y = y_start + capacity / q_pos
    return half_cells.u_pos(y) - half_cells.u_neg(x) - offset


def fit_curve(
    voltage_v: np.ndarray, capacity_ah: np.ndarray, start: np.ndarray | None = None
) -> np.ndarray:
    """Fit ``(q_neg, q_pos, x_start, y_start, offset_v)`` to one discharge curve.

    ``x_start``/``y_start`` are the stoichiometries where the curve starts (full charge) and
    ``offset_v`` the resistive drop of the low-rate current. ``start`` warm-starts the fit (the
    cell's previous checkpoint).

    Returns:
        The fitted parameters, or NaNs when the curve has fewer than 20 usable points.
    """
    keep = np.isfinite(voltage_v) & np.isfinite(capacity_ah)
    voltage, capacity = np.asarray(voltage_v)[keep], np.asarray(capacity_ah)[keep]
    if voltage.size < 20:
        return np.full(5, np.nan)
    pick = np.linspace(0, voltage.size - 1, min(FIT_POINTS, voltage.size)).astype(int)
    voltage, capacity = voltage[pick], capacity[pick]
    if start is None or not np.all(np.isfinite(start)):
        x0, x100, _ = half_cells.window(
            half_cells.Q_NEG_AH, half_cells.Q_POS_AH, half_cells.N_LI_AH
        )
        y100 = (half_cells.N_LI_AH - x100 * half_cells.Q_NEG_AH) / half_cells.Q_POS_AH
        start = np.array([half_cells.Q_NEG_AH, half_cells.Q_POS_AH, float(x100), float(y100), 0.0])
    top = capacity.max()
    result = least_squares(
        lambda theta: _model_v(theta, capacity) - voltage,
        start,
        bounds=(
            [top * 0.9, top * 0.9, 0.3, 0.05, -0.05],
            [top * 3.0, top * 4.0, 1.0, 0.7, 0.1],
        ),
        x_scale=[1.0, 1.0, 0.05, 0.05, 0.01],
        method="trf",
    )
    return result.x


def mode_features(curves: pd.DataFrame) -> pd.DataFrame:
    """Degradation modes per (cell, checkpoint) from ``schema.CURVE_COLUMNS`` rows.

    Losses are relative to the cell's first checkpoint; rates are per 100 cycles since it.
    """
    rows = []
    for cell, by_cell in curves.groupby(schema.CELL_ID, sort=False):
        previous, first, history = None, None, []
        for cycle, curve in by_cell.groupby(schema.CYCLE, sort=True):
            theta = fit_curve(
                curve["voltage_v"].to_numpy(float), curve["capacity_ah"].to_numpy(float), previous
            )
            previous = theta
            q_neg, q_pos, x_start, y_start, _ = theta
            n_li = x_start * q_neg + y_start * q_pos
            _, x100, _ = half_cells.window(q_neg, q_pos, n_li)
            state = {
                "cycle": int(cycle),
                "q_neg": q_neg,
                "q_pos": q_pos,
                "n_li": n_li,
                "x100": float(x100),
            }
            first = first or state
            relative = _relative(state, first)
            history.append((state["cycle"] - first["cycle"], relative["dma_lli"]))
            rows.append({schema.CELL_ID: cell} | relative | _cycles_to_lli(history))
    return pd.DataFrame(rows, columns=[schema.CELL_ID, schema.CYCLE, *DMA_COLUMNS])


def _relative(state: dict[str, float], first: dict[str, float]) -> dict[str, float]:
    lli = 1.0 - state["n_li"] / first["n_li"]
    lam_neg = 1.0 - state["q_neg"] / first["q_neg"]
    lam_pos = 1.0 - state["q_pos"] / first["q_pos"]
    span = state["cycle"] - first["cycle"]
    per_100 = 100.0 / span if span > 0 else np.nan
    climb = (state["x100"] - first["x100"]) * per_100
    return {
        schema.CYCLE: state["cycle"],
        "dma_lli": lli,
        "dma_lam_neg": lam_neg,
        "dma_lam_pos": lam_pos,
        "dma_x_100": state["x100"],
        "dma_lli_per_100": lli * per_100,
        "dma_lam_neg_per_100": lam_neg * per_100,
        "dma_x_100_per_100": climb,
    }


def _cycles_to_lli(history: list[tuple[float, float]]) -> dict[str, float]:
    """Cycles left until the LLI reaches each of :data:`LLI_LEVELS`, from ``a sqrt(n) + b n``."""
    from scipy.optimize import nnls

    n = np.array([h[0] for h in history], dtype=float)
    lli = np.array([h[1] for h in history], dtype=float)
    if n.size < 3 or not np.all(np.isfinite(lli)):
        return dict.fromkeys(LLI_LEVELS, np.nan)
    (a, b), _ = nnls(np.column_stack([np.sqrt(n), n]), lli)
    out = {}
    for name, level in LLI_LEVELS.items():
        # sqrt(n) at the level: the positive root of b r^2 + a r - level, in the form that
        # stays exact when b is tiny (the textbook form cancels to 0 there).
        denominator = a + np.sqrt(a * a + 4 * b * level)
        if denominator <= 0:
            out[name] = np.nan
            continue
        root = 2 * level / denominator
        out[name] = max(root * root - n[-1], 0.0)
    return out
