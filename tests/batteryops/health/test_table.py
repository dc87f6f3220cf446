"""batteryops.health.table: the health table's features, labels and temperature holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.health import dataset
from batteryops.health.table import EmptyHoldoutError, build_table
from tests.batteryops.health.health_cycles import small_health_params, three_chambers


def test_rows_are_labelled_and_cells_split_by_chamber(params: Params) -> None:
    cycles = three_chambers()
    table = build_table(cycles, None, None, small_health_params(params.health))
    assert len(table.frame) == len(cycles)
    assert table.split == {
        "T10-a": "train",
        "T10-b": "train",
        "T25-a": "test",
        "T25-b": "test",
        "T40-a": "train",
        "T40-b": "train",
    }
    assert (table.frame[schema.SPLIT] == table.frame[schema.CELL_ID].map(table.split)).all()
    assert table.cells("test") == ["T25-a", "T25-b"]
    # Without truth, SOH is the capacity over the median of the cell's first cycles.
    first = table.frame.iloc[0]
    assert first[schema.CELL_ID] == "T10-a" and first[schema.CYCLE] == 0
    reference = cycles.loc[cycles[schema.CELL_ID] == "T10-a", "capacity_ah"].iloc[:5].median()
    assert first[dataset.SOH] == pytest.approx(cycles["capacity_ah"].iloc[0] / reference)
    # Every cell fades below 80 %: its RUL counts down to zero at its end of life.
    eol = table.frame[table.frame[dataset.RUL] == 0]
    assert sorted(eol[schema.CELL_ID]) == sorted(table.split)


def test_features_are_neither_keys_labels_nor_split(params: Params) -> None:
    table = build_table(three_chambers(), None, None, small_health_params(params.health))
    excluded = {*schema.CYCLE_KEYS, dataset.SOH, dataset.RUL, schema.SPLIT}
    assert table.features
    assert not excluded & set(table.features)
    assert set(table.frame.columns) == excluded | set(table.features)
    info = table.split_info()
    assert info["counts"] == {"train": 4, "test": 2}
    assert info["features"] == table.features and info["cells"] == table.split


def test_unsorted_cycles_give_the_same_table(params: Params) -> None:
    section = small_health_params(params.health)
    cycles = three_chambers()
    shuffled = cycles.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(
        build_table(shuffled, None, None, section).frame,
        build_table(cycles, None, None, section).frame,
    )


def test_truth_gives_the_soh_and_empty_truth_is_none(params: Params) -> None:
    section = small_health_params(params.health)
    cycles = three_chambers()
    truth = cycles[schema.CYCLE_KEYS].assign(**{dataset.SOH: 0.5})
    assert (build_table(cycles, None, truth, section).frame[dataset.SOH] == 0.5).all()
    empty = truth.iloc[:0]
    pd.testing.assert_frame_equal(
        build_table(cycles, None, empty, section).frame,
        build_table(cycles, None, None, section).frame,
    )


def test_no_cell_in_the_test_chamber_is_refused(params: Params) -> None:
    cycles = three_chambers()
    cycles = cycles[~cycles[schema.CELL_ID].str.startswith("T25")]
    with pytest.raises(EmptyHoldoutError, match=r"0 test cells \(train near \[10.0, 40.0\] C"):
        build_table(cycles, None, None, small_health_params(params.health))


def test_curves_add_their_features(params: Params) -> None:
    section = small_health_params(params.health)
    cycles = three_chambers()
    capacity = np.linspace(0.0, 4.9, 120)
    voltage = 4.2 - 1.2 * capacity / 4.9 - 0.1 * np.sin(3.0 * capacity)
    curves = pd.concat(
        pd.DataFrame(
            {
                schema.CELL_ID: cell,
                schema.CYCLE: cycle,
                "voltage_v": voltage - 0.001 * cycle / 50,
                "capacity_ah": capacity * (1 - 0.0005 * cycle),
            }
        )
        for cell in cycles[schema.CELL_ID].unique()
        for cycle in (0, 50, 100)
    )
    with_curves = build_table(cycles, curves, None, section)
    without = build_table(cycles, None, None, section)
    assert set(without.features) < set(with_curves.features)
    assert "cycles_since_curve" in with_curves.features
