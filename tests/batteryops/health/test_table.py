"""batteryops.health.table: the health table's features, labels and temperature holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import HealthParams, Params
from batteryops.health import dataset
from batteryops.health.table import EmptyHoldoutError, build_table
from tests.batteryops.health.health_cycles import (
    fading_cycles,
    small_health_params,
    three_chambers,
)


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


# --- the chamber (ambient_c) -------------------------------------------------------------------

# NASA's PCoE cells: chambers at 4, 24 and 43 C, each cell 2.5-4.5 C above its chamber.
NASA_FADES = {"B41": 9e-4, "B45": 1e-3, "B25": 8e-4, "B26": 8.5e-4, "B29": 1.1e-3, "B30": 1.2e-3}
NASA_CHAMBERS = {"B41": 4.0, "B45": 4.0, "B25": 24.0, "B26": 24.0, "B29": 43.0, "B30": 43.0}
NASA_MEASURED = {"B41": 6.5, "B45": 8.5, "B25": 28.5, "B26": 28.4, "B29": 46.0, "B30": 46.2}


def _nasa_like(ambient_c: dict[str, float] | None = NASA_CHAMBERS) -> pd.DataFrame:
    return fading_cycles(NASA_FADES, NASA_MEASURED, 300, seed=4, ambient_c=ambient_c)


def _nasa_params(params: Params) -> HealthParams:
    return small_health_params(
        params.health, train_temperatures_c=[4.0, 43.0], test_temperatures_c=[24.0]
    )


def test_cells_hotter_than_their_chamber_are_placed_by_it(params: Params) -> None:
    table = build_table(_nasa_like(), None, None, _nasa_params(params))
    assert table.cells("test") == ["B25", "B26"]
    assert table.cells("train") == ["B29", "B30", "B41", "B45"]
    info = table.split_info()
    assert info["placed_by"] == dict.fromkeys(sorted(NASA_FADES), "ambient_c")
    assert info["placed_at_c"] == {cell: NASA_CHAMBERS[cell] for cell in sorted(NASA_FADES)}


def test_without_a_chamber_the_measured_temperature_places_the_cells(params: Params) -> None:
    # Cycle data written before ambient_c (no column), or a source that never states it: the
    # cells' 28.5 C is 4.5 C off the 24 C chamber, as NASA's were, and the holdout is empty
    # (B41's 6.5 C is near 4 C; B45's 8.5 C and the 46 C cells are near nothing).
    older = _nasa_like().drop(columns="ambient_c")
    with pytest.raises(
        EmptyHoldoutError,
        match=r"1 training and 0 test cells .* 0 of 6 by their chamber's ambient_c",
    ):
        build_table(older, None, None, _nasa_params(params))
    # A cell whose source states no chamber falls back alone.
    mixed = _nasa_like({**NASA_CHAMBERS, "B26": np.nan})
    mixed.loc[mixed[schema.CELL_ID] == "B26", "temperature_c"] -= 3.0  # measured 25.4 C
    table = build_table(mixed, None, None, _nasa_params(params))
    assert table.split["B26"] == "test" and table.placed_by["B26"] == "temperature_c"
    assert table.placed_at_c["B26"] == pytest.approx(25.4, abs=0.1)


def test_the_chamber_places_cells_and_is_no_feature(params: Params) -> None:
    section = _nasa_params(params)
    cycles = _nasa_like()
    jitter = np.random.default_rng(8).uniform(-1.0, 1.0, len(cycles))  # same chambers, moved
    before = build_table(cycles, None, None, section)
    after = build_table(cycles.assign(ambient_c=cycles["ambient_c"] + jitter), None, None, section)
    assert after.split == before.split
    assert after.features == before.features
    pd.testing.assert_frame_equal(after.frame, before.frame)
    assert not [name for name in before.frame.columns if "ambient" in name]


def test_cells_featurized_in_groups_on_a_local_cluster_equal_all_at_once(
    raw_params, monkeypatch
) -> None:
    """The health table's rows do not depend on which cells were featurized together, or where."""
    from batteryops.core.compute import partitions_runner
    from batteryops.core.config import ComputeParams, deep_merge, parse_params
    from batteryops.health import table
    from batteryops.sim.ageing import simulate_ageing

    overrides = {"ageing": {"cells_per_condition": 1, "max_cycles": 400, "checkpoint_every": 100}}
    params = parse_params(deep_merge(raw_params, overrides))
    data = simulate_ageing(params.ageing)
    assert data.cycles[schema.CELL_ID].nunique() > 3 and not data.curves.empty
    whole = table.labelled(data.cycles, data.curves, data.truth, params.health)
    monkeypatch.setattr(table, "CELLS_PER_PARTITION", 3)
    compute = ComputeParams(cluster="local", workers=2, processes=True)
    with partitions_runner(compute) as runner:
        grouped = table.labelled_by_cells(
            data.cycles, data.curves, data.truth, params.health, runner
        )
    pd.testing.assert_frame_equal(whole, grouped)
