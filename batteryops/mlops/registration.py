"""One registration routine for every registered model (``battery-hazard``, ``battery-soh``, ...).

:func:`register` takes a logged candidate, compares it with the current ``champion`` through the
task's gates, registers it as a new version, moves ``champion`` to it when every gate holds (else
marks it ``challenger`` with the failed gates as reasons), appends the decision to the audit log,
writes the decision as a metrics JSON and writes and logs the model card. What differs between
tasks is handed in: the metrics, the gate function, how the champion is compared and the card.

Experiments stay experiments: inside ``dvc exp run`` (DVC sets ``DVC_EXP_NAME``) or with
``register.promote: challenger-only`` a candidate that holds every gate is ``held`` as
challenger, tagged with the experiment's name; ``batteryops promote`` is the deliberate way on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from batteryops.core.io import atomic_path, write_json
from batteryops.mlops import registry, tracking
from batteryops.mlops.gates import GateResult

log = logging.getLogger(__name__)

RECORDED_COMPARISON = "recorded metrics of the champion version"
EXPERIMENT_ENV = "DVC_EXP_NAME"  # set by DVC in every stage that ``dvc exp run`` executes
ALL_GATES_HOLD = "every gate holds"

# The champion's metrics to gate against (None: no no-regression gates) and how they were had.
ChampionComparison = tuple[dict[str, Any] | None, str]


class Judge(Protocol):
    """A task's gates: called with the champion's metrics (None without a champion)."""

    def __call__(self, *, champion: dict[str, Any] | None) -> list[GateResult]:
        """One result per gate, in the task's fixed order."""
        ...


@dataclass(frozen=True)
class Candidate:
    """A logged model asking to be registered.

    Attributes:
        name: Registered model name.
        model_uri: Where the model was logged (``runs:/...`` or ``models:/...``).
        run_id: The MLflow run that logged it (the card is logged there too).
        metrics: Its metrics: numbers become ``metric.*`` tags; all go into the audit entry.
        tags: Task tags on the version, after ``run_id`` and ``git_commit``.
    """

    name: str
    model_uri: str
    run_id: str
    metrics: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outputs:
    """Where a registration writes: the shared audit log, its decision JSON and its model card."""

    audit_log: str | Path
    decision: str | Path
    model_card: str | Path


@dataclass(frozen=True)
class Registration:
    """What the registry decided about one candidate, and the lineage recorded with it."""

    name: str
    run_id: str
    version: str
    champion_before: str | None
    champion_after: str | None
    results: list[GateResult]
    reasons: list[str]
    decision: dict[str, Any]
    git_commit: str
    data_versions: dict[str, str]

    @property
    def promoted(self) -> bool:
        """Whether the candidate became champion."""
        return bool(self.decision["promoted"])


def compare_recorded(name: str, champion: str | None) -> ChampionComparison:
    """The champion's metrics as recorded on its version (``metric.*`` tags), if there is one."""
    if champion is None:
        return None, RECORDED_COMPARISON
    return registry.metrics_from_tags(registry.version_tags(name, champion)), RECORDED_COMPARISON


def register(
    candidate: Candidate,
    judge: Judge,
    render_card: Callable[[Registration], str],
    outputs: Outputs,
    compare: Callable[[str, str | None], ChampionComparison] = compare_recorded,
    comparison_in_decision: bool = False,
    promote: str = "auto",
) -> Registration:
    """Gate the candidate against the champion, register it and record the decision.

    MLflow must be configured (:func:`batteryops.mlops.tracking.configure`).

    Args:
        candidate: The logged model and what to record on its version.
        judge: The task's gates, called as ``judge(champion=metrics)`` with the champion's
            metrics (None without a champion), e.g. a ``functools.partial`` of
            :func:`batteryops.mlops.gates.evaluate_gates` over the candidate's metrics.
        render_card: The task's model card, given the decision.
        outputs: Audit log, decision JSON and model card paths.
        compare: Given the model name and the champion version (None when there is none), the
            champion's metrics to gate against and a note saying how they were obtained.
        comparison_in_decision: Whether the decision JSON carries that note
            (``champion_comparison``); the audit entry always does.
        promote: ``auto`` (a candidate that holds every gate becomes champion, except inside a
            DVC experiment) or ``challenger-only`` (never; ``batteryops promote`` decides).

    Returns:
        The decision, with the gate results and lineage.
    """
    champion_before = registry.alias_version(candidate.name, registry.CHAMPION)
    champion_metrics, comparison = compare(candidate.name, champion_before)
    results = judge(champion=champion_metrics)
    champion_audit = {"champion_metrics": champion_metrics, "champion_comparison": comparison}
    verdict = _verdict(results, promote)
    outcome = _decide(
        candidate, verdict, results, champion_before, outputs.audit_log, champion_audit
    )
    if comparison_in_decision:
        outcome.decision["champion_comparison"] = comparison
    write_json(outcome.decision, outputs.decision)
    publish_card(render_card(outcome), outputs.model_card, candidate.run_id)
    _log_outcome(outcome)
    return outcome


