"""Fidelity of the cell model against PyBaMM's SPMe with lumped thermal and Chen2020.

PyBaMM is a test-only dependency (the ``dev`` extra). The profile is the storage hour of
:func:`batteryops.physics.chen2020.fidelity_profile`, which the ECM fit never saw.
"""

from __future__ import annotations

import numpy as np
import pytest

from batteryops.core.config import Params
from batteryops.physics import cell as cellmod
from batteryops.sim.simulate import cell_model

pytest.importorskip("pybamm")
from batteryops.physics import chen2020  # noqa: E402


def test_shipped_ocv_table_is_pybamms_chen2020() -> None:
    soc, ocv = chen2020.ocv_curve(points=51)
    np.testing.assert_allclose(cellmod.ocv(soc), ocv, atol=1e-3)


def test_shipped_capacity_is_chen2020s(params: Params) -> None:
    assert params.simulate.cell.capacity_ah == pytest.approx(chen2020.capacity_ah(), rel=1e-3)


@pytest.mark.parametrize(("initial_soc", "ambient_c"), [(0.6, 25.0)])
def test_voltage_and_temperature_follow_spme(
    params: Params, initial_soc: float, ambient_c: float
) -> None:
    current = chen2020.fidelity_profile()
    reference = chen2020.spme(current, initial_soc, ambient_c)
    assert len(reference.voltage_v) == len(current), "reference run hit a cut-off"
    voltage, temperature = cell_model(params.simulate).simulate(
        reference.thermal, current, initial_soc, ambient_c
    )
    voltage_rmse_v = float(np.sqrt(np.mean((voltage - reference.voltage_v) ** 2)))
    temperature_rmse_c = float(np.sqrt(np.mean((temperature - reference.temperature_c) ** 2)))
    assert voltage_rmse_v <= 0.020
    assert temperature_rmse_c <= 1.0
    # The profile really heats the cell, so the temperature check means something.
    assert reference.temperature_c.max() - ambient_c > 5.0
