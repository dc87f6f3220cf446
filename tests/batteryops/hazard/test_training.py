"""batteryops.hazard.training: training rows read partition by partition, the fitted model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import Params, TrainParams
from batteryops.hazard import models
from batteryops.hazard.model import (
    EVIDENCE_AGE,
    HELD_CELL_V,
    HOT_SPOT_RISE,
    PERSISTENT_HEAT,
    SPREAD_EXCESS,
    SUSTAINED_HEAT,
    UNEXPLAINED_HEAT,
)
from batteryops.hazard.split import SplitLeakError
from batteryops.hazard.training import (
    INPUT_EXAMPLE_ROWS,
    TRAINING_COLUMNS,
    fit_models,
    read_training_rows,
    run_params,
    train_metrics,
)

FEATURES = ["feature_a", "feature_b", "feature_c"]
START = pd.Timestamp("2026-07-01T00:00:00Z")


def test_training_columns_are_the_row_columns_training_reads() -> None:
    # The order the train stage always read (the logged input example's columns follow it).
    expected = "timestamp module_id split trainable hazard overheat delta_t_30s"
    columns = TRAINING_COLUMNS
    assert columns == [
        *expected.split(),
        "heat_balance_slope_per_min",
        "unexplained_heat_c_per_min",
        "unexplained_heat_10min_c_per_min",
        "unexplained_heat_mean_sensor_10min_c_per_min",
        "cell_v_spread_excess_v",
        "cell_v_max_held_v",
        "hot_spot_rise_c_per_min",
        "physics_evidence_age_s",
    ]


def _rows(n: int, seed: int, split: str | np.ndarray = "train") -> pd.DataFrame:
    """``n`` one-second rows whose hazard is driven by ``feature_a``."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    return pd.DataFrame(
        {
            schema.TIMESTAMP: START + pd.to_timedelta(np.arange(n), unit="s"),
            schema.RACK_ID: "R01",
            schema.MODULE_ID: "R01-M01",
            schema.SPLIT: split,
            schema.TRAINABLE: True,
            schema.HAZARD: (values[:, 0] > 1.0).astype(np.int8),
            schema.OVERHEAT: np.int8(0),
            schema.DELTA_T_30S: (0.5 * values[:, 1]).astype(np.float32),
            models.HEAT_BALANCE_FEATURE: np.float32(0.1),
            UNEXPLAINED_HEAT: np.float32(0.0),
            PERSISTENT_HEAT: np.float32(0.0),
            SUSTAINED_HEAT: np.float32(0.0),
            SPREAD_EXCESS: np.float32(0.0),
            HELD_CELL_V: np.float32(4.0),
            HOT_SPOT_RISE: np.float32(0.0),
            EVIDENCE_AGE: np.float32(np.nan),
        }
        | {name: values[:, i] for i, name in enumerate(FEATURES)}
    )


