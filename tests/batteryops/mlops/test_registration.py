"""batteryops.mlops.registration: the decisions of the one registration routine, on a real store.

Each test registers versions of a small logged model in a temporary MLflow store with gates that
hold or fail as the test says, and checks aliases, version tags, the audit entry, the decision
JSON and the model card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batteryops.mlops import gates, registration, registry
from batteryops.mlops.gates import GateResult
from batteryops.mlops.registration import Candidate, Outputs, Registration
from tests.batteryops.conftest import LoggedModel
from tests.batteryops.mlops.conftest import GATES, GOOD

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")


@pytest.fixture
def project(
    mlflow_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Outputs, dict[str, str]]:
    """Run in tmp_path (no git repository there) with a ``dvc.lock`` of two outputs."""
    monkeypatch.chdir(tmp_path)
    lock = {"stages": {"a": {"outs": [{"path": "data/x", "md5": "0123456789abcdef"}]}}}
    (tmp_path / "dvc.lock").write_text(json.dumps(lock))  # JSON is YAML
    outputs = Outputs(tmp_path / "audit.jsonl", tmp_path / "registry.json", tmp_path / "card.md")
    return outputs, {"data/x": "0123456789abcdef"}


def _card(outcome: Registration) -> str:
    return f"card of {outcome.name} v{outcome.version}: {outcome.decision['decision']}"


def _register(
    model: LoggedModel,
    outputs: Outputs,
    metrics: dict[str, Any],
    variant: str = "1",
    **options: Any,
) -> Registration:
    """Register ``model``; another ``variant`` (e.g. operating point) is another deployable."""
    tags = {"task": "hazard", "variant": variant}
    candidate = Candidate("m", model.model_uri, model.run_id, metrics, tags=tags)
    judge = options.pop("judge", None) or _judge(metrics)
    return registration.register(candidate, judge, _card, outputs, **options)


def _judge(metrics: dict[str, Any]):
    def judge(*, champion: dict[str, Any] | None) -> list[GateResult]:
        return gates.evaluate_gates(metrics, GATES, champion=champion)

    return judge


def test_first_version_that_holds_every_gate_becomes_champion(
    logged_model: LoggedModel, project: tuple[Outputs, dict[str, str]]
) -> None:
    outputs, data = project
    outcome = _register(logged_model, outputs, GOOD)
    assert (outcome.version, outcome.champion_before, outcome.champion_after) == ("1", None, "1")
    assert outcome.promoted and outcome.reasons == ["every gate holds"]
    assert registry.alias_version("m", registry.CHAMPION) == "1"
    assert registry.alias_version("m", registry.CHALLENGER) is None

    tags = registry.version_tags("m", "1")
    assert tags["decision"] == "champion" and tags["task"] == "hazard"
    assert tags["run_id"] == logged_model.run_id and tags["git_commit"] == "unknown"
    assert registry.metrics_from_tags(tags) == GOOD

    decision = json.loads(Path(outputs.decision).read_text())
    assert decision == outcome.decision
    assert decision["decision"] == "promoted" and decision["promoted"] == 1
    assert (decision["candidate_version"], decision["champion_version"]) == (1, 1)
    assert decision["gates_passed"] == decision["gates_total"] == 4
    assert decision["gates"]["pr_auc"] == {"value": 0.7, "threshold": 0.5, "passed": True}
    assert "champion_comparison" not in decision

    (entry,) = registry.read_audit(outputs.audit_log)
    assert entry["action"] == "register" and entry["decision"] == "promoted"
    assert (entry["champion_before"], entry["champion_after"]) == (None, "1")
    assert entry["champion_metrics"] is None
    assert entry["champion_comparison"] == registration.RECORDED_COMPARISON
    assert entry["data_versions"] == data and entry["metrics"] == GOOD
    assert entry["run_id"] == logged_model.run_id

    assert Path(outputs.model_card).read_text() == "card of m v1: promoted"
    import mlflow

    logged = mlflow.artifacts.load_text(f"runs:/{logged_model.run_id}/model_card.md")
    assert logged == "card of m v1: promoted"


def test_a_failed_gate_marks_challenger_and_keeps_the_champion(
    logged_model: LoggedModel, project: tuple[Outputs, dict[str, str]]
) -> None:
    outputs, _ = project
    _register(logged_model, outputs, GOOD)
    worse = GOOD | {"pr_auc": 0.3}
    outcome = _register(logged_model, outputs, worse, variant="2")
    assert (outcome.version, outcome.champion_before, outcome.champion_after) == ("2", "1", "1")
    assert not outcome.promoted
    # Both the absolute gate and the no-regression gate against v1's recorded 0.7 fail.
    assert outcome.reasons == [
        "pr_auc = 0.3 fails (>= 0.5)",
        "no_regression.pr_auc = 0.3 fails (>= 0.665)",
    ]
    assert registry.alias_version("m", registry.CHAMPION) == "1"
    assert registry.alias_version("m", registry.CHALLENGER) == "2"
    assert registry.version_tags("m", "2")["decision"] == "challenger"

    decision = json.loads(Path(outputs.decision).read_text())
    assert decision["decision"] == "rejected" and decision["promoted"] == 0
    assert (decision["candidate_version"], decision["champion_version"]) == (2, 1)
    assert (decision["gates_passed"], decision["gates_total"]) == (5, 7)
    assert decision["reasons"] == outcome.reasons

    entry = registry.read_audit(outputs.audit_log)[-1]
    assert (entry["champion_before"], entry["champion_after"]) == ("1", "1")
    assert entry["decision"] == "rejected" and entry["reasons"] == outcome.reasons
    assert entry["champion_metrics"] == GOOD
    assert Path(outputs.model_card).read_text() == "card of m v2: rejected"


def test_the_judge_sees_the_champions_recorded_metrics(
    logged_model: LoggedModel, project: tuple[Outputs, dict[str, str]]
) -> None:
    outputs, _ = project
    seen: list[dict[str, Any] | None] = []

    def judge(*, champion: dict[str, Any] | None) -> list[GateResult]:
        seen.append(champion)
        return gates.evaluate_gates(GOOD, GATES, champion=champion)

    _register(logged_model, outputs, GOOD, judge=judge)
    better = GOOD | {"pr_auc": 0.8}
    outcome = _register(logged_model, outputs, better, variant="2", judge=judge)
    assert seen == [None, GOOD]
    assert outcome.champion_after == "2"
    assert registry.alias_version("m", registry.CHAMPION) == "2"


def test_a_first_version_that_fails_leaves_no_champion(
    logged_model: LoggedModel, project: tuple[Outputs, dict[str, str]]
) -> None:
    outputs, _ = project
    outcome = _register(logged_model, outputs, GOOD | {"lead_time_min_median": 1.0})
    assert (outcome.version, outcome.champion_after) == ("1", None)
    assert outcome.reasons == ["lead_time_min_median = 1 fails (>= 5)"]
    assert registry.alias_version("m", registry.CHAMPION) is None
    assert registry.alias_version("m", registry.CHALLENGER) == "1"
    assert json.loads(Path(outputs.decision).read_text())["champion_version"] is None


def test_the_comparison_note_goes_into_the_decision_when_asked(
    logged_model: LoggedModel, project: tuple[Outputs, dict[str, str]]
) -> None:
    outputs, _ = project
    calls: list[tuple[str, str | None]] = []

    def compare(name: str, champion: str | None) -> registration.ChampionComparison:
        calls.append((name, champion))
        return {"pr_auc": 0.9}, "re-scored"

    outcome = _register(logged_model, outputs, GOOD, compare=compare, comparison_in_decision=True)
    assert calls == [("m", None)]
    assert outcome.decision["champion_comparison"] == "re-scored"
    assert not outcome.promoted  # 0.7 is more than 0.05 under the compared 0.9
    assert json.loads(Path(outputs.decision).read_text())["champion_comparison"] == "re-scored"
    assert registry.read_audit(outputs.audit_log)[-1]["champion_comparison"] == "re-scored"


def test_soh_gates_through_the_same_routine(
    logged_model: LoggedModel, project: tuple[Outputs, dict[str, str]]
) -> None:
    outputs, _ = project
    soh = {"soh_rmse_pct": 1.0, "soh_within_3pct": 0.99, "soh_within_5pct": 1.0, "rul_mape_pct": 5}

    def judge(*, champion: dict[str, Any] | None) -> list[GateResult]:
        return gates.evaluate_soh_gates(soh, GATES.soh, champion=champion)

    assert _register(logged_model, outputs, soh, judge=judge).promoted
    worse = soh | {"rul_mape_pct": 6}  # more than 5 % over the champion's 5

    def judge_worse(*, champion: dict[str, Any] | None) -> list[GateResult]:
        return gates.evaluate_soh_gates(worse, GATES.soh, champion=champion)

    outcome = _register(logged_model, outputs, worse, variant="2", judge=judge_worse)
    assert outcome.reasons == ["no_regression.rul_mape_pct = 6 fails (<= 5.25)"]
    assert registry.alias_version("m", registry.CHAMPION) == "1"


def test_an_unchanged_model_is_decided_again_on_its_version(
    logged_model: LoggedModel, project: tuple[Outputs, dict[str, str]]
) -> None:
    outputs, _ = project
    first = _register(logged_model, outputs, GOOD)
    again = _register(logged_model, outputs, GOOD)
    worse_gates = _register(logged_model, outputs, GOOD | {"pr_auc": 0.3})
    assert first.version == again.version == worse_gates.version == "1"
    assert again.promoted and not worse_gates.promoted
    # The champion stays; a version is never its own challenger.
    assert registry.alias_version("m", registry.CHAMPION) == "1"
    assert registry.alias_version("m", registry.CHALLENGER) is None
    assert registry.version_tags("m", "1")["decision"] == "champion"
    entries = registry.read_audit(outputs.audit_log)
    assert [e["new_version"] for e in entries] == [True, False, False]
    assert [e["decision"] for e in entries] == ["promoted", "promoted", "rejected"]
    from mlflow import MlflowClient

    assert len(MlflowClient().search_model_versions("name = 'm'")) == 1


def test_a_challenger_that_later_holds_every_gate_is_promoted_on_its_version(
    logged_model: LoggedModel, project: tuple[Outputs, dict[str, str]]
) -> None:
    outputs, _ = project
    _register(logged_model, outputs, GOOD)
    _register(logged_model, outputs, GOOD | {"pr_auc": 0.3}, variant="2")
    outcome = _register(logged_model, outputs, GOOD, variant="2")
    assert (outcome.version, outcome.champion_before, outcome.champion_after) == ("2", "1", "2")
    assert registry.alias_version("m", registry.CHAMPION) == "2"
    assert registry.version_tags("m", "2")["decision"] == "champion"


def test_inside_a_dvc_experiment_a_passing_candidate_is_held_as_challenger(
    logged_model: LoggedModel,
    project: tuple[Outputs, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outputs, _ = project
    _register(logged_model, outputs, GOOD)
    monkeypatch.setenv(registration.EXPERIMENT_ENV, "exp-k6")
    outcome = _register(logged_model, outputs, GOOD | {"pr_auc": 0.8}, variant="2")
    assert (outcome.version, outcome.champion_after) == ("2", "1")
    assert not outcome.promoted and outcome.decision["decision"] == "held"
    assert outcome.reasons == ["every gate holds"]
    assert registry.alias_version("m", registry.CHAMPION) == "1"
    assert registry.alias_version("m", registry.CHALLENGER) == "2"
    tags = registry.version_tags("m", "2")
    assert (tags["decision"], tags["experiment"]) == ("challenger", "exp-k6")
    entry = registry.read_audit(outputs.audit_log)[-1]
    assert (entry["decision"], entry["experiment"]) == ("held", "exp-k6")


def test_challenger_only_never_moves_the_champion(
    logged_model: LoggedModel, project: tuple[Outputs, dict[str, str]]
) -> None:
    outputs, _ = project
    outcome = _register(logged_model, outputs, GOOD, promote="challenger-only")
    assert (outcome.version, outcome.champion_after) == ("1", None)
    assert registry.alias_version("m", registry.CHAMPION) is None
    assert registry.alias_version("m", registry.CHALLENGER) == "1"
    assert json.loads(Path(outputs.decision).read_text())["decision"] == "held"


# --- decision_record (pure) -----------------------------------------------------------------------


def _result(gate: str, passed: bool) -> GateResult:
    return GateResult(gate, 1.0, 2.0, ">=", passed, f"{gate} reason")


def test_decision_record_when_every_gate_holds() -> None:
    record = registration.decision_record(
        "m", "3", "3", [_result("a", True), _result("b", True)], ["every gate holds"]
    )
    assert record == {
        "model": "m",
        "decision": "promoted",
        "candidate_version": 3,
        "champion_version": 3,
        "promoted": 1,
        "gates_passed": 2,
        "gates_total": 2,
        "gates": {
            "a": {"value": 1.0, "threshold": 2.0, "passed": True},
            "b": {"value": 1.0, "threshold": 2.0, "passed": True},
        },
        "reasons": ["every gate holds"],
    }


def test_decision_record_when_a_gate_fails() -> None:
    record = registration.decision_record(
        "m", "4", None, [_result("a", True), _result("b", False)], ["b reason"]
    )
    assert record["decision"] == "rejected" and record["promoted"] == 0
    assert record["champion_version"] is None
    assert (record["gates_passed"], record["gates_total"]) == (1, 2)
    assert record["gates"]["b"]["passed"] is False
