"""batteryops.hazard.evaluate: row metrics from one sort, ΔT forecast error sums."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batteryops.hazard.evaluate import add_sums, delta_t_metrics, delta_t_sums, row_metrics


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.booleans(), min_size=2, max_size=80),
    seed=st.integers(0, 1000),
    ties=st.booleans(),
)
def test_row_metrics_match_scikit_learn(labels: list[bool], seed: int, ties: bool) -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    truth = np.array(labels)
    if truth.all() or not truth.any():
        return
    scores = np.random.default_rng(seed).random(len(truth))
    if ties:
        scores = np.round(scores, 1)
    metrics = row_metrics(truth, scores)
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(truth, scores))
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(truth, scores))


def test_delta_t_metrics_add_up_across_partitions() -> None:
    target = np.array([1.0, 2.0, np.nan, 4.0])
    forecasts = {"model": np.array([1.0, 1.0, 0.0, 4.0]), "persistence": np.zeros(4)}
    subsets = {"all": np.ones(4, dtype=bool), "hot": np.array([False, True, True, True])}
    total: dict = {}
    add_sums(
        total,
        delta_t_sums(
            target[:2],
            {k: v[:2] for k, v in forecasts.items()},
            {k: v[:2] for k, v in subsets.items()},
        ),
    )
    add_sums(
        total,
        delta_t_sums(
            target[2:],
            {k: v[2:] for k, v in forecasts.items()},
            {k: v[2:] for k, v in subsets.items()},
        ),
    )
    metrics = delta_t_metrics(total, reference="persistence")
    assert metrics["all"]["rows"] == 3  # the unknown target is skipped
    assert metrics["all"]["model"]["rmse_c"] == pytest.approx(np.sqrt(1 / 3))
    assert metrics["all"]["persistence"]["rmse_c"] == pytest.approx(np.sqrt(21 / 3))
    assert metrics["all"]["model"]["skill_vs_persistence"] == pytest.approx(np.sqrt(21))
    assert metrics["hot"]["rows"] == 2
    assert metrics["hot"]["model"]["mae_c"] == pytest.approx(0.5)
