"""batteryops.sim.ageing and batteryops.physics.half_cells: Chen2020 half-cells and cycle ageing.

The half-cell potentials and electrode charges are checked against PyBaMM's own Chen2020 set (a
test-only dependency); the simulator's contract, determinism and physics trends on a fleet of a
few cells (one per condition) that takes a couple of seconds to age.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import AgeingParams, deep_merge, parse_params
from batteryops.physics import half_cells
from batteryops.physics.half_cells import N_LI_AH, Q_NEG_AH, Q_POS_AH
from batteryops.sim.ageing import (
    EOL_CYCLE,
    SOH,
    TRUTH_CELL_COLUMNS,
    TRUTH_CYCLE_COLUMNS,
    AgeingData,
    arrhenius,
    simulate_ageing,
)

SLOW, FAST = "C3-C2", "1C-1C"  # protocols of params.yaml: 0.3C / 1C charge
STOICHIOMETRIES = np.linspace(0.0, 1.0, 501)
FLOAT_NOISE = 1e-8  # the window's bisection resolves the stoichiometry to ~1e-10
SOH_CYCLE = 200  # cycle at which the trends compare cells


def _protocols(raw_params: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    protocols = [p for p in raw_params["ageing"]["protocols"] if p["name"] in names]
    assert [p["name"] for p in protocols] == names, "protocol renamed in params.yaml"
    return protocols


def _ageing(raw_params: dict[str, Any], overrides: dict[str, Any]) -> AgeingParams:
    return parse_params(deep_merge(raw_params, {"ageing": overrides})).ageing


def _quiet(raw_params: dict[str, Any]) -> dict[str, Any]:
    """Overrides that switch off the cell-to-cell spread and the measurement noise."""
    section = raw_params["ageing"]
    return {
        "spread": dict.fromkeys(section["spread"], 0.0),
        "noise": dict.fromkeys(section["noise"], 0.0),
    }


def _fleet(raw_params: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A small fleet: every chamber, the slow and the fast protocol, one cell each."""
    return {
        "cells_per_condition": 1,
        "protocols": _protocols(raw_params, [SLOW, FAST]),
        "max_cycles": 1500,
        "checkpoint_every": 100,
        **overrides,
    }


@pytest.fixture(scope="module")
def small_params(raw_params: dict[str, Any]) -> AgeingParams:
    return _ageing(raw_params, _fleet(raw_params))


@pytest.fixture(scope="module")
def small(small_params: AgeingParams) -> AgeingData:
    """The small fleet with the project's spread and noise."""
    return simulate_ageing(small_params)


@pytest.fixture(scope="module")
def quiet(raw_params: dict[str, Any]) -> AgeingData:
    """The small fleet without spread or noise: cells differ only by their conditions."""
    return simulate_ageing(_ageing(raw_params, _fleet(raw_params, **_quiet(raw_params))))


def _cell(data: AgeingData, temperature_c: float, protocol: str) -> str:
    cells = data.cells
    match = cells[(cells["temperature_c"] == temperature_c) & (cells["protocol"] == protocol)]
    assert len(match) == 1
    return str(match[schema.CELL_ID].iat[0])


def _truth_at(data: AgeingData, cell: str, cycle: int, column: str) -> float:
    truth = data.truth
    row = truth[(truth[schema.CELL_ID] == cell) & (truth[schema.CYCLE] == cycle)]
    assert len(row) == 1
    return float(row[column].iat[0])


# --- half-cells against PyBaMM's Chen2020 ---------------------------------------------------------


@pytest.fixture(scope="module")
def chen2020_values() -> Any:
    pybamm = pytest.importorskip("pybamm")
    return pybamm.ParameterValues("Chen2020")


def _evaluate(function: Any, stoichiometry: np.ndarray) -> np.ndarray:
    value = function(stoichiometry)
    if hasattr(value, "evaluate"):  # a pybamm Symbol
        value = value.evaluate()
    return np.asarray(value, dtype=float).reshape(stoichiometry.shape)


