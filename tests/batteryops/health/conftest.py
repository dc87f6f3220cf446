"""Fixtures the health tests share."""

from __future__ import annotations

import pytest

from batteryops.core.config import HealthParams, Params
from tests.batteryops.health.health_cycles import small_health_params


@pytest.fixture(scope="module")
def section(params: Params) -> HealthParams:
    """The project's ``health`` section with small boosters and no cross-validation."""
    return small_health_params(params.health, cell_folds=0)
