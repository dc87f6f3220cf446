"""The hazard booster fitted through XGBoost's Dask interface against one fitted in process.

Synthetic rows with a rare positive class, as the hazard rows are; the same hyper-parameters and
early stopping (:class:`batteryops.hazard.models.BestFromRound`) either way. A 2-worker cluster
of threads builds its quantile sketch from two shares of the rows, so its bin edges, and so its
trees, differ a little: the tolerances below are the model's (the pipeline's features and
scores are exact, ``test_partitions.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.compute import partitions_runner
from batteryops.core.config import ComputeParams, Params
from batteryops.hazard import models

FEATURES = [f"x{i}" for i in range(6)]


def _rows(count: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, len(FEATURES))).astype(np.float32)
    x[rng.random(x.shape) < 0.02] = np.nan  # dropouts, as the telemetry has
    risk = 1.5 * np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2])
    frame = pd.DataFrame(x, columns=FEATURES)
    frame[schema.HAZARD] = (risk + rng.normal(scale=1.0, size=count) > 3.5).astype(np.int8)
    return frame


@pytest.fixture(scope="module")
def fits(params: Params) -> dict[str, models.TrainedModel]:
    train, validation = _rows(30_000, 1), _rows(10_000, 2)
    section = params.train.model_copy(
        update={"xgboost": params.train.xgboost.model_copy(update={"n_estimators": 80})}
    )
    fitted = {"in process": models.train_hazard(train, validation, FEATURES, section)}
    compute = ComputeParams(cluster="local", workers=2, processes=False)
    with partitions_runner(compute) as runner:
        fitted["dask"] = models.train_hazard(train, validation, FEATURES, section, runner.client)
    return fitted


def test_the_dask_fit_matches_the_one_in_process_within_tolerance(fits) -> None:
    here, dask = fits["in process"], fits["dask"]
    assert dask.train_rows == here.train_rows and dask.train_positives == here.train_positives
    assert abs(dask.validation_pr_auc - here.validation_pr_auc) < 0.02
    probe = _rows(5_000, 3)
    ours, theirs = (models.predict(f.booster, probe, FEATURES) for f in (here, dask))
    assert np.corrcoef(ours, theirs)[0, 1] > 0.98
    assert np.mean(np.abs(ours - theirs)) < 0.03


def test_the_dask_fit_is_early_stopped_as_in_process(fits) -> None:
    here, dask = fits["in process"], fits["dask"]
    for fitted in (here, dask):
        assert fitted.booster.num_boosted_rounds() == fitted.best_iteration + 1
    assert abs(dask.best_iteration - here.best_iteration) <= 20


def test_the_stopping_callback_keeps_no_state() -> None:
    # Shared by two worker threads, or pickled to each, it must decide as one object would.
    scores = [0.90, 0.97] + [0.95] * 28 + [0.975, 0.98] + [0.96] * 40
    stop = models.BestFromRound(min_rounds=20, patience=20)
    callback = stop.callback()
    history = {"validation": {"aucpr": []}}
    decisions = []
    for round_, score in enumerate(scores):
        history["validation"]["aucpr"].append(score)
        decisions.append(callback.after_iteration(None, round_, history))
        decisions[-1] = decisions[-1] and callback.after_iteration(None, round_, history)
    assert decisions.index(True) == 51
    assert stop.best_round is None  # the object it came from is untouched
    assert models.BestFromRound.replay(20, 20, scores).best_round == 31


def test_rows_in_time_order_with_the_positives_late_still_fit_alike(params: Params) -> None:
    # Training rows come in time order and faults happen late: a worker holding only the first
    # half would hold no positive, and the distributed PR AUC that early stopping reads broke
    # (a 10x fleet's booster stopped at round 19, validation PR AUC 0.60 against 0.97).
    train, validation = (
        _rows(n, seed).sort_values(schema.HAZARD, kind="stable").reset_index(drop=True)
        for n, seed in ((30_000, 1), (10_000, 2))
    )
    section = params.train.model_copy(
        update={"xgboost": params.train.xgboost.model_copy(update={"n_estimators": 80})}
    )
    here = models.train_hazard(train, validation, FEATURES, section)
    with partitions_runner(ComputeParams(cluster="local", workers=2, processes=False)) as runner:
        dask = models.train_hazard(train, validation, FEATURES, section, runner.client)
    assert abs(dask.validation_pr_auc - here.validation_pr_auc) < 0.02
    assert abs(dask.best_iteration - here.best_iteration) <= 20
