"""batteryops.health.training: holdout and LOCO metrics, the candidate, its plot and its run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from batteryops.core import schema
from batteryops.core.config import HealthParams, Params, TrackingParams
from batteryops.health import dataset, other_cells, training
from batteryops.health.model import FADE_FIT_RUL, HealthModel
from batteryops.health.table import HealthTable, build_table
from tests.batteryops.health.health_cycles import (
    fading_cycles,
    small_health_params,
    three_chambers,
)

SEED = 3


@pytest.fixture(scope="module")
def table(section: HealthParams) -> HealthTable:
    return build_table(three_chambers(), None, None, section)


@pytest.fixture(scope="module")
def trained(table: HealthTable, section: HealthParams) -> training.HealthTraining:
    return training.train_health(table.frame, table.split, table.features, section, SEED)


def test_training_rows_keep_known_labels_on_their_cycles(
    table: HealthTable, section: HealthParams
) -> None:
    rows = training.training_rows(table.frame, table.features, section)
    assert (rows.soh[schema.CYCLE] % section.row_stride == 0).all()
    assert rows.soh[dataset.SOH].notna().all()
    assert len(rows.soh) == 6 * 300 // section.row_stride
    assert (rows.rul[schema.CYCLE] >= section.rul_from_cycle).all()
    assert (rows.rul[schema.CYCLE] % section.rul_every == 0).all()
    assert (rows.rul[dataset.RUL] > 0).all()
    np.testing.assert_array_equal(rows.rul[training.LOG_RUL], np.log1p(rows.rul[dataset.RUL]))
    # SOH from the relative summary features only; RUL from every feature and the fade fit
    assert rows.soh_features == [f for f in table.features if f in dataset.SOH_FEATURES]
    assert set(rows.soh_features) == set(dataset.SOH_FEATURES)
    assert rows.rul_features == table.features + [FADE_FIT_RUL]


def test_the_holdout_judges_every_model_on_the_test_chamber(
    trained: training.HealthTraining, section: HealthParams
) -> None:
    holdout = trained.metrics["temperature_holdout"]
    assert (holdout["train_cells"], holdout["test_cells"]) == (4, 2)
    assert list(holdout["soh"]) == ["xgboost", "ridge", "random_forest", *dataset.SOH_BASELINES]
    assert list(holdout["rul"]) == ["xgboost", "ridge", "random_forest", "fade_fit"]
    # Two test cells, SOH rows every row_stride cycles; RUL judged at one cycle per cell.
    assert holdout["soh"]["xgboost"]["n"] == 2 * 300 // section.row_stride
    assert holdout["rul"]["xgboost"]["at_judged_cycle"]["n"] == 2
    assert trained.model.metadata == {
        "train_cells": ["T10-a", "T10-b", "T40-a", "T40-b"],
        "test_cells": ["T25-a", "T25-b"],
    }
    assert set(trained.test_soh_rows[schema.CELL_ID]) == {"T25-a", "T25-b"}


def test_soh_of_a_linear_fade_is_learned_across_chambers(
    trained: training.HealthTraining,
) -> None:
    # SOH here is the capacity ratio itself: the ridge base carries it to the unseen chamber.
    assert trained.metrics["soh_rmse_pct"] < 0.5
    assert trained.metrics["soh_within_3pct"] == 1.0


def test_the_headline_is_xgboost_on_the_holdout(trained: training.HealthTraining) -> None:
    metrics = trained.metrics
    soh = metrics["temperature_holdout"]["soh"]["xgboost"]
    rul = metrics["temperature_holdout"]["rul"]["xgboost"]["at_judged_cycle"]
    soh_keys = ("rmse_pct", "mae_pct", "mape_pct", "r2", "within_3pct", "within_5pct")
    expected = {f"soh_{key}": soh[key] for key in soh_keys}
    expected |= {f"rul_{key}": rul[key] for key in ("rmse_cycles", "mape_pct", "mape_pct_upper95")}
    expected["soh_cells_within_3pct_lower95"] = soh["cells_within_3pct_lower95"]
    baselines = metrics["temperature_holdout"]["soh"]
    expected["soh_best_baseline_rmse_pct"] = min(
        baselines[name]["rmse_pct"] for name in dataset.SOH_BASELINES
    )
    assert expected["rul_mape_pct_upper95"] > expected["rul_mape_pct"]
    assert training.headline(metrics["temperature_holdout"]) == expected
    assert metrics.items() >= training.headline(metrics["temperature_holdout"]).items()
    assert metrics["features"] == len(trained.model.soh_features)


def test_without_loco_the_interval_is_empty(trained: training.HealthTraining) -> None:
    assert "loco" not in trained.metrics
    assert trained.metrics["rul_interval_log_quantiles"] == [0.0, 0.0]
    assert trained.model.rul_log_residual_quantiles == (0.0, 0.0)


def test_the_candidate_scores_cycle_data(trained: training.HealthTraining) -> None:
    cells = trained.model.predict_cells(three_chambers(), None)
    assert list(cells[schema.CELL_ID]) == ["T10-a", "T10-b", "T25-a", "T25-b", "T40-a", "T40-b"]
    # Every cell ends its 300 cycles below 80 %: judged ready to replace.
    assert (cells["health_class"] == "replace").all()


def test_residual_quantiles() -> None:
    assert training.residual_quantiles(np.array([]), (0.1, 0.9)) == (0.0, 0.0)
    residuals = np.arange(11.0)
    assert training.residual_quantiles(residuals, (0.1, 0.9)) == (1.0, 9.0)


@pytest.mark.parametrize("folds", [8, 2])
def test_cross_validation_holds_each_cell_out_once(params: Params, folds: int) -> None:
    # A cell that never reaches its end of life has no RUL row: its fold judges SOH only.
    fades = {"A": 4.0e-4, "B": 4.5e-4, "C": 5.0e-4, "D": 5.0e-5, "E": 4.2e-4}
    temperatures = {"A": 10.0, "B": 10.0, "C": 25.0, "D": 40.0, "E": 40.0}
    section = small_health_params(params.health, cell_folds=folds)
    table = build_table(fading_cycles(fades, temperatures, 600), None, None, section)
    rows = training.training_rows(table.frame, table.features, section)
    assert "D" not in set(rows.rul[schema.CELL_ID])
    summary, residuals = training.cross_validate(rows, section, SEED)
    assert summary["folds"] == min(folds, 5) and summary["cells"] == 5
    assert list(summary["soh"]) == ["xgboost", "ridge", "random_forest"]
    assert list(summary["rul"]) == ["xgboost", "ridge", "random_forest", "fade_fit"]
    assert set(summary["soh"]["xgboost"]) == set(training.SOH_FOLD_METRICS)
    assert set(summary["rul"]["fade_fit"]) == set(training.RUL_FOLD_METRICS)
    assert all(
        np.isfinite(stat)
        for task in ("soh", "rul")
        for metrics in summary[task].values()
        for moments in metrics.values()
        for stat in moments.values()
    )
    # Every RUL row is out of fold exactly once.
    assert residuals.shape == (len(rows.rul),)
    assert np.isfinite(residuals).all()


def test_cross_validation_gives_the_interval(table: HealthTable, section: HealthParams) -> None:
    with_folds = section.model_copy(update={"cell_folds": 3})
    trained = training.train_health(table.frame, table.split, table.features, with_folds, SEED)
    assert trained.metrics["cell_folds"]["folds"] == 3
    assert trained.metrics["cell_folds"]["cells"] == 6
    low, high = trained.model.rul_log_residual_quantiles
    assert low < high
    assert trained.metrics["rul_interval_log_quantiles"] == [low, high]


def test_shap_plot_writes_a_png(trained: training.HealthTraining, tmp_path: Path) -> None:
    path = tmp_path / "plots" / "soh_shap.png"
    training.shap_plot(trained.model, trained.test_soh_rows, 50, str(path), SEED)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_log_candidate_logs_the_run_and_the_model(
    trained: training.HealthTraining,
    section: HealthParams,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    from batteryops.health import pyfunc

    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_utils._registry_uri)
    tracking_params = TrackingParams(
        uri=f"sqlite:///{tmp_path}/mlflow.db",
        experiment="t",
        artifact_dir=str(tmp_path / "art"),
        model_name="m",
    )
    model_path, shap_path = tmp_path / "soh.joblib", tmp_path / "soh_shap.png"
    trained.model.save(str(model_path))
    shap_path.write_bytes(b"\x89PNG\r\n\x1a\n")
    info = training.log_candidate(
        tracking_params, section, trained.model, trained.metrics, str(model_path), str(shap_path)
    )
    assert info["features"] == trained.model.soh_features
    run = mlflow.get_run(info["run_id"])
    assert mlflow.get_experiment(info["experiment_id"]).name == "t-health"
    assert run.data.metrics["soh_rmse_pct"] == trained.metrics["soh_rmse_pct"]
    assert "features" not in run.data.metrics  # an int: logged as a param only
    assert run.data.params["features"] == str(len(trained.model.soh_features))
    assert run.data.params["soh_xgboost.n_estimators"] == "20"
    assert run.data.tags["stage"] == "train_health"
    logged = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=info["run_id"],
                artifact_path="soh_metrics.json",
                dst_path=str(tmp_path / "dl"),
            )
        ).read_text()
    )
    assert logged["soh_rmse_pct"] == trained.metrics["soh_rmse_pct"]
    loaded = pyfunc.load_model(info["model_uri"])
    assert isinstance(loaded, HealthModel)
    frame = trained.test_soh_rows
    np.testing.assert_array_equal(
        loaded.soh.predict(frame[loaded.soh_features]),
        trained.model.soh.predict(frame[trained.model.soh_features]),
    )


def test_cells_that_never_reach_end_of_life_give_soh_and_no_rul(section: HealthParams) -> None:
    # NASA's 24 C cells never fall below 92 %: no RUL row to learn from or to judge.
    fades = {"T10-a": 3e-4, "T10-b": 2e-4, "T25-a": 2.5e-4, "T40-a": 3e-4, "T40-b": 2e-4}
    cycles = fading_cycles(fades, {cell: float(cell[1:3]) for cell in fades}, 200)
    table = build_table(cycles, None, None, section)
    trained = training.train_health(table.frame, table.split, table.features, section, SEED)
    assert trained.metrics["temperature_holdout"]["rul"] == {}
    assert np.isnan(trained.metrics["rul_mape_pct"])
    assert trained.metrics["soh_rmse_pct"] < 1.0
    assert trained.model.rul is None
    cells = trained.model.predict_cells(cycles, None)
    assert cells["soh"].notna().all() and "rul_cycles" not in cells
    judged = other_cells.judge(trained.model, fading_cycles({"X": 1e-3}, {"X": 20.0}, 300), None)
    assert list(judged["rul_at_judged_cycle"]) == ["fade_fit"]
