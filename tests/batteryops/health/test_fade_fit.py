"""batteryops.health.fade_fit: the empirical fade fit and its extrapolation to 80 % SOH."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from batteryops.health.fade_fit import FadeFit, fit_fade, rul_from_history

SQRT_COEF = 0.004
LINEAR_COEF = 5e-5
KNEE_COEF = 0.01  # SOH lost to the knee at KNEE_CYCLE
KNEE_CYCLE = 900.0
KNEE_WIDTH = 60.0
NOISE = 1e-3


def true_soh(cycles_n: np.ndarray) -> np.ndarray:
    knee = KNEE_COEF * np.exp((cycles_n - KNEE_CYCLE) / KNEE_WIDTH)
    return 1.0 - SQRT_COEF * np.sqrt(cycles_n) - LINEAR_COEF * cycles_n - knee


def noisy(soh: np.ndarray, seed: int) -> np.ndarray:
    return soh + np.random.default_rng(seed).normal(0.0, NOISE, soh.shape)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_recovers_a_fade_with_a_knee(seed: int) -> None:
    cycles = np.arange(0.0, 1001.0, 5.0)
    fit = fit_fade(cycles, noisy(true_soh(cycles), seed))
    assert fit.sqrt_coef == pytest.approx(SQRT_COEF, rel=0.1)
    assert fit.linear_coef == pytest.approx(LINEAR_COEF, rel=0.2)
    assert fit.knee_width_cycles == pytest.approx(KNEE_WIDTH, rel=0.1)
    assert fit.predict(KNEE_CYCLE) == pytest.approx(true_soh(KNEE_CYCLE), abs=2e-3)
    assert fit.rmse == pytest.approx(NOISE, rel=0.2)
    end_of_life = brentq(lambda n: true_soh(n) - 0.8, 0.0, 5000.0)
    assert fit.cycles_to(0.8) == pytest.approx(end_of_life, rel=0.05)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_early_life_fit_of_sqrt_fade_extrapolates_without_a_knee(seed: int) -> None:
    sqrt_coef = 0.2 / np.sqrt(1000.0)  # 80 % at cycle 1000
    cycles = np.arange(0.0, 101.0)
    fit = fit_fade(cycles, noisy(1.0 - sqrt_coef * np.sqrt(cycles), seed))
    assert fit.knee_coef == 0.0
    assert fit.cycles_to(0.8) == pytest.approx(1000.0, rel=0.15)


def test_history_before_the_knee_keeps_the_knee_off() -> None:
    cycles = np.arange(0.0, 301.0, 5.0)
    fit = fit_fade(cycles, noisy(true_soh(cycles), 0))
    assert fit.knee_coef == 0.0
    assert np.all(np.diff(fit.predict(np.arange(0.0, 20000.0, 10.0))) <= 0)
    assert np.isfinite(fit.cycles_to(0.8))


def test_noise_free_sqrt_fade_is_exact() -> None:
    cycles = np.array([0.0, 10.0, 50.0, 100.0, 200.0])
    fit = fit_fade(cycles, 1.0 - 0.01 * np.sqrt(cycles))
    assert fit.sqrt_coef == pytest.approx(0.01)
    assert fit.linear_coef == pytest.approx(0.0, abs=1e-9)
    assert fit.cycles_to(0.8) == pytest.approx(400.0)


def test_cycles_to_bounds() -> None:
    no_fade = FadeFit(0.0, 0.0, 0.0, 100.0, 10.0, 0.0)
    assert no_fade.cycles_to(0.8) == float("inf")
    slow = FadeFit(0.0, 1e-5, 0.0, 100.0, 10.0, 0.0)
    assert slow.cycles_to(0.8, max_cycles=10000.0) == float("inf")
    assert slow.cycles_to(0.8, max_cycles=30000.0) == pytest.approx(20000.0)
    assert slow.cycles_to(1.0) == 0.0
    knee = FadeFit(0.0, 0.0, 0.01, 100.0, 10.0, 0.0)
    assert np.isfinite(knee.predict(1e6)) and knee.predict(1e6) < 0
    assert knee.cycles_to(0.8) == pytest.approx(100.0 + 10.0 * np.log(20.0))


def test_rul_counts_from_now_and_ignores_later_points() -> None:
    cycles = np.arange(0.0, 1001.0, 5.0)
    soh = noisy(true_soh(cycles), 4)
    history = cycles <= 600
    expected = fit_fade(cycles[history], soh[history]).cycles_to(0.8) - 600.0
    assert rul_from_history(cycles, soh, now_cycle=600) == pytest.approx(expected)
    soh_after = soh.copy()
    soh_after[~history] = 0.0
    assert rul_from_history(cycles, soh_after, now_cycle=600) == pytest.approx(expected)
    assert rul_from_history(cycles, soh, now_cycle=1000) == 0.0
    flat = np.ones_like(cycles)
    assert rul_from_history(cycles, flat, now_cycle=500) == float("inf")


def test_bad_histories_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        fit_fade(np.arange(5.0), np.ones(4))
    with pytest.raises(ValueError, match="must not be negative"):
        fit_fade(np.array([-1.0, 0.0, 1.0, 2.0]), np.ones(4))
    with pytest.raises(ValueError, match="at least 3 distinct cycles"):
        fit_fade(np.array([0.0, 5.0, 5.0, np.nan]), np.array([1.0, 0.99, 0.99, 0.98]))
    with pytest.raises(ValueError, match="at least 3 distinct cycles"):
        rul_from_history(np.arange(0.0, 100.0, 10.0), np.ones(10), now_cycle=15)
