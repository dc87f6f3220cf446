"""Ground truth for ingested telemetry: per module, whether and when it ran away.

Exports carry no truth; a raw folder may hold ``truth.parquet`` or ``truth.csv`` (per module:
``module_id`` and, for modules that ran away, ``pnr_time``; optional ``fault_type``,
``fault_start``, ``nuisance_type``, ``nuisance_start``, ``vent_time``). Without one, every module
counts as never running away, which evaluates false alarms but cannot train a hazard model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from batteryops.core import schema

logger = logging.getLogger(__name__)
TRUTH_FILES = ("truth.parquet", "truth.csv")


def read_truth_file(raw_dir: Path) -> pd.DataFrame | None:
    """The truth table in a raw folder (``truth.parquet`` first, then ``truth.csv``), or None."""
    for name in TRUTH_FILES:
        path = raw_dir / name
        if path.is_file():
            return pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)
    return None


def file_truth(telemetry: pd.DataFrame, given: pd.DataFrame | None, source: str) -> pd.DataFrame:
    """Truth for the ingested modules in :data:`schema.TRUTH_COLUMNS`.

    Args:
        telemetry: Canonical telemetry; its modules (and racks) get one truth row each, with
            their position in the rack in order of appearance.
        given: The truth table read beside the files, or None (every module never runs away).
        source: Where ``given`` came from, for messages (e.g. the raw folder).

    Returns:
        One row per module; missing fault and nuisance types are ``"none"``, times UTC or NaT.

    Raises:
        ValueError: If ``given`` has no ``module_id`` column.
    """
    modules = telemetry[[schema.RACK_ID, schema.MODULE_ID]].drop_duplicates().reset_index(drop=True)
    modules["position"] = modules.groupby(schema.RACK_ID).cumcount()
    if given is None:
        logger.warning(
            "%s has no truth.parquet or truth.csv: every module counts as never running away",
            source,
        )
        given = pd.DataFrame({schema.MODULE_ID: modules[schema.MODULE_ID]})
    if schema.MODULE_ID not in given.columns:
        raise ValueError(f"{source}/truth: no module_id column (columns: {list(given.columns)})")
    given = given[given[schema.MODULE_ID].isin(modules[schema.MODULE_ID])]
    given = given.drop(columns=[c for c in (schema.RACK_ID, "position") if c in given])
    truth = modules.merge(given, on=schema.MODULE_ID, how="left")
    for column in ("fault_type", "nuisance_type"):
        truth[column] = truth[column].fillna("none") if column in truth else "none"
    for column in ("fault_start", "nuisance_start", "vent_time", "pnr_time"):
        values = truth[column] if column in truth else pd.Series(pd.NaT, index=truth.index)
        truth[column] = pd.to_datetime(values, utc=True, errors="coerce")
    truth["position"] = truth["position"].astype(np.int64)
    return truth[schema.TRUTH_COLUMNS]
