"""MLflow set-up shared by training, registration and the CLI.

The tracking store is SQLite in the project root by default (MLflow 3 refuses the file store);
artifacts go to a folder inside the project so the whole state moves with it. A team points
``tracking.uri`` at a tracking server (PostgreSQL behind it), whose artifact root serves them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from batteryops.core.config import TrackingParams

TRACKING_SERVERS = ("http://", "https://")


def configure(tracking: TrackingParams, root: str | Path = ".") -> str:
    """Point MLflow at the project's store and make sure the experiment exists.

    A database URI (``sqlite:///mlflow.db``, ``postgresql+psycopg://...``) keeps artifacts in
    ``tracking.artifact_dir``; a tracking server's URI (``http://host:5000``) leaves them to the
    server's artifact root.

    Args:
        tracking: The ``tracking`` section.
        root: Project root, against which relative paths are resolved.

    Returns:
        The experiment id.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    root = Path(root).resolve()
    uri = tracking.uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{root / uri.removeprefix('sqlite:///')}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.get_experiment_by_name(tracking.experiment)
    if experiment is not None:
        return experiment.experiment_id
    if uri.startswith(TRACKING_SERVERS):
        # A team's tracking server keeps the artifacts in its own root (--artifacts-destination),
        # proxied to every client; a local folder would be this machine's alone.
        return mlflow.create_experiment(tracking.experiment)
    artifact_dir = (root / tracking.artifact_dir).resolve()
    artifact_dir.mkdir(parents=True, exist_ok=True)
    return mlflow.create_experiment(tracking.experiment, artifact_location=artifact_dir.as_uri())


def git_commit(root: str | Path = ".") -> str:
    """The current git commit (with ``-dirty`` if the tree has changes), or ``unknown``."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def data_versions(lock_path: str | Path = "dvc.lock") -> dict[str, str]:
    """Content hashes of every stage output recorded in ``dvc.lock`` (path -> md5)."""
    import yaml

    lock_path = Path(lock_path)
    if not lock_path.is_file():
        return {}
    lock = yaml.safe_load(lock_path.read_text()) or {}
    versions = {}
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if "md5" in out:
                versions[out["path"]] = out["md5"]
    return versions