def _section(params: Params, as_feature: bool) -> TrainParams:
    """The ``train`` section with few trees, small enough for a unit test."""
    section = params.train
    forest = section.baselines.isolation_forest.model_copy(update={"as_feature": as_feature})
    return section.model_copy(
        update={
            "row_stride_s": 2,
            "negative_stride_s": 4,
            "xgboost": section.xgboost.model_copy(update={"n_estimators": 5}),
            "delta_t_xgboost": section.delta_t_xgboost.model_copy(update={"n_estimators": 5}),
            "baselines": section.baselines.model_copy(update={"isolation_forest": forest}),
        }
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_read_training_rows_reads_train_and_validation_thinned(
    tmp_path: Path, params: Params, threads: int
) -> None:
    section = _section(params, as_feature=False)
    splits = np.array(["train", "validation", "test"] * 100)
    frames = [_rows(300, 0, splits), _rows(300, 1, splits[::-1].copy())]
    for i, frame in enumerate(frames):
        frame[schema.MODULE_ID] = f"R0{i}-" + frame[schema.SPLIT]  # one split per module
        frame.to_parquet(tmp_path / f"R0{i}.parquet", index=False)
    files = sorted(tmp_path.glob("*.parquet"))
    train, validation = read_training_rows(files, FEATURES, section, threads)
    assert list(train.columns) == TRAINING_COLUMNS + FEATURES
    for split, got in (("train", train), ("validation", validation)):
        expected = pd.concat(
            [
                models.training_rows(frame[TRAINING_COLUMNS + FEATURES], split, 2, 4)
                for frame in frames
            ],
            ignore_index=True,
        )
        pd.testing.assert_frame_equal(got, expected)
        assert (got[schema.SPLIT] == split).all()


def test_fit_models_adds_the_anomaly_score_to_copies(params: Params) -> None:
    section = _section(params, as_feature=True)
    train, validation = _rows(800, 0), _rows(300, 1, "validation")
    columns = list(train.columns)
    result = fit_models(train, validation, FEATURES, section, params.featurize, 30)
    assert list(train.columns) == columns  # the inputs are left as they were
    assert models.ANOMALY_FEATURE not in validation.columns
    assert result.model.features == FEATURES + [models.ANOMALY_FEATURE]
    assert result.model.uses_anomaly_feature
    assert len(result.input_example) == INPUT_EXAMPLE_ROWS
    assert list(result.input_example.columns) == columns + [models.ANOMALY_FEATURE]
    assert result.fitted.train_rows == len(train)
    assert result.fitted.train_positives == int(train[schema.HAZARD].sum())
    metrics = train_metrics(result)
    assert metrics == {
        "train_rows": result.fitted.train_rows,
        "train_positives": result.fitted.train_positives,
        "best_iteration": result.fitted.best_iteration,
        "validation_pr_auc": result.fitted.validation_pr_auc,
        "delta_t_best_iteration": result.delta_t_best_iteration,
    }
    logged = run_params(section, params.label, result.model)
    assert logged["xgboost.n_estimators"] == 5
    assert logged["delta_t_xgboost.n_estimators"] == 5
    assert logged["label.guard_s"] == params.label.guard_s
    assert logged["train.row_stride_s"] == 2 and logged["train.negative_stride_s"] == 4
    assert logged["features"] == len(FEATURES) + 1 and logged["anomaly_feature"] is True


def test_fit_models_without_the_anomaly_feature(params: Params) -> None:
    section = _section(params, as_feature=False)
    result = fit_models(
        _rows(800, 0), _rows(300, 1, "validation"), FEATURES, section, params.featurize, 30
    )
    assert result.model.features == FEATURES
    assert models.ANOMALY_FEATURE not in result.input_example.columns


def test_fit_models_needs_both_classes(params: Params) -> None:
    train = _rows(400, 0).assign(**{schema.HAZARD: np.int8(0)})
    # The baselines, fitted first, refuse before the classifier's own message can say so.
    with pytest.raises(ValueError, match="classes"):
        fit_models(
            train,
            _rows(100, 1, "validation"),
            FEATURES,
            _section(params, False),
            params.featurize,
            30,
        )


def test_read_training_rows_refuses_a_module_in_two_splits(tmp_path: Path, params: Params) -> None:
    # One module's rows in training in one partition and in validation in another (a stale or
    # mixed features folder): the rows as read show it.
    _rows(300, 0, "train").to_parquet(tmp_path / "R00.parquet", index=False)
    _rows(300, 1, "validation").to_parquet(tmp_path / "R01.parquet", index=False)
    with pytest.raises(SplitLeakError, match="R01-M01"):
        read_training_rows(
            sorted(tmp_path.glob("*.parquet")), FEATURES, _section(params, as_feature=False)
        )


def test_best_from_round_ignores_an_early_peak() -> None:
    # PR AUC peaks by chance at round 1, then climbs past it only at round 30.
    scores = [0.90, 0.97] + [0.95] * 28 + [0.975, 0.98] + [0.96] * 40
    stop = models.BestFromRound(min_rounds=20, patience=20)
    stopped = next(i for i, s in enumerate(scores) if stop.update(i, s))
    assert stop.best_round == 31 and stopped == 51
    plain = models.BestFromRound(min_rounds=1, patience=20)
    stopped = next(i for i, s in enumerate(scores) if plain.update(i, s))
    assert plain.best_round == 1 and stopped == 21  # what XGBoost's own early stopping does


def test_best_from_round_1_chooses_as_xgboost_early_stopping_does() -> None:
    import xgboost as xgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 5))
    y = (x[:, 0] + rng.normal(scale=2.0, size=4000) > 2.0).astype(int)
    train, valid = xgb.DMatrix(x[:3000], label=y[:3000]), xgb.DMatrix(x[3000:], label=y[3000:])
    params = {"objective": "binary:logistic", "eval_metric": "aucpr", "eta": 0.3, "seed": 0}
    theirs = xgb.train(
        params,
        train,
        200,
        evals=[(valid, "validation")],
        early_stopping_rounds=10,
        verbose_eval=False,
    )
    history: dict = {}
    ours = xgb.train(
        params,
        train,
        200,
        evals=[(valid, "validation")],
        evals_result=history,
        callbacks=[models.BestFromRound(min_rounds=1, patience=10).callback()],
        verbose_eval=False,
    )
    stop = models.BestFromRound.replay(1, 10, history["validation"]["aucpr"])
    assert stop.best_round == theirs.best_iteration
    assert ours.num_boosted_rounds() == theirs.num_boosted_rounds()


def test_the_baselines_score_as_their_own_pipelines_do(params: Params) -> None:
    """The imputer done in NumPy (models._after_imputer) gives the pipelines' scores to the bit."""
    rng = np.random.default_rng(5)
    names = ["a", "b", "c", "empty"]
    train = pd.DataFrame(rng.normal(size=(3000, 4)).astype(np.float32), columns=names)
    train.loc[rng.random(3000) < 0.1, "a"] = np.nan
    train["empty"] = np.nan  # kept as a column of zeros (keep_empty_features)
    train[schema.HAZARD] = (train["b"] > 1.2).astype(np.int8)
    baselines = models.fit_baselines(train, names, params.train.baselines, seed=1)
    rows = train[names].iloc[:1500].copy()
    rows.loc[rng.random(1500) < 0.2, "c"] = np.nan
    values = rows.to_numpy(np.float32)
    np.testing.assert_array_equal(
        baselines.logistic_probability(rows), baselines.logistic.predict_proba(values)[:, 1]
    )
    np.testing.assert_array_equal(
        baselines.anomaly_score(values), -baselines.isolation_forest.score_samples(values)
    )
