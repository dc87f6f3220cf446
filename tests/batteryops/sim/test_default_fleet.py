"""The default fleet of params.yaml: every runaway fault burns, nothing else does.

Simulated once per module (96 modules x 4.5 days of physics, about 70 s), without sensors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.sim import simulate


@pytest.fixture(scope="module")
def fleet(params: Params) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    sim = params.simulate
    return simulate.simulate_fleet(sim, simulate.plan_fleet(sim))


def _before_neighbour_faults(truth: pd.DataFrame, duration_s: int) -> np.ndarray:
    """Per module, the second from which an adjacent module in its rack carries a fault (or the
    end): a module beside one that heats towards runaway warms with it, as it should."""
    limit = np.full(len(truth), float(duration_s))
    for i, row in truth.iterrows():
        beside = (truth[schema.RACK_ID] == row[schema.RACK_ID]) & (
            (truth["position"] - row["position"]).abs() == 1
        )
        starts = truth.loc[beside, "fault_start"].dropna()
        if len(starts):
            limit[i] = starts.min()
    return limit


def test_default_fleet_has_every_fault_type(params: Params, fleet) -> None:
    _, truth = fleet
    for name in simulate.FAULTS:
        assert getattr(params.simulate.faults, name) > 0, f"default fleet has no {name}"
        assert (truth["fault_type"] == name).sum() == getattr(params.simulate.faults, name)


def test_every_runaway_fault_reaches_pnr_after_it_starts_and_vents(fleet) -> None:
    _, truth = fleet
    faulty = truth[truth["fault_type"] != simulate.NONE]
    assert faulty["pnr_time"].notna().all(), faulty[faulty["pnr_time"].isna()]
    assert (faulty["pnr_time"] > faulty["fault_start"]).all()
    assert (faulty["vent_time"] <= faulty["pnr_time"]).all()
    # Minutes, not seconds: there is something to warn about.
    assert ((faulty["pnr_time"] - faulty["fault_start"]) > 20 * 60).all()


def test_no_healthy_or_nuisance_module_reaches_pnr_or_vents(fleet) -> None:
    _, truth = fleet
    healthy = truth[truth["fault_type"] == simulate.NONE]
    assert set(healthy["nuisance_type"]) >= set(simulate.NUISANCES + simulate.RACK_NUISANCES)
    assert healthy["pnr_time"].isna().all()
    assert healthy["vent_time"].isna().all()


def test_healthy_modules_stay_in_normal_ranges(params: Params, fleet) -> None:
    physics, truth = fleet
    sim = params.simulate
    limit = _before_neighbour_faults(truth, sim.duration_s)
    seconds = np.arange(sim.duration_s)[:, None]
    healthy = (truth["fault_type"] == simulate.NONE).to_numpy()[None, :]
    normal = healthy & (seconds < limit[None, :])
    assert normal.sum() > 0.5 * sim.duration_s * len(truth)
    t_cell, soc, v_cell = (
        physics["t_cell"][normal],
        physics["soc"][normal],
        physics["v_cell"][normal],
    )
    assert t_cell.min() >= 10.0 and t_cell.max() <= 55.0
    assert soc.min() >= 0.05 and soc.max() <= 1.0
    assert v_cell.min() >= 2.5 and v_cell.max() <= 4.3


def test_runaway_peaks_like_an_nmc_cell(fleet) -> None:
    physics, truth = fleet
    faulty = (truth["fault_type"] != simulate.NONE).to_numpy()
    peaks = physics["t_cell"][:, faulty].max(axis=0)
    # NCM: trigger 150-250 C, maximum 700-900 C (shared/reference/thermal-abuse.md); allow margin.
    assert peaks.min() > 400.0 and peaks.max() < 1000.0
