"""batteryops.health.model: the SOH model as the change since the last check-up."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.health import dataset
from batteryops.health.model import (
    HealthModel,
    IncompatibleModelError,
    RidgeBoosted,
    SinceCheckup,
    featurize,
)
from tests.batteryops.health.health_cycles import small_health_params, three_chambers

HYPER = {"n_estimators": 30, "max_depth": 2, "learning_rate": 0.1}


def _rows(n: int, seed: int, counted: bool) -> tuple[pd.DataFrame, pd.Series]:
    """Rows whose true change since the check-up is the coulomb count's gap, or none at all."""
    rng = np.random.default_rng(seed)
    gap = rng.uniform(-0.02, 0.0, n)
    rows = pd.DataFrame(
        {
            dataset.CHECKUP_SOH: rng.uniform(0.8, 1.0, n),
            dataset.PROJECTED_CHANGE: rng.uniform(-0.01, 0.0, n),
            dataset.COULOMB_COUNT_GAP: gap if counted else np.nan,
        }
    )
    target = rows[dataset.CHECKUP_SOH] + 0.8 * gap
    return rows, target


def test_with_a_coulomb_count_the_model_learns_the_change_since_the_checkup() -> None:
    rows, target = _rows(400, seed=0, counted=True)
    model = SinceCheckup(RidgeBoosted(HYPER, seed=0)).fit(rows, target)
    test, truth = _rows(100, seed=1, counted=True)
    assert np.sqrt(np.mean((model.predict(test) - truth) ** 2)) < 0.002


def test_without_a_coulomb_count_the_change_is_the_checkup_fade_line() -> None:
    rows, target = _rows(400, seed=0, counted=True)
    model = SinceCheckup(RidgeBoosted(HYPER, seed=0)).fit(rows, target)
    test, _ = _rows(50, seed=2, counted=False)
    expected = test[dataset.CHECKUP_SOH] + test[dataset.PROJECTED_CHANGE]
    np.testing.assert_allclose(model.predict(test), expected)
    # before any check-up: a fresh cell, no change known
    fresh = test.assign(**{dataset.CHECKUP_SOH: np.nan, dataset.PROJECTED_CHANGE: np.nan})
    np.testing.assert_allclose(model.predict(fresh), 1.0)


def test_a_model_that_never_met_a_coulomb_count_is_the_fade_line_everywhere() -> None:
    rows, target = _rows(100, seed=0, counted=False)
    model = SinceCheckup(RidgeBoosted(HYPER, seed=0)).fit(rows, target)
    test, _ = _rows(20, seed=3, counted=True)
    expected = test[dataset.CHECKUP_SOH] + test[dataset.PROJECTED_CHANGE]
    np.testing.assert_allclose(model.predict(test), expected)


def test_contributions_add_up_to_the_prediction_less_the_intercepts() -> None:
    rows, target = _rows(400, seed=0, counted=True)
    model = SinceCheckup(RidgeBoosted(HYPER, seed=0)).fit(rows, target)
    counted, _ = _rows(30, seed=4, counted=True)
    blind, _ = _rows(30, seed=5, counted=False)
    test = pd.concat([counted, blind], ignore_index=True)
    contributions = model.contributions(test)
    assert contributions.shape == test.shape
    # the blind rows are exactly the base plus the fade line: no intercept
    np.testing.assert_allclose(contributions[30:].sum(axis=1), model.predict(blind))
    offset = model.predict(counted) - contributions[:30].sum(axis=1)
    np.testing.assert_allclose(offset, offset[0], atol=1e-5)  # the two intercepts, one number


def _curves(cells: list[str]) -> pd.DataFrame:
    """Low-rate curves of each cell at cycles 0, 50 and 100, fading a little."""
    capacity = np.linspace(0.0, 4.9, 120)
    voltage = 4.2 - 1.2 * capacity / 4.9 - 0.1 * np.sin(3.0 * capacity)
    return pd.concat(
        pd.DataFrame(
            {
                schema.CELL_ID: cell,
                schema.CYCLE: cycle,
                "voltage_v": voltage - 0.001 * cycle / 50,
                "capacity_ah": capacity * (1 - 0.0005 * cycle),
            }
        )
        for cell in cells
        for cycle in (0, 50, 100)
    )


def test_no_model_input_equals_or_derives_from_the_chamber_temperature(params: Params) -> None:
    # Every input of both models comes from featurize (training, batteryops health, the pyfunc):
    # scrambling ambient_c, or leaving it out (data written before it), must not move any.
    section = small_health_params(params.health)
    cycles = three_chambers()
    curves = _curves(sorted(cycles[schema.CELL_ID].unique()))
    scrambled = cycles.assign(ambient_c=np.random.default_rng(5).uniform(-20, 60, len(cycles)))
    features = featurize(cycles, curves, section)
    pd.testing.assert_frame_equal(features, featurize(scrambled, curves, section))
    pd.testing.assert_frame_equal(
        features, featurize(cycles.drop(columns="ambient_c"), curves, section)
    )
    assert not [name for name in features.columns if "ambient" in name]


def test_a_model_saved_with_an_older_health_section_is_refused_by_name(
    tmp_path, params: Params
) -> None:
    section = params.health
    old = section.model_copy()
    del old.__dict__["checkup"]  # as unpickled from a batteryops before check-ups
    path = tmp_path / "soh.joblib"
    joblib.dump(HealthModel(None, None, [], [], old), path)
    with pytest.raises(IncompatibleModelError, match=r"older batteryops.*lack checkup"):
        HealthModel.load(str(path))
    joblib.dump(HealthModel(None, None, [], [], section), path)
    assert HealthModel.load(str(path)).params == section
