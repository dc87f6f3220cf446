"""batteryops.sim.semi_empirical: the second ageing family (Schmalstieg et al. 2014's laws)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import SecondAgeingParams, deep_merge, parse_params
from batteryops.sim.semi_empirical import SOH, SecondFamily, simulate_second_family


def _family(raw_params: dict[str, Any], **overrides: Any) -> SecondAgeingParams:
    return parse_params(deep_merge(raw_params, {"second_ageing": overrides})).second_ageing


def _quiet() -> dict[str, float]:
    names = ("rate_spread_fraction", "capacity_spread_fraction", "noise_capacity_ah")
    return dict.fromkeys(names, 0.0) | {"noise_resistance_fraction": 0.0}


@pytest.fixture(scope="module")
def family_params(raw_params: dict[str, Any]) -> SecondAgeingParams:
    return _family(raw_params)


@pytest.fixture(scope="module")
def family(family_params: SecondAgeingParams) -> SecondFamily:
    return simulate_second_family(family_params)


def test_rows_follow_the_cycle_contract_one_cell_per_condition(
    family: SecondFamily, family_params: SecondAgeingParams
) -> None:
    cycles = family.cycles
    assert list(cycles.columns) == schema.CYCLE_COLUMNS
    expected = (
        len(family_params.temperatures_c)
        * len(family_params.protocols)
        * family_params.cells_per_condition
    )
    assert cycles[schema.CELL_ID].nunique() == expected
    assert not cycles.duplicated(schema.CYCLE_KEYS).any()
    assert cycles[schema.CYCLE_SIGNALS].notna().all().all()
    assert (cycles.groupby(schema.CELL_ID)[schema.CYCLE].diff().dropna() == 1).all()
    pd.testing.assert_frame_equal(family.truth[schema.CYCLE_KEYS], cycles[schema.CYCLE_KEYS])


def test_rows_carry_the_chamber_apart_from_the_heated_cell(
    family: SecondFamily, family_params: SecondAgeingParams
) -> None:
    cycles = family.cycles
    chamber = cycles[schema.CELL_ID].str[1:3].astype(float)  # "S15-..." ages at 15 C
    np.testing.assert_array_equal(cycles["ambient_c"], chamber)
    assert set(cycles["ambient_c"]) == set(family_params.temperatures_c)
    heating = (cycles["temperature_c"] - cycles["ambient_c"]).groupby(cycles[schema.CELL_ID])
    assert heating.mean().gt(0.3).all()


def test_the_truth_fades_to_end_of_life_and_never_recovers(
    family: SecondFamily, family_params: SecondAgeingParams
) -> None:
    truth = family.truth
    assert (truth.groupby(schema.CELL_ID)[SOH].first() == 1.0).all()
    assert (truth.groupby(schema.CELL_ID)[SOH].diff().dropna() <= 1e-12).all()
    ended = truth.groupby(schema.CELL_ID)[SOH].last() <= family_params.end_soh
    last = truth.groupby(schema.CELL_ID)[schema.CYCLE].last()
    assert (ended | (last == family_params.max_cycles)).all()


def test_check_ups_are_full_low_rate_discharges_and_partial_cycles_move_their_window(
    raw_params: dict[str, Any],
) -> None:
    params = _family(raw_params, **_quiet())
    data = simulate_second_family(params)
    rows = data.cycles.merge(data.truth, on=schema.CYCLE_KEYS)
    checkup = rows[schema.CYCLE] % params.checkup_every == 0
    assert (rows.loc[checkup, "discharge_c_rate"] == params.checkup_c_rate).all()
    assert (rows.loc[checkup, "depth_of_discharge"] == 1.0).all()
    half = rows[~checkup & (rows["depth_of_discharge"] == 0.5) & (rows[SOH] > 0.6)]
    assert len(half)
    np.testing.assert_allclose(half["capacity_ah"], 0.5 * params.nominal_capacity_ah)
    # a check-up reads the capacity, less a small resistive share at C/5
    measured = rows.loc[checkup, "capacity_ah"] / (params.nominal_capacity_ah * rows[SOH])
    assert measured[checkup].between(0.99, 1.0).all()


def test_deeper_warmer_cycling_ages_faster(raw_params: dict[str, Any]) -> None:
    data = simulate_second_family(_family(raw_params, **_quiet()))
    life = data.truth.groupby(schema.CELL_ID)[schema.CYCLE].max()
    by = {cell: cell.split("-", 1) for cell in life.index}
    full_25 = life[[c for c, (t, p) in by.items() if t == "S25" and p.startswith("1C-full")]]
    half_25 = life[[c for c, (t, p) in by.items() if t == "S25" and p.startswith("1C-50")]]
    full_35 = life[[c for c, (t, p) in by.items() if t == "S35" and p.startswith("1C-full")]]
    assert half_25.min() > full_25.max()  # a half cycle ages a cell less than a full one
    assert full_35.max() < full_25.min()  # and the calendar term is Arrhenius


def test_the_family_is_deterministic_by_seed(raw_params: dict[str, Any]) -> None:
    params = _family(raw_params, cells_per_condition=1)
    first, again = simulate_second_family(params), simulate_second_family(params)
    pd.testing.assert_frame_equal(first.cycles, again.cycles)
    other = simulate_second_family(params.model_copy(update={"seed": params.seed + 1}))
    assert not first.cycles["capacity_ah"].equals(other.cycles["capacity_ah"])
