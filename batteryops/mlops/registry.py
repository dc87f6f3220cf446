"""MLflow model registry: register candidates, move the ``champion`` alias, audit, roll back.

Registry stages are deprecated in MLflow 3, so aliases carry the state: ``champion`` is what
``models:/NAME@champion`` serves, ``challenger`` the latest candidate that failed a gate. Every
decision is appended to a JSON-lines audit log (from, to, metrics, reasons, git commit, data
versions); rollback reads that log.

A version is one deployable: a logged model with the tags it is served by (features, alarm,
operating point). Its ``fingerprint`` tag identifies that pair, so the same model from the same
run with the same tags is decided again on its existing version, never registered twice.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CHAMPION = "champion"
CHALLENGER = "challenger"
METRIC_TAG_PREFIX = "metric."
FINGERPRINT_TAG = "fingerprint"
# Lineage, not identity: the same model registered from another commit (or judged against
# another drift sample) is the same deployable.
LINEAGE_TAGS = ("git_commit", "drift")
EXPERIMENT_TAG = "experiment"


class RegistryError(RuntimeError):
    """Raised for registry operations that cannot be carried out (with the reason)."""


@dataclass(frozen=True)
class Verdict:
    """What the gates said and what this run may do about it.

    Attributes:
        passed: Whether every gate held.
        reasons: The failed gates (or that every gate holds).
        may_promote: Whether this run may move ``champion`` (not inside an experiment, and
            ``register.promote`` is ``auto``).
        experiment: The DVC experiment this run belongs to, if any.
    """

    passed: bool
    reasons: list[str]
    may_promote: bool = True
    experiment: str | None = None

    @property
    def label(self) -> str:
        """``promoted``, ``rejected`` (a gate failed) or ``held`` (passed, not allowed to move)."""
        if not self.passed:
            return "rejected"
        return "promoted" if self.may_promote else "held"


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


def fingerprint(model_uri: str, tags: dict[str, str]) -> str:
    """What identifies a deployable: the logged model and the tags it is served by."""
    served_by = {key: value for key, value in tags.items() if key not in LINEAGE_TAGS}
    text = json.dumps({"model_uri": model_uri, "tags": served_by}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def find_version(name: str, run_id: str, print_: str) -> str | None:
    """The earliest version of ``name`` from ``run_id`` carrying fingerprint ``print_``, if any."""
    from mlflow.exceptions import MlflowException

    try:
        found = _client().search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    except MlflowException:
        return None
    same = [int(v.version) for v in found if v.tags.get(FINGERPRINT_TAG) == print_]
    return str(min(same)) if same else None


def decide(
    name: str,
    model_uri: str,
    verdict: Verdict,
    champion_before: str | None,
    tags: dict[str, str],
    metrics: dict[str, Any],
    audit_log: str | Path,
    audit_extra: dict[str, Any],
) -> tuple[str, str | None]:
    """Register the candidate (or find its version); move the aliases the verdict allows.

    The candidate becomes ``champion`` when every gate held and promotion is allowed here;
    otherwise it is ``challenger`` (unless it already is the champion, which then stays).
    Every decision is appended to the audit log. Called by
    :func:`batteryops.mlops.registration.register`, the routine of every registered model.

    Returns:
        The candidate's version and the champion after the decision.
    """
    print_ = fingerprint(model_uri, tags)
    existing = find_version(name, tags.get("run_id", ""), print_)
    promote = verdict.passed and verdict.may_promote
    label = CHAMPION if promote else CHALLENGER
    if existing is None:
        version_tags = tags | {FINGERPRINT_TAG: print_, "decision": label}
        if verdict.experiment:
            version_tags[EXPERIMENT_TAG] = verdict.experiment
        version = register_version(name, model_uri, version_tags, metrics)
    else:
        version = existing
    champion_after = version if promote else champion_before
    if version != champion_before:
        if existing is not None:
            _client().set_model_version_tag(name, version, "decision", label)
        set_alias(name, label, version)
    append_audit(
        audit_log,
        {
            "model": name,
            "action": "register",
            "candidate_version": version,
            "new_version": existing is None,
            "champion_before": champion_before,
            "champion_after": champion_after,
            "decision": verdict.label,
            "reasons": verdict.reasons,
            "experiment": verdict.experiment,
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
