"""batteryops.hazard.evaluation: the evaluate stage's work on tiny in-memory partitions."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from batteryops.core import schema
from batteryops.core.config import Params, RuleBaselineParams
from batteryops.hazard import evaluate, evaluation, events
from batteryops.hazard.evaluation import (
    JUDGED,
    LEARNED,
    LOGISTIC,
    PLOT_NAMES,
    RULE,
    SCORES,
    TRACKED,
    HeldOutScores,
    choose_thresholds,
    hazard_metrics,
    lead_time_table,
    lead_times,
    module_chunks,
    operating_point,
    pr_curve_table,
    results_on_test,
    run_metrics,
    score_held_out,
    score_partition,
    write_plot_data,
)
from batteryops.hazard.labels import NEIGHBOUR_VENTED, ROW_COLUMNS
from batteryops.hazard.model import DELTA_T_FORECAST
from batteryops.hazard.models import HEAT_BALANCE_FEATURE, TREND_FEATURE
from tests.conftest import ROOT

START = pd.Timestamp("2026-07-01T00:00:00Z")
LENGTH_S = 600
FAULT_S, PNR_S, GUARD_S, WINDOW_S = 100, 500, 20, 280
RULE_PARAMS = RuleBaselineParams(temp_max_c=60.0, slope_c_per_min=2.0)
# module -> split; M01 runs away (fault at 100 s, PNR at 500 s), the others stay healthy.
SPLITS = {"R01-M01": "test", "R01-M02": "test", "R01-M03": "validation", "R01-M04": "train"}


def _module(module_id: str, split: str) -> pd.DataFrame:
    seconds = np.arange(LENGTH_S)
    runaway = module_id == "R01-M01"
    temp = 25.0 + (np.clip(seconds - FAULT_S, 0, None) * 0.1 if runaway else 0.0 * seconds)
    window_end = PNR_S - GUARD_S
    hazard = runaway & (seconds >= window_end - WINDOW_S) & (seconds < window_end)
    return pd.DataFrame(
        {
            schema.TIMESTAMP: START + pd.to_timedelta(seconds, unit="s"),
            schema.RACK_ID: module_id[:3],
            schema.MODULE_ID: module_id,
            schema.SPLIT: split,
            schema.TRAINABLE: ~(runaway & (seconds >= window_end)),
            schema.HAZARD: hazard.astype(np.int8),
            schema.OVERHEAT: (temp > 50.0).astype(np.int8),
            schema.DELTA_T_30S: np.float32(0.1 * 30 if runaway else 0.0),
            NEIGHBOUR_VENTED: False,
            "temp_max_c": temp.astype(np.float32),
            TREND_FEATURE: np.float32(6.0 if runaway else 0.0),
            HEAT_BALANCE_FEATURE: np.float32(np.nan),
        }
    )


def _partition(splits: dict[str, str] = SPLITS) -> pd.DataFrame:
    return pd.concat([_module(m, s) for m, s in splits.items()], ignore_index=True)


def _truth(modules: list[str]) -> pd.DataFrame:
    runaway = [m == "R01-M01" for m in modules]
    return pd.DataFrame(
        {
            schema.MODULE_ID: modules,
            "fault_start": [
                START + pd.Timedelta(seconds=FAULT_S) if r else pd.NaT for r in runaway
            ],
            "pnr_time": [START + pd.Timedelta(seconds=PNR_S) if r else pd.NaT for r in runaway],
        }
    )


class _StubModel:
    """Scores from the hottest sensor alone: enough to follow the rows through the evaluation."""

    features = ["temp_max_c", TREND_FEATURE]
    featurized_columns = [*features, HEAT_BALANCE_FEATURE]
    baselines = SimpleNamespace(
        logistic_probability=lambda matrix: matrix[:, 0] / 200.0,
        anomaly_score=lambda matrix: np.abs(matrix[:, 1]),
    )

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[self.features].to_numpy(np.float32)

    def classifier_probability(self, frame: pd.DataFrame, matrix: np.ndarray) -> np.ndarray:
        return np.clip((matrix[:, 0] - 25.0) / 20.0, 0.0, 1.0)

    def with_physics(self, frame: pd.DataFrame, probability: np.ndarray) -> np.ndarray:
        return probability  # no physics alarm

    def delta_t_forecast(self, frame: pd.DataFrame, matrix: np.ndarray) -> np.ndarray:
        return np.full(len(frame), 0.5, dtype=np.float32)


def _held_out() -> pd.DataFrame:
    frame = _partition()
    return frame[frame[schema.SPLIT] != "train"].reset_index(drop=True)


def test_score_partition_scores_every_held_out_row_and_judges_test_rows_only() -> None:
    frame = _held_out()
    partition = score_partition(
        frame, _StubModel(), _truth(list(SPLITS)), RULE_PARAMS, 30, 10, np.random.default_rng(0)
    )
    assert list(partition.table.columns) == ROW_COLUMNS + SCORES
    assert len(partition.table) == len(frame)
    is_test = (partition.table[schema.SPLIT] == "test").to_numpy()
    forecast = partition.table[DELTA_T_FORECAST].to_numpy()
    assert np.isnan(forecast[~is_test]).all() and (forecast[is_test] == 0.5).all()
    assert {
        split: sorted(t.module_id for t in tracks[RULE])
        for split, tracks in partition.tracks.items()
    } == {
        "validation": ["R01-M03"],
        "test": ["R01-M01", "R01-M02"],
    }
    assert set(partition.tracks["test"]) == set(TRACKED)
    judged = is_test & partition.table[schema.TRAINABLE].to_numpy()
    # the runaway's rows from the guard on are not trainable
    assert len(partition.labels) == judged.sum() == (PNR_S - GUARD_S) + LENGTH_S
    assert partition.labels.sum() == WINDOW_S
    for column in JUDGED:
        assert partition.row_scores[column].dtype == np.float32
        assert len(partition.row_scores[column]) == judged.sum()
    assert {"all.model", "overheat.persistence", "hazard.heat_balance"} <= set(
        partition.delta_t_sums
    )
    assert partition.delta_t_sums["all.model"]["n"] == judged.sum()
    assert 5 <= len(partition.shap) <= 10
    assert list(partition.shap.columns) == _StubModel.features


def test_shap_sample_takes_half_from_hazard_windows() -> None:
    frame = _held_out()
    partition = score_partition(
        frame, _StubModel(), _truth(list(SPLITS)), RULE_PARAMS, 30, 40, np.random.default_rng(1)
    )
    # Half the sample from hazard windows: only the runaway's rows after its fault are over 25 C.
    hot = partition.shap["temp_max_c"].to_numpy() > 25.0
    assert hot.sum() >= 20


def test_held_out_scores_keep_partitions_in_order() -> None:
    model, truth, rng = _StubModel(), _truth(list(SPLITS)), np.random.default_rng(0)
    first = score_partition(_held_out(), model, truth, RULE_PARAMS, 30, 10, rng)
    only_test = _held_out()
    only_test = only_test[only_test[schema.SPLIT] == "test"].reset_index(drop=True)
    second = score_partition(only_test, model, truth, RULE_PARAMS, 30, 10, rng)
    scored = HeldOutScores()
    scored.add(first)
    scored.add(second)
    np.testing.assert_array_equal(
        scored.test_labels(), np.concatenate([first.labels, second.labels])
    )
    np.testing.assert_array_equal(
        scored.test_scores(LOGISTIC),
        np.concatenate([first.row_scores[LOGISTIC], second.row_scores[LOGISTIC]]),
    )
    assert len(scored.tracks["test"][RULE]) == 4 and len(scored.tracks["validation"][RULE]) == 1
    assert scored.delta_t_sums["all.model"]["n"] == 2 * first.delta_t_sums["all.model"]["n"]
    assert len(scored.shap_sample()) == len(first.shap) + len(second.shap)


def test_score_held_out_writes_the_held_out_rows_of_every_partition(
    tmp_path, params: Params
) -> None:
    features_dir = tmp_path / "features"
    features_dir.mkdir()
    frame = _partition()
    frame.to_parquet(features_dir / "R01.parquet", index=False)
    # A rack whose modules all train: nothing of it is held out.
    _module("R02-M01", "train").to_parquet(features_dir / "R02.parquet", index=False)
    files = sorted(features_dir.glob("*.parquet"))
    scores_path = tmp_path / "scores.parquet"
    scored = score_held_out(
        files, _StubModel(), _truth(list(SPLITS)), params.evaluate, 30, 0, scores_path
    )
    table = pd.read_parquet(scores_path)
    assert list(table.columns) == ROW_COLUMNS + SCORES
    assert sorted(table[schema.MODULE_ID].unique()) == ["R01-M01", "R01-M02", "R01-M03"]
    assert len(table) == 3 * LENGTH_S
    assert len(scored.tracks["test"][events.PROBABILITY]) == 2
    # No temporary file left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features", "scores.parquet"]


def test_module_chunks_keep_modules_whole() -> None:
    modules = np.repeat([0, 1, 2, 3], [3, 3, 5, 1])
    assert module_chunks(modules, 6) == [(0, 6), (6, 12)]
    assert module_chunks(modules, 4) == [(0, 3), (3, 6), (6, 11), (11, 12)]  # 5 > 4: alone
    assert module_chunks(modules, 100) == [(0, 12)]
    assert module_chunks(np.array([], dtype=int), 4) == []


def test_score_held_out_gives_the_same_whatever_the_chunk(
    tmp_path, params: Params, monkeypatch
) -> None:
    features_dir = tmp_path / "features"
    features_dir.mkdir()
    _partition().to_parquet(features_dir / "R01.parquet", index=False)
    files = sorted(features_dir.glob("*.parquet"))
    runs = []
    for rows in (10 * LENGTH_S, LENGTH_S):  # the whole file at once; one module at a time
        monkeypatch.setattr(evaluation, "SCORE_CHUNK_ROWS", rows)
        out = tmp_path / f"scores{rows}.parquet"
        scored = score_held_out(
            files, _StubModel(), _truth(list(SPLITS)), params.evaluate, 30, 0, out
        )
        runs.append((scored, pd.read_parquet(out)))
    _assert_same_scores(*runs)


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_score_held_out_on_threads_or_a_local_cluster_equals_in_process(
    tmp_path, params: Params, processes: bool
) -> None:
    from batteryops.core.compute import partitions_runner
    from batteryops.core.config import ComputeParams

    features_dir = tmp_path / "features"
    features_dir.mkdir()
    first = _partition()
    first.to_parquet(features_dir / "R01.2026-07-01T0000.parquet", index=False)
    # The same modules' next span, and a rack of which nothing is held out.
    later = first.assign(**{schema.TIMESTAMP: first[schema.TIMESTAMP] + pd.Timedelta(hours=1)})
    later.to_parquet(features_dir / "R01.2026-07-01T0100.parquet", index=False)
    _module("R02-M01", "train").to_parquet(features_dir / "R02.parquet", index=False)
    files = sorted(features_dir.glob("*.parquet"))
    runs = []
    # In process one partition at a time, two at once on threads, and on the cluster.
    computes = [
        ComputeParams(threads=1),
        ComputeParams(threads=2),
        ComputeParams(cluster="local", processes=processes),
    ]
    for number, compute in enumerate(computes):
        out = tmp_path / f"scores-{number}.parquet"
        with partitions_runner(compute) as runner:
            scored = score_held_out(
                files, _StubModel(), _truth(list(SPLITS)), params.evaluate, 30, 0, out, runner
            )
        runs.append((scored, pd.read_parquet(out)))
    _assert_same_scores(runs[0], runs[1])
    _assert_same_scores(runs[0], runs[2])
    (here, here_table), *_ = runs
    assert len(here_table) == 2 * 3 * LENGTH_S
    # The module's two spans are one track.
    assert len(here.tracks["test"][events.PROBABILITY]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "features", "scores-0.parquet", "scores-1.parquet", "scores-2.parquet"
    ]  # fmt: skip


def _assert_same_scores(
    first: tuple[HeldOutScores, pd.DataFrame], second: tuple[HeldOutScores, pd.DataFrame]
) -> None:
    """Two score_held_out runs (what they kept, the table they wrote) gave the same."""
    (one, one_table), (other, other_table) = first, second
    pd.testing.assert_frame_equal(one_table, other_table)
    pd.testing.assert_frame_equal(one.shap_sample(), other.shap_sample())
    np.testing.assert_array_equal(one.test_labels(), other.test_labels())
    assert one.delta_t_sums == other.delta_t_sums
    for split, by_column in one.tracks.items():
        for column, tracks in by_column.items():
            again = other.tracks[split][column]
            assert [t.module_id for t in tracks] == [t.module_id for t in again]
            for a, b in zip(tracks, again, strict=True):
                np.testing.assert_array_equal(a.score, b.score)
                np.testing.assert_array_equal(a.seconds, b.seconds)


def _track(
    module_id: str, length: int, high: tuple[int, int, float], fault_s: float, pnr_s: float
) -> events.ModuleTrack:
    score = np.zeros(length)
    score[high[0] : high[1]] = high[2]
    excluded = np.zeros(length, dtype=bool)
    return events.ModuleTrack(
        module_id, np.arange(length, dtype=float), score, excluded, fault_s, pnr_s
    )


def _validation_tracks() -> list[events.ModuleTrack]:
    return [
        # detected 1500 s before PNR at any threshold up to 0.9
        _track("R01-M01", 4000, (1500, 3000, 0.9), 1000.0, 3000.0),
        # one healthy day with one episode at 0.3: over any budget under 1 per module-day
        _track("R01-M02", 86400, (40000, 40100, 0.3), math.nan, math.nan),
    ]


def test_choose_thresholds_meet_the_budget_for_every_score_the_rule_too(params: Params) -> None:
    # The rule was fixed at 1 (its definition) while every learned score got a threshold under
    # the budget: it was reported at 20 false alarms per module-day. Now it is chosen alike.
    validation = {column: _validation_tracks() for column in TRACKED}
    thresholds, on_validation = choose_thresholds(validation, 20, params.alarm)
    assert set(on_validation) == set(thresholds) == set(JUDGED)
    assert RULE in on_validation
    for column in JUDGED:
        assert 0.3 < thresholds[column] <= 0.9
        assert on_validation[column]["false_alarms"] == 0
        assert on_validation[column]["event_recall_at_min_lead"] == 1.0


def _scored_on_test() -> HeldOutScores:
    scored = HeldOutScores()
    scored.tracks["test"] = {column: _validation_tracks() for column in JUDGED}
    scored.labels = [np.array([0, 1, 1, 0])]
    scored.row_scores = {column: [np.array([0.1, 0.8, 0.9, 0.2])] for column in JUDGED}
    return scored


def test_scores_judged_on_threads_get_what_one_thread_gets(params: Params) -> None:
    # Each score's test judging may run on a thread of its own (compute.threads): the metrics
    # and PR curves, and their order, are one thread's. The scores differ so that a mix-up
    # between them would show.
    thresholds = {column: 0.3 + 0.1 * k for k, column in enumerate(JUDGED)}
    scored_one, scored_two = _scored_on_test(), _scored_on_test()
    for k, column in enumerate(JUDGED):
        for scored in (scored_one, scored_two):
            scored.row_scores[column] = [np.array([0.1, 0.8, 0.9 - 0.2 * k, 0.2 + 0.2 * k])]
    results_one = results_on_test(scored_one, thresholds, params.alarm, threads=1)
    results_two = results_on_test(scored_two, thresholds, params.alarm, threads=2)
    assert list(results_two) == list(results_one) == JUDGED
    assert repr(results_two) == repr(results_one)
    assert len({repr(result) for result in results_one.values()}) == len(JUDGED)
    assert list(scored_two.curves) == list(scored_one.curves) == JUDGED
    assert repr(scored_two.curves) == repr(scored_one.curves)


def test_results_and_hazard_metrics_put_the_baselines_beside_the_model(params: Params) -> None:
    alarm = params.alarm
    thresholds = {column: 0.5 for column in LEARNED} | {RULE: 1.0}
    results = results_on_test(_scored_on_test(), thresholds, alarm)
    assert list(results) == list(thresholds)
    assert results[events.PROBABILITY]["pr_auc"] == pytest.approx(1.0)
    assert results[events.PROBABILITY]["event_recall"] == 1.0
    assert results[RULE]["event_recall"] == 0.0  # no score reaches the rule's 1
    sums = evaluate.delta_t_sums(
        np.array([1.0, 2.0]),
        {"model": np.array([1.0, 1.0]), "persistence": np.zeros(2)},
        {"all": np.ones(2, dtype=bool), "hazard": np.array([False, True])},
    )
    delta_t = evaluate.delta_t_metrics(sums, reference="persistence")
    on_validation = {events.PROBABILITY: {"event_recall": 0.5, "lead_times_min": [1.0]}}
    metrics = hazard_metrics(results, on_validation, delta_t, alarm)
    assert metrics["threshold"] == 0.5
    assert set(metrics["baselines"]) == {"rule", "logistic_regression", "isolation_forest"}
    assert metrics["baselines"]["rule"]["threshold"] == 1.0
    assert metrics["validation"] == {"event_recall": 0.5}
    assert metrics["min_lead_min"] == alarm.min_lead_s / 60.0
    budget = alarm.false_alarm_budget_per_module_day
    assert metrics["false_alarm_budget_per_module_day"] == budget
    assert metrics["delta_t_rmse_c"] == pytest.approx(1.0)
    assert metrics["delta_t_persistence_rmse_c"] == pytest.approx(2.0)
    assert metrics["delta_t_skill"] == pytest.approx(2.0)


def test_operating_point_carries_what_scoring_needs(params: Params) -> None:
    info = {"features": ["a", "b"], "run_id": "abc", "model_uri": "ignored"}
    curve = {"x": [0.0, 1.0], "y": [0.0, 0.5]}
    point = operating_point(np.float32(0.25), params.alarm, params.derating, 3, info, curve)
    assert point == {
        "threshold": 0.25,
        "calibration": curve,
        "alarm": params.alarm.model_dump(),
        "derating": params.derating.model_dump(),
        "top_features": 3,
        "features": ["a", "b"],
        "run_id": "abc",
    }
    assert type(point["threshold"]) is float


def test_plot_tables() -> None:
    curves = {
        "model": (np.array([0.0, 1.0]), np.array([1.0, 0.5])),
        "rule": (np.array([0.0]), np.array([1.0])),
    }
    table = pr_curve_table(curves)
    assert list(table.columns) == ["model", "recall", "precision"]
    assert list(table["model"]) == ["model", "model", "rule"]
    results = {
        events.PROBABILITY: {"lead_times_by_module": {"R02-M03": 12.5, "R01-M07": 7.0}},
        LOGISTIC: {"lead_times_by_module": {}},
        RULE: {"lead_times_by_module": {"R01-M07": 3.0}},
    }
    leads = lead_times(results)
    assert leads == {
        "model": {"R02-M03": 12.5, "R01-M07": 7.0},
        "logistic_regression": {},
        "rule": {"R01-M07": 3.0},
    }
    table = lead_time_table(leads)
    # One event is one runaway module, the same label for every model.
    assert table.to_dict("list") == {
        "model": ["model", "model", "rule"],
        "event": ["R01-M07", "R02-M03", "R01-M07"],
        "lead_time_min": [7.0, 12.5, 3.0],
    }
    assert list(lead_time_table({}).columns) == ["model", "event", "lead_time_min"]


def test_plot_data_is_one_file_per_model(tmp_path: Path, params: Params) -> None:
    curves = {name: (np.array([0.0, 1.0]), np.array([1.0, 0.5])) for name in PLOT_NAMES.values()}
    leads = {name: {"R01-M01": 10.0} for name in PLOT_NAMES.values()}
    write_plot_data(curves, leads, tmp_path / "plots")
    for name in PLOT_NAMES.values():
        pr = pd.read_csv(tmp_path / "plots" / "pr_curve" / f"{name}.csv")
        assert list(pr.columns) == ["recall", "precision"] and len(pr) == 2
        lead = pd.read_csv(tmp_path / "plots" / "lead_times" / f"{name}.csv")
        assert lead.to_dict("list") == {"event": ["R01-M01"], "lead_time_min": [10.0]}
    # dvc.yaml's top-level plots name exactly these files, under paths.plot_data.
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    named = {path for entry in plots for spec in entry.values() for path in spec["y"]}
    written = {
        f"{params.paths.plot_data}/{kind}/{name}.csv"
        for kind in ("pr_curve", "lead_times")
        for name in PLOT_NAMES.values()
    }
    assert named == written


def test_run_metrics_keep_finite_numbers_only() -> None:
    metrics = {"pr_auc": 0.5, "events": 3, "flag": True, "roc_auc": math.nan, "leads": [1.0]}
    assert run_metrics(metrics) == {"test_pr_auc": 0.5, "test_events": 3.0}


def test_calibration_is_fitted_on_validation_and_judged_on_test() -> None:
    from batteryops.hazard.evaluation import HeldOutScores, calibrate

    scored = HeldOutScores()
    rng = np.random.default_rng(0)
    said = rng.uniform(0, 1, 4000)
    scored.validation_rows = [((rng.uniform(0, 1, 4000) < said**4).astype(np.int8), said)]
    test_said = rng.uniform(0, 1, 4000)
    scored.labels = [(rng.uniform(0, 1, 4000) < test_said**4).astype(np.int8)]
    scored.row_scores[events.PROBABILITY] = [test_said]
    curve, judged = calibrate(scored)
    assert curve is not None and judged["fitted_on"] == "validation"
    assert judged["brier_calibrated"] < judged["brier_raw"]
