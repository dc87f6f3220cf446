"""The layer contracts of pyproject.toml ([tool.importlinter]) hold, and they can fail.

The rooms of ``batteryops`` and who may import whom are drawn in docs/architecture.md; import-linter
checks them on the import graph. The second and third tests copy the code into a temporary folder,
add one forbidden import there and assert that the contracts break, naming it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(project))
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--config", "pyproject.toml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _copy(target: Path) -> Path:
    for package in ("batteryops", "stages", "flows"):
        shutil.copytree(
            ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "static")
        )
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def _add_import(module: Path, line: str) -> None:
    module.write_text(module.read_text() + f"\n{line}  # noqa: E402, F401\n")


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("batteryops.core.schema", "batteryops.hazard.labels"),  # core reaching up into a task
        ("batteryops.hazard.labels", "batteryops.serve.store"),  # a task reaching into serve
        ("batteryops.health.dataset", "batteryops.hazard.labels"),  # the tasks are independent
        ("batteryops.ingest.cycle_files", "batteryops.mlops.gates"),  # so are sim/ingest/mlops
        ("batteryops.mlops.gates", "stages._common"),  # the library reaching into a stage
        ("batteryops.familyb.fleet", "batteryops.sim.simulate"),  # family B is independent ...
        ("batteryops.familyb.cell", "batteryops.physics.cell"),  # ... and of its physics
        ("batteryops.sim.semi_empirical", "batteryops.sim.ageing"),  # so is the second family
        ("batteryops.sim.semi_empirical", "batteryops.physics.half_cells"),
    ],
)
def test_an_upward_import_breaks_a_contract(tmp_path: Path, importer: str, imported: str) -> None:
    project = _copy(tmp_path)
    _add_import(project / (importer.replace(".", "/") + ".py"), f"import {imported}")
    result = _lint_imports(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{importer} -> {imported}" in result.stdout.split("Broken contracts", 1)[1]


def test_an_import_cycle_inside_a_room_breaks_a_contract(tmp_path: Path) -> None:
    project = _copy(tmp_path)
    # hazard.features imports hazard.feature_kernels; the way back closes a cycle.
    _add_import(
        project / "batteryops/hazard/feature_kernels.py", "from batteryops.hazard import features"
    )
    result = _lint_imports(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No import cycle" in result.stdout.split("Broken contracts", 1)[1]
