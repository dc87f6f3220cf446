"""batteryops.health.incremental_capacity: dQ/dV peaks and ΔQ(V) on Chen2020 OCP curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.health.incremental_capacity import (
    IC_WINDOWS_V,
    VARIANCE_FLOOR,
    curve_features,
    delta_q_features,
    ic_peak_features,
    incremental_capacity,
    voltage_grid,
)

# Electrode capacities and cyclable lithium (Ah) of PyBaMM's Chen2020 set: with them the 2.5-4.2 V
# window is x 0.911 -> 0.026 and y 0.264 -> 0.854, 5.15 Ah, as pybamm's
# get_min_max_stoichiometries gives it.
Q_NEG_AH = 5.8276
Q_POS_AH = 8.7323
N_LI_AH = 7.6107
# Peaks of the fresh curve that the module docstring documents (V).
FRESH_PEAKS_V = {
    "peak_349": 3.49,
    "peak_366": 3.665,
    "peak_383": 3.83,
    "peak_398": 3.975,
    "peak_409": 4.095,
}


def u_neg(x: np.ndarray) -> np.ndarray:
    return (
        1.9793 * np.exp(-39.3631 * x)
        + 0.2482
        - 0.0909 * np.tanh(29.8538 * (x - 0.1234))
        - 0.04478 * np.tanh(14.9159 * (x - 0.2769))
        - 0.0205 * np.tanh(30.4444 * (x - 0.6103))
    )


def u_pos(y: np.ndarray) -> np.ndarray:
    return (
        -0.8090 * y
        + 4.4875
        - 0.0428 * np.tanh(18.5138 * (y - 0.5542))
        - 17.7326 * np.tanh(15.7890 * (y - 0.3117))
        + 17.5842 * np.tanh(15.9308 * (y - 0.3120))
    )


def discharge_curve(
    q_neg: float = Q_NEG_AH, q_pos: float = Q_POS_AH, n_li: float = N_LI_AH, points: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """Open-circuit discharge from 4.2 to 2.5 V: (voltage_v, capacity_ah) in discharge order.

    Lithium balance x q_neg + y q_pos = n_li; ageing shrinks n_li (LLI), q_neg (LAM_NE) or
    q_pos (LAM_PE), which moves and shrinks the stoichiometry window.
    """
    x = np.linspace(1e-4, min(1.0, n_li / q_neg), 100_001)
    y = (n_li - x * q_neg) / q_pos
    x = x[(y > 0) & (y < 1)]
    voltage = u_pos((n_li - x * q_neg) / q_pos) - u_neg(x)
    inside = x[(voltage >= 2.5) & (voltage <= 4.2)]
    x_full, x_empty = inside.max(), inside.min()
    capacity = np.linspace(0.0, (x_full - x_empty) * q_neg, points)
    x_curve = x_full - capacity / q_neg
    return u_pos((n_li - x_curve * q_neg) / q_pos) - u_neg(x_curve), capacity


def peaks(curve: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    return ic_peak_features(*incremental_capacity(*curve))


def test_fresh_peaks_sit_in_their_windows_where_documented() -> None:
    features = peaks(discharge_curve())
    for name, position_v in FRESH_PEAKS_V.items():
        low_v, high_v = IC_WINDOWS_V[name]
        assert low_v < features[f"ic_{name}_v"] < high_v
        assert features[f"ic_{name}_v"] == pytest.approx(position_v, abs=0.01)
        assert features[f"ic_{name}_height"] > 5.0
    assert features["ic_peak_409_height"] == pytest.approx(15.0, rel=0.05)


def test_area_under_dqdv_is_the_capacity() -> None:
    voltage, capacity = discharge_curve()
    grid, dqdv = incremental_capacity(voltage, capacity)
    covered = np.isfinite(dqdv)
    assert np.all(dqdv[covered] > 0)
    assert np.trapezoid(dqdv[covered], grid[covered]) == pytest.approx(capacity[-1], rel=0.01)
    window_areas = sum(value for key, value in peaks((voltage, capacity)).items() if "area" in key)
    charge_in_windows = np.interp(3.30, voltage[::-1], capacity[::-1]) - np.interp(
        4.15, voltage[::-1], capacity[::-1]
    )
    assert window_areas == pytest.approx(charge_in_windows, rel=0.01)


def test_lithium_loss_moves_graphite_peaks_to_higher_voltage() -> None:
    fresh = peaks(discharge_curve())
    aged = peaks(discharge_curve(n_li=0.96 * N_LI_AH))
    assert aged["ic_peak_349_v"] > fresh["ic_peak_349_v"] + 0.01
    assert aged["ic_peak_383_v"] > fresh["ic_peak_383_v"] + 0.01
    # The top peak is the positive electrode's, on the flat lithiated-graphite plateau: it stays.
    assert aged["ic_peak_409_v"] == pytest.approx(fresh["ic_peak_409_v"], abs=0.005)


def test_negative_electrode_loss_moves_peaks_to_lower_voltage() -> None:
    fresh = peaks(discharge_curve())
    aged = peaks(discharge_curve(q_neg=0.95 * Q_NEG_AH))
    assert aged["ic_peak_349_v"] < fresh["ic_peak_349_v"]
    assert aged["ic_peak_398_v"] < fresh["ic_peak_398_v"] - 0.01


def test_positive_electrode_loss_shrinks_its_peak() -> None:
    fresh = peaks(discharge_curve())
    aged = peaks(discharge_curve(q_pos=0.9 * Q_POS_AH))
    ratio = aged["ic_peak_409_height"] / fresh["ic_peak_409_height"]
    assert ratio == pytest.approx(0.9, abs=0.02)
    assert aged["ic_peak_349_v"] < fresh["ic_peak_349_v"] - 0.03


def test_unsorted_duplicated_and_rebounding_points_give_the_same_peaks() -> None:
    voltage, capacity = discharge_curve()
    clean = peaks((voltage, capacity))
    order = np.random.default_rng(3).permutation(len(voltage))
    messy_v = np.concatenate([[4.17, 4.19], voltage[order], voltage[:50], [np.nan]])
    messy_q = np.concatenate([[0.0, 0.001], capacity[order], capacity[:50], [1.0]])
    messy = peaks((messy_v, messy_q))
    for key, value in clean.items():
        assert messy[key] == pytest.approx(value, rel=0.02, abs=0.006), key


def test_windows_the_curve_does_not_reach_are_nan() -> None:
    voltage, capacity = discharge_curve()
    partial = voltage >= 3.7
    grid, dqdv = incremental_capacity(voltage[partial], capacity[partial])
    assert np.all(np.isnan(dqdv[grid < 3.69]))
    features = ic_peak_features(grid, dqdv)
    assert all(np.isnan(features[f"ic_peak_349_{kind}"]) for kind in ("v", "height", "area"))
    assert all(np.isnan(features[f"ic_peak_366_{kind}"]) for kind in ("v", "height", "area"))
    assert features["ic_peak_409_v"] == pytest.approx(FRESH_PEAKS_V["peak_409"], abs=0.01)


def test_a_window_without_a_local_maximum_has_an_area_only() -> None:
    grid = voltage_grid(3.0, 4.0, 0.01)
    features = ic_peak_features(grid, grid - 3.0, {"rising": (3.2, 3.5)})
    assert np.isnan(features["ic_rising_v"]) and np.isnan(features["ic_rising_height"])
    assert features["ic_rising_area"] == pytest.approx((0.5**2 - 0.2**2) / 2)


def test_a_degenerate_curve_gives_nan() -> None:
    _, dqdv = incremental_capacity(np.array([3.7, 3.7]), np.array([0.0, 1.0]))
    assert np.all(np.isnan(dqdv))


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        incremental_capacity(np.array([4.0, 3.0]), np.array([0.0]))
    with pytest.raises(ValueError, match="uniform and increasing"):
        incremental_capacity(np.array([4.0, 3.0]), np.array([0.0, 1.0]), np.array([3.0, 3.1, 3.5]))


def test_delta_q_of_a_curve_with_itself_is_at_the_floor() -> None:
    curve = discharge_curve()
    features = delta_q_features(curve, curve)
    assert features["dq_var_log10"] == pytest.approx(np.log10(VARIANCE_FLOOR))
    assert features["dq_min_log10"] == pytest.approx(np.log10(VARIANCE_FLOOR))
    assert features["dq_mean"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(features["dq_skew"]) and np.isnan(features["dq_kurtosis"])


def test_delta_q_grows_with_fade() -> None:
    fresh = discharge_curve()
    mild = delta_q_features(fresh, discharge_curve(n_li=0.98 * N_LI_AH))
    severe = delta_q_features(fresh, discharge_curve(n_li=0.94 * N_LI_AH, q_neg=0.95 * Q_NEG_AH))
    assert np.log10(VARIANCE_FLOOR) < mild["dq_var_log10"] < severe["dq_var_log10"]
    assert mild["dq_min_log10"] < severe["dq_min_log10"]
    assert severe["dq_mean"] < mild["dq_mean"] < 0
    assert np.isfinite(severe["dq_skew"]) and np.isfinite(severe["dq_kurtosis"])


def test_delta_q_of_curves_without_common_voltages_is_nan() -> None:
    high = (np.array([4.2, 4.0]), np.array([0.0, 1.0]))
    low = (np.array([3.5, 3.0]), np.array([2.0, 3.0]))
    assert all(np.isnan(value) for value in delta_q_features(high, low).values())


def curves_frame(cells: dict[str, list[tuple[int, float]]]) -> pd.DataFrame:
    """Curves of cells losing lithium: {cell_id: [(cycle, n_li fraction), ...]}."""
    parts = []
    for cell, checkpoints in cells.items():
        for cycle, lithium in checkpoints:
            voltage, capacity = discharge_curve(n_li=lithium * N_LI_AH)
            parts.append(
                pd.DataFrame(
                    {"cell_id": cell, "cycle": cycle, "voltage_v": voltage, "capacity_ah": capacity}
                )
            )
    return pd.concat(parts, ignore_index=True)


def test_curve_features_per_checkpoint_against_the_first() -> None:
    curves = curves_frame({"b": [(0, 1.0), (100, 0.98), (200, 0.96)], "a": [(1, 1.0)]})
    before = curves.copy()
    table = curve_features(curves)
    pd.testing.assert_frame_equal(curves, before)
    assert list(table["cell_id"]) == ["a", "b", "b", "b"]
    assert list(table["cycle"]) == [1, 0, 100, 200]
    assert isinstance(table.index, pd.RangeIndex)
    assert table.filter(like="dq_").iloc[:2].isna().all().all()
    assert table["dq_var_log10"].iloc[2] < table["dq_var_log10"].iloc[3]
    expected = delta_q_features(discharge_curve(), discharge_curve(n_li=0.96 * N_LI_AH))
    for key, value in expected.items():
        assert table[key].iloc[3] == pytest.approx(value)
    assert table["ic_peak_349_v"].iloc[1:].is_monotonic_increasing
    assert len(table.columns) == 2 + 3 * len(IC_WINDOWS_V) + 5


def test_curve_features_ignore_the_order_of_curves_and_select_cycles() -> None:
    curves = curves_frame({"a": [(0, 1.0), (50, 0.99), (100, 0.98)], "b": [(0, 1.0), (50, 0.97)]})
    table = curve_features(curves)
    blocks = [block for _, block in curves.groupby(["cycle", "cell_id"], sort=True)]
    shuffled = pd.concat(blocks[::-1])
    pd.testing.assert_frame_equal(curve_features(shuffled), table)
    selected = curve_features(curves, cycles=[100, 50])
    assert list(zip(selected["cell_id"], selected["cycle"], strict=True)) == [
        ("a", 50),
        ("a", 100),
        ("b", 50),
    ]
    pd.testing.assert_frame_equal(selected, table[table["cycle"] > 0].reset_index(drop=True))


def test_curve_features_of_no_curves_is_an_empty_frame() -> None:
    empty = pd.DataFrame({"cell_id": [], "cycle": [], "voltage_v": [], "capacity_ah": []})
    table = curve_features(empty)
    assert table.empty
    assert list(table.columns) == list(curve_features(curves_frame({"a": [(0, 1.0)]})).columns)
