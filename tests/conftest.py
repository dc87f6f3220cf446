"""Shared fixtures: the project's params, and a tiny fleet for fast tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from batteryops.core.config import Params, deep_merge, parse_params
from tests.postgres import Server
from tests.postgres import binaries as postgres_binaries

ROOT = Path(__file__).resolve().parent.parent

# A tiny fleet: 3 racks x 4 modules x 2.5 h; eight modules run away, four of each fault type, so
# that the split (stratified by scenario) puts one of each type in validation and in test and two
# of each in training.
TINY_OVERRIDES: dict[str, Any] = {
    "simulate": {
        "racks": 3,
        "modules_per_rack": 4,
        "duration_s": 9000,
        "chunk_s": 3600,  # three chunks: exercises streaming and state carried across chunks
        "faults": {
            "internal_short": 4,
            "external_heating": 4,
            "cooling_failure": 0,
            "overcharge": 0,
        },
        "nuisances": {
            "stuck_sensor": 1,
            "drifting_sensor": 1,
            "gas_spikes": 0,
            "hot_ambient_racks": 0,
            "high_load_racks": 0,
            "busy_module": 0,
            "poor_cooling": 0,
            "contact_resistance": 0,
            "calibration_offset": 0,
        },
        "fault_earliest_s": 600,
        "fault_latest_fraction": 0.3,
    },
    "featurize": {
        "split": {
            "validation_fraction": 0.2,
            "test_fraction": 0.2,
            "healthy_validation_fraction": 0.2,
            "healthy_test_fraction": 0.2,
        }
    },
    # The unlike fleet, as small: 2 racks x 4 modules x 2.5 h, four runaways.
    "generalize": {
        "simulate": {
            "racks": 2,
            "modules_per_rack": 4,
            "duration_s": 9000,
            "chunk_s": 9000,
            "faults": {
                "internal_short": 2,
                "external_heating": 2,
                "cooling_failure": 0,
                "overcharge": 0,
            },
            "nuisances": {
                "stuck_sensor": 1,
                "drifting_sensor": 0,
                "gas_spikes": 0,
                "hot_ambient_racks": 0,
                "high_load_racks": 0,
                "busy_module": 0,
                "poor_cooling": 0,
                "contact_resistance": 0,
                "calibration_offset": 0,
            },
            "fault_earliest_s": 600,
            "fault_latest_fraction": 0.3,
        },
        # Family B, as small: one rack of 4 modules for 2 h, two runaways, a busy module.
        "family_b": {
            "racks": 1,
            "modules_per_rack": 4,
            "duration_s": 7200,
            "chunk_s": 3600,
            "fault_earliest_s": 600,
            "fault_latest_fraction": 0.3,
            "faults": {
                "internal_short": 1,
                "external_heating": 1,
                "cooling_failure": 0,
                "overcharge": 0,
            },
            "nuisances": {
                "busy_module": 1,
                "poor_cooling": 0,
                "contact_resistance": 0,
                "calibration_offset": 0,
                "stuck_sensor": 0,
                "gas_cross_sensitivity": 0,
                "hvac_cycling_racks": 0,
                "heat_wave_racks": 0,
            },
        },
    },
    # The newest 2 h of a 2.5 h run: a shorter window of so few modules is mostly sampling noise.
    "drift": {"reference_rows": 3000, "current_rows": 3000, "current_window_s": 7200},
    "train": {"xgboost": {"n_estimators": 60}, "delta_t_xgboost": {"n_estimators": 60}},
    # Two events and 0.1 module-days bound nothing: a perfect run's recall bound is 0.22 and its
    # false-alarm bound 33 per module-day. The tiny fleet tests the plumbing; the bound gates are
    # for fleets that can show them (params.yaml says how large).
    "gates": {
        "min_event_recall_at_min_lead_lower95": None,
        "max_false_alarms_per_module_day_upper95": None,
    },
    # No "ageing" here: the health task runs its default 48 cells. With 24, the four test cells
    # per protocol are too few for the RUL gate. Leave-one-cell-out (48 folds of both models)
    # was 53 of train_health's 81 s; it is the unit tests' (tests/batteryops/health/
    # test_training.py), and without it the RUL interval is the point estimate.
    "health": {"cell_folds": 0},
}


@pytest.fixture(scope="session")
def postgres() -> Iterator[Server]:
    """A throw-away PostgreSQL server for this test session (skips where none is installed)."""
    bin_dir = postgres_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
    server = Server(bin_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def raw_params() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture(scope="session")
def params(raw_params: dict[str, Any]) -> Params:
    return parse_params(raw_params)


@pytest.fixture(scope="session")
def tiny_params(raw_params: dict[str, Any]) -> Params:
    return parse_params(deep_merge(raw_params, TINY_OVERRIDES))


@pytest.fixture(autouse=True)
def _mlflow_uris_restored() -> Iterator[None]:
    """Each test leaves MLflow's tracking and registry URIs as it found them.

    ``mlflow.set_tracking_uri`` / ``set_registry_uri`` (called by ``tracking.configure``) write
    module globals and the ``MLFLOW_*_URI`` environment variables; without this, one test's
    temporary store leaks into later tests and into the subprocesses they start.
    """
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    environment = {name: os.environ.get(name) for name in names}
    modules = {
        "mlflow.tracking._tracking_service.utils": "_tracking_uri",
        "mlflow.tracking._model_registry.utils": "_registry_uri",
    }
    before = {
        module: getattr(sys.modules[module], attribute)
        for module, attribute in modules.items()
        if module in sys.modules
    }
    yield
    for name, value in environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    for module, attribute in modules.items():
        if module in sys.modules:
            setattr(sys.modules[module], attribute, before.get(module))


# The longest file (seven minutes on one worker), then files of a minute or more (setups
# included; `pytest --durations=150`, December 2026) that are not end-to-end: under xdist they
# start first, so that the run does not end on one of them while the other worker idles.
LONGEST_FILE = "tests/e2e/test_pipeline.py"
LONG_FILES = (
    "tests/batteryops/serve/test_engine.py",
    "tests/batteryops/serve/test_app.py",
    "tests/batteryops/serve/test_monitor.py",
    "tests/batteryops/mlops/test_registration.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest file, the other end-to-end tests, the other long files, then the rest.

    Each group keeps its files' order. ``make test`` runs ``--dist loadfile
    --no-loadscope-reorder``: files go to the workers in this order (xdist's own, most tests
    first, started the end-to-end pipeline file as the 27th).
    """

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        if path == LONGEST_FILE:
            return 0
        if item.get_closest_marker("e2e") is not None:
            return 1
        return 2 if path in LONG_FILES else 3

    items.sort(key=rank)
