"""DVC stage ``train_health``: SOH and RUL models judged on the temperature holdout and LOCO.

XGBoost and the baselines (ridge, random forest; for RUL also the empirical fade fit) are fitted
on the training chambers and judged on the held-out one, then again in leave-one-cell-out folds.
Everything lands in ``metrics/soh.json`` side by side. The XGBoost pair trained on the training
chambers is logged to MLflow as the ``battery-soh`` candidate, with a TreeSHAP summary plot.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from batteryops.core import plots, schema
from batteryops.core.config import Params
from batteryops.core.io import read_json, require, write_json
from batteryops.health import dataset
from batteryops.health.model import FADE_FIT_RUL, HealthModel, fit_models, rul_rows
from batteryops.mlops import tracking
from stages._common import run

log = logging.getLogger("stages.train_health")
LOG_RUL = "log_rul"


def main(params: Params) -> None:
    """Fit, judge side by side, log the candidate."""
    paths, section = params.paths, params.health
    require(paths.health_features, paths.health_split)
    frame = pd.read_parquet(paths.health_features)
    split_info = read_json(paths.health_split)
    features = split_info["features"]
    soh_rows = frame[(frame[schema.CYCLE] % section.row_stride == 0) & frame[dataset.SOH].notna()]
    rul = rul_rows(frame, section)
    rul = rul[rul[dataset.RUL].notna() & (rul[dataset.RUL] > 0)].copy()
    rul[LOG_RUL] = np.log1p(rul[dataset.RUL])
    rul_features = features + [FADE_FIT_RUL]
    seed = params.train.seed
    train_cells = [c for c, s in split_info["cells"].items() if s == "train"]
    test_cells = [c for c, s in split_info["cells"].items() if s == "test"]
    dataset.assert_no_leak(train_cells, test_cells)

    holdout, fitted = _holdout(
        soh_rows, rul, features, rul_features, train_cells, test_cells, section, seed
    )
    metrics = {"temperature_holdout": holdout, "features": len(features)}
    residuals = np.array([])
    if section.loco:
        metrics["loco"], residuals = _loco(soh_rows, rul, features, rul_features, section, seed)
    quantiles = (
        tuple(float(q) for q in np.quantile(residuals, section.interval))
        if residuals.size
        else (0.0, 0.0)
    )
    model = HealthModel(
        fitted["soh"]["xgboost"],
        fitted["rul"]["xgboost"],
        features,
        rul_features,
        section,
        quantiles,
        {"train_cells": train_cells, "test_cells": test_cells},
    )
    metrics.update(_headline(holdout))
    metrics["rul_interval_log_quantiles"] = list(quantiles)
    model.save(paths.soh_model)
    test_soh = soh_rows[soh_rows[schema.CELL_ID].isin(test_cells)]
    _shap_plot(model, test_soh, section.shap_rows, paths.soh_shap, seed)
    info = _log_to_mlflow(params, model, metrics)
    write_json(metrics, paths.metrics.soh)
    write_json(info, paths.soh_model_info)
    log.info(
        "temperature holdout: SOH RMSE %.2f %%, within 3 %% %.3f; RUL MAPE %.1f %% at cycle %d",
        metrics["soh_rmse_pct"],
        metrics["soh_within_3pct"],
        metrics["rul_mape_pct"],
        section.rul_judged_at_cycle,
    )


def _holdout(soh_rows, rul, features, rul_features, train_cells, test_cells, section, seed):
    """Fit on the training chambers, judge on the test chamber: every model, both tasks."""
    in_train = soh_rows[schema.CELL_ID].isin(train_cells)
    in_test = soh_rows[schema.CELL_ID].isin(test_cells)
    soh_models = fit_models(
        soh_rows[in_train], features, dataset.SOH, section.soh_xgboost, seed, linear_base=True
    )
    soh_out = {
        name: dataset.soh_metrics(
            soh_rows.loc[in_test, dataset.SOH], model.predict(soh_rows.loc[in_test, features])
        )
        for name, model in soh_models.items()
    }
    rul_train = rul[rul[schema.CELL_ID].isin(train_cells)]
    rul_test = rul[rul[schema.CELL_ID].isin(test_cells)]
    rul_models = fit_models(rul_train, rul_features, LOG_RUL, section.rul_xgboost, seed)
    judged = rul_test[rul_test[schema.CYCLE] == section.rul_judged_at_cycle]
    rul_out = {}
    for name, model in rul_models.items():
        rul_out[name] = {
            "at_judged_cycle": dataset.rul_metrics(
                judged[dataset.RUL], np.expm1(model.predict(judged[rul_features]))
            ),
            "all_rows": dataset.rul_metrics(
                rul_test[dataset.RUL], np.expm1(model.predict(rul_test[rul_features]))
            ),
        }
    rul_out["fade_fit"] = {
        "at_judged_cycle": dataset.rul_metrics(judged[dataset.RUL], np.expm1(judged[FADE_FIT_RUL])),
        "all_rows": dataset.rul_metrics(rul_test[dataset.RUL], np.expm1(rul_test[FADE_FIT_RUL])),
    }
    result = {
        "train_cells": len(train_cells),
        "test_cells": len(test_cells),
        "soh": soh_out,
        "rul": rul_out,
        "rul_judged_at_cycle": section.rul_judged_at_cycle,
    }
    return result, {"soh": soh_models, "rul": rul_models}


def _loco(soh_rows, rul, features, rul_features, section, seed):
    """Leave-one-cell-out: per fold metrics, their mean and std; out-of-fold log-RUL residuals."""
    cells = sorted(soh_rows[schema.CELL_ID].unique())
    per_fold: dict[str, dict[str, list[float]]] = {}
    residuals = []
    loco_rows = soh_rows[soh_rows[schema.CYCLE] % (4 * section.row_stride) == 0]
    for train_cells, test_cells in dataset.loco_folds(cells):
        dataset.assert_no_leak(train_cells, test_cells)
        train = loco_rows[loco_rows[schema.CELL_ID].isin(train_cells)]
        test = soh_rows[soh_rows[schema.CELL_ID].isin(test_cells)]
        soh_models = fit_models(
            train, features, dataset.SOH, section.soh_xgboost, seed, linear_base=True
        )
        for name, model in soh_models.items():
            m = dataset.soh_metrics(test[dataset.SOH], model.predict(test[features]))
            fold = per_fold.setdefault(f"soh.{name}", {})
            for key in ("rmse_pct", "mae_pct", "within_3pct", "within_5pct"):
                fold.setdefault(key, []).append(m[key])
        rul_train = rul[rul[schema.CELL_ID].isin(train_cells)]
        rul_test = rul[rul[schema.CELL_ID].isin(test_cells)]
        if rul_test.empty:
            continue
        rul_models = fit_models(rul_train, rul_features, LOG_RUL, section.rul_xgboost, seed)
        predictions = {n: m.predict(rul_test[rul_features]) for n, m in rul_models.items()}
        predictions["fade_fit"] = rul_test[FADE_FIT_RUL].to_numpy()
        residuals.append(rul_test[LOG_RUL].to_numpy() - predictions["xgboost"])
        for name, pred in predictions.items():
            m = dataset.rul_metrics(rul_test[dataset.RUL], np.expm1(pred))
            fold = per_fold.setdefault(f"rul.{name}", {})
            for key in ("rmse_cycles", "mape_pct"):
                fold.setdefault(key, []).append(m[key])
    summary: dict[str, dict] = {"folds": len(cells)}
    for key, values in per_fold.items():
        task, name = key.split(".", 1)
        summary.setdefault(task, {})[name] = {
            metric: {"mean": float(np.nanmean(v)), "std": float(np.nanstd(v))}
            for metric, v in values.items()
        }
    return summary, np.concatenate(residuals) if residuals else np.array([])


def _headline(holdout: dict) -> dict[str, float]:
    """The flat keys the gates read: XGBoost on the temperature holdout."""
    soh, rul = holdout["soh"]["xgboost"], holdout["rul"]["xgboost"]["at_judged_cycle"]
    return {
        "soh_rmse_pct": soh["rmse_pct"],
        "soh_mae_pct": soh["mae_pct"],
        "soh_mape_pct": soh["mape_pct"],
        "soh_r2": soh["r2"],
        "soh_within_3pct": soh["within_3pct"],
        "soh_within_5pct": soh["within_5pct"],
        "rul_rmse_cycles": rul["rmse_cycles"],
        "rul_mape_pct": rul["mape_pct"],
    }


def _shap_plot(model: HealthModel, rows: pd.DataFrame, limit: int, path: str, seed: int) -> None:
    """SHAP summary of the SOH model on held-out rows (ridge part exact, trees by TreeSHAP)."""
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


def _log_to_mlflow(params: Params, model: HealthModel, metrics: dict) -> dict[str, object]:
    import mlflow

    from batteryops.health import pyfunc as health_pyfunc

    tracking_params = params.tracking.model_copy(
        update={"experiment": f"{params.tracking.experiment}-health"}
    )
    experiment_id = tracking.configure(tracking_params)
    with mlflow.start_run(experiment_id=experiment_id) as active:
        section = params.health
        mlflow.log_params({f"soh_xgboost.{k}": v for k, v in section.soh_xgboost.items()})
        mlflow.log_params({f"rul_xgboost.{k}": v for k, v in section.rul_xgboost.items()})
        mlflow.log_params(
            {
                "source": section.source,
                "eol_soh": section.eol_soh,
                "features": len(model.soh_features),
            }
        )
        mlflow.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float)})
        mlflow.set_tags({"git_commit": tracking.git_commit(), "stage": "train_health"})
        mlflow.log_dict(metrics, "soh_metrics.json")
        mlflow.log_artifact(params.paths.soh_shap)
        info = health_pyfunc.log_model(params.paths.soh_model)
    return {
        "run_id": active.info.run_id,
        "model_uri": info.model_uri,
        "experiment_id": experiment_id,
        "features": model.soh_features,
    }


if __name__ == "__main__":
    run("train_health", main)
