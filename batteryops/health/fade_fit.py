"""Empirical capacity-fade fit: the "fade fit extrapolated to 80 %" baseline for RUL.

A cell's state of health (SOH, capacity over its initial capacity) against its cycle number n is
fitted with

    SOH(n) = 1 - a·sqrt(n) - b·n - c·exp((n - k) / w)

the square-root term for the growth of the solid-electrolyte interphase (diffusion-limited, so
capacity loss goes with the square root of time or charge throughput; Broussely et al. 2001, J.
Power Sources 97-98, 13), a linear term for the steady losses (loss of active material, cycling
side reactions), and an exponential "knee" for the accelerated fade at the end of life (lithium
plating once the negative electrode has lost enough active material; Attia et al. 2022, J.
Electrochem. Soc. 169, 060517). Extrapolating the fit to SOH = 0.8 gives the end of life and the
remaining useful life (RUL), the usual baseline for data-driven RUL models (Severson et al.
2019, Nature Energy 4, 383, compare against such simple extrapolations).

The knee's amplitude c and its reference cycle k are redundant (c·exp(-k/w) is one number), so k
is fixed at the last fitted cycle and c is the SOH lost to the knee there. The knee is kept only
when the data ask for it: a fit with it must beat the fit without it by a Bayesian information
criterion margin. On early-life histories, where the knee has not begun, c is then exactly 0 and
the extrapolation is that of the square-root and linear terms; a small spurious knee would
otherwise grow exponentially and predict an early end of life.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, least_squares, nnls

MIN_POINTS = 3
MIN_KNEE_POINTS = 8
# Knee widths tried, as fractions of the fitted history: narrower ones would chase the last
# point or two (an outlier), wider ones are curvature the square-root and linear terms cover.
KNEE_WIDTHS = np.geomspace(0.03, 0.5, 24)
# Bayesian information criterion improvement the knee must bring ("very strong" evidence on the
# scale of Kass and Raftery 1995).
KNEE_BIC_MARGIN = 10.0
_MAX_EXPONENT = 700.0


@dataclass(frozen=True)
class FadeFit:
    """A fitted fade curve SOH(n) = 1 - a·sqrt(n) - b·n - c·exp((n - k) / w).

    Attributes:
        sqrt_coef: a, SOH lost per square root of cycles.
        linear_coef: b, SOH lost per cycle.
        knee_coef: c, SOH lost to the knee term at ``knee_cycle``; 0 when no knee was fitted.
        knee_cycle: k, the last fitted cycle.
        knee_width_cycles: w, cycles over which the knee term grows by a factor e.
        rmse: Root-mean-square residual of the fit (SOH).
    """

    sqrt_coef: float
    linear_coef: float
    knee_coef: float
    knee_cycle: float
    knee_width_cycles: float
    rmse: float

    def predict(self, cycles_n: np.ndarray | float) -> np.ndarray:
        """Fitted SOH at the given cycle numbers (monotonically non-increasing in n)."""
        cycles_n = np.asarray(cycles_n, dtype=float)
        soh = 1.0 - self.sqrt_coef * np.sqrt(cycles_n) - self.linear_coef * cycles_n
        if self.knee_coef > 0:
            exponent = np.minimum(
                (cycles_n - self.knee_cycle) / self.knee_width_cycles, _MAX_EXPONENT
            )
            soh = soh - self.knee_coef * np.exp(exponent)
        return soh

    def cycles_to(self, threshold: float = 0.8, max_cycles: float = 20000.0) -> float:
        """First cycle number at which the fitted SOH falls to ``threshold`` (fractional).

        Found by Brent's method; the fitted curve is monotone, so the crossing is unique.

        Args:
            threshold: SOH that marks the end of life.
            max_cycles: How far to look.

        Returns:
            The crossing cycle; 0 if the curve starts at or below the threshold, ``inf`` if it
            does not reach it within ``max_cycles``.
        """
        if float(self.predict(0.0)) <= threshold:
            return 0.0
        if float(self.predict(max_cycles)) > threshold:
            return float("inf")
        return float(brentq(lambda n: float(self.predict(n)) - threshold, 0.0, max_cycles))


def _history(cycles_n: np.ndarray, soh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finite (n, SOH) pairs, validated."""
    cycles_n = np.asarray(cycles_n, dtype=float)
    soh = np.asarray(soh, dtype=float)
    if cycles_n.shape != soh.shape:
        raise ValueError(f"cycles_n and soh differ in shape: {cycles_n.shape} != {soh.shape}")
    finite = np.isfinite(cycles_n) & np.isfinite(soh)
    cycles_n, soh = cycles_n[finite], soh[finite]
    if np.any(cycles_n < 0):
        raise ValueError("cycles_n must not be negative")
    if len(np.unique(cycles_n)) < MIN_POINTS or cycles_n.max() <= 0:
        raise ValueError(f"a fade fit needs at least {MIN_POINTS} distinct cycles with finite SOH")
    return cycles_n, soh


def _bic(rss: float, points: int, parameters: int) -> float:
    """Bayesian information criterion of a least-squares fit with Gaussian residuals."""
    return points * np.log(max(rss / points, 1e-30)) + parameters * np.log(points)


