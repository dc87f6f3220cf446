"""The batteryops-monitor Prefect flow runs the monitoring on the service's database."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, deep_merge


def test_monitor_flow_writes_the_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(deep_merge(raw, {"serve": {"database_url": "sqlite:///serve.db"}}))
    )
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / ".prefect"))
    from prefect.testing.utilities import prefect_test_harness

    from flows.monitor import build_flow

    with prefect_test_harness():
        state = build_flow()(root=str(tmp_path), return_state=True)
    assert state.is_completed(), state
    summary = json.loads((tmp_path / "metrics" / "monitoring.json").read_text())
    assert summary["verdict"] == "too little served data"  # an empty database: no verdict yet
    assert state.result()["breach"] is False
