"""batteryops.mlops.registry: audit log, rollback and tags; one test on a real MLflow store."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batteryops.mlops import registry
from batteryops.mlops.registry import (
    CHAMPION,
    RegistryError,
    append_audit,
    metrics_from_tags,
    read_audit,
    rollback_target,
)
from tests.batteryops.conftest import LoggedModel

# --- audit log -----------------------------------------------------------------------------------


def test_audit_round_trip(tmp_path: Path) -> None:
    log = tmp_path / "registry" / "audit.jsonl"  # parent created on first append
    first = append_audit(log, {"model": "m", "action": "register", "champion_after": "1"})
    second = append_audit(log, {"model": "m", "action": "promote", "metrics": {"pr_auc": 0.7}})
    entries = read_audit(log)
    assert entries == [first, second]
    assert entries[0]["action"] == "register"
    assert entries[1]["metrics"] == {"pr_auc": 0.7}
    for entry in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", entry["time"])
        assert isinstance(entry["user"], str) and entry["user"]
    assert len(log.read_text().splitlines()) == 2


def test_audit_entry_overrides_stamp_fields(tmp_path: Path) -> None:
    stamped = append_audit(tmp_path / "a.jsonl", {"user": "ci-bot", "model": "m"})
    assert stamped["user"] == "ci-bot"


def test_audit_serialises_non_json_values(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    append_audit(log, {"model": "m", "path": tmp_path})
    assert read_audit(log)[0]["path"] == str(tmp_path)


def test_absent_audit_log_is_empty(tmp_path: Path) -> None:
    assert read_audit(tmp_path / "none.jsonl") == []


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    log.write_text('{"a": 1}\n\n   \n{"a": 2}\n')
    assert read_audit(log) == [{"a": 1}, {"a": 2}]


def test_corrupt_line_names_file_and_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text('{"a": 1}\n{"a": 2}\n{"a": 3, truncated\n')
    with pytest.raises(RegistryError, match=re.escape(f"{log}:3: not a JSON audit entry")):
        read_audit(log)


# --- rollback_target ----------------------------------------------------------------------------


def _decision(before: str | None, after: str, model: str = "m") -> dict[str, Any]:
    return {"model": model, "champion_before": before, "champion_after": after}


def test_rollback_target_is_the_previous_champion() -> None:
    entries = [_decision(None, "1"), _decision("1", "2"), _decision("2", "3")]
    assert rollback_target(entries, "m", "3") == "2"
    assert rollback_target(entries, "m", "2") == "1"


def test_rollback_target_uses_the_latest_promotion_of_current() -> None:
    # 2 became champion twice; the latest time it replaced 3.
    entries = [_decision("1", "2"), _decision("2", "3"), _decision("3", "2")]
    assert rollback_target(entries, "m", "2") == "3"


def test_rollback_target_ignores_other_models() -> None:
    entries = [_decision("1", "2"), _decision("7", "2", model="other")]
    assert rollback_target(entries, "m", "2") == "1"


def test_rollback_target_ignores_entries_that_kept_the_champion() -> None:
    entries = [_decision("1", "2"), {"model": "m", "champion_before": "2", "champion_after": "2"}]
    assert rollback_target(entries, "m", "2") == "1"


@pytest.mark.parametrize(
    "entries",
    [[], [_decision(None, "1")], [_decision("1", "2", model="other")]],
    ids=["empty", "first-champion", "other-model"],
)
def test_rollback_target_without_earlier_champion_raises(entries: list[dict[str, Any]]) -> None:
    current = "2" if entries and entries[0]["champion_after"] == "2" else "1"
    with pytest.raises(
        RegistryError, match=rf"no champion of 'm' before version {current}; pass --to VERSION"
    ):
        rollback_target(entries, "m", current)


def test_rollback_target_with_no_current_champion_raises() -> None:
    with pytest.raises(RegistryError, match="before version None"):
        rollback_target([_decision("1", "2")], "m", None)


# --- metrics_from_tags --------------------------------------------------------------------------


def test_metrics_from_tags() -> None:
    tags = {
        "metric.pr_auc": "0.75",
        "metric.false_alarms_per_module_day": "0.0",
        "metric.missing": "None",
        "metric.undefined": "nan",
        "metric.blank": "",
        "git_commit": "abc",
        "run_id": "123",
    }
    assert metrics_from_tags(tags) == {"pr_auc": 0.75, "false_alarms_per_module_day": 0.0}


def test_metrics_from_tags_reads_what_register_writes() -> None:
    # register_version writes repr(float(value)); read it back exactly.
    value = 0.1 + 0.2
    assert metrics_from_tags({"metric.x": repr(float(value))}) == {"x": value}


# --- a real MLflow store -------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_register_promote_and_roll_back(
    mlflow_store, logged_model: LoggedModel, tmp_path: Path
) -> None:
    import xgboost

    mlflow, _ = mlflow_store
    assert mlflow.get_tracking_uri() == os.environ["MLFLOW_TRACKING_URI"]  # SQLite or PostgreSQL
    assert (tmp_path / "art").is_dir()
    booster, features = logged_model.booster, logged_model.features
    info = logged_model

    audit = tmp_path / "audit.jsonl"
    assert registry.alias_version("m", CHAMPION) is None  # not registered yet

    v1 = registry.register_version("m", info.model_uri, {"run_id": "r1"}, {"pr_auc": 0.6})
    v2 = registry.register_version(
        "m", info.model_uri, {}, {"pr_auc": 0.7, "ok": True, "note": "text", "events": 3}
    )
    assert (v1, v2) == ("1", "2")
    tags = registry.version_tags("m", v2)
    # Numbers become metric tags; booleans and strings do not.
    assert metrics_from_tags(tags) == {"pr_auc": 0.7, "events": 3.0}
    assert registry.version_tags("m", v1)["run_id"] == "r1"

    first = registry.move_champion("m", v1, audit, "promote", "first", {})
    assert first["champion_before"] is None and first["champion_after"] == "1"
    second = registry.move_champion("m", v2, audit, "promote", "better", {"forced": False})
    assert second["champion_before"] == "1" and second["champion_after"] == "2"
    assert registry.alias_version("m", CHAMPION) == "2"

    target = rollback_target(read_audit(audit), "m", registry.alias_version("m", CHAMPION))
    assert target == "1"
    back = registry.move_champion("m", target, audit, "rollback", "regression", {})
    assert registry.alias_version("m", CHAMPION) == "1"
    assert back["reasons"] == ["regression"]
    assert [e["action"] for e in read_audit(audit)] == ["promote", "promote", "rollback"]

    loaded = mlflow.xgboost.load_model(f"models:/m@{CHAMPION}")
    np.testing.assert_allclose(
        loaded.predict(xgboost.DMatrix(features)), booster.predict(xgboost.DMatrix(features))
    )

    with pytest.raises(RegistryError, match=r"model 'm' has no version 9"):
        registry.move_champion("m", "9", audit, "promote", "typo", {})
    assert len(read_audit(audit)) == 3  # a refused move is not recorded
    assert json.loads(audit.read_text().splitlines()[-1])["action"] == "rollback"


def test_fingerprint_is_the_model_and_what_serves_it_not_the_commit() -> None:
    tags = {"run_id": "r1", "git_commit": "aaa", "alarm": '{"persistence_k": 8}'}
    same = registry.fingerprint("runs:/r1/model", tags | {"git_commit": "bbb"})
    assert registry.fingerprint("runs:/r1/model", tags) == same
    other_alarm = tags | {"alarm": '{"persistence_k": 7}'}
    assert registry.fingerprint("runs:/r1/model", other_alarm) != same
    assert registry.fingerprint("runs:/r2/model", tags) != same