def _knee_fit(time: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, float]:
    """Best (A, B, C, W) of loss = A·sqrt(t) + B·t + C·exp((t - 1) / W) on t in [0, 1], and its RSS.

    The model is linear in A, B, C for a fixed W, so each width in :data:`KNEE_WIDTHS` gets an
    exact non-negative least-squares fit; the best start is then refined in all four.
    """
    best_rss, best = np.inf, None
    for width in KNEE_WIDTHS:
        design = np.column_stack([np.sqrt(time), time, np.exp((time - 1.0) / width)])
        coefs, residual_norm = nnls(design, loss)
        if residual_norm**2 < best_rss:
            best_rss, best = residual_norm**2, np.append(coefs, width)

    def residuals(params: np.ndarray) -> np.ndarray:
        sqrt_part, linear_part, knee_part, width = params
        model = sqrt_part * np.sqrt(time) + linear_part * time
        return model + knee_part * np.exp((time - 1.0) / width) - loss

    lower = [0.0, 0.0, 0.0, KNEE_WIDTHS[0]]
    upper = [np.inf, np.inf, np.inf, KNEE_WIDTHS[-1]]
    start = np.clip(best, lower, upper)
    refined = least_squares(residuals, start, bounds=(lower, upper), method="trf")
    rss = float(np.sum(refined.fun**2))
    return (refined.x, rss) if rss < best_rss else (best, best_rss)


def fit_fade(cycles_n: np.ndarray, soh: np.ndarray) -> FadeFit:
    """Fit SOH(n) = 1 - a·sqrt(n) - b·n - c·exp((n - k) / w) to one cell's history.

    The empirical fade fit of the "fade fit extrapolated to 80 %" RUL baseline (module
    docstring). Cycles are scaled to the history's length; the fit without a knee is exact
    non-negative least squares, the fit with one a grid over the knee width refined by
    ``scipy.optimize.least_squares`` with all coefficients bounded at 0 (so the fade never
    reverses) and the width bounded to :data:`KNEE_WIDTHS` of the history. The knee is kept only
    if it lowers the Bayesian information criterion by :data:`KNEE_BIC_MARGIN`, and only tried
    with at least :data:`MIN_KNEE_POINTS` points.

    Args:
        cycles_n: Cycle numbers since the cell was fresh (SOH 1 at n = 0).
        soh: State of health at those cycles (capacity over the initial capacity).

    Returns:
        The fit.

    Raises:
        ValueError: If the arrays differ in shape, a cycle number is negative, or fewer than
            :data:`MIN_POINTS` distinct cycles have a finite SOH.
    """
    cycles_n, soh = _history(cycles_n, soh)
    end = float(cycles_n.max())
    time, loss = cycles_n / end, 1.0 - soh
    (sqrt_part, linear_part), residual_norm = nnls(np.column_stack([np.sqrt(time), time]), loss)
    params, rss = np.array([sqrt_part, linear_part, 0.0, KNEE_WIDTHS[-1]]), residual_norm**2
    if len(time) >= MIN_KNEE_POINTS:
        knee_params, knee_rss = _knee_fit(time, loss)
        gain = _bic(rss, len(time), 2) - _bic(knee_rss, len(time), 4)
        if knee_params[2] > 0 and gain > KNEE_BIC_MARGIN:
            params, rss = knee_params, knee_rss
    sqrt_part, linear_part, knee_part, width = (float(value) for value in params)
    return FadeFit(
        sqrt_coef=sqrt_part / np.sqrt(end),
        linear_coef=linear_part / end,
        knee_coef=knee_part,
        knee_cycle=end,
        knee_width_cycles=width * end,
        rmse=float(np.sqrt(rss / len(time))),
    )


def rul_from_history(
    cycles_n: np.ndarray,
    soh: np.ndarray,
    now_cycle: float,
    threshold: float = 0.8,
    max_cycles: float = 20000.0,
) -> float:
    """Remaining useful life by the "fade fit extrapolated to 80 %" baseline.

    Fits :func:`fit_fade` to the history up to ``now_cycle`` (later points are ignored, so the
    baseline never sees the future) and returns the cycles from ``now_cycle`` until the fit
    reaches ``threshold``.

    Args:
        cycles_n: Cycle numbers since the cell was fresh.
        soh: State of health at those cycles.
        now_cycle: The cycle the RUL is counted from.
        threshold: End-of-life SOH.
        max_cycles: How far to extrapolate (cycles since fresh).

    Returns:
        Remaining cycles, clipped at 0; ``inf`` if the fit does not reach the threshold within
        ``max_cycles``.

    Raises:
        ValueError: As :func:`fit_fade`, on the history up to ``now_cycle``.
    """
    cycles_n = np.asarray(cycles_n, dtype=float)
    soh = np.asarray(soh, dtype=float)
    if cycles_n.shape != soh.shape:
        raise ValueError(f"cycles_n and soh differ in shape: {cycles_n.shape} != {soh.shape}")
    seen = cycles_n <= now_cycle
    end_of_life = fit_fade(cycles_n[seen], soh[seen]).cycles_to(threshold, max_cycles)
    return max(end_of_life - now_cycle, 0.0)
