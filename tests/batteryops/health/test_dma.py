"""Degradation-mode analysis recovers the losses a curve was built with (half-cell round trip)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.health import dma
from batteryops.physics import half_cells

FRESH = (half_cells.Q_NEG_AH, half_cells.Q_POS_AH, half_cells.N_LI_AH)


def _curves(losses: list[tuple[int, float, float, float]], offset_v: float = 0.0) -> pd.DataFrame:
    """One cell's C/20-like curves at each ``(cycle, lli, lam_neg, lam_pos)``."""
    q_neg, q_pos, n_li = FRESH
    rows = []
    for cycle, lli, lam_neg, lam_pos in losses:
        capacity, voltage = half_cells.discharge_curve(
            q_neg * (1 - lam_neg), q_pos * (1 - lam_pos), n_li * (1 - lli)
        )
        rows.append(
            pd.DataFrame(
                {
                    schema.CELL_ID: "c1",
                    schema.CYCLE: cycle,
                    "voltage_v": voltage - offset_v,
                    "capacity_ah": capacity,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_a_fresh_curve_fits_the_fresh_electrodes() -> None:
    capacity, voltage = half_cells.discharge_curve(*FRESH)
    q_neg, q_pos, x_start, y_start, offset = dma.fit_curve(voltage, capacity)
    assert q_neg == pytest.approx(FRESH[0], rel=0.02)
    assert x_start * q_neg + y_start * q_pos == pytest.approx(FRESH[2], rel=0.01)
    assert offset == pytest.approx(0.0, abs=2e-3)


@pytest.mark.parametrize(
    ("lli", "lam_neg", "lam_pos"),
    [(0.08, 0.0, 0.0), (0.0, 0.10, 0.0), (0.05, 0.06, 0.03), (0.12, 0.04, 0.02)],
)
def test_losses_are_recovered(lli: float, lam_neg: float, lam_pos: float) -> None:
    curves = _curves(
        [(0, 0, 0, 0), (200, lli / 2, lam_neg / 2, lam_pos / 2), (400, lli, lam_neg, lam_pos)]
    )
    modes = dma.mode_features(curves).set_index(schema.CYCLE)
    last = modes.loc[400]
    assert last["dma_lli"] == pytest.approx(lli, abs=0.01)
    assert last["dma_lam_neg"] == pytest.approx(lam_neg, abs=0.015)
    assert last["dma_lam_pos"] == pytest.approx(lam_pos, abs=0.02)
    assert modes.loc[0, "dma_lli"] == pytest.approx(0.0, abs=1e-9)
    assert last["dma_lli_per_100"] == pytest.approx(100 * last["dma_lli"] / 400)


def test_a_resistive_offset_is_not_read_as_a_loss() -> None:
    curves = _curves([(0, 0, 0, 0), (100, 0.05, 0.0, 0.0)], offset_v=0.01)
    last = dma.mode_features(curves).set_index(schema.CYCLE).loc[100]
    assert last["dma_lli"] == pytest.approx(0.05, abs=0.01)


def test_losing_negative_material_raises_x_100() -> None:
    curves = _curves([(0, 0, 0, 0), (300, 0.0, 0.15, 0.0)])
    modes = dma.mode_features(curves).set_index(schema.CYCLE)
    assert modes.loc[300, "dma_x_100"] > modes.loc[0, "dma_x_100"]
    assert modes.loc[300, "dma_x_100_per_100"] > 0


def test_cycles_to_lli_from_a_square_root_law() -> None:
    # LLI = 0.004 sqrt(n): 10 % at n = 625, 20 % at n = 2500.
    history = [(n, 0.004 * np.sqrt(n)) for n in (0.0, 100.0, 225.0, 400.0)]
    left = dma._cycles_to_lli(history)
    assert left["dma_cycles_to_lli_10"] == pytest.approx(625 - 400, rel=0.01)
    assert left["dma_cycles_to_lli_20"] == pytest.approx(2500 - 400, rel=0.01)


def test_too_short_a_curve_gives_missing_modes() -> None:
    assert np.isnan(dma.fit_curve(np.linspace(4.2, 2.5, 10), np.linspace(0, 5, 10))).all()
