"""The physics alarm: unexplained heat over its threshold alarms whatever the classifier says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from batteryops.core.config import FeaturizeParams, Params, load_params
from batteryops.core.io import MissingInputError
from batteryops.hazard.model import (
    EVIDENCE_AGE,
    HELD_CELL_V,
    HOT_SPOT_RISE,
    PERSISTENT_HEAT,
    SPREAD_EXCESS,
    SUSTAINED_HEAT,
    UNEXPLAINED_HEAT,
    HazardModel,
    physics_alarm_configured,
)
from tests.conftest import ROOT

FEATURES = ["temp_max_c", "current_a"]


def _model(
    limit: float | None,
    sustained: float | None = None,
    voltage: float | None = None,
    overvoltage: float | None = None,
    evidence_window: float | None = None,
    persistent: float | None = None,
    hot_spot: float | None = None,
) -> HazardModel:
    """A tiny booster that scores every row low, and the physics alarm at these limits."""
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(200, 2))
    labels = (rng.random(200) < 0.05).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(rows, labels), 5
    )
    featurize: FeaturizeParams = load_params(ROOT / "params.yaml").featurize
    return HazardModel(
        booster,
        booster,
        None,
        FEATURES,
        featurize,
        30,
        unexplained_heat_alarm_c_per_min=limit,
        unexplained_heat_sustained_alarm_c_per_min=sustained,
        unexplained_heat_persistent_alarm_c_per_min=persistent,
        spread_excess_alarm_v=voltage,
        cell_overvoltage_alarm_v=overvoltage,
        hot_spot_rise_alarm_c_per_min=hot_spot,
        classifier_evidence_window_s=evidence_window,
    )


def _rows(heat: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"temp_max_c": 0.0, "current_a": 0.0, UNEXPLAINED_HEAT: np.array(heat, dtype=np.float32)}
    )


def test_heat_at_or_over_the_threshold_scores_one_and_nan_never_alarms() -> None:
    model = _model(3.0)
    rows = _rows([0.5, 2.99, 3.0, 7.0, np.nan])
    probability = model.hazard_probability(rows)
    assert probability[[2, 3]].tolist() == [1.0, 1.0]
    assert (probability[[0, 1, 4]] < 0.5).all()
    assert model.physics_alarm(rows).tolist() == [False, False, True, True, False]


def test_without_a_threshold_the_classifier_alone_scores_and_needs_no_observer_column() -> None:
    model = _model(None)
    rows = _rows([9.0, 9.0]).drop(columns=UNEXPLAINED_HEAT)
    assert (model.hazard_probability(rows) < 0.5).all()
    assert UNEXPLAINED_HEAT not in model.featurized_columns


def test_rows_without_the_observer_column_score_by_the_classifier_and_say_so(caplog) -> None:
    model = _model(3.0)
    assert UNEXPLAINED_HEAT in model.featurized_columns
    with caplog.at_level("WARNING"):
        probability = model.hazard_probability(_rows([9.0]).drop(columns=UNEXPLAINED_HEAT))
    assert (probability < 0.5).all()
    assert UNEXPLAINED_HEAT in caplog.text


@pytest.mark.parametrize(
    "key",
    [
        "unexplained_heat_alarm_c_per_min",
        "unexplained_heat_sustained_alarm_c_per_min",
        "spread_excess_alarm_v",
        "cell_overvoltage_alarm_v",
        "hot_spot_rise_alarm_c_per_min",
        "classifier_evidence_window_s",
    ],
)
def test_each_threshold_travels_with_the_model_and_old_configs_load_without_it(
    tmp_path: Path, key: str
) -> None:
    model = _model(
        3.3, sustained=0.5, voltage=0.035, overvoltage=4.25, evidence_window=1800, hot_spot=0.5
    )
    files = [tmp_path / name for name in ("hazard.ubj", "delta_t.ubj", "baselines.joblib")]
    model.save(*files)
    config = model.config()
    assert getattr(HazardModel.load(*files, config), key) == config[key]
    del config[key]  # a model registered before it
    assert getattr(HazardModel.load(*files, config), key) is None


def test_the_model_loads_from_where_the_pipeline_wrote_it(tmp_path: Path, params: Params) -> None:
    model = _model(3.3, sustained=0.4, voltage=0.035, overvoltage=4.25)
    paths = params.paths
    files = [tmp_path / p for p in (paths.model, paths.delta_t_model, paths.baseline_models)]
    for path in [*files, tmp_path / paths.model_info]:
        path.parent.mkdir(parents=True, exist_ok=True)
    with pytest.raises(MissingInputError, match=re.escape(paths.model_info)):
        HazardModel.from_outputs(paths, tmp_path)  # nothing trained yet: says which file
    model.save(*files)
    (tmp_path / paths.model_info).write_text(json.dumps({"model_config": model.config()}))
    assert HazardModel.from_outputs(paths, tmp_path).config() == model.config()


def test_the_explanation_names_the_physics_evidence_first() -> None:
    model = _model(3.0)
    named = model.top_features(_rows([5.0, 1.0]), top=2)
    assert named[0].startswith(f"{UNEXPLAINED_HEAT}=5 (physics alarm)")
    assert len(named[0].split("; ")) == 2
    assert "physics" not in named[1]


def _heat_and_sustained(heat: list[float], sustained: list[float]) -> pd.DataFrame:
    return _rows(heat).assign(**{SUSTAINED_HEAT: np.array(sustained, dtype=np.float32)})


def test_a_weak_heat_that_persists_alarms_on_the_sustained_channel() -> None:
    model = _model(3.0, sustained=0.5)
    rows = _heat_and_sustained([0.5, 0.7, 0.6, 3.2, np.nan], [0.4, 0.6, 0.5, 0.2, np.nan])
    assert model.physics_alarm(rows).tolist() == [False, True, True, True, False]
    fast, sustained, persistent = model.physics_channels(rows)
    assert fast.tolist() == [False, False, False, True, False]
    assert sustained.tolist() == [False, True, True, False, False]
    assert not persistent.any()
    named = model.top_features(rows, top=2)
    assert named[1].startswith(f"{SUSTAINED_HEAT}=0.6 (physics alarm)")
    assert named[3].startswith(f"{UNEXPLAINED_HEAT}=3.2 (physics alarm)")
    assert SUSTAINED_HEAT in model.featurized_columns


def test_without_the_sustained_column_that_channel_stays_silent_and_says_so(caplog) -> None:
    model = _model(None, sustained=0.5)
    with caplog.at_level("WARNING"):
        assert not model.physics_alarm(_rows([0.9])).any()
    assert SUSTAINED_HEAT in caplog.text


def test_rows_featurized_before_the_sustained_heat_keep_the_fast_channel(caplog) -> None:
    model = _model(1.7, sustained=0.4)
    with caplog.at_level("WARNING"):
        assert model.physics_alarm(_rows([5.0, 0.5])).tolist() == [True, False]
    assert SUSTAINED_HEAT in caplog.text


def test_a_drained_cell_alarms_on_the_voltage_channel_whatever_the_heat() -> None:
    model = _model(None, voltage=0.035)
    rows = _rows([0.0] * 4).assign(
        **{SPREAD_EXCESS: np.array([0.01, 0.035, 0.2, np.nan], dtype=np.float32)}
    )
    assert model.physics_alarm(rows).tolist() == [False, True, True, False]
    assert model.hazard_probability(rows)[[1, 2]].tolist() == [1.0, 1.0]
    assert model.top_features(rows, top=2)[2].startswith(f"{SPREAD_EXCESS}=0.2 (physics alarm)")
    assert SPREAD_EXCESS in model.featurized_columns


def test_a_cell_held_over_the_charge_limit_alarms_on_the_overvoltage_channel() -> None:
    model = _model(3.0, overvoltage=4.25)
    rows = _rows([0.0, 0.0, 5.0, 0.0]).assign(
        **{HELD_CELL_V: np.array([4.2, 4.25, 4.6, np.nan], dtype=np.float32)}
    )
    assert model.physics_alarm(rows).tolist() == [False, True, True, False]
    named = model.top_features(rows, top=2)
    assert named[1].startswith(f"{HELD_CELL_V}=4.25 (physics alarm)")
    assert named[2].startswith(f"{UNEXPLAINED_HEAT}=5 (physics alarm)")  # heat named first
    assert HELD_CELL_V in model.featurized_columns


def test_without_the_held_voltage_the_overvoltage_channel_stays_silent_and_says_so(
    caplog,
) -> None:
    model = _model(None, overvoltage=4.25)
    with caplog.at_level("WARNING"):
        assert model.physics_alarm(_rows([0.5])).tolist() == [False]
    assert HELD_CELL_V in caplog.text and "overvoltage" in caplog.text


def test_without_the_excess_column_the_voltage_channel_stays_silent_and_says_so(caplog) -> None:
    model = _model(3.0, voltage=0.035)
    with caplog.at_level("WARNING"):
        assert model.physics_alarm(_rows([0.5])).tolist() == [False]
    assert SPREAD_EXCESS in caplog.text


def test_the_benchmarks_physics_alarm_is_the_models_at_the_params_thresholds() -> None:
    train = load_params(ROOT / "params.yaml").train
    limits = (
        train.unexplained_heat_alarm_c_per_min,
        train.unexplained_heat_sustained_alarm_c_per_min,
        train.spread_excess_alarm_v,
        train.cell_overvoltage_alarm_v,
    )
    persistent = train.unexplained_heat_persistent_alarm_c_per_min
    hot_spot = train.hot_spot_rise_alarm_c_per_min
    assert persistent is not None and hot_spot is not None
    # The last but one row: a two-minute mean under the fast level, its ten-minute mean not.
    held = (persistent + train.unexplained_heat_alarm_c_per_min) / 2
    rows = _rows([0.0, 9.0, 0.0, 0.0, 0.0, 0.5, 0.0, np.nan]).assign(
        **{
            SUSTAINED_HEAT: np.array([0, 0, 9, 0, 0, 0.1, 0, np.nan], dtype=np.float32),
            SPREAD_EXCESS: np.array([0, 0, 0, 9, 0, 0, 0, np.nan], dtype=np.float32),
            HELD_CELL_V: np.array([4.1, 4.1, 4.1, 4.1, 9, 4.1, 4.1, np.nan], dtype=np.float32),
            PERSISTENT_HEAT: np.array([0, 0, 0, 0, 0, held, 0, np.nan], dtype=np.float32),
            HOT_SPOT_RISE: np.array([0, 0, 0, 0, 0, 0, hot_spot, np.nan], dtype=np.float32),
        }
    )
    expected = [False, True, True, True, True, True, True, False]
    assert physics_alarm_configured(rows, train).tolist() == expected
    model = _model(*limits, persistent=persistent, hot_spot=hot_spot)
    assert model.physics_alarm(rows).tolist() == expected
    without = _model(*limits)  # a model registered before the channels: not from them
    assert without.physics_alarm(rows).tolist()[5:7] == [False, False]


def test_heat_held_on_the_hottest_sensor_alarms_on_the_persistent_channel() -> None:
    model = _model(3.0, persistent=0.5)
    # Two-minute means under the fast level; the hottest sensor's ten-minute means (less a
    # benign cooling loss) at 0.4, 0.6, 0.5, then heat that only just began, a model not yet
    # identified on hours (none given yet), and one sensor the others do not bear out (the
    # sensors' mean under a benign loss of cooling: a drifting sensor).
    heat = [0.4, 0.9, 0.5, 2.4, 0.9, 0.9, np.nan]
    rows = _heat_and_sustained(heat, [0.1, 0.1, 0.1, 0.1, np.nan, -0.3, 0.1]).assign(
        **{PERSISTENT_HEAT: np.array([0.4, 0.6, 0.5, 0.4, np.nan, 0.9, np.nan], dtype=np.float32)}
    )
    fast, sustained, persistent = model.physics_channels(rows)
    assert persistent.tolist() == [False, True, True, False, False, False, False]
    assert not fast.any() and not sustained.any()
    assert model.physics_alarm(rows).tolist() == persistent.tolist()
    named = model.top_features(rows, top=2)
    assert named[1].startswith(f"{PERSISTENT_HEAT}=0.6 (physics alarm)")
    assert named[2].startswith(f"{PERSISTENT_HEAT}=0.5 (physics alarm)")
    assert {PERSISTENT_HEAT, SUSTAINED_HEAT} <= set(model.featurized_columns)


def test_rows_without_the_persistent_heat_get_no_persistent_alarm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = _model(3.0, persistent=0.5)
    with caplog.at_level("WARNING"):
        assert model.physics_alarm(_heat_and_sustained([0.9], [0.1])).tolist() == [False]
    assert PERSISTENT_HEAT in caplog.text


def test_a_champion_is_rescored_with_every_physics_channel_it_has() -> None:
    from batteryops.hazard.champion import rescore_columns

    model = _model(3.0, sustained=0.5, voltage=0.035, overvoltage=4.25, persistent=0.5)
    read = set(rescore_columns(model))
    assert set(FEATURES) | {UNEXPLAINED_HEAT, SUSTAINED_HEAT, SPREAD_EXCESS, HELD_CELL_V} <= read
    assert PERSISTENT_HEAT in read
    assert HELD_CELL_V not in rescore_columns(_model(3.0))


def test_the_classifier_alarms_only_within_the_window_of_physical_evidence(caplog) -> None:
    # A classifier that scores every row high: gated, it counts only where the observer saw
    # evidence at most 1800 s ago; the physics alarm still scores 1 whatever the gate says.
    model = _model(3.0, evidence_window=1800)
    model.hazard = type("High", (), {"inplace_predict": lambda self, x: np.full(len(x), 0.99)})()
    assert EVIDENCE_AGE in model.featurized_columns
    rows = _rows([0.0, 0.0, 0.0, 0.0, 5.0]).assign(
        **{EVIDENCE_AGE: np.array([0.0, 1800.0, 1801.0, np.nan, np.nan], dtype=np.float32)}
    )
    assert model.hazard_probability(rows).tolist() == pytest.approx([0.99, 0.99, 0, 0, 1.0])
    ungated = _model(3.0)
    ungated.hazard = model.hazard
    assert EVIDENCE_AGE not in ungated.featurized_columns
    assert ungated.hazard_probability(rows)[:4].tolist() == pytest.approx([0.99] * 4)
    with caplog.at_level("WARNING"):  # featurized without it: ungated, and said
        alone = model.hazard_probability(rows.drop(columns=EVIDENCE_AGE))
    assert alone[:4].tolist() == pytest.approx([0.99] * 4)
    assert EVIDENCE_AGE in caplog.text


def test_a_hottest_sensor_outrunning_its_mean_alarms_on_the_hot_spot_channel(caplog) -> None:
    model = _model(3.0, hot_spot=0.5)
    rows = _rows([0.0, 0.0, 0.0, 0.0]).assign(
        **{HOT_SPOT_RISE: np.array([0.4, 0.5, 0.9, np.nan], dtype=np.float32)}
    )
    assert model.physics_alarm(rows).tolist() == [False, True, True, False]
    named = model.top_features(rows, top=2)
    assert named[2].startswith(f"{HOT_SPOT_RISE}=0.9 (physics alarm)")
    assert HOT_SPOT_RISE in model.featurized_columns
    assert HOT_SPOT_RISE not in _model(3.0).featurized_columns
    with caplog.at_level("WARNING"):  # rows featurized before the channel
        assert model.physics_alarm(_rows([0.0])).tolist() == [False]
    assert HOT_SPOT_RISE in caplog.text and "hot-spot" in caplog.text