@pytest.mark.parametrize(
    ("parameter", "ours"),
    [
        ("Negative electrode OCP [V]", half_cells.u_neg),
        ("Positive electrode OCP [V]", half_cells.u_pos),
    ],
)
def test_half_cell_potentials_are_pybamms(chen2020_values: Any, parameter: str, ours: Any) -> None:
    reference = _evaluate(chen2020_values[parameter], STOICHIOMETRIES)
    np.testing.assert_allclose(ours(STOICHIOMETRIES), reference, rtol=0.0, atol=1e-9)


def test_electrode_charges_follow_from_pybamms_set(chen2020_values: Any) -> None:
    values = chen2020_values
    area_m2 = values["Electrode width [m]"] * values["Electrode height [m]"]

    def electrode_ah(side: str) -> float:
        return (
            half_cells.FARADAY_C_PER_MOL
            * values[f"Maximum concentration in {side} electrode [mol.m-3]"]
            * values[f"{side.capitalize()} electrode active material volume fraction"]
            * values[f"{side.capitalize()} electrode thickness [m]"]
            * area_m2
            / 3600.0
        )

    def filled(side: str) -> float:
        return (
            values[f"Initial concentration in {side} electrode [mol.m-3]"]
            / values[f"Maximum concentration in {side} electrode [mol.m-3]"]
        )

    assert electrode_ah("negative") == pytest.approx(Q_NEG_AH, rel=1e-9)
    assert electrode_ah("positive") == pytest.approx(Q_POS_AH, rel=1e-9)
    lithium_ah = filled("negative") * Q_NEG_AH + filled("positive") * Q_POS_AH
    assert lithium_ah == pytest.approx(N_LI_AH, rel=1e-9)


def test_fresh_window_is_pybamms_and_about_five_ah(chen2020_values: Any) -> None:
    from batteryops.physics import chen2020

    x_0, x_100, capacity_ah = half_cells.window(Q_NEG_AH, Q_POS_AH, N_LI_AH)
    ref_x_0, ref_x_100, _, _ = chen2020.stoichiometry_window()
    assert float(x_0) == pytest.approx(ref_x_0, abs=1e-6)
    assert float(x_100) == pytest.approx(ref_x_100, abs=1e-6)
    nominal_ah = chen2020_values["Nominal cell capacity [A.h]"]
    assert nominal_ah == pytest.approx(5.0)
    assert 5.0 <= float(capacity_ah) <= 5.3


# --- half-cells: the window and the degradation modes ---------------------------------------------


def test_window_ends_at_the_cut_off_voltages() -> None:
    x_0, x_100, capacity_ah = half_cells.window(Q_NEG_AH, Q_POS_AH, N_LI_AH)
    voltages = half_cells.full_cell_v(np.array([x_0, x_100]), Q_NEG_AH, Q_POS_AH, N_LI_AH)
    np.testing.assert_allclose(
        voltages, [half_cells.LOWER_CUT_OFF_V, half_cells.UPPER_CUT_OFF_V], atol=1e-6
    )
    discharged_ah, voltage_v = half_cells.discharge_curve(Q_NEG_AH, Q_POS_AH, N_LI_AH, 50)
    assert discharged_ah[0] == 0.0
    assert discharged_ah[-1] == pytest.approx(float(capacity_ah))
    assert voltage_v[0] == pytest.approx(half_cells.UPPER_CUT_OFF_V, abs=1e-6)
    assert voltage_v[-1] == pytest.approx(half_cells.LOWER_CUT_OFF_V, abs=1e-6)
    assert np.all(np.diff(discharged_ah) > 0) and np.all(np.diff(voltage_v) < 0)


def test_loss_of_lithium_lowers_capacity_and_x_100() -> None:
    _, fresh_x_100, fresh_ah = half_cells.window(Q_NEG_AH, Q_POS_AH, N_LI_AH)
    _, x_100, capacity_ah = half_cells.window(Q_NEG_AH, Q_POS_AH, 0.95 * N_LI_AH)
    assert capacity_ah < fresh_ah
    assert x_100 < fresh_x_100


