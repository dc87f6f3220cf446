"""batteryops.physics.oven and batteryops.physics.kinetics: the single-cell oven test."""

from __future__ import annotations

import numpy as np
import pytest

from batteryops.physics.kinetics import ReactionState, react
from batteryops.physics.oven import OvenCell, OvenResult, simulate_oven


@pytest.fixture(scope="module")
def runs() -> dict[float, OvenResult]:
    """One 3 h oven run per temperature (each well under a second)."""
    return {oven_c: simulate_oven(oven_c) for oven_c in (130.0, 150.0, 155.0, 165.0)}


def test_155c_runs_away_in_the_published_range(runs: dict[float, OvenResult]) -> None:
    result = runs[155.0]
    assert result.runaway
    assert result.time_to_runaway_min is not None
    assert 20.0 <= result.time_to_runaway_min <= 45.0
    assert result.peak_temp_c > 155.0


def test_130c_settles_without_runaway(runs: dict[float, OvenResult]) -> None:
    result = runs[130.0]
    assert not result.runaway
    assert result.time_to_runaway_min is None
    assert abs(result.peak_temp_c - 130.0) <= 10.0


def test_time_to_runaway_falls_with_oven_temperature(runs: dict[float, OvenResult]) -> None:
    times = [runs[c].time_to_runaway_min for c in (150.0, 155.0, 165.0)]
    assert all(t is not None for t in times)
    assert times[0] > times[1] > times[2]


def test_cold_oven_never_exceeds_its_temperature() -> None:
    result = simulate_oven(25.0, hours=0.1)
    assert not result.runaway
    assert result.peak_temp_c == pytest.approx(25.0, abs=0.5)


def test_pnr_rate_threshold_is_honoured() -> None:
    # A threshold no cell reaches: the same hot oven then reports no runaway.
    result = simulate_oven(165.0, hours=0.5, pnr_rate_c_per_s=1e9)
    assert not result.runaway
    assert result.time_to_runaway_min is None


def test_result_as_dict(runs: dict[float, OvenResult]) -> None:
    runaway = runs[155.0].as_dict()
    assert set(runaway) == {"runaway", "time_to_runaway_min", "peak_temp_c"}
    assert runaway["runaway"] is True
    assert runaway["time_to_runaway_min"] == round(runs[155.0].time_to_runaway_min, 2)
    calm = runs[130.0].as_dict()
    assert calm["runaway"] is False
    assert calm["time_to_runaway_min"] is None
    assert calm["peak_temp_c"] == round(runs[130.0].peak_temp_c, 2)


def test_oven_cell_geometry() -> None:
    cell = OvenCell()
    assert cell.volume_m3 == pytest.approx(np.pi * 0.009**2 * 0.065)
    # hA/V of the docstring: 7.17 W/(m2 K) over the side and both ends is ~1816 W/(m3 K).
    assert cell.h_w_per_m2_k * cell.area_m2 / cell.volume_m3 == pytest.approx(1816, rel=0.01)


def _concentrations(state: ReactionState) -> list[np.ndarray]:
    return [state.c_sei, state.c_neg, state.alpha, state.c_e]


@pytest.mark.parametrize("dt_s", [1.0, 1e3, 1e6])
def test_react_stays_bounded_and_releases_heat_at_400c(dt_s: float) -> None:
    state = ReactionState.fresh(3)
    heat = react(state, np.full(3, 400.0), dt_s)
    assert np.all(np.isfinite(heat))
    assert np.all(heat >= 0.0)
    for values in _concentrations(state):
        assert np.all((values >= 0.0) & (values <= 1.0))


def test_react_huge_step_consumes_the_reactants() -> None:
    state = ReactionState.fresh(1)
    react(state, np.array([400.0]), 1e6)
    assert state.c_sei[0] == pytest.approx(0.0, abs=1e-9)
    assert state.c_e[0] == pytest.approx(0.0, abs=1e-9)
    assert state.alpha[0] == pytest.approx(1.0, abs=1e-9)


def test_react_repeated_steps_stay_bounded_and_monotone() -> None:
    state = ReactionState.fresh(4)
    temps = np.array([25.0, 120.0, 200.0, 400.0])
    previous = [v.copy() for v in _concentrations(state)]
    for _ in range(50):
        heat = react(state, temps, 10.0)
        assert np.all(heat >= 0.0)
        current = _concentrations(state)
        for values in current:
            assert np.all((values >= 0.0) & (values <= 1.0))
        c_sei, c_neg, alpha, c_e = current
        assert np.all(c_sei <= previous[0]) and np.all(c_neg <= previous[1])
        assert np.all(alpha >= previous[2]) and np.all(c_e <= previous[3])
        previous = [v.copy() for v in current]


def test_react_is_slow_at_room_temperature() -> None:
    state = ReactionState.fresh(1)
    heat = react(state, np.array([25.0]), 1.0)
    assert heat[0] < 1.0  # W/m3: negligible next to ohmic heat
    assert state.c_sei[0] == pytest.approx(0.15, rel=1e-6)


def test_react_heat_rises_with_temperature() -> None:
    state = ReactionState.fresh(3)
    heat = react(state, np.array([100.0, 150.0, 200.0]), 0.1)
    assert heat[0] < heat[1] < heat[2]


def test_react_updates_sei_thickness_by_negative_consumption() -> None:
    state = ReactionState.fresh(1)
    c_neg_before, t_sei_before = state.c_neg.copy(), state.t_sei.copy()
    react(state, np.array([200.0]), 5.0)
    consumed = c_neg_before - state.c_neg
    assert consumed[0] > 0
    assert state.t_sei[0] == pytest.approx(t_sei_before[0] + consumed[0])