def _verdict(results: list[GateResult], promote: str) -> registry.Verdict:
    """The gates' verdict, with whether this run may move ``champion``."""
    if promote not in ("auto", "challenger-only"):
        raise ValueError(f"register.promote must be 'auto' or 'challenger-only', got {promote!r}")
    experiment = os.environ.get(EXPERIMENT_ENV) or None
    reasons = [result.reason for result in results if not result.passed] or [ALL_GATES_HOLD]
    return registry.Verdict(
        passed=all(result.passed for result in results),
        reasons=reasons,
        may_promote=promote == "auto" and experiment is None,
        experiment=experiment,
    )


def _decide(
    candidate: Candidate,
    verdict: registry.Verdict,
    results: list[GateResult],
    champion_before: str | None,
    audit_log: str | Path,
    champion_audit: dict[str, Any],
) -> Registration:
    """Register (or find) the version, move the alias and append the audit entry."""
    commit, data = tracking.git_commit(), tracking.data_versions()
    version, champion_after = registry.decide(
        candidate.name,
        candidate.model_uri,
        verdict,
        champion_before,
        tags={"run_id": candidate.run_id, "git_commit": commit} | candidate.tags,
        metrics=candidate.metrics,
        audit_log=audit_log,
        audit_extra=champion_audit
        | {"git_commit": commit, "data_versions": data, "run_id": candidate.run_id},
    )
    return Registration(
        name=candidate.name,
        run_id=candidate.run_id,
        version=version,
        champion_before=champion_before,
        champion_after=champion_after,
        results=results,
        reasons=verdict.reasons,
        decision=decision_record(
            candidate.name, version, champion_after, results, verdict.reasons, verdict.label
        ),
        git_commit=commit,
        data_versions=data,
    )


def decision_record(
    name: str,
    version: str,
    champion_after: str | None,
    results: list[GateResult],
    reasons: list[str],
    label: str | None = None,
) -> dict[str, Any]:
    """The decision as the registry metrics JSON holds it (one entry per gate).

    ``label`` is the verdict's (``promoted``, ``rejected`` or ``held``); by default it follows
    the gates alone.
    """
    label = label or ("promoted" if all(result.passed for result in results) else "rejected")
    return {
        "model": name,
        "decision": label,
        "candidate_version": int(version),
        "champion_version": int(champion_after) if champion_after else None,
        "promoted": int(label == "promoted"),
        "gates_passed": sum(result.passed for result in results),
        "gates_total": len(results),
        "gates": {
            result.gate: {
                "value": result.value,
                "threshold": result.threshold,
                "passed": result.passed,
            }
            for result in results
        },
        "reasons": reasons,
    }


def publish_card(text: str, path: str | Path, run_id: str) -> None:
    """Write the model card (atomically) and log it to the model's run as ``model_card.md``."""
    import mlflow

    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    with mlflow.start_run(run_id=run_id):
        mlflow.log_text(text, "model_card.md")


def _log_outcome(outcome: Registration) -> None:
    if outcome.promoted:
        log.info(
            "version %s of %s is now champion (was %s)",
            outcome.version,
            outcome.name,
            outcome.champion_before,
        )
    elif outcome.decision["decision"] == "held":
        log.warning(
            "version %s of %s holds every gate but stays challenger (%s); champion stays %s; "
            "`batteryops promote %s` makes it champion",
            outcome.version,
            outcome.name,
            f"experiment {os.environ[EXPERIMENT_ENV]}"
            if os.environ.get(EXPERIMENT_ENV)
            else "register.promote is challenger-only",
            outcome.champion_before,
            outcome.version,
        )
    else:
        log.warning(
            "version %s of %s marked challenger; champion stays %s: %s",
            outcome.version,
            outcome.name,
            outcome.champion_before,
            "; ".join(outcome.reasons),
        )