def test_loss_of_negative_material_raises_x_100_towards_one() -> None:
    _, fresh_x_100, _ = half_cells.window(Q_NEG_AH, Q_POS_AH, N_LI_AH)
    lost = np.array([0.0, 0.02, 0.05, 0.08])
    _, x_100, _ = half_cells.window(Q_NEG_AH * (1 - lost), Q_POS_AH, N_LI_AH)
    assert x_100[0] == pytest.approx(float(fresh_x_100))
    assert np.all(np.diff(x_100) > 0) and np.all(x_100 < 1.0)


def test_a_negative_too_small_for_its_lithium_is_full_at_x_one() -> None:
    _, x_100, capacity_ah = half_cells.window(0.8 * Q_NEG_AH, Q_POS_AH, N_LI_AH)
    x_0, _, _ = half_cells.window(0.8 * Q_NEG_AH, Q_POS_AH, N_LI_AH)
    assert float(x_100) == pytest.approx(1.0, abs=1e-6)
    assert float(capacity_ah) == pytest.approx((1.0 - float(x_0)) * 0.8 * Q_NEG_AH, rel=1e-6)


def test_arrhenius_is_one_at_25_c_and_rises_with_temperature() -> None:
    factor = arrhenius(np.array([10.0, 25.0, 40.0]), 30000.0)
    assert factor[1] == pytest.approx(1.0)
    assert factor[0] < 1.0 < factor[2]
    np.testing.assert_allclose(arrhenius(np.array([10.0, 40.0]), -30000.0), 1 / factor[[0, 2]])


# --- simulate_ageing: determinism -----------------------------------------------------------------


def _assert_same(first: AgeingData, second: AgeingData) -> None:
    for name in ("cycles", "curves", "cells", "truth"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))


def test_ageing_is_deterministic_by_seed(raw_params: dict[str, Any]) -> None:
    brief = _ageing(raw_params, _fleet(raw_params, temperatures_c=[25], max_cycles=40))
    first = simulate_ageing(brief)
    _assert_same(first, simulate_ageing(brief))
    other = simulate_ageing(brief.model_copy(update={"seed": brief.seed + 1}))
    assert not np.allclose(first.cells["initial_capacity_ah"], other.cells["initial_capacity_ah"])
    assert not np.allclose(first.cycles["capacity_ah"], other.cycles["capacity_ah"])
    assert not np.allclose(first.curves["voltage_v"], other.curves["voltage_v"])


# --- simulate_ageing: the contract ----------------------------------------------------------------


def test_cells_are_one_row_per_condition(small: AgeingData, small_params: AgeingParams) -> None:
    cells = small.cells
    assert list(cells.columns) == TRUTH_CELL_COLUMNS
    assert cells[schema.CELL_ID].is_unique
    conditions = {(t, p.name) for t in small_params.temperatures_c for p in small_params.protocols}
    assert set(zip(cells["temperature_c"], cells["protocol"], strict=True)) == conditions
    assert set(small.cycles[schema.CELL_ID]) == set(cells[schema.CELL_ID])


def test_cycles_follow_the_cycle_contract(small: AgeingData) -> None:
    cycles = small.cycles
    assert list(cycles.columns) == schema.CYCLE_COLUMNS
    assert not cycles.duplicated(schema.CYCLE_KEYS).any()
    pd.testing.assert_frame_equal(cycles, cycles.sort_values(schema.CYCLE_KEYS, ignore_index=True))
    by_cell = cycles.groupby(schema.CELL_ID)
    assert (by_cell[schema.CYCLE].min() == 0).all()
    # consecutive cycles, no gaps
    assert (by_cell[schema.CYCLE].diff().dropna() == 1).all()
    for column in ("charge_throughput_ah", "discharge_throughput_ah", "time_s"):
        assert (by_cell[column].diff().dropna() > 0).all(), column
    first = by_cell.head(1)
    np.testing.assert_allclose(first["discharge_throughput_ah"], first["capacity_ah"])
    assert (cycles["charge_throughput_ah"] >= cycles["discharge_throughput_ah"]).all()
    assert (cycles["depth_of_discharge"] == 1.0).all()
    assert cycles[schema.CYCLE_SIGNALS].notna().all().all()


