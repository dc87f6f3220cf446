"""Fixtures shared by the library tests: the tiny fleet, simulated once per session."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from batteryops import simulate
from batteryops.config import Params


@dataclass(frozen=True)
class TinyFleet:
    """Everything one simulation of the tiny fleet produces."""

    plan: simulate.FleetPlan
    physics: dict[str, np.ndarray]
    truth: pd.DataFrame
    signals: dict[str, np.ndarray]
    frames: dict[str, pd.DataFrame]


@pytest.fixture(scope="session")
def tiny_fleet(tiny_params: Params) -> TinyFleet:
    """The tiny fleet of ``tests/conftest.py`` (3 racks x 4 modules x 9000 s), ~2 s to run."""
    sim = tiny_params.simulate
    plan = simulate.plan_fleet(sim)
    physics, truth = simulate.simulate_fleet(sim, plan)
    signals = simulate.sensor_readings(sim, plan, physics, truth)
    frames = dict(simulate.telemetry_frames(sim, plan, signals))
    return TinyFleet(plan, physics, truth, signals, frames)


def gap_seconds(plan: simulate.FleetPlan, rack: int) -> int:
    """Module-seconds of a rack inside logger gaps (overlapping gaps counted once)."""
    in_rack = plan.rack_index[plan.gap_module] == rack
    covered: set[tuple[int, int]] = set()
    for m, start, end in zip(
        plan.gap_module[in_rack], plan.gap_start_s[in_rack], plan.gap_end_s[in_rack], strict=True
    ):
        covered |= {(int(m), s) for s in range(int(start), int(end))}
    return len(covered)
