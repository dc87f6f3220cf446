"""batteryops.health.other_cells: a fitted model judged, as it is, on cells it never met."""

from __future__ import annotations

import json

import numpy as np
import pytest

from batteryops.core import schema
from batteryops.core.config import HealthParams
from batteryops.health import dataset, other_cells, training
from batteryops.health.table import build_table
from tests.batteryops.health.health_cycles import (
    fading_cycles,
    three_chambers,
)

SEED = 5


@pytest.fixture(scope="module")
def trained(section: HealthParams) -> training.HealthTraining:
    table = build_table(three_chambers(), None, None, section)
    return training.train_health(table.frame, table.split, table.features, section, SEED)


def test_the_model_is_judged_beside_the_baselines_on_every_row_but_the_first(
    trained: training.HealthTraining, section: HealthParams
) -> None:
    cycles = fading_cycles({"X": 8e-4, "Y": 1.4e-3}, {"X": 20.0, "Y": 30.0}, 300, seed=9)
    judged = other_cells.judge(trained.model, cycles, None)
    assert judged["cells"] == 2
    assert list(judged["soh"]) == ["xgboost", *dataset.SOH_BASELINES]
    assert judged["soh"]["xgboost"]["n"] == 2 * (300 // section.row_stride - 1)
    assert list(judged["rul_at_judged_cycle"]) == ["xgboost", "fade_fit"]
    assert judged["rul_at_judged_cycle"]["xgboost"]["n"] == 2  # both reach 80 % in 300 cycles
    # Cells fading linearly at one rate: the change since the last check-up is one cycle's fade.
    assert judged["soh"]["xgboost"]["rmse_pct"] < 1.0


def test_truth_labels_the_rows_where_given(trained: training.HealthTraining) -> None:
    cycles = fading_cycles({"X": 6e-4}, {"X": 20.0}, 300, seed=9)
    truth = cycles[schema.CYCLE_KEYS].assign(**{dataset.SOH: 0.5})
    judged = other_cells.judge(trained.model, cycles, truth)
    # every estimate is near the measured capacity ratio, far from a truth of 0.5
    assert judged["soh"]["xgboost"]["mae_pct"] > 30.0


def test_judging_refits_nothing(trained: training.HealthTraining) -> None:
    cycles = fading_cycles({"X": 6e-4}, {"X": 20.0}, 300, seed=9)
    rows = trained.test_soh_rows[trained.model.soh_features]
    before = trained.model.soh.predict(rows)
    first = other_cells.judge(trained.model, cycles, None)
    np.testing.assert_array_equal(trained.model.soh.predict(rows), before)
    assert json.dumps(other_cells.judge(trained.model, cycles, None)) == json.dumps(first)