def test_cycles_carry_each_cells_protocol_and_check_ups_the_reference_rate(
    small: AgeingData, small_params: AgeingParams
) -> None:
    merged = small.cycles.merge(small.cells, on=schema.CELL_ID, suffixes=("", "_cell"))
    checkup = merged[schema.CYCLE] % small_params.checkpoint_every == 0
    assert checkup.any() and (~checkup).any()
    np.testing.assert_array_equal(merged["charge_c_rate"], merged["charge_c_rate_cell"])
    ageing = merged[~checkup]
    np.testing.assert_array_equal(ageing["discharge_c_rate"], ageing["discharge_c_rate_cell"])
    np.testing.assert_array_equal(ageing["depth_of_discharge"], ageing["depth_of_discharge_cell"])
    assert (merged.loc[checkup, "discharge_c_rate"] == small_params.curve_c_rate).all()
    assert (merged.loc[checkup, "depth_of_discharge"] == 1.0).all()
    # the chamber plus self-heating, never below the chamber by more than the noise
    assert (merged["temperature_c"] > merged["temperature_c_cell"] - 2.0).all()
    assert (merged["temperature_c"] < merged["temperature_c_cell"] + 5.0).all()
    # ambient_c is the chamber itself, and the cells run above it
    np.testing.assert_array_equal(merged["ambient_c"], merged["temperature_c_cell"])
    heating = merged["temperature_c"] - merged["ambient_c"]
    assert heating.groupby(merged[schema.CELL_ID]).mean().gt(0.3).all()


def test_curves_are_discharges_between_the_cut_offs(
    small: AgeingData, small_params: AgeingParams
) -> None:
    curves = small.curves
    assert list(curves.columns) == schema.CURVE_COLUMNS
    assert curves["voltage_v"].between(2.4, 4.25).all()
    for (cell, cycle), curve in curves.groupby(schema.CYCLE_KEYS):
        assert len(curve) == small_params.curve_points, (cell, cycle)
        assert curve["capacity_ah"].iat[0] == 0.0
        assert (np.diff(curve["capacity_ah"].to_numpy()) > 0).all(), (cell, cycle)


def test_curves_are_at_every_checkpoint_a_cell_lives_to(
    small: AgeingData, small_params: AgeingParams
) -> None:
    every = small_params.checkpoint_every
    expected = small.cycles[small.cycles[schema.CYCLE] % every == 0][schema.CYCLE_KEYS]
    got = small.curves[schema.CYCLE_KEYS].drop_duplicates(ignore_index=True)
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True))


def test_truth_starts_at_one_and_never_recovers(small: AgeingData) -> None:
    truth = small.truth
    assert list(truth.columns) == TRUTH_CYCLE_COLUMNS
    pd.testing.assert_frame_equal(
        truth[schema.CYCLE_KEYS], small.cycles[schema.CYCLE_KEYS], check_dtype=False
    )
    by_cell = truth.groupby(schema.CELL_ID)
    np.testing.assert_allclose(by_cell[SOH].first(), 1.0, rtol=0, atol=1e-12)
    assert (by_cell[SOH].diff().dropna() <= FLOAT_NOISE).all()
    for mode in ("lli", "lam_neg", "lam_pos"):
        assert (by_cell[mode].first() == 0.0).all(), mode
        assert (by_cell[mode].diff().dropna() >= 0).all(), mode


def test_cells_age_until_end_soh(small: AgeingData, small_params: AgeingParams) -> None:
    last = small.truth.groupby(schema.CELL_ID).tail(1)
    ended = last[SOH] <= small_params.end_soh
    assert (ended | (last[schema.CYCLE] == small_params.max_cycles)).all()
    assert ended.all(), "the small fleet is sized so that every cell reaches end_soh"
    # and the cycle before was still above it
    before = small.truth.groupby(schema.CELL_ID).nth(-2)
    assert (before[SOH] > small_params.end_soh).all()


