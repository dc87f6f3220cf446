"""Cell-voltage spread against the module's own recent spread at the same charge and current.

The spread between a module's highest and lowest cell is not a fault by its level: cells of one
module drift apart in charge and in resistance, and through the OCV curve the same charge gap
reads as a few millivolts at mid charge and as 100 mV near empty (family B's healthy modules sit
at 30-130 mV, where the first simulator's sat at 20). A cell that an internal short drains, on
the other hand, moves away from what the module showed at the same charge the day before.

Per module, the spread's 30 s means are fitted bin by bin (:data:`BINS` bins of charge, three of
current: charging, at rest, discharging) by weighted least squares on ``[1, |I|, SoC - bin centre]``
(the cells' resistance gap times the current; the slope of the spread across the bin), each bin
forgetting with a :data:`HALF_LIFE_S` half-life, and taught each mean at most :data:`TEACH_LIMIT_V`
from what its fit (or the mean before) gave: at a 30 s logger a 0.3 V cell-voltage glitch is a whole
mean, and taught as read it tilts a bin's fit for days. The excess is a 30 s mean's a-priori error
against its bin's fit; a bin not yet fitted (under :data:`MIN_WEIGHT` means' weight: a charge the
module rarely sits at, or one a draining module has just slid into) is judged by the neighbour of
most weight among those fitted, through its slope up to its edge (a module whose one cell drains
slides down its charge bins, and each bin it enters would otherwise first learn the drained cell). A
fit judges only currents up to the most it has seen (and the rest band: :func:`_seen`). The excess
takes the lower of the two latest errors (a module's first against zero, as is the first after a gap
or after means no fit could judge: an error from before them is no neighbour), so a single glitchy
mean does not lift it (at a 10 s logger one 0.3 V cell-voltage glitch is a third of a 30 s mean),
and is smoothed over :data:`SMOOTHING_S` from zero: ``cell_v_spread_excess_v`` (V), the physics
alarm's voltage channel. The errors themselves (not the lower of two) smoothed over
:data:`EVIDENCE_SMOOTHING_S` are the observer's evidence of a fault, the statistic its level was
chosen on. A row gets both as of the last 30 s mean that moved them; once that is more than
:data:`STALE_S` old (cell voltages missing, or a module sweeping its charge faster than its bins
fill), the row gets NaN rather than a value frozen in time. ``benchmarks/physics_alarm.py`` prints
how far the excess reaches on healthy and nuisance modules and on faults before their PNR.

Why two minutes, not ten (December 2026): a hard internal short in a cell four cells from every
thermistor of an independent simulator's module (family B) drained its cell by 20 mV, then 50,
then 100 mV over the 15 minutes before its point of no return, while its sensors read nothing;
smoothed over ten minutes, with the draining means taught to the fit and a new bin unknown, the
excess read 11 mV ten minutes before PNR and 34 mV at it (no alarm). Now it passes the voltage
channel's threshold about ten minutes ahead.

The state of a module is a flat float64 vector (:data:`STATE`), carried like the thermal
observer's (:mod:`batteryops.hazard.observer`, which calls :func:`run`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

BINS = 50  # charge bins of 2 %
CURRENTS = 3  # charging, at rest, discharging
REST_A = 2.0  # |I| under this is rest
STEP_S = 30  # the spread, charge and current are averaged over this many seconds of data
MAX_GAP_S = 90  # a longer gap restarts the average
FOLLOWS_S = STEP_S + MAX_GAP_S  # a mean this soon after the one before is its neighbour
HALF_LIFE_S = 24 * 3600.0  # a bin's fit forgets data a day old by half
MIN_WEIGHT = 3.0  # a bin's fit is used once it holds this much weight (four 30 s means: decay)
SMOOTHING_S = 120.0  # the excess (the voltage channel) is smoothed over two minutes
EVIDENCE_SMOOTHING_S = 600.0  # the evidence over ten
STALE_S = 1800.0  # an excess not moved for this long is not given
TEACH_LIMIT_V = 0.05  # a mean is taught at most this far from its fit's value (or the last mean's)
RIDGE = (0.0, 1.0, 0.25)  # on |I| (A^2) and on the charge offset (%^2): a bin seen at one point
# Layout: the running 30 s sums, the two smoothed excesses, the last error, the last mean's
# taught value and its second, then per bin and current the normal equations (3 x 3 + 3) and
# the second of their last decay.
ANCHOR_T, LAST_T, COUNT, SUM_SPREAD, SUM_SOC, SUM_CURRENT, EXCESS, MOVED_T = range(8)
SLOW, LAST_ERROR = 8, 9
TAUGHT, TAUGHT_T = 10, 11  # the value the last mean was taught to its fit, and its second
HEADER = 12
CELL = 14  # 9 of the matrix, 3 of the right-hand side, the last decay's second, the most |I|
MOST_CURRENT = 13  # the highest 30 s mean |I| (A) the bin has learnt (not forgotten)
STATE = HEADER + BINS * CURRENTS * CELL


def fresh_states(modules: int) -> np.ndarray:
    """States of modules never seen: empty fits, no average under way, no excess."""
    states = np.zeros((modules, STATE))
    states[:, [ANCHOR_T, LAST_T, EXCESS, MOVED_T, SLOW, TAUGHT, TAUGHT_T]] = np.nan  # error: 0
    return states


def run(
    seconds: np.ndarray,
    spread_v: np.ndarray,
    soc_pct: np.ndarray,
    current_a: np.ndarray,
    bounds: np.ndarray,
    states: np.ndarray,
    out: np.ndarray,
    evidence: np.ndarray | None = None,
) -> None:
    """Fill ``out`` (rows) with each row's smoothed excess, advancing ``states`` in place.

    Rows are sorted by module then time; ``bounds[m]:bounds[m + 1]`` are module ``m``'s rows.
    A row gets the excess as of the last 30 s mean at or before it that moved it (NaN before
    the first, and once that is more than :data:`STALE_S` old); ``evidence``, if given, the
    errors themselves (not the lower of two) smoothed over :data:`EVIDENCE_SMOOTHING_S`.
    """
    if evidence is None:
        evidence = np.empty(len(out))
    _run(
        seconds.astype(np.int64),
        spread_v.astype(np.float64),
        soc_pct.astype(np.float64),
        current_a.astype(np.float64),
        bounds.astype(np.int64),
        states,
        out,
        evidence,
        np.asarray(RIDGE, dtype=np.float64),
    )


@njit(cache=True, nogil=True)
def _run(seconds, spread, soc, current, bounds, states, out, slow, ridge):  # noqa: ANN001, ANN202
    for m in range(len(bounds) - 1):
        s = states[m]
        for i in range(bounds[m], bounds[m + 1]):
            t = float(seconds[i])
            missing = np.isnan(spread[i]) or np.isnan(soc[i]) or np.isnan(current[i])
            if not missing and not t <= s[LAST_T]:  # a repeated or earlier second is skipped
                if np.isnan(s[LAST_T]) or t - s[LAST_T] > MAX_GAP_S:
                    s[ANCHOR_T], s[COUNT] = t, 0.0
                    s[SUM_SPREAD], s[SUM_SOC], s[SUM_CURRENT] = 0.0, 0.0, 0.0
                s[LAST_T] = t
                s[COUNT] += 1.0
                s[SUM_SPREAD] += spread[i]
                s[SUM_SOC] += soc[i]
                s[SUM_CURRENT] += current[i]
                span = t - s[ANCHOR_T]
                if span >= STEP_S:
                    _step(s, t, span, ridge)
            fresh = t - s[MOVED_T] <= STALE_S
            out[i] = s[EXCESS] if fresh else np.nan
            slow[i] = s[SLOW] if fresh else np.nan


@njit(cache=True)
def _step(s, t, span, ridge):  # noqa: ANN001, ANN202
    """One 30 s mean: its error against its bin's fit, then the fit updated with it.

    A mean is taught to the fit at most :data:`TEACH_LIMIT_V` from what the fit expected, or,
    where no fit judged it, from the value the mean before it was taught (if it follows it):
    more than any healthy or nuisance module's error once glitches are limited, and a draining
    cell is learnt more slowly, not hidden. At a 30 s logger a mean is one reading, so a 0.3 V
    cell-voltage glitch is a whole mean. Taught as read, on healthy modules of the default
    fleet's validation split: one among eleven means in a bin gave it a slope of 36 mV per % of
    charge (1 mV at 1 Hz), and a mean 0.7 % past them read 32 mV of excess, over the voltage
    channel's 26; one as a bin's first mean at 41 A (no fit had seen 41 A, so none judged it)
    read 250 mV of error at 41 A two days later.
    """
    n = s[COUNT]
    spread, soc, current = s[SUM_SPREAD] / n, s[SUM_SOC] / n, s[SUM_CURRENT] / n
    s[ANCHOR_T], s[COUNT] = t, 0.0
    s[SUM_SPREAD], s[SUM_SOC], s[SUM_CURRENT] = 0.0, 0.0, 0.0
    width = 100.0 / BINS
    b = int(min(max(soc, 0.0), 99.999) / width)
    c = 1 if abs(current) < REST_A else (0 if current < 0 else 2)
    at = HEADER + (b * CURRENTS + c) * CELL
    cell = s[at : at + CELL]
    if cell[12] > 0:  # forget since the bin's last mean
        decay = 0.5 ** ((t - cell[12]) / HALF_LIFE_S)
        cell[:12] *= decay
    cell[12] = t
    x = np.array([1.0, abs(current), soc - (b + 0.5) * width])
    use, offset = at, x[2]
    judged = cell[0] >= MIN_WEIGHT and _seen(cell, x[1])
    if cell[0] < MIN_WEIGHT:  # not yet fitted: judged by the neighbour of most weight (decayed)
        most = MIN_WEIGHT  # among those fitted and that have seen this current
        for other in (b - 1, b + 1):
            if 0 <= other < BINS:
                near = HEADER + (other * CURRENTS + c) * CELL
                weight = s[near] * 0.5 ** ((t - s[near + 12]) / HALF_LIFE_S)
                if weight >= most and _seen(s[near : near + CELL], x[1]):
                    most, use, judged = weight, near, True
        if judged:  # through the neighbour's slope up to its edge
            centre = ((use - HEADER) // CELL // CURRENTS + 0.5) * width
            offset = min(max(soc - centre, -width / 2), width / 2)
    taught = spread
    if judged:
        fit = s[use : use + CELL]
        normal = fit[:9].reshape(3, 3) / fit[0] + np.diag(ridge)
        coef = np.linalg.solve(normal, fit[9:12] / fit[0])
        expected = coef[0] + coef[1] * x[1] + coef[2] * offset
        error = spread - expected
        # A cell-voltage glitch (0.3 V) is a 30 s logger's whole mean (see the docstring).
        taught = expected + min(max(error, -TEACH_LIMIT_V), TEACH_LIMIT_V)
        # The lower of this error and the one before, if that was the mean before this one (a
        # module's first error, or the first after a gap or after means no fit could judge: 0).
        follows = t - s[MOVED_T] <= FOLLOWS_S
        lower = min(error, s[LAST_ERROR] if follows else 0.0)
        s[LAST_ERROR] = error
        if np.isnan(s[EXCESS]):
            s[EXCESS], s[SLOW] = 0.0, 0.0  # smoothed from its first mean as from every other
        s[EXCESS] += (lower - s[EXCESS]) * (1.0 - math.exp(-span / SMOOTHING_S))
        s[SLOW] += (error - s[SLOW]) * (1.0 - math.exp(-span / EVIDENCE_SMOOTHING_S))
        s[MOVED_T] = t
    elif t - s[TAUGHT_T] <= FOLLOWS_S:  # no fit judged it: against the mean before
        taught = s[TAUGHT] + min(max(spread - s[TAUGHT], -TEACH_LIMIT_V), TEACH_LIMIT_V)
    s[TAUGHT], s[TAUGHT_T] = taught, t
    for p in range(3):
        cell[9 + p] += x[p] * taught
        for q in range(3):
            cell[p * 3 + q] += x[p] * x[q]
    cell[MOST_CURRENT] = max(cell[MOST_CURRENT], x[1])


@njit(cache=True)
def _seen(fit, current):  # noqa: ANN001, ANN202
    """Whether a bin's fit has seen currents up to ``current`` (|A|), within the rest band.

    A fit of a bin seen up to 7 A says nothing of its spread at 41 A: its slope on the current,
    extrapolated, gave an error of 0.17 V (35 mV of excess) on a healthy module of the first
    simulator's judging fleet at the start of its first full-power discharge (10 s logger).
    Bounded by the most the bin has seen, not by the spread of what it saw: a bin that saw
    10-16 A for hours and 41 A for minutes still knows 41 A (a bound of two SDs of its currents
    silenced a cooling failure's growing spread for the 15 minutes of its full-power discharge).
    """
    return current <= fit[MOST_CURRENT] + REST_A
