"""batteryops.health.charge_soh: models of SOH from charge features, chosen over training cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.health import charge_soh

SEED = 0


def rows(cells: list[str], per_cell: int = 12) -> pd.DataFrame:
    """Rows where SOH follows the coulomb count, plus columns of noise for every other feature."""
    rng = np.random.default_rng(SEED)
    count = len(cells) * per_cell
    frame = pd.DataFrame({schema.CELL_ID: np.repeat(cells, per_cell)})
    for name in {name for names in charge_soh.FEATURE_SETS.values() for name in names}:
        frame[name] = rng.normal(1.0, 0.01, count)
    frame[charge_soh.COULOMB_COUNT] = rng.uniform(0.8, 1.0, count)
    frame[charge_soh.SOH] = frame[charge_soh.COULOMB_COUNT] - 0.01
    return frame


def test_selection_finds_the_feature_that_carries_the_label() -> None:
    choice, scores = charge_soh.select(
        rows(["a", "b", "c", "d"]), "ridge", SEED, feature_sets=["window_3p9_4p1", "charge"]
    )
    assert scores["rmse_pct"].iloc[0] < 0.5
    assert choice.base == charge_soh.COULOMB_COUNT or choice.feature_set == "charge"
    without_base = scores[scores["base"] == "none"]
    assert without_base["feature_set"].iloc[0] == "charge"  # it holds the coulomb count
    assert without_base["rmse_pct"].iloc[-1] > 3.0  # noise alone: no better than the spread
    assert len(scores) == 2 * len(charge_soh.GRIDS["ridge"]) * len(charge_soh.BASES)


def test_fit_predict_refuses_a_cell_on_both_sides() -> None:
    train, test = rows(["a", "b"]), rows(["b", "c"])
    choice = charge_soh.Choice("ridge", "charge", {"alpha": 1.0})
    with pytest.raises(AssertionError, match="cells in both train and test"):
        charge_soh.fit_predict(train, test, choice, SEED)


def test_xgboost_on_a_coulomb_count_base_predicts_the_offset() -> None:
    choice = charge_soh.Choice(
        "xgboost", "charge", {"max_depth": 2, "n_estimators": 50}, charge_soh.COULOMB_COUNT
    )
    test = rows(["c"])
    predicted = charge_soh.fit_predict(rows(["a", "b"]), test, choice, SEED)
    assert predicted == pytest.approx(test[charge_soh.SOH].to_numpy(), abs=0.005)


def test_unknown_model_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown model kind 'lasso'"):
        charge_soh.make_model("lasso", {}, SEED)


def test_chamber_folds_hold_out_each_chamber_whole() -> None:
    frame = rows(["a", "b", "c", "d"])
    frame[charge_soh.AMBIENT] = frame[schema.CELL_ID].map({"a": 4.0, "b": 4.2, "c": 43.0, "d": 43})
    groups = charge_soh.cell_groups(frame, "ambient")
    assert sorted(set(groups)) == [4.0, 43.0]
    assert list(charge_soh.cell_groups(frame, "cell")) == list(frame[schema.CELL_ID])
    with pytest.raises(ValueError, match="cross-validation by 'protocol'"):
        charge_soh.cell_groups(frame, "protocol")
    # Each chamber predicted by a model of the other alone; one chamber: a cell at a time.
    seen = []

    def record(train, test, choice, seed):
        seen.append((sorted(set(train[schema.CELL_ID])), sorted(set(test[schema.CELL_ID]))))
        return np.zeros(len(test))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(charge_soh, "fit_predict", record)
        charge_soh.cross_validated(frame, charge_soh.Choice("ridge", "charge"), SEED, "ambient")
        assert seen == [(["c", "d"], ["a", "b"]), (["a", "b"], ["c", "d"])]
        seen.clear()
        one = frame.assign(**{charge_soh.AMBIENT: 24.0})
        charge_soh.cross_validated(one, charge_soh.Choice("ridge", "charge"), SEED, "ambient")
        assert [held for _, held in seen] == [["a"], ["b"], ["c"], ["d"]]


def test_the_coulomb_count_is_a_candidate_that_fits_nothing() -> None:
    frame = rows(["a", "b", "c"])
    choice, scores = charge_soh.select(frame, charge_soh.COULOMB_COUNT_KIND, SEED)
    assert choice.kind == charge_soh.COULOMB_COUNT_KIND and len(scores) == 1
    assert scores["rmse_pct"].iloc[0] == pytest.approx(1.0)  # SOH is the count minus 0.01
    predicted = charge_soh.fit_predict(frame[frame[schema.CELL_ID] != "c"], rows(["c"]), choice, 0)
    np.testing.assert_array_equal(predicted, rows(["c"])[charge_soh.COULOMB_COUNT].to_numpy())