def test_eol_cycle_is_where_truth_first_reaches_eol_soh(
    small: AgeingData, small_params: AgeingParams
) -> None:
    truth = small.truth
    reached = truth[truth[SOH] <= small_params.eol_soh]
    first = reached.groupby(schema.CELL_ID)[schema.CYCLE].min()
    eol = small.cells.set_index(schema.CELL_ID)[EOL_CYCLE]
    assert eol.notna().all()
    pd.testing.assert_series_equal(
        eol.sort_index(), first.sort_index().astype(float), check_names=False
    )


def test_measured_capacity_is_truth_less_rate_loss_and_noise(small: AgeingData) -> None:
    merged = small.cycles.merge(small.truth, on=schema.CYCLE_KEYS).merge(
        small.cells[[schema.CELL_ID, "initial_capacity_ah"]], on=schema.CELL_ID
    )
    true_ah = merged[SOH] * merged["initial_capacity_ah"]
    ratio = merged["capacity_ah"] / true_ah
    assert ratio.between(0.96, 1.01).all()
    # the resistive loss makes the cycler read low on average, the more the faster
    checkup = merged["discharge_c_rate"] < 0.1
    assert ratio[~checkup].mean() < ratio[checkup].mean() < 1.0


def test_a_partial_cycle_moves_its_window_until_the_cell_cannot(
    raw_params: dict[str, Any],
) -> None:
    protocol = {**_protocols(raw_params, [FAST])[0], "depth_of_discharge": 0.8}
    params = _ageing(
        raw_params, _fleet(raw_params, protocols=[protocol], **_quiet(raw_params), end_soh=0.6)
    )
    data = simulate_ageing(params)
    rows = data.cycles.merge(data.truth, on=schema.CYCLE_KEYS)
    ageing = rows[rows[schema.CYCLE] % params.checkpoint_every != 0]
    window_ah = 0.8 * params.nominal_capacity_ah
    fresh, faded = ageing[ageing[SOH] > 0.85], ageing[ageing[SOH] < 0.75]
    assert len(fresh) and len(faded)
    np.testing.assert_allclose(fresh["capacity_ah"], window_ah)  # the window, not the capacity
    assert (faded["capacity_ah"] < window_ah - 0.1).all()  # the voltage limit ends it early
    assert (ageing["depth_of_discharge"] == 0.8).all()


def test_a_partial_cycle_ages_a_cell_by_its_share_of_a_full_one(
    raw_params: dict[str, Any],
) -> None:
    full = _protocols(raw_params, [FAST])[0]
    half = {**full, "name": "half", "depth_of_discharge": 0.5}
    params = _ageing(raw_params, _fleet(raw_params, protocols=[full, half], **_quiet(raw_params)))
    data = simulate_ageing(params)
    lost = {
        name: 1 - _truth_at(data, _cell(data, 25.0, name), SOH_CYCLE, SOH)
        for name in (FAST, "half")
    }
    assert 0.4 * lost[FAST] < lost["half"] < 0.9 * lost[FAST]


# --- simulate_ageing: physics trends --------------------------------------------------------------


@pytest.mark.parametrize("protocol", [SLOW, FAST])
def test_hotter_chamber_loses_more_lithium(quiet: AgeingData, protocol: str) -> None:
    lli = {t: _truth_at(quiet, _cell(quiet, t, protocol), SOH_CYCLE, "lli") for t in (25.0, 40.0)}
    assert lli[40.0] > 1.2 * lli[25.0]


def test_fast_charge_in_the_cold_plates_more_lithium(quiet: AgeingData) -> None:
    def fast_over_slow(temperature_c: float) -> float:
        fast, slow = (
            _truth_at(quiet, _cell(quiet, temperature_c, p), SOH_CYCLE, "lli") for p in (FAST, SLOW)
        )
        return fast / slow

    assert fast_over_slow(10.0) > 1.1
    # plating, not the charge rate as such: its share falls as the chamber warms
    assert fast_over_slow(10.0) > fast_over_slow(25.0) > fast_over_slow(40.0)


