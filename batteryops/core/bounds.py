"""One-sided 95 % confidence bounds for the rates and shares the metrics report.

A recall of 8 of 8 events, or no false alarm in 100 module-days, says less than its point value:
these bounds say how much. Both are exact (no normal approximation), one-sided, at
:data:`CONFIDENCE`:

- a share of successes (event recall, the share of cells within 3 %): the Clopper-Pearson lower
  bound, the smallest true share under which seeing at least ``k`` of ``n`` still has a 5 %
  chance. 8 of 8 gives 0.688; 20 of 20, 0.861; 59 of 59, 0.950.
- a rate of events over an exposure (false alarms per module-day): the exact Poisson upper
  bound, the largest true rate under which seeing at most ``k`` still has a 5 % chance. 0 in
  107.5 module-days gives 0.0279 per module-day; a rate bounded under 0.01 with no false alarm
  needs 300 module-days.
- a mean error over independent units (RUL MAPE over cells, one row each): the one-sided
  Student-t upper bound of the mean.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def share_lower(successes: int, trials: int, confidence: float = CONFIDENCE) -> float:
    """Clopper-Pearson one-sided lower bound of a share; NaN without trials.

    Args:
        successes: How many of the trials succeeded (``0 <= successes <= trials``).
        trials: How many trials.
        confidence: One-sided confidence level.
    """
    _counts(successes, trials)
    if trials == 0:
        return float("nan")
    if successes == 0:
        return 0.0
    return float(stats.beta.ppf(1.0 - confidence, successes, trials - successes + 1))


def rate_upper(events: int, exposure: float, confidence: float = CONFIDENCE) -> float:
    """Exact Poisson one-sided upper bound of a rate per unit of exposure; NaN without exposure.

    Args:
        events: How many events were counted (``>= 0``).
        exposure: Over how much exposure (e.g. module-days).
        confidence: One-sided confidence level.
    """
    _counts(events, None)
    if not exposure > 0 or math.isnan(exposure):
        return float("nan")
    return float(stats.chi2.ppf(confidence, 2 * (events + 1)) / 2.0 / exposure)


def mean_upper(values: object, confidence: float = CONFIDENCE) -> float:
    """One-sided Student-t upper bound of the mean of independent values; NaN under two."""
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    if array.size < 2:
        return float("nan")
    spread = array.std(ddof=1) / math.sqrt(array.size)
    return float(array.mean() + stats.t.ppf(confidence, array.size - 1) * spread)


def exposure_for_rate(rate: float, events: int = 0, confidence: float = CONFIDENCE) -> float:
    """The exposure over which ``events`` bound the rate under ``rate`` (sizing a fleet)."""
    _counts(events, None)
    return float(stats.chi2.ppf(confidence, 2 * (events + 1)) / 2.0 / rate)


def _counts(count: int, total: int | None) -> None:
    if count < 0 or (total is not None and not 0 <= count <= total):
        raise ValueError(f"count {count} out of range for {total} trials")
