"""Health features of low-rate discharge curves: incremental capacity peaks and ΔQ(V).

Two families of features for state-of-health (SOH) and remaining-useful-life (RUL) models, both
read from the C/20-like checkpoint curves of the curves table (:data:`batteryops.core.schema.
CURVE_COLUMNS`):

* Incremental capacity analysis (ICA): dQ/dV against V, whose peaks are the phase-transition
  plateaus of the two electrodes. Their shifts, heights and areas track the degradation modes,
  loss of lithium inventory (LLI) and loss of active material (LAM) (Dubarry et al. 2012, J.
  Power Sources 219, 204; Birkl et al. 2017, J. Power Sources 341, 373).
* ΔQ(V) = Q_late(V) - Q_early(V) between two discharge curves, summarised by its variance,
  minimum, mean, skewness and kurtosis (Severson et al. 2019, Nature Energy 4, 383).

The default IC windows come from the open-circuit voltage of PyBaMM's Chen2020 (LG M50,
NMC811 / graphite-SiOx) parameter set, U_p(y) - U_n(x) over the stoichiometry window that
:func:`batteryops.physics.chen2020.stoichiometry_window` gives (x 0.026-0.911, y 0.854-0.264).
Its discharge dQ/dV, on a 2 mV grid smoothed with a 10 mV Gaussian, peaks at 3.49, 3.66, 3.83,
3.98 and 4.09 V (heights 6.3, 7.0, 6.2, 5.6 and 15 Ah/V; a shoulder of 1.5 Ah/V at 3.24 V), with
valleys at 3.30, 3.56, 3.76, 3.90 and 4.02 V. A C/20 discharge of PyBaMM's DFN model with the same
parameters puts the peaks 5-20 mV lower (3.475, 3.655, 3.82, 3.955, 4.085 V; overpotential),
and starts at 4.19 V. Each window runs from valley to valley, so that a
peak can move some tens of mV with ageing and stay inside its window. The top window stops at
4.15 V, below the first point of a curve that relaxed a little after its charge.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from batteryops.core import schema

LOW_V = 2.5
HIGH_V = 4.2
STEP_V = 0.005
# Windows between the valleys of the fresh Chen2020 dQ/dV (module docstring).
IC_WINDOWS_V: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "peak_349": (3.30, 3.56),
        "peak_366": (3.56, 3.76),
        "peak_383": (3.76, 3.90),
        "peak_398": (3.90, 4.02),
        "peak_409": (4.02, 4.15),
    }
)
VARIANCE_FLOOR = 1e-12
DELTA_Q_NAMES = ["dq_var_log10", "dq_min_log10", "dq_mean", "dq_skew", "dq_kurtosis"]
_GAUSSIAN_TRUNCATE = 4.0

Curve = tuple[np.ndarray, np.ndarray]


def voltage_grid(
    low_v: float = LOW_V, high_v: float = HIGH_V, step_v: float = STEP_V
) -> np.ndarray:
    """A uniform voltage grid from ``low_v`` to ``high_v`` (both included) in steps of ``step_v``.

    The default spans the LG M50's cut-off voltages, 2.5-4.2 V, in 5 mV steps.
    """
    count = int(round((high_v - low_v) / step_v)) + 1
    return np.linspace(low_v, low_v + (count - 1) * step_v, count)


def capacity_on_grid(
    voltage_v: np.ndarray, capacity_ah: np.ndarray, grid_v: np.ndarray
) -> np.ndarray:
    """Discharged capacity Q(V) of one discharge curve at the grid voltages (NaN off the curve).

    A measured discharge curve is not strictly monotone (noise, relaxation at its start), so the
    points are sorted by voltage and points of equal voltage are averaged; Q(V) is then linear
    interpolation between them. Grid voltages outside the curve's voltage range are NaN, never
    extrapolated. Non-finite points are dropped.

    Args:
        voltage_v: Terminal voltage of each point (V).
        capacity_ah: Charge discharged from full at each point (Ah).
        grid_v: Voltages to read Q at (V), increasing.

    Returns:
        Q at each grid voltage (Ah); all NaN when fewer than two distinct voltages remain.

    Raises:
        ValueError: If the two arrays differ in length.
    """
    voltage_v = np.asarray(voltage_v, dtype=float)
    capacity_ah = np.asarray(capacity_ah, dtype=float)
    if voltage_v.shape != capacity_ah.shape:
        raise ValueError(
            f"voltage_v and capacity_ah differ in length: {voltage_v.size} != {capacity_ah.size}"
        )
    finite = np.isfinite(voltage_v) & np.isfinite(capacity_ah)
    unique_v, inverse, counts = np.unique(
        voltage_v[finite], return_inverse=True, return_counts=True
    )
    q_grid = np.full(len(grid_v), np.nan)
    if len(unique_v) < 2:
        return q_grid
    mean_q = np.bincount(inverse, weights=capacity_ah[finite]) / counts
    covered = (grid_v >= unique_v[0]) & (grid_v <= unique_v[-1])
    q_grid[covered] = np.interp(grid_v[covered], unique_v, mean_q)
    return q_grid


def _grid_step(grid_v: np.ndarray) -> float:
    """The step of a uniform, increasing grid of at least two points."""
    steps = np.diff(grid_v)
    if len(grid_v) < 2 or not np.allclose(steps, steps[0], rtol=1e-6) or steps[0] <= 0:
        raise ValueError("grid_v must be uniform and increasing, with at least two points")
    return float(steps[0])


def _dqdv_from_grid(q_grid: np.ndarray, step_v: float, smooth_v: float) -> np.ndarray:
    """-dQ/dV of Q on a uniform grid, smoothed by a Gaussian of standard deviation ``smooth_v``.

    Q is padded at both ends by odd reflection (which continues its slope) so that the smoothing
    neither flattens nor inflates dQ/dV near the ends of the curve.
    """
    dqdv = np.full(len(q_grid), np.nan)
    covered = np.flatnonzero(np.isfinite(q_grid))
    if len(covered) < 2:
        return dqdv
    q = q_grid[covered[0] : covered[-1] + 1]
    sigma = smooth_v / step_v
    if sigma <= 0:
        dqdv[covered[0] : covered[-1] + 1] = -np.gradient(q, step_v)
        return dqdv
    pad = int(np.ceil(_GAUSSIAN_TRUNCATE * sigma)) + 1
    padded = np.pad(q, pad, mode="reflect", reflect_type="odd")
    slope = gaussian_filter1d(padded, sigma, order=1, mode="nearest", truncate=_GAUSSIAN_TRUNCATE)
    dqdv[covered[0] : covered[-1] + 1] = -slope[pad:-pad] / step_v
    return dqdv


def incremental_capacity(
    voltage_v: np.ndarray,
    capacity_ah: np.ndarray,
    grid_v: np.ndarray | None = None,
    smooth_v: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """Incremental capacity dQ/dV of one discharge curve on a uniform voltage grid.

    Incremental capacity analysis (Dubarry et al. 2012, J. Power Sources 219, 204): Q(V) is
    interpolated on the grid (:func:`capacity_on_grid`), then differentiated and smoothed in one
    step by convolution with the derivative of a Gaussian (Gaussian-filtered ICA, as in Feng et
    al. 2013, J. Power Sources 232, 209). The sign is that of charge discharged, so the peaks
    are positive, and the integral of dQ/dV over the curve's voltage range is its capacity.

    Args:
        voltage_v: Terminal voltage of each point (V), in discharge order or any order.
        capacity_ah: Charge discharged from full at each point (Ah).
        grid_v: Uniform, increasing voltage grid (V); default :func:`voltage_grid`,
            2.5-4.2 V in 5 mV steps.
        smooth_v: Standard deviation of the Gaussian smoothing (V); 0 for none.

    Returns:
        The grid (V) and dQ/dV on it (Ah/V), NaN where the curve does not reach.

    Raises:
        ValueError: If the arrays differ in length or the grid is not uniform and increasing.
    """
    grid_v = voltage_grid() if grid_v is None else np.asarray(grid_v, dtype=float)
    step_v = _grid_step(grid_v)
    q_grid = capacity_on_grid(voltage_v, capacity_ah, grid_v)
    return grid_v, _dqdv_from_grid(q_grid, step_v, smooth_v)


def _window_features(grid_v: np.ndarray, dqdv: np.ndarray, low_v: float, high_v: float):
    """Position, height and area of the largest local maximum of dQ/dV in one window."""
    tolerance_v = 1e-6 * (grid_v[1] - grid_v[0])
    inside = np.flatnonzero((grid_v >= low_v - tolerance_v) & (grid_v <= high_v + tolerance_v))
    within_grid = low_v >= grid_v[0] - tolerance_v and high_v <= grid_v[-1] + tolerance_v
    if not within_grid or len(inside) < 2 or not np.all(np.isfinite(dqdv[inside])):
        return np.nan, np.nan, np.nan
    area = float(np.trapezoid(dqdv[inside], grid_v[inside]))
    # Neighbours just outside the window decide whether an edge point is a local maximum.
    padded = np.concatenate([[-np.inf], np.nan_to_num(dqdv, nan=-np.inf), [-np.inf]])
    values = dqdv[inside]
    peaks = (values >= padded[inside]) & (values > padded[inside + 2])
    if not peaks.any():
        return np.nan, np.nan, area
    best = inside[peaks][np.argmax(values[peaks])]
    return float(grid_v[best]), float(dqdv[best]), area


def ic_peak_features(
    grid_v: np.ndarray,
    dqdv: np.ndarray,
    windows: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, float]:
    """Position, height and area of the largest dQ/dV peak in each voltage window.

    The peak features of incremental capacity analysis (Dubarry et al. 2012; Birkl et al. 2017):
    peak shifts and height changes separate lithium loss from loss of active material.

    Args:
        grid_v: Uniform voltage grid (V), as :func:`incremental_capacity` returns it.
        dqdv: dQ/dV on the grid (Ah/V).
        windows: Named voltage windows (low V, high V); default :data:`IC_WINDOWS_V`.

    Returns:
        ``ic_<name>_v`` (V), ``ic_<name>_height`` (Ah/V) and ``ic_<name>_area`` (Ah, the charge
        delivered between the window's voltages) for each window. All three are NaN when the
        curve does not cover the whole window; position and height are NaN when dQ/dV has no
        local maximum in the window (a peak that moved out of it).
    """
    windows = IC_WINDOWS_V if windows is None else windows
    grid_v = np.asarray(grid_v, dtype=float)
    dqdv = np.asarray(dqdv, dtype=float)
    features: dict[str, float] = {}
    for name, (low_v, high_v) in windows.items():
        position, height, area = _window_features(grid_v, dqdv, low_v, high_v)
        features[f"ic_{name}_v"] = position
        features[f"ic_{name}_height"] = height
        features[f"ic_{name}_area"] = area
    return features


def _delta_q_moments(q_early: np.ndarray, q_late: np.ndarray) -> dict[str, float]:
    """Severson's summary statistics of ΔQ = Q_late - Q_early on their common grid points."""
    both = np.isfinite(q_early) & np.isfinite(q_late)
    if both.sum() < 2:
        return dict.fromkeys(DELTA_Q_NAMES, np.nan)
    delta = q_late[both] - q_early[both]
    mean = float(delta.mean())
    centred = delta - mean
    variance = float(np.mean(centred**2))
    degenerate = variance < VARIANCE_FLOOR
    return {
        "dq_var_log10": float(np.log10(max(variance, VARIANCE_FLOOR))),
        "dq_min_log10": float(np.log10(max(abs(float(delta.min())), VARIANCE_FLOOR))),
        "dq_mean": mean,
        "dq_skew": np.nan if degenerate else float(np.mean(centred**3) / variance**1.5),
        "dq_kurtosis": np.nan if degenerate else float(np.mean(centred**4) / variance**2 - 3.0),
    }


def delta_q_features(
    early: Curve, late: Curve, grid_v: np.ndarray | None = None
) -> dict[str, float]:
    """Summary statistics of ΔQ(V) = Q_late(V) - Q_early(V) between two discharge curves.

    The ΔQ(V) features of Severson et al. 2019 (Nature Energy 4, 383), who found the log
    variance of ΔQ between cycles 100 and 10 to predict cycle life. Q(V) of each curve is read
    on a uniform voltage grid (:func:`capacity_on_grid`) and compared where both curves reach.

    Args:
        early: ``(voltage_v, capacity_ah)`` of the earlier (reference) curve.
        late: ``(voltage_v, capacity_ah)`` of the later curve.
        grid_v: Voltage grid (V); default :func:`voltage_grid`.

    Returns:
        ``dq_var_log10`` (log10 of the variance, Ah²), ``dq_min_log10`` (log10 of |min ΔQ|, Ah),
        ``dq_mean`` (Ah), ``dq_skew`` and ``dq_kurtosis`` (Fisher's, 0 for a normal
        distribution). Variance and |min| are floored at :data:`VARIANCE_FLOOR` before the
        logarithm; skewness and kurtosis are NaN when the variance is below the floor
        (identical curves), and everything is NaN when the curves share fewer than two grid
        points.
    """
    grid_v = voltage_grid() if grid_v is None else np.asarray(grid_v, dtype=float)
    return _delta_q_moments(capacity_on_grid(*early, grid_v), capacity_on_grid(*late, grid_v))


def _curve_bounds(curves: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The curves sorted by (cell, cycle), each curve's rows kept in order, and the curve starts."""
    frame = curves.reset_index(drop=True)
    cells = pd.factorize(frame[schema.CELL_ID], sort=True)[0]
    cycles = frame[schema.CYCLE].to_numpy()
    order = np.lexsort((np.arange(len(frame)), cycles, cells))
    if not np.all(np.diff(order) == 1):
        frame = frame.iloc[order].reset_index(drop=True)
        cells, cycles = cells[order], cycles[order]
    change = (np.diff(cells) != 0) | (np.diff(cycles) != 0)
    starts = np.concatenate([[0], np.flatnonzero(change) + 1]) if len(frame) else np.array([], int)
    return frame, starts


def curve_features(
    curves: pd.DataFrame,
    cycles: list[int] | None = None,
    windows: Mapping[str, tuple[float, float]] | None = None,
    grid_v: np.ndarray | None = None,
    smooth_v: float = 0.01,
) -> pd.DataFrame:
    """IC peak and ΔQ features of every checkpoint curve, one row per (cell_id, cycle).

    The ΔQ features (:func:`delta_q_features`) compare each checkpoint's curve with the cell's
    first checkpoint in ``curves`` (cycle 0 or 1), as Severson et al. 2019 compare cycle 100
    with cycle 10; they are NaN on that first checkpoint itself, so also for a cell with one
    checkpoint.

    Args:
        curves: Rows of :data:`batteryops.core.schema.CURVE_COLUMNS`, each curve's rows in discharge
            order; the frame may be in any (cell_id, cycle) order. Not modified.
        cycles: Checkpoint cycles to return rows for; default all. The reference curve is the
            cell's first checkpoint in ``curves`` whether or not it is listed.
        windows: IC windows; default :data:`IC_WINDOWS_V`.
        grid_v: Uniform voltage grid (V); default :func:`voltage_grid`.
        smooth_v: Gaussian smoothing of dQ/dV (V).

    Returns:
        A frame with a range index: ``cell_id``, ``cycle``, the ``ic_*`` columns of
        :func:`ic_peak_features` and the ``dq_*`` columns, sorted by (cell_id, cycle).
    """
    grid_v = voltage_grid() if grid_v is None else np.asarray(grid_v, dtype=float)
    step_v = _grid_step(grid_v)
    windows = IC_WINDOWS_V if windows is None else windows
    frame, starts = _curve_bounds(curves)
    voltage = frame["voltage_v"].to_numpy(dtype=float)
    capacity = frame["capacity_ah"].to_numpy(dtype=float)
    stops = np.append(starts[1:], len(frame))[: len(starts)]
    wanted = None if cycles is None else set(cycles)
    rows: list[dict[str, object]] = []
    reference_cell, reference_q = None, np.array([])
    for start, stop in zip(starts, stops, strict=True):
        cell, cycle = frame.at[start, schema.CELL_ID], frame.at[start, schema.CYCLE]
        is_reference = cell != reference_cell
        if not is_reference and wanted is not None and cycle not in wanted:
            continue
        q_grid = capacity_on_grid(voltage[start:stop], capacity[start:stop], grid_v)
        if is_reference:
            reference_cell, reference_q = cell, q_grid
        if wanted is None or cycle in wanted:
            row: dict[str, object] = {schema.CELL_ID: cell, schema.CYCLE: cycle}
            row.update(ic_peak_features(grid_v, _dqdv_from_grid(q_grid, step_v, smooth_v), windows))
            if is_reference:
                row.update(dict.fromkeys(DELTA_Q_NAMES, np.nan))
            else:
                row.update(_delta_q_moments(reference_q, q_grid))
            rows.append(row)
    columns = [schema.CELL_ID, schema.CYCLE]
    columns += [f"ic_{name}_{kind}" for name in windows for kind in ("v", "height", "area")]
    return pd.DataFrame(rows, columns=columns + DELTA_Q_NAMES)
