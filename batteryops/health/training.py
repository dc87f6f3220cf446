"""Training the health model: the temperature holdout, cells held out in folds, the candidate.

XGBoost and the baselines (ridge, random forest; for RUL also the empirical fade fit) are fitted
on the training chambers and judged on the held-out one (:func:`holdout`), then again with the
cells held out in folds (:func:`cross_validate`), whose out-of-fold log-RUL residuals give the
RUL interval. :func:`train_health` runs both and returns the XGBoost pair of the holdout as a
:class:`~batteryops.health.model.HealthModel` with every metric side by side;
:func:`shap_plot` and :func:`log_candidate` write its SHAP summary and log it to MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from batteryops.core import plots, schema
from batteryops.core.config import HealthParams, TrackingParams
from batteryops.health import dataset
from batteryops.health.model import FADE_FIT_RUL, HealthModel, fit_models, rul_rows
from batteryops.mlops import tracking

LOG_RUL = "log_rul"
SOH_FOLD_METRICS = ("rmse_pct", "mae_pct", "within_3pct", "within_5pct")
RUL_FOLD_METRICS = ("rmse_cycles", "mape_pct")
CYCLES_SINCE_CURVE = "cycles_since_curve"


@dataclass(frozen=True)
class TrainingRows:
    """The rows each task learns from and is judged on, with their feature lists."""

    soh: pd.DataFrame  # every ``row_stride`` cycles, with a known SOH, not at a check-up curve
    rul: pd.DataFrame  # RUL rows with a known RUL above zero, and its log in ``LOG_RUL``
    soh_features: list[str]
    rul_features: list[str]  # the SOH features and the fade fit's own log-RUL estimate


@dataclass(frozen=True)
class HealthTraining:
    """What :func:`train_health` returns."""

    model: HealthModel  # the XGBoost pair fitted on the training chambers
    metrics: dict  # the content of ``metrics/soh.json``
    test_soh_rows: pd.DataFrame  # the held-out chamber's SOH rows (for the SHAP summary)


def training_rows(frame: pd.DataFrame, features: list[str], params: HealthParams) -> TrainingRows:
    """SOH and RUL rows of the health table (see :class:`TrainingRows`)."""
    soh_rows = frame[(frame[schema.CYCLE] % params.row_stride == 0) & frame[dataset.SOH].notna()]
    if CYCLES_SINCE_CURVE in soh_rows:
        # A row with its own low-rate curve is a check-up: its SOH is measured, not estimated.
        soh_rows = soh_rows[soh_rows[CYCLES_SINCE_CURVE] != 0]
    rul = rul_rows(frame, params)
    rul = rul[rul[dataset.RUL].notna() & (rul[dataset.RUL] > 0)].copy()
    rul[LOG_RUL] = np.log1p(rul[dataset.RUL])
    soh_features = [name for name in features if name in dataset.SOH_FEATURES]
    return TrainingRows(soh_rows, rul, soh_features, features + [FADE_FIT_RUL])


def train_health(
    frame: pd.DataFrame,
    cells: dict[str, str],
    features: list[str],
    params: HealthParams,
    seed: int,
) -> HealthTraining:
    """Fit and judge every model on the temperature holdout (and in LOCO folds if enabled).

    Args:
        frame: The health table (:func:`batteryops.health.table.build_table`).
        cells: Cell -> ``train``, ``test`` or ``unused`` (the temperature holdout).
        features: The feature columns (the SOH model reads those in ``dataset.SOH_FEATURES``).
        params: The ``health`` section.
        seed: Seed of every model.

    Returns:
        The candidate model, the metrics and the held-out SOH rows.
    """
    rows = training_rows(frame, features, params)
    train_cells = [c for c, s in cells.items() if s == "train"]
    test_cells = [c for c, s in cells.items() if s == "test"]
    dataset.assert_no_leak(train_cells, test_cells)

    judged, fitted = holdout(rows, train_cells, test_cells, params, seed)
    metrics = {
        "temperature_holdout": judged,
        "features": len(rows.soh_features),
        "rul_features": len(rows.rul_features),
    }
    residuals = np.array([])
    if params.cell_folds:
        metrics["cell_folds"], residuals = cross_validate(rows, params, seed)
    quantiles = residual_quantiles(residuals, params.interval)
    model = HealthModel(
        fitted["soh"]["xgboost"],
        fitted["rul"].get("xgboost"),
        rows.soh_features,
        rows.rul_features,
        params,
        quantiles,
        {"train_cells": train_cells, "test_cells": test_cells},
    )
    metrics.update(headline(judged))
    metrics["rul_interval_log_quantiles"] = list(quantiles)
    test_soh = rows.soh[rows.soh[schema.CELL_ID].isin(test_cells)]
    return HealthTraining(model, metrics, test_soh)


def holdout(
    rows: TrainingRows,
    train_cells: list[str],
    test_cells: list[str],
    params: HealthParams,
    seed: int,
) -> tuple[dict, dict[str, dict[str, object]]]:
    """Fit on the training chambers, judge on the test chamber: every model, both tasks.

    Returns:
        The metrics (per task and model; RUL at the judged cycle and over all rows) and the
        fitted models (``{"soh": {name: model}, "rul": {name: model}}``).
    """
    soh_rows, rul = rows.soh, rows.rul
    soh_out, soh_models = _judge_soh(
        soh_rows[soh_rows[schema.CELL_ID].isin(train_cells)],
        soh_rows[soh_rows[schema.CELL_ID].isin(test_cells)],
        rows.soh_features,
        params.soh_xgboost,
        seed,
    )
    rul_out, rul_models = _judge_rul(
        rul[rul[schema.CELL_ID].isin(train_cells)],
        rul[rul[schema.CELL_ID].isin(test_cells)],
        rows.rul_features,
        params,
        seed,
    )
    result = {
        "train_cells": len(train_cells),
        "test_cells": len(test_cells),
        "soh": soh_out,
        "rul": rul_out,
        "rul_judged_at_cycle": params.rul_judged_at_cycle,
    }
    return result, {"soh": soh_models, "rul": rul_models}


def _judge_soh(
    train: pd.DataFrame, test: pd.DataFrame, features: list[str], hyper: dict, seed: int
) -> tuple[dict, dict[str, object]]:
    """Every SOH model fitted on ``train`` and its metrics on ``test``."""
    soh_models = fit_models(train, features, dataset.SOH, hyper, seed, since_checkup=True)
    soh_out = {
        name: dataset.soh_metrics(
            test[dataset.SOH], model.predict(test[features]), test[schema.CELL_ID]
        )
        for name, model in soh_models.items()
    }
    for name, column in dataset.SOH_BASELINES.items():
        soh_out[name] = dataset.soh_metrics(test[dataset.SOH], test[column], test[schema.CELL_ID])
    return soh_out, soh_models


def _judge_rul(
    rul_train: pd.DataFrame,
    rul_test: pd.DataFrame,
    rul_features: list[str],
    params: HealthParams,
    seed: int,
) -> tuple[dict, dict[str, object]]:
    """Every RUL model (and the fade fit) fitted on ``rul_train``, judged on ``rul_test``.

    Judged at ``rul_judged_at_cycle`` (the gate's figure) and over all rows. Without RUL rows to
    learn from (cells that never reach end of life in their data, or end before
    ``rul_from_cycle``) nothing is fitted and nothing judged: ``({}, {})``.
    """
    if rul_train.empty:
        return {}, {}
    rul_models = fit_models(rul_train, rul_features, LOG_RUL, params.rul_xgboost, seed)
    return _rul_scores(rul_models, rul_test, rul_features, params), rul_models


def _predict_rul(model: object, rows: pd.DataFrame, features: list[str]) -> np.ndarray:
    """RUL in cycles by a log-RUL model; empty for no rows (the models refuse those)."""
    return np.expm1(model.predict(rows[features])) if len(rows) else np.zeros(0)


def _rul_scores(
    rul_models: dict[str, object],
    rul_test: pd.DataFrame,
    rul_features: list[str],
    params: HealthParams,
) -> dict[str, dict]:
    """Fitted RUL models and the fade fit judged on ``rul_test``: at the judged cycle, all rows."""
    judged = rul_test[rul_test[schema.CYCLE] == params.rul_judged_at_cycle]
    rul_out = {}
    for name, model in rul_models.items():
        rul_out[name] = {
            "at_judged_cycle": dataset.rul_metrics(
                judged[dataset.RUL], _predict_rul(model, judged, rul_features), one_per_cell=True
            ),
            "all_rows": dataset.rul_metrics(
                rul_test[dataset.RUL], _predict_rul(model, rul_test, rul_features)
            ),
        }
    rul_out["fade_fit"] = {
        "at_judged_cycle": dataset.rul_metrics(
            judged[dataset.RUL], np.expm1(judged[FADE_FIT_RUL]), one_per_cell=True
        ),
        "all_rows": dataset.rul_metrics(rul_test[dataset.RUL], np.expm1(rul_test[FADE_FIT_RUL])),
    }
    return rul_out


def cross_validate(rows: TrainingRows, params: HealthParams, seed: int) -> tuple[dict, np.ndarray]:
    """Cells held out in ``params.cell_folds`` folds: metrics per held-out cell, their mean and std.

    Each fold's models are fitted on the other cells (SOH on every fourth SOH row: a fold makes
    several fits) and judged on each held-out cell on its own, so the mean and std are over cells
    whatever the number of folds (as many folds as cells is leave-one-cell-out).

    Returns:
        ``{"folds": k, "cells": n, "soh": {model: {metric: {"mean", "std"}}}, "rul": {...}}``
        and the XGBoost RUL model's out-of-fold residuals in log space (empty without RUL rows).
    """
    cells = sorted(rows.soh[schema.CELL_ID].unique())
    per_cell: dict[str, dict[str, list[float]]] = {}
    residuals = []
    cv_rows = rows.soh[rows.soh[schema.CYCLE] % (4 * params.row_stride) == 0]
    folds = list(dataset.cell_folds(cells, params.cell_folds))
    for train_cells, test_cells in folds:
        dataset.assert_no_leak(train_cells, test_cells)
        judged, residual = _fold(rows, cv_rows, train_cells, test_cells, params, seed)
        for cell_metrics in judged:
            for key, values in cell_metrics.items():
                for metric, value in values.items():
                    per_cell.setdefault(key, {}).setdefault(metric, []).append(value)
        if residual is not None:
            residuals.append(residual)
    summary: dict[str, object] = {"folds": len(folds), "cells": len(cells)}
    for key, values in per_cell.items():
        task, name = key.split(".", 1)
        summary.setdefault(task, {})[name] = {
            metric: {"mean": float(np.nanmean(v)), "std": float(np.nanstd(v))}
            for metric, v in values.items()
        }
    return summary, np.concatenate(residuals) if residuals else np.array([])


def _fold(
    rows: TrainingRows,
    cv_rows: pd.DataFrame,
    train_cells: list[str],
    test_cells: list[str],
    params: HealthParams,
    seed: int,
) -> tuple[list[dict[str, dict[str, float]]], np.ndarray | None]:
    """One fold: the metrics of each held-out cell and the fold's out-of-fold log-RUL residuals.

    Returns:
        Per held-out cell ``{"soh.<model>": {metric: value}, "rul.<model>": {...}}`` (no RUL
        entry for a cell without RUL rows) and the residuals (None when no held-out cell has any).
    """
    train = cv_rows[cv_rows[schema.CELL_ID].isin(train_cells)]
    features = rows.soh_features
    soh_models = fit_models(train, features, dataset.SOH, params.soh_xgboost, seed, True)
    rul_train = rows.rul[rows.rul[schema.CELL_ID].isin(train_cells)]
    rul_test = rows.rul[rows.rul[schema.CELL_ID].isin(test_cells)]
    rul_models = (
        {}
        if rul_test.empty or rul_train.empty
        else fit_models(rul_train, rows.rul_features, LOG_RUL, params.rul_xgboost, seed)
    )
    judged = []
    for cell in test_cells:
        test = rows.soh[rows.soh[schema.CELL_ID] == cell]
        cell_metrics = {
            f"soh.{name}": {
                k: dataset.soh_metrics(test[dataset.SOH], model.predict(test[features]))[k]
                for k in SOH_FOLD_METRICS
            }
            for name, model in soh_models.items()
        }
        cell_rul = rul_test[rul_test[schema.CELL_ID] == cell]
        if not cell_rul.empty:
            scored = _rul_scores(rul_models, cell_rul, rows.rul_features, params)
            for name, result in scored.items():
                cell_metrics[f"rul.{name}"] = {k: result["all_rows"][k] for k in RUL_FOLD_METRICS}
        judged.append(cell_metrics)
    if not rul_models:
        return judged, None
    predicted = rul_models["xgboost"].predict(rul_test[rows.rul_features])
    return judged, rul_test[LOG_RUL].to_numpy() - predicted


def residual_quantiles(residuals: np.ndarray, interval: tuple[float, float]) -> tuple[float, float]:
    """The ``interval`` quantiles of the out-of-fold log-RUL residuals; (0, 0) without any."""
    if not residuals.size:
        return (0.0, 0.0)
    return tuple(float(q) for q in np.quantile(residuals, interval))


def best_baseline_rmse(soh_metrics: dict[str, dict]) -> float:
    """The lowest SOH RMSE (points) among the baselines that fit nothing; NaN if none answered."""
    values = [soh_metrics[name]["rmse_pct"] for name in dataset.SOH_BASELINES]
    finite = [value for value in values if np.isfinite(value)]
    return min(finite) if finite else float("nan")


def second_family_headline(judged: dict) -> dict[str, float]:
    """The flat keys the gates read from the second ageing family (:mod:`.other_cells`)."""
    return {
        "second_family_soh_rmse_pct": judged["soh"]["xgboost"]["rmse_pct"],
        "second_family_soh_within_3pct": judged["soh"]["xgboost"]["within_3pct"],
        "second_family_soh_best_baseline_rmse_pct": best_baseline_rmse(judged["soh"]),
    }


def headline(holdout_metrics: dict) -> dict[str, float]:
    """The flat keys the gates read: XGBoost on the temperature holdout."""
    soh = holdout_metrics["soh"]["xgboost"]
    rul = holdout_metrics["rul"].get("xgboost", {}).get("at_judged_cycle", {})
    return {
        "soh_best_baseline_rmse_pct": best_baseline_rmse(holdout_metrics["soh"]),
        "soh_rmse_pct": soh["rmse_pct"],
        "soh_mae_pct": soh["mae_pct"],
        "soh_mape_pct": soh["mape_pct"],
        "soh_r2": soh["r2"],
        "soh_within_3pct": soh["within_3pct"],
        "soh_within_5pct": soh["within_5pct"],
        "soh_cells_within_3pct_lower95": soh.get("cells_within_3pct_lower95", float("nan")),
        "rul_rmse_cycles": rul.get("rmse_cycles", float("nan")),
        "rul_mape_pct": rul.get("mape_pct", float("nan")),
        "rul_mape_pct_upper95": rul.get("mape_pct_upper95", float("nan")),
    }


def shap_plot(model: HealthModel, rows: pd.DataFrame, limit: int, path: str, seed: int) -> None:
    """SHAP summary PNG of the SOH model on held-out rows (ridge part exact, trees by TreeSHAP).

    Args:
        model: The fitted health model.
        rows: Held-out SOH rows.
        limit: At most this many rows, sampled with ``seed``.
        path: Where the PNG goes.
        seed: Sampling seed.
    """
    sample = rows.sample(min(limit, len(rows)), random_state=seed) if len(rows) else rows
    values = sample[model.soh_features]
    contributions = model.soh.contributions(values)
    plots.shap_summary_png(
        contributions,
        values.to_numpy(dtype=float),
        model.soh_features,
        path,
        xlabel="SHAP contribution to SOH (blue: low value, red: high)",
        title="SOH model on the held-out chamber: what drives the estimate",
    )


def log_candidate(
    tracking_params: TrackingParams,
    params: HealthParams,
    model: HealthModel,
    metrics: dict,
    model_path: str,
    shap_path: str,
) -> dict[str, object]:
    """Log the candidate to MLflow (experiment ``<tracking.experiment>-health``).

    Logs both boosters' hyper-parameters, the float metrics, the metrics as
    ``soh_metrics.json``, the SHAP plot and the saved model as a pyfunc.

    Args:
        tracking_params: The ``tracking`` section.
        params: The ``health`` section.
        model: The candidate (for its feature list).
        metrics: The training metrics.
        model_path: The saved model (:meth:`HealthModel.save`).
        shap_path: The SHAP summary PNG.

    Returns:
        ``run_id``, ``model_uri``, ``experiment_id`` and ``features``: what registration reads.
    """
    import mlflow

    from batteryops.health import pyfunc as health_pyfunc

    health_tracking = tracking_params.model_copy(
        update={"experiment": f"{tracking_params.experiment}-health"}
    )
    experiment_id = tracking.configure(health_tracking)
    with mlflow.start_run(experiment_id=experiment_id) as active:
        mlflow.log_params({f"soh_xgboost.{k}": v for k, v in params.soh_xgboost.items()})
        mlflow.log_params({f"rul_xgboost.{k}": v for k, v in params.rul_xgboost.items()})
        mlflow.log_params(
            {
                "source": params.source,
                "eol_soh": params.eol_soh,
                "features": len(model.soh_features),
            }
        )
        mlflow.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float)})
        mlflow.set_tags({"git_commit": tracking.git_commit(), "stage": "train_health"})
        mlflow.log_dict(metrics, "soh_metrics.json")
        mlflow.log_artifact(shap_path)
        info = health_pyfunc.log_model(model_path)
    return {
        "run_id": active.info.run_id,
        "model_uri": info.model_uri,
        "experiment_id": experiment_id,
        "features": model.soh_features,
    }
