"""Grouped split of modules into train / validation / test: no module in two splits.

Rows of one module are strongly correlated second to second, so a row-level split would leak a
module's future into its past. Modules are split whole, stratified by scenario (fault type for
modules that carry a fault, else nuisance type, else healthy) so that every kind of runaway and
every nuisance the model must not alarm on is spread over the splits, training first. Modules that
never run away are held out in larger shares (``healthy_*`` fractions): they are plentiful, and a
false-alarm rate needs many held-out module-days. Served episodes collected with operators'
verdicts (``batteryops collect``) always train.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import SplitParams

SPLITS = ("train", "validation", "test")


class SplitLeakError(AssertionError):
    """Raised when a module appears in more than one split."""


def assign_splits(truth: pd.DataFrame, params: SplitParams) -> dict[str, str]:
    """Assign every module to one split.

    Args:
        truth: Ground truth per module (``module_id``, ``pnr_time``; ``fault_type`` and
            ``nuisance_type`` when present).
        params: The ``featurize.split`` section.

    Returns:
        ``{module_id: split}``.
    """
    rows: list[tuple[str, str]] = []  # (module, split) per truth row, before any mapping
    modules = truth[schema.MODULE_ID].to_numpy()
    kinds = _scenario(truth)
    pairs = 0
    for kind in sorted(set(kinds)):
        # Each stratum has its own stream, so adding modules of one kind moves no other.
        rng = np.random.default_rng([params.seed, zlib.crc32(kind.encode())])
        shuffled = list(rng.permutation(modules[kinds == kind]))
        n = len(shuffled)
        prefix = "" if kind.startswith("runaway/") else "healthy_"
        n_test = int(round(n * getattr(params, f"{prefix}test_fraction")))
        n_validation = int(round(n * getattr(params, f"{prefix}validation_fraction")))
        if n >= 3:  # every split gets at least one module of each stratum
            n_test, n_validation = max(n_test, 1), max(n_validation, 1)
            while n_test + n_validation > n - 1:  # and training keeps at least one
                if n_validation >= n_test:
                    n_validation -= 1
                else:
                    n_test -= 1
        elif n == 2:  # one to train, the other to test and validation in turn
            n_test, n_validation = (1, 0) if pairs % 2 == 0 else (0, 1)
            pairs += 1
        if schema.SERVED_KIND in kind:  # collected served episodes: operator feedback to learn from
            n_test = n_validation = 0
        for i, module in enumerate(shuffled):
            split = "test" if i < n_test else "validation" if i < n_test + n_validation else "train"
            rows.append((str(module), split))
    # Checked on the rows, before they become one entry per module: a module id that stands in
    # the truth twice (two strata) could land in two splits, and a mapping would hide it.
    check_no_leak(pd.DataFrame(rows, columns=[schema.MODULE_ID, schema.SPLIT]))
    return dict(rows)


def _scenario(truth: pd.DataFrame) -> np.ndarray:
    """Stratum of each module: its fault type, else its nuisance type, else healthy."""
    runaway = truth["pnr_time"].notna().to_numpy()
    fault = truth.get("fault_type", pd.Series("none", index=truth.index)).astype(str).to_numpy()
    nuisance = (
        truth.get("nuisance_type", pd.Series("none", index=truth.index)).astype(str).to_numpy()
    )
    kind = np.where(fault != "none", "fault:" + fault, "nuisance:" + nuisance)
    # A faulty module that did not reach PNR in the run is its own stratum, as is the reverse.
    return np.where(runaway, "runaway/" + kind, "none/" + kind)


def check_no_leak(assignment: dict[str, str] | pd.DataFrame) -> None:
    """Assert that no module belongs to two splits.

    Args:
        assignment: ``{module_id: split}``, or a frame with ``module_id`` and ``split`` columns.

    Raises:
        SplitLeakError: Naming the modules found in more than one split.
    """
    if isinstance(assignment, pd.DataFrame):
        per_module = assignment.groupby(schema.MODULE_ID, observed=True)[schema.SPLIT].nunique()
        leaked = sorted(per_module[per_module > 1].index)
    else:
        leaked = []
        unknown = sorted({s for s in assignment.values() if s not in SPLITS})
        if unknown:
            raise SplitLeakError(f"unknown split names {unknown}; expected {SPLITS}")
    if leaked:
        raise SplitLeakError(f"modules in more than one split: {leaked[:10]}")
