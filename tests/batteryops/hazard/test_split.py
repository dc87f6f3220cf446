"""batteryops.hazard.split: grouped, stratified split of modules with no module in two splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import Params, SplitParams
from batteryops.hazard.split import SPLITS, SplitLeakError, assign_splits, check_no_leak
from tests.batteryops.conftest import TinyFleet

PARAMS = SplitParams(
    seed=11,
    validation_fraction=0.2,
    test_fraction=0.2,
    healthy_validation_fraction=0.2,
    healthy_test_fraction=0.2,
)


def _truth(modules: int = 20, runaways: int = 6) -> pd.DataFrame:
    pnr = np.full(modules, np.nan)
    pnr[:runaways] = 1000.0 + np.arange(runaways)
    return pd.DataFrame(
        {schema.MODULE_ID: [f"R01-M{i + 1:02d}" for i in range(modules)], "pnr_time": pnr}
    )


def test_every_module_assigned_exactly_once() -> None:
    truth = _truth()
    assignment = assign_splits(truth, PARAMS)
    assert sorted(assignment) == sorted(truth[schema.MODULE_ID])
    assert set(assignment.values()) == set(SPLITS)


def test_split_sizes_follow_the_fractions() -> None:
    assignment = assign_splits(_truth(modules=40, runaways=10), PARAMS)
    counts = pd.Series(assignment).value_counts()
    # Each stratum is split on its own: 10 runaways -> 2/2/6, 30 others -> 6/6/18.
    assert counts["test"] == 8
    assert counts["validation"] == 8
    assert counts["train"] == 24


@pytest.mark.parametrize("runaways", [3, 4, 6])
def test_runaways_in_every_split(runaways: int) -> None:
    truth = _truth(modules=12, runaways=runaways)
    assignment = assign_splits(truth, PARAMS)
    runaway_ids = truth.loc[truth["pnr_time"].notna(), schema.MODULE_ID]
    assert {assignment[m] for m in runaway_ids} == set(SPLITS)
    healthy_ids = truth.loc[truth["pnr_time"].isna(), schema.MODULE_ID]
    assert {assignment[m] for m in healthy_ids} == set(SPLITS)


def test_runaways_spread_on_the_tiny_fleet(tiny_fleet: TinyFleet, tiny_params: Params) -> None:
    assignment = assign_splits(tiny_fleet.truth, tiny_params.featurize.split)
    runaway_ids = tiny_fleet.truth.loc[tiny_fleet.truth["pnr_time"].notna(), schema.MODULE_ID]
    assert {assignment[m] for m in runaway_ids} == set(SPLITS)


def test_deterministic_by_seed() -> None:
    truth = _truth(modules=30, runaways=8)
    assert assign_splits(truth, PARAMS) == assign_splits(truth, PARAMS)


def test_other_seed_gives_another_split() -> None:
    truth = _truth(modules=30, runaways=8)
    other = PARAMS.model_copy(update={"seed": 12})
    assert assign_splits(truth, PARAMS) != assign_splits(truth, other)


def test_runaway_split_does_not_depend_on_the_healthy_modules() -> None:
    # Each stratum is drawn from its own stream, so its split depends only on its own modules.
    truth = _truth(modules=20, runaways=6)
    more = _truth(modules=26, runaways=6)
    first, second = assign_splits(truth, PARAMS), assign_splits(more, PARAMS)
    for module in truth.loc[truth["pnr_time"].notna(), schema.MODULE_ID]:
        assert first[module] == second[module]


def test_check_no_leak_accepts_a_clean_frame() -> None:
    frame = pd.DataFrame(
        {schema.MODULE_ID: ["A", "A", "B", "C"], schema.SPLIT: ["train", "train", "test", "test"]}
    )
    check_no_leak(frame)


def test_check_no_leak_names_the_leaked_module() -> None:
    frame = pd.DataFrame(
        {
            schema.MODULE_ID: ["R01-M01", "R01-M01", "R01-M02", "R01-M03"],
            schema.SPLIT: ["train", "test", "validation", "validation"],
        }
    )
    with pytest.raises(SplitLeakError, match=r"modules in more than one split: \['R01-M01'\]"):
        check_no_leak(frame)


def test_check_no_leak_rejects_unknown_split_names() -> None:
    with pytest.raises(SplitLeakError, match=r"unknown split names \['holdout'\]"):
        check_no_leak({"A": "train", "B": "holdout"})


def test_split_leak_error_is_an_assertion() -> None:
    assert issubclass(SplitLeakError, AssertionError)


def test_runaways_reach_train_with_large_holdout_fractions() -> None:
    params = SplitParams(
        seed=1,
        validation_fraction=0.4,
        test_fraction=0.4,
        healthy_validation_fraction=0.4,
        healthy_test_fraction=0.4,
    )
    truth = _truth(modules=10, runaways=4)
    assignment = assign_splits(truth, params)
    runaway_ids = truth.loc[truth["pnr_time"].notna(), schema.MODULE_ID]
    assert {assignment[m] for m in runaway_ids} == set(SPLITS)


def test_every_scenario_with_two_or_more_modules_trains_and_is_judged() -> None:
    kinds = ["internal_short"] * 6 + ["overcharge"] * 2 + ["cooling_failure"] * 2
    nuisances = ["drifting_sensor"] * 2 + ["stuck_sensor"] * 2 + ["gas_spikes"] * 3
    n = len(kinds) + len(nuisances) + 20
    truth = pd.DataFrame(
        {
            schema.MODULE_ID: [f"M{i:02d}" for i in range(n)],
            "pnr_time": [1000.0] * len(kinds) + [np.nan] * (n - len(kinds)),
            "fault_type": kinds + ["none"] * (n - len(kinds)),
            "nuisance_type": ["none"] * len(kinds) + nuisances + ["none"] * 20,
        }
    )
    assignment = pd.Series(assign_splits(truth, PARAMS))
    scenario = np.where(truth["fault_type"] != "none", truth["fault_type"], truth["nuisance_type"])
    for kind in set(scenario):
        splits = set(assignment[truth[schema.MODULE_ID][scenario == kind]])
        assert "train" in splits, kind
        assert splits & {"validation", "test"}, kind


def test_modules_that_never_run_away_follow_the_healthy_fractions() -> None:
    params = SplitParams(
        seed=3,
        validation_fraction=0.25,
        test_fraction=0.25,
        healthy_validation_fraction=0.35,
        healthy_test_fraction=0.4,
    )
    truth = _truth(modules=48, runaways=8)
    assignment = assign_splits(truth, params)
    healthy = truth.loc[truth["pnr_time"].isna(), schema.MODULE_ID]
    counts = pd.Series([assignment[m] for m in healthy]).value_counts()
    assert counts["test"] == 16 and counts["validation"] == 14 and counts["train"] == 10
    runaway = truth.loc[truth["pnr_time"].notna(), schema.MODULE_ID]
    counts = pd.Series([assignment[m] for m in runaway]).value_counts()
    assert counts["test"] == 2 and counts["validation"] == 2 and counts["train"] == 4


def test_a_module_id_standing_twice_in_the_truth_is_a_leak() -> None:
    # Each id once as a runaway and once as a healthy module: two strata split it apart. The
    # check ran on the {module: split} mapping, where the second entry silently replaced the
    # first; on the rows it sees both.
    truth = pd.concat([_truth(modules=20, runaways=20), _truth(modules=20, runaways=0)])
    with pytest.raises(SplitLeakError, match="modules in more than one split"):
        assign_splits(truth, PARAMS)
