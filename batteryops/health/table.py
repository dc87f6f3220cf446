"""The health table: every (cell, cycle) row featurized, labelled with SOH and RUL, and split.

What the ``health_features`` stage writes and ``train_health`` learns from. Features come from
:func:`batteryops.health.model.featurize` (the same code that scores new cycle data), labels from
:mod:`batteryops.health.dataset`, and cells are split by chamber temperature (the temperature
holdout): ``train`` near ``train_temperatures_c``, ``test`` near ``test_temperatures_c``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from batteryops.core import schema
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

    def cells(self, side: str) -> list[str]:
        """The cells on one side of the split (``train``, ``test`` or ``unused``)."""
        return [cell for cell, on in self.split.items() if on == side]

    def split_info(self) -> dict[str, object]:
        """The split file's content: cells, feature list and the cell counts per side."""
        counts = {"train": len(self.cells("train")), "test": len(self.cells("test"))}
        return {"cells": self.split, "features": self.features, "counts": counts}


def build_table(
    cycles: pd.DataFrame,
    curves: pd.DataFrame | None,
    truth: pd.DataFrame | None,
    params: HealthParams,
) -> HealthTable:
    """Featurize every (cell, cycle) row, label it, and split cells by chamber temperature.

    Args:
        cycles: Canonical cycle data (:data:`batteryops.core.schema.CYCLE_COLUMNS`).
        curves: Low-rate discharge curves at checkpoint cycles, or None.
        truth: The simulator's true SOH per (cell, cycle); None or empty for measured cells,
            whose SOH is their capacity over their reference capacity.
        params: The ``health`` section.

    Returns:
        The table with its split.

    Raises:
        EmptyHoldoutError: If no cell is near the training or near the test temperatures.
    """
    cycles = cycles.sort_values(schema.CYCLE_KEYS, ignore_index=True)
    frame = featurize(cycles, curves, params)
    known = truth if truth is not None and len(truth) else None
    soh = dataset.soh_labels(cycles, params.reference_cycles, params.checkup, known)
    frame[dataset.SOH] = soh.to_numpy()
    frame[dataset.RUL] = dataset.rul_labels(cycles, soh, params.eol_soh).to_numpy()
    cells = frame.groupby(schema.CELL_ID, as_index=False)["temperature_c"].last()
    split = dataset.temperature_holdout(
        cells, params.train_temperatures_c, params.test_temperatures_c
    )
    train = [c for c, s in split.items() if s == "train"]
    test = [c for c, s in split.items() if s == "test"]
    dataset.assert_no_leak(train, test)
    if not train or not test:
        raise EmptyHoldoutError(
            f"temperature holdout is empty: {len(train)} training and {len(test)} test cells "
            f"(train near {params.train_temperatures_c} C, test near "
            f"{params.test_temperatures_c} C)"
        )
    frame[schema.SPLIT] = frame[schema.CELL_ID].map(split)
    labels = {*schema.CYCLE_KEYS, dataset.SOH, dataset.RUL, schema.SPLIT}
    features = [c for c in frame.columns if c not in labels]
    return HealthTable(frame, split, features)