def _fade_per_cycle(truth: pd.DataFrame, start: int, stop: int) -> float:
    soh = truth.set_index(schema.CYCLE)[SOH]
    return float(soh.loc[start] - soh.loc[stop]) / (stop - start)


def _knee_ratio(data: AgeingData, cell: str) -> float:
    """SOH fade per cycle over the 100 cycles before EOL, over that in cycles 100-200."""
    truth = data.truth[data.truth[schema.CELL_ID] == cell]
    eol = int(data.cells.set_index(schema.CELL_ID).loc[cell, EOL_CYCLE])
    return _fade_per_cycle(truth, eol - 100, eol) / _fade_per_cycle(truth, 100, 200)


@pytest.mark.parametrize("protocol", [SLOW, FAST])
def test_the_knee_is_sharper_the_colder_the_chamber(quiet: AgeingData, protocol: str) -> None:
    ratio = {t: _knee_ratio(quiet, _cell(quiet, t, protocol)) for t in (10.0, 25.0, 40.0)}
    # plating, which feeds the knee, rises as the temperature falls
    assert ratio[10.0] > ratio[25.0] > ratio[40.0]
    assert ratio[10.0] > 2.0 and ratio[25.0] > 1.5


@pytest.fixture(scope="module")
def saturating(raw_params: dict[str, Any]) -> tuple[AgeingParams, AgeingData]:
    """One cell that loses negative material but little lithium: its x_100 climbs to knee_x."""
    overrides = _fleet(
        raw_params,
        temperatures_c=[25],
        protocols=_protocols(raw_params, [SLOW]),
        max_cycles=600,
        checkpoint_every=600,
        **_quiet(raw_params),
        rates={
            "sei_calendar_per_sqrt_day": 0.0,
            "sei_cycle_per_sqrt_efc": 0.0,
            "lam_neg_per_cycle": 8e-4,
            "lam_pos_per_cycle": 0.0,
        },
    )
    params = _ageing(raw_params, overrides)
    return params, simulate_ageing(params)


def test_x_100_reaching_knee_x_brings_a_knee(
    saturating: tuple[AgeingParams, AgeingData],
) -> None:
    params, data = saturating
    truth = data.truth
    assert truth["x_100"].iat[0] < params.rates.knee_x < truth["x_100"].max()
    crossing = int(truth.loc[truth["x_100"] > params.rates.knee_x, schema.CYCLE].min())
    eol = int(data.cells[EOL_CYCLE].iat[0])
    assert eol > crossing + 100
    # before the crossing the cell loses only plated lithium; after it, plating runs away
    early = _fade_per_cycle(truth, 0, crossing)
    late = _fade_per_cycle(truth, eol - 100, eol)
    assert late > 5 * early


def test_the_knee_comes_from_plating_past_knee_x(
    saturating: tuple[AgeingParams, AgeingData],
) -> None:
    params, data = saturating
    eol = int(data.cells[EOL_CYCLE].iat[0])
    no_knee = params.rates.model_copy(update={"knee_gain": 0.0})
    without = simulate_ageing(params.model_copy(update={"rates": no_knee, "max_cycles": eol}))
    soh_with = _truth_at(data, data.cells[schema.CELL_ID].iat[0], eol, SOH)
    soh_without = _truth_at(without, without.cells[schema.CELL_ID].iat[0], eol, SOH)
    assert soh_without > soh_with + 0.01
    # until x_100 reaches knee_x the two cells are the same
    crossing = int(data.truth.loc[data.truth["x_100"] > params.rates.knee_x, schema.CYCLE].min())
    np.testing.assert_allclose(
        data.truth[SOH].iloc[: crossing + 1], without.truth[SOH].iloc[: crossing + 1]
    )
