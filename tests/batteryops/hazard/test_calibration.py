"""batteryops.hazard.calibration: the hazard probability calibrated on validation rows."""

from __future__ import annotations

import numpy as np
import pytest

from batteryops.hazard import calibration


def _overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels with a true rate of p**4 where the model says p: a weighted classifier's habit."""
    rng = np.random.default_rng(seed)
    said = rng.uniform(0, 1, n)
    labels = (rng.uniform(0, 1, n) < said**4).astype(int)
    return said, labels


def test_isotonic_calibration_lowers_the_brier_score_on_new_rows() -> None:
    fit_on, fit_labels = _overconfident(20000, 0)
    curve = calibration.fit(fit_on, fit_labels)
    assert curve is not None and len(curve["x"]) <= calibration.KNOTS
    assert np.all(np.diff(curve["y"]) >= 0)  # monotone
    test_on, test_labels = _overconfident(20000, 1)
    judged = calibration.judged_on_test(curve, test_labels, test_on)
    assert judged["brier_calibrated"] < judged["brier_raw"]
    # Where the model says 0.5, the calibrated value is near the true rate 0.5**4.
    assert calibration.apply(curve, np.array([0.5]))[0] == pytest.approx(0.0625, abs=0.03)
    for row in judged["reliability"]:
        assert row["mean_predicted"] == pytest.approx(row["observed"], abs=0.05)


def test_without_both_classes_there_is_no_curve_and_nothing_changes() -> None:
    assert calibration.fit(np.array([0.2, 0.9]), np.array([0, 0])) is None
    assert calibration.apply(None, np.array([0.3])).tolist() == [0.3]


def test_brier_and_reliability_by_hand() -> None:
    labels, said = np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.6, 0.4])
    assert calibration.brier(labels, said) == pytest.approx((0.01 + 0.01 + 0.16 + 0.16) / 4)
    rows = calibration.reliability(labels, said, bins=2)
    assert [(r["rows"], r["observed"]) for r in rows] == [(2, 0.0), (2, 1.0)]
