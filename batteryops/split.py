"""Grouped split of modules into train / validation / test: no module in two splits.

Rows of one module are strongly correlated second to second, so a row-level split would leak a
module's future into its past. Modules are split whole, stratified so that modules that run away
are spread over every split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from batteryops import schema
from batteryops.config import SplitParams

SPLITS = ("train", "validation", "test")


class SplitLeakError(AssertionError):
    """Raised when a module appears in more than one split."""


def assign_splits(truth: pd.DataFrame, params: SplitParams) -> dict[str, str]:
    """Assign every module to one split.

    Args:
        truth: Ground truth per module (``module_id``, ``pnr_time``).
        params: The ``featurize.split`` section.

    Returns:
        ``{module_id: split}``.
    """
    rng = np.random.default_rng(params.seed)
    assignment: dict[str, str] = {}
    runaway = truth["pnr_time"].notna().to_numpy()
    modules = truth[schema.MODULE_ID].to_numpy()
    for stratum in (modules[runaway], modules[~runaway]):
        shuffled = list(rng.permutation(stratum))
        n = len(shuffled)
        n_test = int(round(n * params.test_fraction))
        n_validation = int(round(n * params.validation_fraction))
        if n >= 3:  # every split gets at least one module of each stratum
            n_test, n_validation = max(n_test, 1), max(n_validation, 1)
            while n_test + n_validation > n - 1:  # and training keeps at least one
                if n_validation >= n_test:
                    n_validation -= 1
                else:
                    n_test -= 1
        for i, module in enumerate(shuffled):
            split = "test" if i < n_test else "validation" if i < n_test + n_validation else "train"
            assignment[str(module)] = split
    check_no_leak(assignment)
    return assignment


def check_no_leak(assignment: dict[str, str] | pd.DataFrame) -> None:
    """Assert that no module belongs to two splits.

    Args:
        assignment: ``{module_id: split}``, or a frame with ``module_id`` and ``split`` columns.

    Raises:
        SplitLeakError: Naming the modules found in more than one split.
    """
    if isinstance(assignment, pd.DataFrame):
        per_module = assignment.groupby(schema.MODULE_ID)[schema.SPLIT].nunique()
        leaked = sorted(per_module[per_module > 1].index)
    else:
        leaked = []
        unknown = sorted({s for s in assignment.values() if s not in SPLITS})
        if unknown:
            raise SplitLeakError(f"unknown split names {unknown}; expected {SPLITS}")
    if leaked:
        raise SplitLeakError(f"modules in more than one split: {leaked[:10]}")
