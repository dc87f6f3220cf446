"""Hazard evaluation on held-out modules: row metrics, event metrics, and the rule baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from batteryops.core.config import AlarmParams, RuleBaselineParams
from batteryops.hazard import events

# The rule baseline's score column: the rule alarms where it reaches 1 (:func:`rule_score`).
RULE_SCORE = "rule_score"
RULE_THRESHOLD = 1.0


def rule_score(frame: pd.DataFrame, rule: RuleBaselineParams) -> np.ndarray:
    """The temperature / dT/dt rule as a score: alarm where it reaches 1.

    ``max(temp_max_c / rule.temp_max_c, slope_60s / rule.slope_c_per_min)``; the continuous
    form gives the rule a PR curve beside the model.
    """
    temp = frame["temp_max_c"].to_numpy(dtype=float) / rule.temp_max_c
    slope = frame["temp_max_c_slope_60s_per_min"].to_numpy(dtype=float) / rule.slope_c_per_min
    return np.fmax(temp, slope)


def ranked(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives at each distinct score, highest score first (one sort).

    The metrics and the PR curve of the same rows can share it (``ranked=`` below).
    """
    valid = ~np.isnan(scores)
    labels, scores = labels[valid].astype(bool), scores[valid]
    # Rows of equal score are one point (``last``), so their order among themselves is free:
    # the unstable sort is several times faster on tens of millions of rows.
    order = np.argsort(-scores)
    ordered = scores[order]
    last = np.concatenate([np.flatnonzero(np.diff(ordered)), [len(ordered) - 1]])
    true_positives = np.cumsum(labels[order])[last] if len(ordered) else np.array([])
    return true_positives, (last + 1) - true_positives


def row_metrics(
    labels: np.ndarray, scores: np.ndarray, ranking: tuple[np.ndarray, np.ndarray] | None = None
) -> dict[str, float]:
    """PR AUC (average precision) and ROC AUC on labelled rows.

    The definitions of scikit-learn's ``average_precision_score`` and ``roc_auc_score``, from one
    sort of the scores instead of one per metric (held-out rows number in the tens of millions);
    ``ranking``: :func:`ranked` of these rows when already computed.
    """
    true_positives, false_positives = ranking or ranked(labels, scores)
    if len(true_positives) == 0 or true_positives[-1] == 0 or false_positives[-1] == 0:
        return {"pr_auc": float("nan"), "roc_auc": float("nan")}
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / true_positives[-1]
    pr_auc = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))
    tpr = np.concatenate([[0.0], recall])
    fpr = np.concatenate([[0.0], false_positives / false_positives[-1]])
    return {"pr_auc": pr_auc, "roc_auc": float(np.trapezoid(tpr, fpr))}


def pr_curve(
    labels: np.ndarray,
    scores: np.ndarray,
    points: int = 200,
    ranking: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Precision-recall curve thinned to about ``points`` points (recall, precision).

    ``ranking``: :func:`ranked` of these rows when already computed.
    """
    true_positives, false_positives = ranking or ranked(labels, scores)
    if len(true_positives) == 0 or true_positives[-1] == 0:
        return np.array([0.0]), np.array([1.0])
    recall = np.concatenate([[0.0], true_positives / true_positives[-1]])
    precision = np.concatenate([[1.0], true_positives / (true_positives + false_positives)])
    keep = np.unique(np.linspace(0, len(recall) - 1, points).astype(int))
    return recall[keep], precision[keep]


def threshold_candidates(scores: np.ndarray, size: int) -> np.ndarray:
    """Candidate thresholds: quantiles of the upper tail of the validation scores."""
    finite = scores[np.isfinite(scores)]
    quantiles = 1.0 - np.logspace(-6, -0.3, size)
    return np.unique(np.quantile(finite, quantiles))


def split_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    tracks: list[events.ModuleTrack],
    threshold: float,
    alarm: AlarmParams,
    ranking: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, object]:
    """Row and event metrics of one score on one split at one threshold.

    Args:
        labels: ``hazard`` of the split's trainable rows.
        scores: The score of those rows.
        tracks: The split's module tracks of that score (:func:`events.score_tracks`).
        threshold: Operating threshold.
        alarm: The ``alarm`` section.
        ranking: :func:`ranked` of ``labels`` and ``scores`` when already computed.
    """
    return (
        row_metrics(labels, scores, ranking)
        | events.event_metrics(tracks, threshold, alarm)
        | {"threshold": threshold}
    )


def delta_t_sums(
    target: np.ndarray, forecasts: dict[str, np.ndarray], subsets: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Sums of squared and absolute errors per forecast and per subset of rows.

    Rows whose target is unknown are skipped; a NaN forecast counts as 0 (no change). Sums add
    up across partitions; :func:`delta_t_metrics` turns them into RMSE and MAE.
    """
    known = np.isfinite(target)
    sums: dict[str, dict[str, float]] = {}
    for subset, rows in subsets.items():
        mask = known & rows
        for name, forecast in forecasts.items():
            error = np.nan_to_num(forecast[mask].astype(float)) - target[mask]
            sums[f"{subset}.{name}"] = {
                "n": float(mask.sum()),
                "se": float(np.square(error).sum()),
                "ae": float(np.abs(error).sum()),
            }
    return sums


def add_sums(total: dict[str, dict[str, float]], more: dict[str, dict[str, float]]) -> None:
    """Add one partition's :func:`delta_t_sums` into a running total (in place)."""
    for key, values in more.items():
        into = total.setdefault(key, {"n": 0.0, "se": 0.0, "ae": 0.0})
        for name, value in values.items():
            into[name] += value


def delta_t_metrics(sums: dict[str, dict[str, float]], reference: str) -> dict[str, object]:
    """RMSE and MAE per forecast and subset, and each one's skill over ``reference``.

    Skill is the reference's RMSE divided by the forecast's (3 means three times lower).
    """
    result: dict[str, object] = {}
    for key, value in sums.items():
        subset, name = key.split(".", 1)
        n = value["n"]
        entry = result.setdefault(subset, {"rows": int(n)})
        entry[name] = {
            "rmse_c": float(np.sqrt(value["se"] / n)) if n else float("nan"),
            "mae_c": float(value["ae"] / n) if n else float("nan"),
        }
    for entry in result.values():
        base = entry[reference]["rmse_c"]
        for scores in entry.values():
            if isinstance(scores, dict):
                rmse = scores["rmse_c"]
                scores[f"skill_vs_{reference}"] = float(base / rmse) if rmse else float("nan")
    return result
