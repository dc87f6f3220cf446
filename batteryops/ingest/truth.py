"""Ground truth for ingested telemetry: per module, whether and when it ran away.

Exports carry no truth; a raw folder may hold ``truth.parquet`` or ``truth.csv`` (per module:
``module_id`` and, for modules that ran away, ``pnr_time``; optional ``fault_type``,
``fault_start``, ``nuisance_type``, ``nuisance_start``, ``vent_time`` and ``position``, the
module's place in its rack). Without one, every module
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


def file_truth(
    telemetry: pd.DataFrame,
    given: pd.DataFrame | None,
    source: str,
    fault_lookback_s: int = 3600,
) -> pd.DataFrame:
    """Truth for the ingested modules in :data:`schema.TRUTH_COLUMNS`.

    Args:
        telemetry: Canonical telemetry; its modules (and racks) get one truth row each.
        given: The truth table read beside the files, or None (every module never runs away).
            Its ``position`` (a module's place in its rack, which decides its neighbours) is
            kept where given; modules without one are placed in order of appearance after it.
        source: Where ``given`` came from, for messages (e.g. the raw folder).
        fault_lookback_s: A module with a ``pnr_time`` but no ``fault_start`` (the column is
            optional) gets ``fault_start = pnr_time - fault_lookback_s``: the window in which an
            alarm counts as a detection. Without it no runaway could be detected.

    Returns:
        One row per module; missing fault and nuisance types are ``"none"``, times UTC or NaT.
        ``truth.attrs["fault_start_assumed"]`` counts the modules given the look-back.

    Raises:
        ValueError: If ``given`` has no ``module_id`` column, or a ``position`` is not a whole
            number.
    """
    modules = telemetry[[schema.RACK_ID, schema.MODULE_ID]].drop_duplicates().reset_index(drop=True)
    modules["position"] = modules.groupby(schema.RACK_ID).cumcount()
    if given is not None and "position" in given.columns:
        modules["position"] = _given_positions(modules, given, source)
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
    assumed = _assume_fault_starts(truth, fault_lookback_s, source)
    truth["position"] = truth["position"].astype(np.int64)
    out = truth[schema.TRUTH_COLUMNS]
    out.attrs["fault_start_assumed"] = assumed
    return out


def folder_truth(
    telemetry: pd.DataFrame, raw_dir: Path, fault_lookback_s: int
) -> tuple[pd.DataFrame, dict[str, int]]:
    """:func:`file_truth` of the truth file in ``raw_dir``, and what the metrics state of it.

    The statement: how many detection windows are a look-back rather than a given fault start.
    """
    table = file_truth(telemetry, read_truth_file(raw_dir), str(raw_dir), fault_lookback_s)
    stated = {
        "fault_start_assumed": table.attrs["fault_start_assumed"],
        "fault_lookback_s": fault_lookback_s,
    }
    return table, stated


def _assume_fault_starts(truth: pd.DataFrame, fault_lookback_s: int, source: str) -> int:
    """Open the detection window of runaways without ``fault_start`` before PNR; how many."""
    assumed = truth["pnr_time"].notna() & truth["fault_start"].isna()
    truth.loc[assumed, "fault_start"] = truth.loc[assumed, "pnr_time"] - pd.Timedelta(
        seconds=fault_lookback_s
    )
    if assumed.any():
        logger.warning(
            "%s/truth: %d runaway modules have no fault_start; their detection window opens "
            "%d s before PNR (ingest.fault_lookback_s)",
            source,
            int(assumed.sum()),
            fault_lookback_s,
        )
    return int(assumed.sum())


def _given_positions(modules: pd.DataFrame, given: pd.DataFrame, source: str) -> pd.Series:
    """Each module's ``position`` from the truth file; the rest after them, in appearance order."""
    positions = given.drop_duplicates(schema.MODULE_ID).set_index(schema.MODULE_ID)["position"]
    numbers = pd.to_numeric(positions, errors="coerce")
    bad = positions[positions.notna() & (numbers.isna() | (numbers % 1 != 0))]
    if len(bad):
        raise ValueError(
            f"{source}/truth: column 'position' must hold whole numbers (a module's place in "
            f"its rack); module {bad.index[0]!r} has {bad.iloc[0]!r}"
        )
    placed = modules[schema.MODULE_ID].map(numbers)
    after = placed.groupby(modules[schema.RACK_ID]).transform("max").fillna(-1)
    order = placed.isna().groupby(modules[schema.RACK_ID]).cumsum()
    return placed.fillna(after + order).astype(np.int64)
