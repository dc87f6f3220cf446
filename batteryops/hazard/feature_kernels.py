"""Compiled window kernels (numba): the features of :mod:`batteryops.hazard.features`, alarm levels.

Rows are sorted by module then time; ``bounds[m]:bounds[m + 1]`` are module ``m``'s rows and
``seconds`` their whole UTC seconds. Every window is trailing and in time, not in rows: the
window of length ``w`` ending at second ``t`` holds the readings of seconds ``t - w + 1 .. t``
that exist and are not NaN, and it never reaches before the module's first row. These are the
semantics of a regular 1 Hz grid with gaps as NaN (:mod:`batteryops.core.timegrid`), computed in one
pass over the rows with two pointers instead of on the grid.

The kernels run one module after another and release the GIL: the stages work on partitions
side by side on threads (``compute.threads``). They used numba's ``parallel=True`` over modules
until December 2026; compiling that cost a clean clone's first ``featurize`` ~37 s of one core
(~17 s without it), and the threads over racks keep both cores busy without it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NAN = np.nan


@njit(cache=True, nogil=True)
def rolling_mean_at(seconds, values, bounds, window, lag, out):  # noqa: ANN001, ANN201
    """Mean of the window of ``window`` s that ends ``lag`` s before each row (NaN if empty).

    A window ending before the module's first second is NaN (outside the grid).
    """
    for m in range(len(bounds) - 1):
        lo, hi = bounds[m], bounds[m + 1]
        first = seconds[lo]
        start = lo
        end = lo
        total = 0.0
        count = 0
        for i in range(lo, hi):
            t_end = seconds[i] - lag
            if t_end < first:
                out[i] = NAN
                continue
            while end < hi and seconds[end] <= t_end:
                v = values[end]
                if not np.isnan(v):
                    total += v
                    count += 1
                end += 1
            while start < end and seconds[start] <= t_end - window:
                v = values[start]
                if not np.isnan(v):
                    total -= v
                    count -= 1
                start += 1
            if count > 0:
                out[i] = total / count
            else:
                total = 0.0
                out[i] = NAN


@njit(cache=True, nogil=True)
def slopes(seconds, values, bounds, smoothing, windows, out):  # noqa: ANN001, ANN201
    """Slope per minute over each of ``windows`` of the ``smoothing``-second trailing mean.

    ``out[k, i] = (mean(t) - mean(t - windows[k])) * 60 / windows[k]``, each mean over the
    ``smoothing`` seconds ending then (:func:`rolling_mean_at`); NaN where either is unknown.
    Window sums come from prefix sums, so each window edge is a pointer that only moves on.
    """
    lags = len(windows)
    for m in range(len(bounds) - 1):
        lo, hi = bounds[m], bounds[m + 1]
        n = hi - lo
        first = seconds[lo]
        sums = np.zeros(n + 1)
        counts = np.zeros(n + 1, dtype=np.int64)
        for r in range(n):
            v = values[lo + r]
            valid = not np.isnan(v)
            sums[r + 1] = sums[r] + (v if valid else 0.0)
            counts[r + 1] = counts[r] + (1 if valid else 0)
        # Per edge (lag 0 last): rows at or before the window's end, and before its start.
        end = np.zeros(lags + 1, dtype=np.int64)
        start = np.zeros(lags + 1, dtype=np.int64)
        mean = np.empty(lags + 1)
        for r in range(n):
            for k in range(lags + 1):
                t_end = seconds[lo + r] - (windows[k] if k < lags else 0)
                if t_end < first:
                    mean[k] = NAN
                    continue
                while end[k] < n and seconds[lo + end[k]] <= t_end:
                    end[k] += 1
                while start[k] < end[k] and seconds[lo + start[k]] <= t_end - smoothing:
                    start[k] += 1
                c = counts[end[k]] - counts[start[k]]
                mean[k] = (sums[end[k]] - sums[start[k]]) / c if c > 0 else NAN
            for k in range(lags):
                out[k, lo + r] = (mean[lags] - mean[k]) * (60.0 / windows[k])


@njit(cache=True, nogil=True)
def rolling_mean_std(seconds, values, bounds, windows, mean_out, std_out):  # noqa: ANN001, ANN201
    """Mean and population standard deviation over each trailing window of each row.

    ``mean_out[k, i]`` and ``std_out[k, i]`` for ``windows[k]``. Sums (from prefix sums) run on
    values centred on the module's mean; variances below the float64 noise floor of those sums
    are zero, as in :func:`batteryops.core.timegrid.rolling_std`.
    """
    lags = len(windows)
    for m in range(len(bounds) - 1):
        lo, hi = bounds[m], bounds[m + 1]
        n = hi - lo
        centre = 0.0
        n_valid = 0
        for i in range(lo, hi):
            if not np.isnan(values[i]):
                centre += values[i]
                n_valid += 1
        centre = centre / n_valid if n_valid else 0.0
        largest = 0.0
        sums = np.zeros(n + 1)
        squares = np.zeros(n + 1)
        counts = np.zeros(n + 1, dtype=np.int64)
        for r in range(n):
            v = values[lo + r]
            if np.isnan(v):
                sums[r + 1], squares[r + 1], counts[r + 1] = sums[r], squares[r], counts[r]
            else:
                d = v - centre
                largest = max(largest, abs(d))
                sums[r + 1] = sums[r] + d
                squares[r + 1] = squares[r] + d * d
                counts[r + 1] = counts[r] + 1
        floor = 1e-12 * (1.0 + largest * largest)
        for k in range(lags):
            start = 0
            for r in range(n):
                while seconds[lo + start] <= seconds[lo + r] - windows[k]:
                    start += 1
                c = counts[r + 1] - counts[start]
                if c > 0:
                    mean = (sums[r + 1] - sums[start]) / c
                    variance = (squares[r + 1] - squares[start]) / c - mean * mean
                    mean_out[k, lo + r] = mean + centre
                    std_out[k, lo + r] = np.sqrt(variance) if variance > floor else 0.0
                else:
                    mean_out[k, lo + r] = NAN
                    std_out[k, lo + r] = NAN


@njit(cache=True, nogil=True)
def sensor_health(seconds, values, bounds, stuck_s, missing_s, stuck_out, missing_out):  # noqa: ANN001, ANN201
    """Stuck flag and share of missing seconds per row.

    Stuck: the last ``stuck_s`` seconds all hold one same reading; missing readings carry the
    last one (see :func:`batteryops.core.timegrid.unchanged_for`) for less than ``stuck_s``: a
    sensor silent that long is missing, not stuck, and a run starts again at its next reading
    (so a row's flag reads no more than its own window's history, as the live buffer does).
    Missing share: seconds of the trailing ``missing_s`` window (clipped at the module's first
    second) without a valid reading.
    """
    for m in range(len(bounds) - 1):
        lo, hi = bounds[m], bounds[m + 1]
        first = seconds[lo]
        known = False
        previous = 0.0
        last_change = first
        last_valid = first
        start = lo
        valid = 0
        for i in range(lo, hi):
            t = seconds[i]
            v = values[i]
            if not np.isnan(v):
                if not known or v != previous or last_valid <= t - stuck_s:
                    last_change = t
                previous = v
                known = True
                last_valid = t
                valid += 1
            else:
                if not known:
                    last_change = t
            while seconds[start] <= t - missing_s:
                if not np.isnan(values[start]):
                    valid -= 1
                start += 1
            stuck_out[i] = (
                1.0
                if known
                and last_valid > t - stuck_s
                and t - first >= stuck_s - 1
                and last_change <= t - stuck_s + 1
                else 0.0
            )
            span = min(missing_s, t - first + 1)
            missing_out[i] = (span - valid) / span


@njit(cache=True, nogil=True)
def rack_median(seconds, values, module_of_row, modules, hold_s):  # noqa: ANN001, ANN201
    """Median over the rack's modules of each row's second (NaN if none).

    A module's reading stands for the ``hold_s`` seconds after it unless a newer one comes:
    loggers of one rack rarely read on the same seconds (clock offsets, 10-30 s periods).
    """
    lowest = seconds.min()
    span = seconds.max() - lowest + 1
    table = np.full((span, modules), NAN)
    for i in range(len(seconds)):
        table[seconds[i] - lowest, module_of_row[i]] = values[i]
    for m in range(modules):
        last, since = NAN, hold_s + 1
        for s in range(span):
            if np.isnan(table[s, m]):
                since += 1
                if since <= hold_s:
                    table[s, m] = last
            else:
                last, since = table[s, m], 0
    medians = np.empty(span)
    scratch = np.empty(modules)
    for s in range(span):
        n = 0
        for m in range(modules):
            v = table[s, m]
            if not np.isnan(v):
                scratch[n] = v
                n += 1
        if n == 0:
            medians[s] = NAN
            continue
        for a in range(1, n):  # insertion sort: a rack holds a few dozen modules
            v = scratch[a]
            b = a - 1
            while b >= 0 and scratch[b] > v:
                scratch[b + 1] = scratch[b]
                b -= 1
            scratch[b + 1] = v
        medians[s] = (
            scratch[n // 2] if n % 2 == 1 else 0.5 * (scratch[n // 2 - 1] + scratch[n // 2])
        )
    out = np.empty(len(seconds))
    for i in range(len(seconds)):
        out[i] = medians[seconds[i] - lowest]
    return out


@njit(cache=True, nogil=True)
def kth_highest_trailing(seconds, values, bounds, k, n, out):  # noqa: ANN001, ANN201
    """``out[i]``: the ``k``-th highest reading of row ``i``'s window of ``n`` seconds.

    The window holds the readings of seconds ``t - n + 1 .. t`` (at most the ``n`` rows up to
    row ``i``: one row per second); seconds without a row, NaN readings and seconds before the
    module's first row count as -inf. This is the persistent-alarm level of
    :func:`batteryops.hazard.events.persistent_level_rows`, one pass per module.
    """
    for m in range(len(bounds) - 1):
        lo, hi = bounds[m], bounds[m + 1]
        window = np.empty(n)
        start = lo
        for i in range(lo, hi):
            while start < i and seconds[start] <= seconds[i] - n:
                start += 1
            first = max(start, i - n + 1)
            filled = 0
            for j in range(first, i + 1):
                v = values[j]
                window[filled] = -np.inf if np.isnan(v) else v
                filled += 1
            for j in range(filled, n):
                window[j] = -np.inf
            # Partial selection sort from whichever end is nearer: the k-th highest of n is the
            # (n - k + 1)-th lowest (8 of 10: three passes instead of eight).
            if 2 * k <= n + 1:
                for a in range(k):
                    best = a
                    for b in range(a + 1, n):
                        if window[b] > window[best]:
                            best = b
                    window[a], window[best] = window[best], window[a]
                out[i] = window[k - 1]
            else:
                for a in range(n - k + 1):
                    least = a
                    for b in range(a + 1, n):
                        if window[b] < window[least]:
                            least = b
                    window[a], window[least] = window[least], window[a]
                out[i] = window[n - k]


@njit(cache=True, nogil=True)
def rolling_regression(seconds, x, y, bounds, window, ridge, min_pairs, out):  # noqa: ANN001, ANN201
    """Least-squares line ``y = a + slope * x`` over each trailing window of pairs.

    ``out[:, i]`` holds, for row ``i``: the slope, the window's mean of ``x``, its mean of
    ``y`` and the share of ``y``'s variance the line explains (R², 0 where ``y`` is constant).
    Pairs where either value is NaN are left out; with fewer than ``min_pairs`` pairs all four
    are NaN. ``ridge`` is added to the variance of ``x`` (shrinking the slope and R² towards 0
    where ``x`` barely moves). Running sums restart whenever the window empties, so rounding
    does not build up across gaps.
    """
    for m in range(len(bounds) - 1):
        lo, hi = bounds[m], bounds[m + 1]
        start = lo
        sx = 0.0
        sy = 0.0
        sxx = 0.0
        syy = 0.0
        sxy = 0.0
        n = 0
        for i in range(lo, hi):
            if not (np.isnan(x[i]) or np.isnan(y[i])):
                sx += x[i]
                sy += y[i]
                sxx += x[i] * x[i]
                syy += y[i] * y[i]
                sxy += x[i] * y[i]
                n += 1
            while seconds[start] <= seconds[i] - window:
                if not (np.isnan(x[start]) or np.isnan(y[start])):
                    sx -= x[start]
                    sy -= y[start]
                    sxx -= x[start] * x[start]
                    syy -= y[start] * y[start]
                    sxy -= x[start] * y[start]
                    n -= 1
                start += 1
            if n == 0:
                sx = 0.0
                sy = 0.0
                sxx = 0.0
                syy = 0.0
                sxy = 0.0
            if n < min_pairs:
                for k in range(4):
                    out[k, i] = NAN
                continue
            mx = sx / n
            my = sy / n
            vxx = max(sxx / n - mx * mx, 0.0) + ridge
            vyy = max(syy / n - my * my, 0.0)
            cxy = sxy / n - mx * my
            out[0, i] = cxy / vxx if vxx > 0 else 0.0
            out[1, i] = mx
            out[2, i] = my
            out[3, i] = min(cxy * cxy / (vxx * vyy), 1.0) if vxx > 0 and vyy > 0 else 0.0


@njit(cache=True, nogil=True)
def round_significand(values, keep_bits):  # noqa: ANN001, ANN201
    """Round float32 ``values`` in place to ``keep_bits`` bits after the leading one.

    To nearest (a tie away from zero); NaN and infinities are left as they are. The relative
    error is at most ``2 ** -(keep_bits + 1)``. The dropped bits are zeros, which the byte-stream
    split of the Parquet writer then compresses away.
    """
    bits = values.view(np.uint32)
    drop = 23 - keep_bits
    half = np.uint32(1 << (drop - 1))
    mask = np.uint32((0xFFFFFFFF >> drop) << drop)
    for i in range(len(bits)):
        b = bits[i]
        if (b & 0x7F800000) != 0x7F800000:
            bits[i] = np.uint32((b + half) & mask)
