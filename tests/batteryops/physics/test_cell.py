"""batteryops.physics.cell: the fitted equivalent circuit of one LG M50 cell."""

from __future__ import annotations

import numpy as np
import pytest

from batteryops.core.config import Params
from batteryops.physics import cell as cellmod
from batteryops.sim.simulate import cell_model, overcharge_heat_w


@pytest.fixture(scope="module")
def model(params: Params) -> cellmod.CellModel:
    return cell_model(params.simulate)


def test_ocv_table_spans_the_cut_off_voltages_and_rises() -> None:
    soc, ocv = cellmod.OCV_TABLE["soc"], cellmod.OCV_TABLE["ocv_v"]
    assert soc[0] == 0.0 and soc[-1] == 1.0
    assert ocv[0] == pytest.approx(2.5, abs=0.01)
    assert ocv[-1] == pytest.approx(4.2, abs=0.01)
    assert np.all(np.diff(ocv) > 0)


def test_ocv_keeps_rising_in_overcharge() -> None:
    assert cellmod.ocv(1.2) == pytest.approx(4.2 + 0.2 * cellmod.OVERCHARGE_SLOPE_V, abs=0.01)
    assert cellmod.ocv(1.1) > cellmod.ocv(1.0)


def test_resistance_rises_at_low_temperature_and_low_soc(model: cellmod.CellModel) -> None:
    assert (
        model.resistance_factor(0.0, 0.5)
        > model.resistance_factor(25.0, 0.5)
        > (model.resistance_factor(45.0, 0.5))
    )
    assert model.resistance_factor(25.0, 0.02) > 1.5 * model.resistance_factor(25.0, 0.5)


def test_coulomb_counting(model: cellmod.CellModel) -> None:
    state = cellmod.CellState(soc=np.array([0.5]))
    for _ in range(360):
        model.step(state, np.array([model.capacity_ah]), model.operating_point(state, 25.0))
    assert state.soc[0] == pytest.approx(0.4, abs=1e-9)


def test_rest_voltage_is_ocv_and_discharge_heats(model: cellmod.CellModel) -> None:
    state = cellmod.CellState(soc=np.array([0.5]))
    voltage, heat = model.step(state, np.array([0.0]), model.operating_point(state, 25.0))
    assert voltage[0] == pytest.approx(float(cellmod.ocv(0.5)))
    assert heat[0] == 0.0
    for _ in range(600):
        voltage, heat = model.step(state, np.array([5.0]), model.operating_point(state, 25.0))
    assert voltage[0] < cellmod.ocv(state.soc)[0] - 0.1
    assert heat[0] > 0


def test_cell_at_rest_stays_at_ambient(model: cellmod.CellModel) -> None:
    thermal = cellmod.CellThermal(heat_capacity_j_per_k=43.0, to_ambient_w_per_k=0.05)
    voltage, temperature = model.simulate(thermal, np.zeros(600), 0.5, 30.0)
    np.testing.assert_allclose(temperature, 30.0)
    np.testing.assert_allclose(voltage, cellmod.ocv(0.5))


def test_overcharge_heat_only_past_full_charge_and_only_when_charging() -> None:
    current = np.array([-5.0, -5.0, -5.0, 5.0])
    soc = np.array([0.9, 1.15, 1.5, 1.5])
    heat = overcharge_heat_w(current, np.full(4, 4.6), soc, 0.3)
    np.testing.assert_allclose(heat, [0.0, 0.5 * 5.0 * 4.6, 5.0 * 4.6, 0.0])
