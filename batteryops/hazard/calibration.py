"""The hazard probability calibrated on validation modules, before any fixed probability cut.

The classifier is trained with the positive class weighted by the class ratio, so its output
ranks seconds well but is not a probability: the alarm's threshold, chosen on validation, sits at
0.998. A fixed cut such as derating's ``watch_probability`` needs a calibrated value. An isotonic
regression of the hazard label on the model's probability, fitted on the validation split's
trainable rows, maps one to the other; it is kept as at most :data:`KNOTS` points of a monotone
piecewise-linear curve (stored with the operating point of the registered version) and applied
with :func:`apply`. The test split judges it: Brier score before and after, and a reliability
table (mean predicted against observed rate per bin).
"""

from __future__ import annotations

from typing import Any

import numpy as np

KNOTS = 64  # the most points the stored curve keeps (the version tag has a size limit)
BINS = 10


def fit(probability: np.ndarray, labels: np.ndarray) -> dict[str, list[float]] | None:
    """The isotonic calibration curve of ``probability`` against ``labels``.

    Args:
        probability: The model's hazard probability on validation rows.
        labels: Their ``hazard`` labels (0/1).

    Returns:
        ``{"x": [...], "y": [...]}``: increasing raw probabilities and the calibrated ones;
        None when the labels hold one class only.
    """
    from sklearn.isotonic import IsotonicRegression

    probability = np.asarray(probability, dtype=float)
    labels = np.asarray(labels, dtype=float)
    if len(np.unique(labels)) < 2:
        return None
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(probability, labels)
    x, y = np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_)
    if len(x) > KNOTS:
        keep = np.unique(np.round(np.linspace(0, len(x) - 1, KNOTS)).astype(int))
        x, y = x[keep], y[keep]
    return {"x": [float(v) for v in x], "y": [float(v) for v in y]}


def apply(curve: dict[str, list[float]] | None, probability: np.ndarray) -> np.ndarray:
    """Calibrated probabilities (``probability`` itself when there is no curve)."""
    probability = np.asarray(probability, dtype=float)
    if not curve:
        return probability
    return np.interp(probability, curve["x"], curve["y"])


def brier(labels: np.ndarray, probability: np.ndarray) -> float:
    """Mean squared difference between the probability and the 0/1 outcome."""
    labels, probability = np.asarray(labels, dtype=float), np.asarray(probability, dtype=float)
    return float(np.mean((probability - labels) ** 2)) if len(labels) else float("nan")


def reliability(labels: np.ndarray, probability: np.ndarray, bins: int = BINS) -> list[dict]:
    """Per probability bin: its range, rows, mean predicted probability and observed rate."""
    labels, probability = np.asarray(labels, dtype=float), np.asarray(probability, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    rows: list[dict[str, Any]] = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    "rows": int(inside.sum()),
                    "mean_predicted": float(probability[inside].mean()),
                    "observed": float(labels[inside].mean()),
                }
            )
    return rows


def judged_on_test(
    curve: dict[str, list[float]] | None, labels: np.ndarray, probability: np.ndarray
) -> dict[str, Any]:
    """``metrics/hazard.json``'s ``calibration``: Brier before and after, the reliability table."""
    calibrated = apply(curve, probability)
    return {
        "fitted_on": "validation",
        "method": "isotonic" if curve else "none (validation lacks a class)",
        "brier_raw": brier(labels, probability),
        "brier_calibrated": brier(labels, calibrated),
        "reliability": reliability(labels, calibrated),
        "reliability_raw": reliability(labels, probability),
    }
