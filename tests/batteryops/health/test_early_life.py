"""Early cycle-life prediction: end of life, the summary features, leave-one-cell-out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.health import early_life


def _cells(count: int = 12, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Cells whose early fade rate sets their life (a knee at a cell-specific cycle)."""
    rng = np.random.default_rng(seed)
    frames, lives = [], {}
    for k in range(count):
        rate = 2e-5 * (1 + k)  # Ah per cycle, early
        knee = int(1500 / (1 + 0.25 * k))
        cycle = np.arange(1, 6000)
        capacity = 1.08 - rate * cycle - 1e-6 * np.maximum(cycle - knee, 0) ** 2
        capacity = capacity + rng.normal(0, 2e-4, cycle.size)
        end = int(np.argmax(capacity < 0.88))  # the test stops at end of life
        cycle, capacity = cycle[: end + 1], capacity[: end + 1]
        cell = f"c{k:02d}"
        part = pd.DataFrame(
            {
                schema.CELL_ID: cell,
                schema.CYCLE: cycle,
                "capacity_ah": capacity,
                "resistance_ohm": 0.016 + 1e-6 * cycle,
                "temperature_c": 31.0,
                "temperature_max_c": 35.0,
                "charge_time_s": 600.0 + 20 * k,
            }
        )
        frames.append(part)
        lives[cell] = float(cycle[-1])
    return pd.concat(frames, ignore_index=True), pd.Series(lives, dtype=float)


def test_cycle_life_is_the_first_cycle_at_end_of_life_and_nan_if_never() -> None:
    cycles, lives = _cells(3)
    stopped = cycles[~((cycles[schema.CELL_ID] == "c00") & (cycles[schema.CYCLE] > 200))]
    life = early_life.cycle_life(stopped, 0.88)
    assert np.isnan(life["c00"])  # stopped at cycle 200, far above end of life
    assert (life[["c01", "c02"]] <= lives[["c01", "c02"]]).all()
    assert (life[["c01", "c02"]] >= lives[["c01", "c02"]] - 50).all()


def test_summary_features_read_cycles_2_to_100_only() -> None:
    cycles, _ = _cells(2)
    features = early_life.summary_features(cycles)
    assert list(features.columns) == early_life.FEATURES
    assert list(features.index) == ["c00", "c01"]
    np.testing.assert_allclose(features["fade_slope_2_100"], [-2e-5, -4e-5], atol=5e-6)
    later = cycles.assign(
        capacity_ah=np.where(cycles[schema.CYCLE] > 100, 0.5, cycles["capacity_ah"])
    )
    pd.testing.assert_frame_equal(early_life.summary_features(later), features)
    np.testing.assert_allclose(features["charge_time_2_6"], [600.0, 620.0])


def test_leave_one_cell_out_beats_the_mean_when_early_fade_sets_life() -> None:
    cycles, _ = _cells(12)
    life = early_life.cycle_life(cycles, 0.88)
    features = early_life.summary_features(cycles)
    predicted = early_life.cross_validated(features, life, inner_folds=3)
    actual = life.loc[features.index].to_numpy()
    model = early_life.errors(predicted["elastic_net"], actual)
    mean = early_life.errors(predicted["mean_of_training_cells"], actual)
    assert model["mape_pct"] < mean["mape_pct"] / 2
    assert model["mape_pct_95"][0] <= model["mape_pct"] <= model["mape_pct_95"][1]
