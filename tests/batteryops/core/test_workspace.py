"""batteryops.core.workspace: the compiled kernels a copy of the project takes along."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from batteryops.core import workspace

KERNEL = """
import numba


@numba.njit(cache=True)
def twice(x):
    return 2 * x
"""


def _compile(folder: Path) -> subprocess.CompletedProcess[str]:
    """Import the module in ``folder`` in a new process, call its kernel, report numba's view."""
    code = "import kernel; kernel.twice(3); print(len(kernel.twice.stats.cache_hits))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, check=True
    )


def test_a_copy_loads_the_kernels_compiled_in_its_source(tmp_path: Path) -> None:
    root, copy = tmp_path / "root", tmp_path / "copy"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "kernel.py").write_text(KERNEL)
    assert _compile(root / "pkg").stdout.strip() == "0"  # compiled, and cached beside it
    (copy / "pkg").mkdir(parents=True)
    shutil.copy2(root / "pkg" / "kernel.py", copy / "pkg" / "kernel.py")
    assert workspace.copy_compiled_kernels(root, copy) == 2  # the index and the compiled code
    assert _compile(copy / "pkg").stdout.strip() == "1"  # loaded, not compiled again


def test_a_changed_module_compiles_again(tmp_path: Path) -> None:
    root, copy = tmp_path / "root", tmp_path / "copy"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "kernel.py").write_text(KERNEL)
    _compile(root / "pkg")
    (copy / "pkg").mkdir(parents=True)
    (copy / "pkg" / "kernel.py").write_text(KERNEL + "\n# changed\n")
    os.utime(copy / "pkg" / "kernel.py", (1, 1))
    workspace.copy_compiled_kernels(root, copy)
    assert _compile(copy / "pkg").stdout.strip() == "0"
