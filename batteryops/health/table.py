"""The health table: every (cell, cycle) row featurized, labelled with SOH and RUL, and split.

What the ``health_features`` stage writes and ``train_health`` learns from. Features come from
:func:`batteryops.health.model.featurize` (the same code that scores new cycle data), labels from
:mod:`batteryops.health.dataset`, and cells are split by chamber temperature (the temperature
holdout): ``train`` near ``train_temperatures_c``, ``test`` near ``test_temperatures_c``. A cell's
chamber is the median of its ``ambient_c`` where the source states it, else its mean measured
temperature (:func:`batteryops.health.dataset.temperature_holdout`); ``ambient_c`` is never a
feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.compute import Runner
from batteryops.core.config import HealthParams
from batteryops.health import dataset
from batteryops.health.model import featurize


class EmptyHoldoutError(ValueError):
    """The temperature holdout left no training or no test cell."""


@dataclass(frozen=True)
class HealthTable:
    """Featurized, labelled rows and the split of their cells."""

    frame: pd.DataFrame  # cycle keys, features, SOH and RUL labels and each row's split
    split: dict[str, str]  # cell -> ``train``, ``test`` or ``unused``
    features: list[str]  # the feature columns of ``frame`` (neither key, label nor split)
    placed_at_c: dict[str, float]  # cell -> the temperature that placed it (NaN: none known)
    placed_by: dict[str, str]  # cell -> ``ambient_c`` (its chamber) or ``temperature_c``

    def cells(self, side: str) -> list[str]:
        """The cells on one side of the split (``train``, ``test`` or ``unused``)."""
        return [cell for cell, on in self.split.items() if on == side]

    def split_info(self) -> dict[str, object]:
        """The split file's content: cells, feature list, cell counts per side, what placed each."""
        counts = {"train": len(self.cells("train")), "test": len(self.cells("test"))}
        return {
            "cells": self.split,
            "features": self.features,
            "counts": counts,
            "placed_at_c": self.placed_at_c,
            "placed_by": self.placed_by,
        }


# Cells featurized and labelled together, as one task of a runner (every cell's rows depend on
# its own rows alone, so the grouping changes nothing but where the work runs).
CELLS_PER_PARTITION = 8


def labelled_by_cells(
    cycles: pd.DataFrame,
    curves: pd.DataFrame | None,
    truth: pd.DataFrame | None,
    params: HealthParams,
    runner: Runner | None = None,
) -> pd.DataFrame:
    """:func:`labelled` of :data:`CELLS_PER_PARTITION` cells at a time, each a ``runner`` task.

    The rows come back in (cell, cycle) order, equal to :func:`labelled` of all cells at once.
    """
    cells = sorted(cycles[schema.CELL_ID].unique())
    groups = [cells[i : i + CELLS_PER_PARTITION] for i in range(0, len(cells), CELLS_PER_PARTITION)]

    def of(frame: pd.DataFrame | None, group: list[str]) -> pd.DataFrame | None:
        return None if frame is None else frame[frame[schema.CELL_ID].isin(group)]

    items = [(of(cycles, g), of(curves, g), of(truth, g)) for g in groups]
    parts = (runner or Runner()).map(_labelled_group, items, params=params)
    return pd.concat(parts, ignore_index=True) if parts else labelled(cycles, curves, truth, params)


def _labelled_group(
    item: tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None], params: HealthParams
) -> pd.DataFrame:
    return labelled(*item, params)


def labelled(
    cycles: pd.DataFrame,
    curves: pd.DataFrame | None,
    truth: pd.DataFrame | None,
    params: HealthParams,
) -> pd.DataFrame:
    """Every (cell, cycle) row featurized (keys first) with its SOH and RUL labels.

    ``truth`` as for :func:`build_table` (None or empty: labels measured at check-ups).
    """
    cycles = cycles.sort_values(schema.CYCLE_KEYS, ignore_index=True)
    frame = featurize(cycles, curves, params)
    known = truth if truth is not None and len(truth) else None
    soh = dataset.soh_labels(cycles, params.reference_cycles, params.checkup, known)
    frame[dataset.SOH] = soh.to_numpy()
    frame[dataset.RUL] = dataset.rul_labels(cycles, soh, params.eol_soh).to_numpy()
    return frame


def build_table(
    cycles: pd.DataFrame,
    curves: pd.DataFrame | None,
    truth: pd.DataFrame | None,
    params: HealthParams,
    runner: Runner | None = None,
) -> HealthTable:
    """Featurize every (cell, cycle) row, label it, and split cells by chamber temperature.

    Args:
        cycles: Canonical cycle data (:data:`batteryops.core.schema.CYCLE_COLUMNS`; data
            without ``ambient_c``, written before it was in the contract, places every cell by
            its measured temperature).
        curves: Low-rate discharge curves at checkpoint cycles, or None.
        truth: The simulator's true SOH per (cell, cycle); None or empty for measured cells,
            whose SOH is their capacity over their reference capacity.
        params: The ``health`` section.
        runner: Where the cells are featurized (:func:`labelled_by_cells`; default: here).

    Returns:
        The table with its split.

    Raises:
        EmptyHoldoutError: If no cell is near the training or near the test temperatures.
    """
    cycles = cycles.sort_values(schema.CYCLE_KEYS, ignore_index=True)
    frame = labelled_by_cells(cycles, curves, truth, params, runner)
    cells = dataset.cell_temperatures(cycles)
    placed_at, placed_by = _placement(cells)
    if params.holdout == "protocol":
        split = dataset.protocol_holdout(cycles, params.protocol_test_every)
    else:
        split = dataset.temperature_holdout(
            cells, params.train_temperatures_c, params.test_temperatures_c
        )
    train = [c for c, s in split.items() if s == "train"]
    test = [c for c, s in split.items() if s == "test"]
    dataset.assert_no_leak(train, test)
    if params.holdout == "protocol" and (not train or not test):
        raise EmptyHoldoutError(
            f"protocol holdout is empty: {len(train)} training and {len(test)} test cells "
            f"(every {params.protocol_test_every}th charge protocol tests; cells without a "
            "charge time are unused)"
        )
    if not train or not test:
        at = sorted({round(t, 1) for t in placed_at.values() if np.isfinite(t)})
        raise EmptyHoldoutError(
            f"temperature holdout is empty: {len(train)} training and {len(test)} test cells "
            f"(train near {params.train_temperatures_c} C, test near "
            f"{params.test_temperatures_c} C; cells placed at {at[:12]} C, "
            f"{sum(by == 'ambient_c' for by in placed_by.values())} of {len(placed_by)} by "
            "their chamber's ambient_c, the others by their mean measured temperature)"
        )
    frame[schema.SPLIT] = frame[schema.CELL_ID].map(split)
    labels = {*schema.CYCLE_KEYS, dataset.SOH, dataset.RUL, schema.SPLIT}
    features = [c for c in frame.columns if c not in labels]
    return HealthTable(frame, split, features, placed_at, placed_by)


def _placement(cells: pd.DataFrame) -> tuple[dict[str, float], dict[str, str]]:
    """Per cell, the temperature that placed it and the column it came from."""
    ids = cells[schema.CELL_ID].tolist()
    at = dataset.placing_temperature(cells).tolist()
    by = np.where(cells["ambient_c"].notna(), "ambient_c", "temperature_c").tolist()
    return dict(zip(ids, at, strict=True)), dict(zip(ids, by, strict=True))
