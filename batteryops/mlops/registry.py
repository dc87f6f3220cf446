"""MLflow model registry: register candidates, move the ``champion`` alias, audit, roll back.

Registry stages are deprecated in MLflow 3, so aliases carry the state: ``champion`` is what
``models:/NAME@champion`` serves, ``challenger`` the latest candidate that failed a gate. Every
decision is appended to a JSON-lines audit log (from, to, metrics, reasons, git commit, data
versions); rollback reads that log.
"""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CHAMPION = "champion"
CHALLENGER = "challenger"
METRIC_TAG_PREFIX = "metric."


class RegistryError(RuntimeError):
    """Raised for registry operations that cannot be carried out (with the reason)."""


def _client():
    from mlflow import MlflowClient

    return MlflowClient()


def alias_version(name: str, alias: str) -> str | None:
    """The version an alias points at, or None (also when the model is not registered yet)."""
    from mlflow.exceptions import MlflowException

    try:
        return str(_client().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def version_tags(name: str, version: str) -> dict[str, str]:
    """All tags of one model version."""
    return dict(_client().get_model_version(name, version).tags)


def metrics_from_tags(tags: dict[str, str]) -> dict[str, float]:
    """The metrics recorded as ``metric.*`` tags on a version."""
    return {
        key.removeprefix(METRIC_TAG_PREFIX): float(value)
        for key, value in tags.items()
        if key.startswith(METRIC_TAG_PREFIX) and value not in ("", "None", "nan")
    }


def register_version(
    name: str, model_uri: str, tags: dict[str, str], metrics: dict[str, Any]
) -> str:
    """Register a logged model as a new version, tagging it with its metrics.

    Returns:
        The new version number.
    """
    import mlflow

    all_tags = dict(tags)
    for key, value in metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            all_tags[f"{METRIC_TAG_PREFIX}{key}"] = repr(float(value))
    version = mlflow.register_model(model_uri, name, tags=all_tags)
    return str(version.version)


def set_alias(name: str, alias: str, version: str) -> None:
    """Point an alias at a version."""
    _client().set_registered_model_alias(name, alias, version)


def append_audit(path: str | Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Append one decision to the audit log (JSON lines), stamped with time and user."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamped = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "user": _user()} | entry
    line = json.dumps(stamped, sort_keys=True, default=str) + "\n"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    return stamped


def decide(
    name: str,
    model_uri: str,
    passed: bool,
    reasons: list[str],
    champion_before: str | None,
    tags: dict[str, str],
    metrics: dict[str, Any],
    audit_log: str | Path,
    audit_extra: dict[str, Any],
) -> tuple[str, str | None]:
    """Register the candidate; make it ``champion`` if every gate passed, else ``challenger``.

    Every decision is appended to the audit log. Called by
    :func:`batteryops.mlops.registration.register`, the routine of every registered model.

    Returns:
        The candidate's version and the champion after the decision.
    """
    decision = "champion" if passed else "challenger"
    version = register_version(name, model_uri, tags | {"decision": decision}, metrics)
    set_alias(name, CHAMPION if passed else CHALLENGER, version)
    champion_after = version if passed else champion_before
    append_audit(
        audit_log,
        {
            "model": name,
            "action": "register",
            "candidate_version": version,
            "champion_before": champion_before,
            "champion_after": champion_after,
            "decision": "promoted" if passed else "rejected",
            "reasons": reasons,
            "metrics": metrics,
        }
        | audit_extra,
    )
    return version, champion_after


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def read_audit(path: str | Path) -> list[dict[str, Any]]:
    """Every audit entry, oldest first (an absent log is empty)."""
    path = Path(path)
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise RegistryError(f"{path}:{number}: not a JSON audit entry ({error})") from None
    return entries


def rollback_target(entries: list[dict[str, Any]], name: str, current: str | None) -> str:
    """The champion before the current one, from the audit log.

    Walks back through the model's entries to the one that made ``current`` champion and
    returns the version it replaced.

    Raises:
        RegistryError: If the log holds no earlier champion.
    """
    for entry in reversed(entries):
        if entry.get("model") != name:
            continue
        if str(entry.get("champion_after")) == str(current) and entry.get(
            "champion_before"
        ) not in (
            None,
            str(current),
        ):
            return str(entry["champion_before"])
    raise RegistryError(
        f"the audit log holds no champion of '{name}' before version {current}; "
        "pass --to VERSION to choose one"
    )


def move_champion(
    name: str, version: str, audit_log: str | Path, action: str, reason: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """Point ``champion`` at ``version`` and record it.

    Raises:
        RegistryError: If the version does not exist.
    """
    from mlflow.exceptions import MlflowException

    try:
        _client().get_model_version(name, version)
    except MlflowException:
        raise RegistryError(f"model '{name}' has no version {version}") from None
    before = alias_version(name, CHAMPION)
    set_alias(name, CHAMPION, version)
    return append_audit(
        audit_log,
        {
            "model": name,
            "action": action,
            "champion_before": before,
            "champion_after": version,
            "reasons": [reason],
        }
        | extra,
    )
