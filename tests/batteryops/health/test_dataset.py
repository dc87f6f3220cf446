"""batteryops.health.dataset: SOH and RUL labels, leak-free features and splits, and the metrics."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batteryops.core import schema
from batteryops.core.config import CheckupParams, HealthParams
from batteryops.health import dataset

REFERENCE_CYCLES = 3
NOMINAL_AH = 5.0
EOL_SOH = 0.8
CHECKUP = CheckupParams(min_depth=0.9, max_c_rate=0.25)


@pytest.fixture(scope="module", autouse=True)
def _health(params) -> None:  # noqa: ANN001 (the session's Params)
    global HEALTH
    HEALTH = params.health.model_copy(
        update={"reference_cycles": REFERENCE_CYCLES, "checkup": CHECKUP}
    )


HEALTH: HealthParams


def _cycles(capacities: dict[str, list[float]], stride: int = 1) -> pd.DataFrame:
    """Canonical cycle rows, one per capacity, every ``stride`` cycles from 0 (sorted)."""
    rows = []
    for cell, values in capacities.items():
        for k, capacity_ah in enumerate(values):
            cycle = k * stride
            rows.append(
                {
                    schema.CELL_ID: cell,
                    schema.CYCLE: cycle,
                    "temperature_c": 25.0,
                    "capacity_ah": capacity_ah,
                    "resistance_ohm": 0.025,
                    "charge_throughput_ah": NOMINAL_AH * (cycle + 1),
                    "discharge_throughput_ah": NOMINAL_AH * (cycle + 1),
                    "charge_c_rate": 0.5,
                    "discharge_c_rate": 1.0,
                    "depth_of_discharge": 1.0,
                    "time_s": 3.0 * 3600.0 * (cycle + 1),
                }
            )
    return pd.DataFrame(rows, columns=schema.CYCLE_COLUMNS)


def _ageing_cycles(cells: int = 2, cycles_per_cell: int = 60, seed: int = 0) -> pd.DataFrame:
    """Noisy fading cells with drifting resistance and temperature, sorted by (cell, cycle)."""
    rng = np.random.default_rng(seed)
    n = np.arange(cycles_per_cell, dtype=float)
    capacities = {
        f"C{k}": list(5.0 - 0.004 * (k + 1) * n + rng.normal(0.0, 0.01, n.size))
        for k in range(cells)
    }
    frame = _cycles(capacities)
    frame["resistance_ohm"] = 0.025 * (1 + 1e-3 * frame[schema.CYCLE]) + rng.normal(
        0.0, 2e-4, len(frame)
    )
    frame["temperature_c"] = 25.0 + rng.normal(0.0, 0.5, len(frame))
    frame["discharge_throughput_ah"] = frame.groupby(schema.CELL_ID)["capacity_ah"].cumsum()
    return frame


# --- labels ---------------------------------------------------------------------------------------


def test_rul_counts_cycles_to_the_first_eol() -> None:
    cycles = _cycles({"A": [0.0] * 7, "B": [0.0] * 4, "C": [0.0] * 4}, stride=10)
    soh = pd.Series(
        [1.0, 0.95, 0.9, 0.85, 0.8, 0.82, 0.75]  # A: EOL at cycle 40 (<= counts), then recovers
        + [1.0, 0.9, 0.85, 0.81]  # B: never reaches EOL
        + [0.9, 0.79, 0.7, 0.6],  # C: EOL at cycle 10
        index=cycles.index,
    )
    rul = dataset.rul_labels(cycles, soh, EOL_SOH)
    assert rul.name == dataset.RUL
    expected = [40, 30, 20, 10, 0, np.nan, np.nan] + [np.nan] * 4 + [10, 0, np.nan, np.nan]
    np.testing.assert_array_equal(rul.to_numpy(), np.array(expected, dtype=float))


def test_rul_keeps_the_rows_index() -> None:
    cycles = _cycles({"A": [0.0] * 3}).set_axis([7, 3, 5])
    rul = dataset.rul_labels(cycles, pd.Series([0.9, 0.8, 0.7], index=cycles.index), EOL_SOH)
    pd.testing.assert_series_equal(
        rul, pd.Series([1.0, 0.0, np.nan], index=[7, 3, 5], name=dataset.RUL)
    )


def test_reference_capacity_is_the_median_of_the_first_checkups() -> None:
    cycles = _cycles({"A": [5.0, 5.2, 4.9, 1.0, 1.0], "B": [4.0, 4.2]})
    checkups = dataset.checkups(cycles, CHECKUP)
    assert checkups.tolist() == [True, True, True, False, False, True, True]
    reference = dataset.reference_capacity(cycles, REFERENCE_CYCLES, checkups)
    assert reference.to_dict() == {"A": 5.0, "B": pytest.approx(4.1)}


def _with_checkups(capacities: list[float], every: int, depth: float) -> pd.DataFrame:
    """One cell: a C/5 full check-up every ``every`` cycles, 1C ageing cycles of ``depth``."""
    cycles = _cycles({"A": capacities})
    checkup = cycles[schema.CYCLE] % every == 0
    cycles["discharge_c_rate"] = np.where(checkup, 0.2, 1.0)
    cycles["depth_of_discharge"] = np.where(checkup, 1.0, depth)
    return cycles


def test_checkups_are_the_low_rate_full_discharges() -> None:
    # full 1C cycles at 5 Ah between C/5 check-ups at 5.05 Ah: only the C/5 ones count
    cycles = _with_checkups([5.05, 5.0, 5.0, 5.04, 4.99, 4.98, 5.03], every=3, depth=1.0)
    assert dataset.checkups(cycles, CHECKUP).tolist() == [1, 0, 0, 1, 0, 0, 1]
    assert dataset.near_full(cycles, CHECKUP).all()
    # a cell with no low-rate cycle has each near-full discharge as its check-up
    one_rate = cycles.assign(discharge_c_rate=1.0)
    assert dataset.checkups(one_rate, CHECKUP).all()


def test_a_partial_cycle_is_neither_full_nor_a_checkup() -> None:
    # 80 % windows: even once the faded cell (4.3 Ah) nearly fills one (4.0 Ah), the stated
    # depth marks it partial
    cycles = _with_checkups([4.3, 4.0, 4.0, 4.3, 4.0, 4.0], every=3, depth=0.8)
    assert dataset.near_full(cycles, CHECKUP).tolist() == [1, 0, 0, 1, 0, 0]
    # without a stated depth, the delivered charge alone tells a partial cycle
    unstated = _with_checkups([5.0, 3.0, 3.0, 4.9, 3.0, 3.0], every=3, depth=0.8)
    unstated["depth_of_discharge"] = np.nan
    assert dataset.near_full(unstated, CHECKUP).tolist() == [1, 0, 0, 1, 0, 0]


def test_soh_without_truth_is_measured_at_checkups_and_interpolated_between() -> None:
    cycles = _with_checkups([5.0, 4.0, 4.0, 4.0, 4.8, 4.0, 4.0], every=4, depth=0.8)
    soh = dataset.soh_labels(cycles, 1, CHECKUP)
    assert soh.name == dataset.SOH
    # measured at cycles 0 and 4, linear between, nothing after the last check-up
    np.testing.assert_allclose(soh.to_numpy(), [1.0, 0.99, 0.98, 0.97, 0.96, np.nan, np.nan])


def test_soh_with_truth_is_the_truths_soh_row_by_row() -> None:
    cycles = _cycles({"A": [5.0, 4.0, 3.0], "B": [1.0, 1.0]}).set_axis([10, 11, 12, 13, 14])
    truth = pd.DataFrame(
        {
            schema.CELL_ID: ["B", "A", "A", "B", "A", "Z"],
            schema.CYCLE: [0, 2, 0, 5, 1, 0],  # shuffled; B's cycle 1 missing; extra rows
            dataset.SOH: [0.5, 0.3, 1.0, 0.1, 0.7, 0.2],
            "lli": 0.0,
        }
    )
    soh = dataset.soh_labels(cycles, REFERENCE_CYCLES, CHECKUP, truth)
    pd.testing.assert_series_equal(
        soh, pd.Series([1.0, 0.7, 0.3, 0.5, np.nan], index=cycles.index, name=dataset.SOH)
    )


# --- summary features -----------------------------------------------------------------------------


def _perturb_after(cycles: pd.DataFrame, cycle: int, seed: int) -> pd.DataFrame:
    """A copy whose rows after ``cycle`` carry other values in every signal."""
    rng = np.random.default_rng(seed)
    changed = cycles.copy()
    later = changed[schema.CYCLE] > cycle
    for column in schema.CYCLE_SIGNALS:
        scale = rng.uniform(0.5, 1.5, int(later.sum()))
        changed.loc[later, column] = changed.loc[later, column] * scale
    return changed


def _features(cycles: pd.DataFrame) -> pd.DataFrame:
    return dataset.summary_features(cycles, HEALTH)


@pytest.mark.parametrize("cycle", [REFERENCE_CYCLES - 1, 10, 30, 58])
def test_summary_features_do_not_look_ahead(cycle: int) -> None:
    cycles = _ageing_cycles()
    past = cycles[schema.CYCLE] <= cycle
    before, after = _features(cycles), _features(_perturb_after(cycles, cycle, seed=cycle))
    pd.testing.assert_frame_equal(before[past], after[past])
    assert not before[~past].equals(after[~past])


def test_summary_features_do_not_look_ahead_within_the_reference_cycles() -> None:
    cycles = _ageing_cycles()
    cycle = 0
    past = cycles[schema.CYCLE] <= cycle
    before, after = _features(cycles), _features(_perturb_after(cycles, cycle, seed=1))
    pd.testing.assert_frame_equal(before[past], after[past])


def test_no_summary_feature_equals_or_derives_from_the_chamber_temperature() -> None:
    # ambient_c places cells in the holdout; a feature that read it (a copy, an Arrhenius term,
    # a mean) would move when it is scrambled.
    cycles = _ageing_cycles()
    scrambled = cycles.assign(ambient_c=np.random.default_rng(3).uniform(-20.0, 60.0, len(cycles)))
    before, after = _features(cycles), _features(scrambled)
    pd.testing.assert_frame_equal(before, after)
    assert not [name for name in after.columns if "ambient" in name]


@pytest.mark.parametrize("cycle", [0, 1, REFERENCE_CYCLES, 20, 59])
def test_no_feature_of_a_row_is_its_own_capacity(cycle: int) -> None:
    # The label of a row is its capacity (over the reference): change that discharge alone, as
    # the cycler would have counted it, and nothing the row is judged from may move.
    cycles = _ageing_cycles()
    changed = cycles.copy()
    row = changed[schema.CYCLE] == cycle
    changed.loc[row, "capacity_ah"] *= 0.9
    changed["discharge_throughput_ah"] = changed.groupby(schema.CELL_ID)["capacity_ah"].cumsum()
    before, after = _features(cycles), _features(changed)
    pd.testing.assert_frame_equal(before[row], after[row])


def test_summary_features_of_a_linear_fade() -> None:
    # Every cycle a full 1C discharge: each is a check-up (the cell has no lower rate).
    slope_ah = -0.01
    capacities = list(5.0 + slope_ah * np.arange(60.0))
    cycles = _cycles({"A": capacities, "B": capacities})
    cycles["discharge_throughput_ah"] = cycles.groupby(schema.CELL_ID)["capacity_ah"].cumsum()
    feats = _features(cycles)
    assert feats.index.equals(cycles.index)
    reference_ah = float(np.median(capacities[:REFERENCE_CYCLES]))
    later = cycles[schema.CYCLE] > REFERENCE_CYCLES  # earlier rows: the median so far
    previous = (cycles["capacity_ah"] - slope_ah) / reference_ah  # the cycle before, measured
    np.testing.assert_allclose(feats.loc[later, dataset.CHECKUP_SOH], previous[later])
    np.testing.assert_allclose(feats.loc[later, "cycles_since_checkup"], 1.0)
    first = cycles[schema.CYCLE] == 0
    assert feats.loc[first, dataset.CHECKUP_SOH].isna().all()  # nothing measured before
    before = cycles["discharge_throughput_ah"] - cycles["capacity_ah"]
    np.testing.assert_allclose(feats.loc[later, "efc"], before[later] / reference_ah)
    np.testing.assert_allclose(feats["days"], cycles["time_s"] / 86400.0)
    np.testing.assert_allclose(feats["arrhenius"], 1.0)
    np.testing.assert_allclose(feats["resistance_ratio"], 1.0)
    fade = feats["checkup_fade_per_100"]
    settled = cycles[schema.CYCLE] > REFERENCE_CYCLES + dataset.FADE_CHECKUPS
    np.testing.assert_allclose(fade[settled], 100.0 * slope_ah / reference_ah, rtol=1e-6)
    # carried to now, the fade line is the truth: one cycle on from the last check-up
    projected = feats["checkup_soh_projected"]
    np.testing.assert_allclose(
        projected[settled], cycles.loc[settled, "capacity_ah"] / reference_ah
    )
    assert feats["full_cycle_soh"].isna().all()  # every full cycle is a check-up


def test_the_coulomb_count_is_of_the_field_cycles_at_their_own_rate() -> None:
    capacities = [5.05, 5.0, 4.99, 5.02, 4.97, 4.96, 4.99, 4.94]
    cycles = _with_checkups(capacities, every=3, depth=1.0)
    feats = _features(cycles)
    # row 5: the last field full cycle before it is row 4 (4.97 Ah), the last check-up row 3
    row = feats.loc[5]
    assert row["full_cycle_soh"] == pytest.approx(4.97 / 5.05)
    assert row["cycles_since_full_cycle"] == 1
    assert row[dataset.CHECKUP_SOH] == pytest.approx(5.02 / 5.05)
    assert row["cycles_since_checkup"] == 2
    assert row[dataset.COULOMB_COUNT_GAP] == pytest.approx((4.97 - 5.02) / 5.05)


def test_a_cell_fading_fast_keeps_its_full_discharges_and_a_glitch_drops_none() -> None:
    capacities = list(5.0 - 0.03 * np.arange(40.0))  # 24 % in 40 cycles
    capacities[10] = 9.0  # one impossible reading
    cycles = _cycles({"A": capacities})
    full = dataset.near_full(cycles, CHECKUP)
    assert full.all()


def test_summary_features_of_a_single_cell() -> None:
    cycles = _ageing_cycles(cells=1)
    twin = cycles.assign(**{schema.CELL_ID: "twin"})
    with_twin = _features(pd.concat([cycles, twin], ignore_index=True))
    pd.testing.assert_frame_equal(_features(cycles), with_twin.iloc[: len(cycles)])


def test_the_soh_features_are_summary_features() -> None:
    feats = _features(_ageing_cycles())
    assert set(dataset.SOH_FEATURES) <= set(feats.columns)
    assert set(dataset.SOH_BASELINES.values()) <= set(feats.columns)


# --- curve features carried between checkpoints ---------------------------------------------------


def test_curve_features_are_carried_as_of_the_last_checkpoint() -> None:
    cycles = _cycles({"A": [5.0] * 12, "B": [5.0] * 12})
    cycles = cycles.set_axis(np.arange(100, 100 + len(cycles))[::-1])  # an index not in order
    curve_features = pd.DataFrame(
        {
            schema.CELL_ID: ["B", "A", "A", "B", "A", "Z"],
            schema.CYCLE: [9, 10, 0, 3, 5, 0],
            "peak_v": [9.0, 20.0, 10.0, 3.0, 15.0, -1.0],
        }
    )
    carried = dataset.carry_curve_features(cycles, curve_features)
    assert carried.index.equals(cycles.index)
    assert list(carried.columns) == ["peak_v", "cycles_since_curve"]
    n = np.arange(12.0)
    expected_a = np.select([n >= 10, n >= 5], [20.0, 15.0], 10.0)
    expected_b = np.select([n >= 9, n >= 3], [9.0, 3.0], np.nan)
    since_a = n - np.select([n >= 10, n >= 5], [10.0, 5.0], 0.0)
    since_b = n - np.select([n >= 9, n >= 3], [9.0, 3.0], np.nan)
    np.testing.assert_array_equal(carried["peak_v"], np.concatenate([expected_a, expected_b]))
    np.testing.assert_array_equal(carried["cycles_since_curve"], np.concatenate([since_a, since_b]))


# --- splits ---------------------------------------------------------------------------------------


def test_temperature_holdout_splits_by_chamber_with_tolerance() -> None:
    cells = pd.DataFrame(
        {
            schema.CELL_ID: ["a", "b", "c", "d", "e", "f"],
            "temperature_c": [10.4, 41.0, 24.0, 27.5, 27.6, 32.0],
        }
    )
    split = dataset.temperature_holdout(cells, [10.0, 40.0], [25.0])
    assert split == {
        "a": "train",
        "b": "train",
        "c": "test",
        "d": "test",  # 2.5 C off: within the tolerance
        "e": "unused",
        "f": "unused",
    }
    wider = dataset.temperature_holdout(cells, [10.0, 40.0], [25.0], tolerance_c=8.0)
    assert wider["e"] == "test" and wider["f"] == "test"


def test_temperature_holdout_places_a_cell_by_its_chamber_where_known() -> None:
    # NASA-like: cells run 2.5-4.5 C above their chamber; "f" states no chamber.
    cells = pd.DataFrame(
        {
            schema.CELL_ID: ["a", "b", "c", "d", "e", "f"],
            "temperature_c": [6.8, 28.5, 28.4, 46.0, 27.5, 27.5],
            "ambient_c": [4.0, 24.0, 24.0, 43.0, 44.0, np.nan],
        }
    )
    split = dataset.temperature_holdout(cells, [4.0, 43.0], [24.0])
    assert split == {
        "a": "train",
        "b": "test",  # 28.5 C measured, 4.5 C off 24: the chamber places it
        "c": "test",
        "d": "train",
        "e": "train",  # its chamber, not its 27.5 C
        "f": "unused",  # no chamber known: its measured 27.5 C is 3.5 C off 24
    }
    by_measured = dataset.temperature_holdout(cells.drop(columns="ambient_c"), [4.0, 43.0], [24.0])
    assert list(by_measured.values()) == ["unused"] * 6  # what NASA's cells met before


def test_cell_temperatures_are_the_mean_measured_and_the_median_chamber() -> None:
    cycles = pd.DataFrame(
        {
            schema.CELL_ID: ["b", "b", "b", "a", "a", "c"],
            "temperature_c": [30.0, 32.0, 34.0, 6.0, 8.0, 20.0],
            "ambient_c": [24.0, 44.0, 44.0, 4.0, np.nan, np.nan],
        }
    )
    cells = dataset.cell_temperatures(cycles)
    assert cells[schema.CELL_ID].tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(cells["temperature_c"], [7.0, 32.0, 20.0])
    np.testing.assert_allclose(cells["ambient_c"], [4.0, 44.0, np.nan])
    np.testing.assert_allclose(dataset.placing_temperature(cells), [4.0, 44.0, 20.0])
    # Cycle data written before the column: every cell by its measured temperature.
    older = dataset.cell_temperatures(cycles.drop(columns="ambient_c"))
    assert older["ambient_c"].isna().all()
    np.testing.assert_allclose(dataset.placing_temperature(older), [7.0, 32.0, 20.0])


def test_a_cell_near_both_sides_is_on_one_only() -> None:
    cells = pd.DataFrame({schema.CELL_ID: ["x"], "temperature_c": [22.5]})
    split = dataset.temperature_holdout(cells, [20.0], [25.0])
    assert split["x"] in {"train", "test"}


def _check_folds(cells: list[str], folds: int) -> None:
    made = list(dataset.cell_folds(cells, folds))
    assert len(made) == min(folds, len(cells))
    held_out: Counter[str] = Counter()
    for train, test in made:
        dataset.assert_no_leak(train, test)
        assert test and set(train) | set(test) == set(cells)
        assert len(train) == len(cells) - len(test)
        assert len(test) in {len(cells) // len(made), -(-len(cells) // len(made))}  # balanced
        held_out.update(test)
    assert held_out == Counter(cells)  # every cell held out exactly once


def test_protocol_holdout_keeps_each_charge_protocol_on_one_side() -> None:
    # Six protocols by charge time (two cells each, within 1 %), one cell without a charge time.
    minutes = {"a": 10.0, "b": 10.05, "c": 11.0, "d": 11.1, "e": 12.0, "f": 12.0}
    minutes |= {"g": 13.0, "h": 13.1, "i": 14.0, "j": 14.05, "k": 15.0, "l": 15.0}
    cycles = _cycles({cell: [1.0] * 3 for cell in [*minutes, "z"]})
    cycles["charge_time_s"] = cycles[schema.CELL_ID].map(minutes).mul(60.0)
    split = dataset.protocol_holdout(cycles, test_every=3)
    assert split["z"] == "unused"
    test = sorted(cell for cell, side in split.items() if side == "test")
    assert test == ["e", "f", "k", "l"]  # protocols 3 and 6 of 6, whole
    dataset.assert_no_leak([c for c, side in split.items() if side == "train"], test)


def test_as_many_folds_as_cells_is_leave_one_cell_out() -> None:
    cells = ["T10-C3-C2-01", "T25-C3-C2-01", "T40-1C-1C-01"]
    _check_folds(cells, 8)
    assert [test for _, test in dataset.cell_folds(cells, 3)] == [[c] for c in cells]
    assert list(dataset.cell_folds(["only"], 8)) == [([], ["only"])]


def test_cells_are_dealt_round_robin() -> None:
    cells = [f"T{t}-{i}" for t in (10, 25, 40) for i in range(4)]
    folds = [test for _, test in dataset.cell_folds(cells, 4)]
    # Each fold holds cells of every chamber (the ids sort by chamber).
    assert all({c.split("-")[0] for c in test} == {"T10", "T25", "T40"} for test in folds)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=25, unique=True),
    st.integers(min_value=1, max_value=30),
)
def test_cell_folds_never_leak(cells: list[str], folds: int) -> None:
    _check_folds(cells, folds)


def test_assert_no_leak_names_the_shared_cell() -> None:
    dataset.assert_no_leak(["a", "b"], ["c"])
    dataset.assert_no_leak([], ["c"])
    with pytest.raises(AssertionError, match=r"cells in both train and test: \['b'\]"):
        dataset.assert_no_leak(["a", "b"], pd.Series(["b", "c"]))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=20, unique=True),
    st.lists(st.text(min_size=1, max_size=8), max_size=20),
    st.data(),
)
def test_assert_no_leak_catches_any_shared_cell(
    train: list[str], others: list[str], data: st.DataObject
) -> None:
    shared = data.draw(st.sampled_from(train))
    test = [c for c in others if c not in train] + [shared]
    with pytest.raises(AssertionError, match="cells in both train and test") as raised:
        dataset.assert_no_leak(train, test)
    assert repr(shared) in str(raised.value)


# --- metrics and classes --------------------------------------------------------------------------


def test_soh_metrics_by_hand() -> None:
    true = np.array([1.0, 0.9, 0.8, 0.7])
    pred = np.array([0.98, 0.92, 0.76, 0.70])  # errors -2, +2, -4, 0 points
    metrics = dataset.soh_metrics(true, pred)
    assert metrics == {
        "rmse_pct": pytest.approx(np.sqrt((4 + 4 + 16 + 0) / 4)),
        "mae_pct": pytest.approx(2.0),
        "mape_pct": pytest.approx((2 / 1.0 + 2 / 0.9 + 4 / 0.8 + 0) / 4),
        "r2": pytest.approx(1 - 0.0024 / 0.05),
        "within_3pct": 0.75,
        "within_5pct": 1.0,
        "n": 4,
    }


def test_soh_metrics_of_a_constant_truth_has_no_r2() -> None:
    metrics = dataset.soh_metrics(np.full(3, 0.9), np.array([0.9, 0.91, 0.89]))
    assert np.isnan(metrics["r2"])
    assert metrics["within_3pct"] == 1.0


def test_rul_metrics_ignore_unknown_and_zero_truth() -> None:
    true = np.array([100.0, np.nan, 0.0, 50.0, 200.0])
    pred = np.array([110.0, 5.0, 7.0, 40.0, 200.0])
    metrics = dataset.rul_metrics(true, pred)
    assert metrics == {
        "rmse_cycles": pytest.approx(np.sqrt(200.0 / 3)),
        "mape_pct": pytest.approx(10.0),
        "n": 3,
    }


def test_rul_metrics_with_nothing_to_judge() -> None:
    metrics = dataset.rul_metrics(np.array([np.nan, 0.0]), np.array([1.0, 2.0]))
    assert metrics["n"] == 0
    assert np.isnan(metrics["rmse_cycles"]) and np.isnan(metrics["mape_pct"])


def test_health_class_thresholds() -> None:
    soh = np.array([1.0, 0.9, 0.899, 0.8, 0.799, 0.5])
    classes = dataset.health_class(soh, watch_below=0.9, replace_below=0.8)
    assert classes.tolist() == ["healthy", "healthy", "watch", "watch", "replace", "replace"]


def test_soh_share_within_3pct_is_bounded_over_cells_not_rows() -> None:
    true = np.array([0.95, 0.94, 0.93, 0.95, 0.94, 0.93])
    pred = true + np.array([0.0, 0.01, 0.05, 0.0, 0.0, 0.0])  # one row of cell A is off by 5
    cells = np.array(["A", "A", "A", "B", "B", "B"])
    metrics = dataset.soh_metrics(true, pred, cells)
    assert metrics["within_3pct"] == pytest.approx(5 / 6)
    assert (metrics["cells"], metrics["cells_within_3pct"]) == (2, 1)
    # One of two cells: the 95 % lower bound of the share is 1 - 0.95 ** 0.5.
    assert metrics["cells_within_3pct_lower95"] == pytest.approx(1 - 0.95**0.5)
    assert "cells" not in dataset.soh_metrics(true, pred)


def test_rul_mape_bound_over_cells_lies_above_the_mean() -> None:
    true = np.array([400.0, 500.0, 600.0, 700.0])
    pred = true * np.array([1.1, 0.9, 1.05, 0.95])
    metrics = dataset.rul_metrics(true, pred, one_per_cell=True)
    assert metrics["mape_pct"] == pytest.approx(7.5)
    # mean 7.5, sd 2.887 over 4 cells: 7.5 + t(0.95, 3) x 2.887 / 2 = 10.897
    assert metrics["mape_pct_upper95"] == pytest.approx(10.897, abs=1e-3)
    assert "mape_pct_upper95" not in dataset.rul_metrics(true, pred)
