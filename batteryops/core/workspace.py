"""The project as a working copy: tool environment, and fresh copies for tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# Telemetry of the tools off, everywhere the pipeline runs (stages, flow, tests, benchmarks).
QUIET_TOOLS = {
    "DVC_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "False",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
# Outputs of a run, not sources: a fresh copy starts without them.
RUN_RESULTS = ("dvc.lock", "metrics/")


def tool_environment(project: str | Path, bin_dir: str | Path) -> dict[str, str]:
    """The process environment for running the project's tools in ``project``.

    Args:
        project: The working copy (its ``.prefect`` folder becomes ``PREFECT_HOME``).
        bin_dir: Folder put first on ``PATH`` (the virtual environment's ``bin``).
    """
    return (
        dict(os.environ)
        | QUIET_TOOLS
        | {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PREFECT_HOME": str(Path(project) / ".prefect"),
            "GIT_AUTHOR_NAME": "batteryops",
            "GIT_AUTHOR_EMAIL": "batteryops@localhost",
            "GIT_COMMITTER_NAME": "batteryops",
            "GIT_COMMITTER_EMAIL": "batteryops@localhost",
        }
    )


def copy_checkout(root: str | Path, target: str | Path) -> None:
    """Copy the files git sees in ``root`` (tracked, or untracked and not ignored) to ``target``.

    Run results (:data:`RUN_RESULTS`) are left behind, as a fresh clone has none. The input
    folders ``data/raw``, ``data/raw_cycles`` and ``feedback`` are created empty, as ``make init``
    does.
    """
    root, target = Path(root), Path(target)
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for relative in listed:
        if not (root / relative).is_file() or relative.startswith(RUN_RESULTS):
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target / relative)
    for folder in ("data/raw", "data/raw_cycles", "feedback"):
        (target / folder).mkdir(parents=True, exist_ok=True)


def copy_compiled_kernels(root: str | Path, target: str | Path) -> int:
    """Copy the numba kernels compiled in ``root`` into a copy made by :func:`copy_checkout`.

    Numba caches each compiled kernel beside its module (``__pycache__/<module>.*.nbi`` and
    ``.nbc``) and trusts the cache while the module's modification time and size are unchanged,
    which :func:`copy_checkout` keeps: the copy then loads the kernels instead of compiling them
    again (about a minute on 2 cores). Kernels not compiled in ``root`` are compiled in the copy
    as before.

    Returns:
        The number of cache files copied.
    """
    root, target = Path(root), Path(target)
    copied = 0
    for module in target.rglob("*.py"):
        relative = module.relative_to(target)
        cache = root / relative.parent / "__pycache__"
        for path in cache.glob(f"{relative.stem}.*.nb[ic]"):
            (target / relative.parent / "__pycache__").mkdir(exist_ok=True)
            shutil.copy2(path, target / relative.parent / "__pycache__" / path.name)
            copied += 1
    return copied


def commit_all(project: str | Path, message: str, env: dict[str, str]) -> None:
    """Make ``project`` a git repository if it is not one, and commit everything in it."""
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", message]):
        subprocess.run(command, cwd=project, env=env, check=True, capture_output=True)
