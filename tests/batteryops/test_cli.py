"""batteryops.cli: the simulate, simulate-oven and gate commands, and usage errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from batteryops.cli import EXIT_GATE_FAILED, EXIT_USAGE, main
from tests.conftest import ROOT, TINY_OVERRIDES, deep_merge

GOOD_HAZARD: dict[str, Any] = {
    "event_recall_at_min_lead": 0.9,
    "pr_auc": 0.7,
    "false_alarms_per_module_day": 0.01,
    "lead_time_min_median": 12.0,
    "event_recall_at_min_lead_lower95": 0.7,
    "false_alarms_per_module_day_upper95": 0.02,
}


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tmp project root holding params.yaml and passing metrics files."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    _write(tmp_path / "metrics/hazard.json", GOOD_HAZARD)
    _write(tmp_path / "metrics/drift.json", {"share_of_drifted_columns": 0.1})
    _write(tmp_path / "metrics/validation.json", {"success": True})
    return tmp_path


def test_simulate_oven_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate-oven", "--oven-c", "155", "--hours", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["oven_c"] == 155.0 and out["hours"] == 1.0
    assert out["runaway"] is True
    assert 20.0 <= out["time_to_runaway_min"] <= 45.0


def test_simulate_oven_needs_no_params_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no params.yaml here
    assert main(["simulate-oven", "--oven-c", "25", "--hours", "0.05"]) == 0
    assert json.loads(capsys.readouterr().out)["runaway"] is False


def test_gate_passes_with_good_metrics(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate"]) == 0
    out = capsys.readouterr().out
    assert "every gate holds" in out
    assert "FAIL" not in out
    assert "drift (no gate)" in out  # recorded, never blocking (issue 16, finding 8)
    for gate in ("pr_auc", "validation_success"):
        assert gate in out


SOH_GOOD: dict[str, Any] = {
    "soh_rmse_pct": 0.5,
    "soh_within_3pct": 1.0,
    "soh_within_5pct": 1.0,
    "rul_mape_pct": 7.0,
    "soh_best_baseline_rmse_pct": 1.0,
    "second_family_soh_rmse_pct": 0.6,
    "second_family_soh_best_baseline_rmse_pct": 0.9,
}


def test_gate_checks_the_health_model_too(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: `batteryops gate` read metrics/hazard.json only and passed a failing SOH model.
    _write(project / "metrics/soh.json", SOH_GOOD)
    _write(project / "metrics/cycle_validation.json", {"success": True})
    assert main(["gate"]) == 0
    out = capsys.readouterr().out
    assert "battery-hazard" in out and "battery-soh" in out and "rul_mape_pct" in out
    _write(project / "metrics/soh.json", SOH_GOOD | {"rul_mape_pct": 12.0})
    assert main(["gate"]) == EXIT_GATE_FAILED
    assert "1 gate(s) failed: rul_mape_pct = 12" in capsys.readouterr().out


def test_gate_says_when_there_is_no_health_metrics(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gate"]) == 0
    assert "no metrics/soh.json; the battery-soh gates are not checked" in capsys.readouterr().out


def test_gate_fails_on_low_pr_auc(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(project / "metrics/hazard.json", GOOD_HAZARD | {"pr_auc": 0.2})
    assert main(["gate"]) == EXIT_GATE_FAILED == 1
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("pr_auc ")]
    assert row.endswith("FAIL")
    assert "1 gate(s) failed: pr_auc = 0.2 fails (>= 0.5)" in out


def test_gate_checks_the_unlike_fleet_when_its_metrics_exist(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project / "metrics/generalization.json", {"event_recall": 0.9})
    assert main(["gate"]) == 1
    assert "generalization.event_recall = 0.9 fails (>= 0.95)" in capsys.readouterr().out
    _write(project / "metrics/generalization.json", {"event_recall": 1.0})
    assert main(["gate"]) == 0


def test_gate_fails_on_failed_validation(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(project / "metrics/validation.json", {"success": False})
    assert main(["gate"]) == 1
    assert "validation failed" in capsys.readouterr().out


def test_gate_without_drift_and_validation_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "metrics/drift.json").unlink()
    (project / "metrics/validation.json").unlink()
    assert main(["gate"]) == 0
    out = capsys.readouterr().out
    assert "share_of_drifted_columns" not in out and "validation_success" not in out


def test_gate_reads_metrics_option(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(project / "other/hazard.json", GOOD_HAZARD | {"lead_time_min_median": 1.0})
    assert main(["gate", "--metrics", "other/hazard.json"]) == 1
    assert "lead_time_min_median = 1 fails" in capsys.readouterr().out


def test_gate_missing_metrics_file_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "metrics/hazard.json").unlink()
    assert main(["gate"]) == EXIT_USAGE == 2
    assert "metrics/hazard.json not found" in capsys.readouterr().err


def test_missing_params_file_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--params", "missing.yaml", "gate"]) == 2
    err = capsys.readouterr().err
    assert "missing.yaml: params file not found" in err


def test_invalid_params_exit_2_with_suggestion(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (project / "params.yaml").read_text().replace("min_pr_auc:", "min_pr_auk:")
    (project / "params.yaml").write_text(text)
    assert main(["gate"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'gates.min_pr_auk'; did you mean 'min_pr_auc'" in err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_gate_base_ref_regression(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "t")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "t@t")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(project.parent))

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)

    git("init", "-q")
    _write(project / "metrics/hazard.json", GOOD_HAZARD | {"pr_auc": 0.9})
    git("add", "-A")
    git("commit", "-qm", "champion")
    _write(project / "metrics/hazard.json", GOOD_HAZARD | {"pr_auc": 0.7})
    assert main(["gate", "--base", "HEAD"]) == 1
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("no_regression.pr_auc")]
    assert row.endswith("FAIL")

    # A ref without the metrics file: the no-regression gates are skipped with a note.
    assert main(["gate", "--base", "no-such-ref"]) == 0
    out = capsys.readouterr().out
    assert "no metrics/hazard.json at no-such-ref; no-regression gates skipped" in out
    assert "no_regression" not in out


def test_simulate_writes_a_fleet_and_its_truth(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = deep_merge(yaml.safe_load((project / "params.yaml").read_text()), TINY_OVERRIDES)
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    out = tmp_path / "fleet"
    code = main(["--params", str(project / "params.yaml"), "simulate", "--out", str(out)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["format"] == "parquet" and summary["runaways"] >= 1
    assert (out / "truth.parquet").is_file()
    assert sorted(p.name for p in out.glob("R*.parquet"))
    code = main(["--params", str(project / "params.yaml"), "simulate", "--out", str(out)])
    assert code == 2
    assert "not empty" in capsys.readouterr().err


def test_every_command_describes_itself_and_its_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from batteryops.cli import EXIT_CODES, build_parser

    commands = next(
        action for action in build_parser()._actions if action.dest == "command"
    ).choices
    assert set(commands) == set(EXIT_CODES)
    for name in commands:
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
        shown = capsys.readouterr().out
        assert "exit codes:\n  0 " in shown, name
        assert commands[name].description and commands[name].description in shown, name


def test_model_means_a_registered_name_in_every_command() -> None:
    # Issue 17, point 8: `--model` named a URI in `score` and `health`, a name elsewhere.
    from batteryops.cli import _model_uri, build_parser

    parser = build_parser()
    for command in ("score", "health"):
        base = [command, "in.parquet", "--out", "o.csv"]
        assert _model_uri(parser.parse_args(base), "m") == "models:/m@champion"
        named = parser.parse_args([*base, "--model", "battery-x", "--version", "3"])
        assert _model_uri(named, "m") == "models:/battery-x/3"
        assert _model_uri(parser.parse_args([*base, "--uri", "runs:/r/model"]), "m") == (
            "runs:/r/model"
        )
        with pytest.raises(SystemExit):
            parser.parse_args([*base, "--version", "3", "--uri", "runs:/r/model"])


def test_llm_serve_names_an_illegal_instruction(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from batteryops.ask import local_model

    dies = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"]
    monkeypatch.setattr(local_model, "server_command", lambda host, port: [*dies, "--model", "m"])
    assert main(["llm-serve"]) == 128 + 4
    assert "illegal instruction" in capsys.readouterr().err
