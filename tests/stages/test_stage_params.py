"""Stage entry points fail cleanly: bad params or missing inputs exit 2 with a clear message.

Runs ``python -m stages.featurize`` (which labels, then featurizes) as DVC does, in a scratch
project folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from batteryops.core import schema
from tests.conftest import ROOT, deep_merge


def _run_featurize(project: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("BATTERYOPS_LOG_LEVEL", None)
    return subprocess.run(
        [sys.executable, "-m", "stages.featurize"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _project(tmp_path: Path, raw: dict[str, Any]) -> Path:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return tmp_path


def _features_dir(project: Path, raw: dict[str, Any]) -> Path:
    return project / raw["paths"]["features_dir"]


def test_misspelled_key_exits_2_naming_it(tmp_path: Path, raw_params: dict[str, Any]) -> None:
    raw = deep_merge(raw_params, {})
    raw["label"]["guard"] = raw["label"].pop("guard_s")
    project = _project(tmp_path, raw)
    done = _run_featurize(project)
    assert done.returncode == 2, done.stderr
    assert "unknown key 'label.guard'" in done.stderr
    assert "did you mean 'guard_s'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not _features_dir(project, raw_params).exists()


def test_negative_window_exits_2_naming_it(tmp_path: Path, raw_params: dict[str, Any]) -> None:
    raw = deep_merge(raw_params, {"featurize": {"slope_windows_s": [-10]}})
    done = _run_featurize(_project(tmp_path, raw))
    assert done.returncode == 2, done.stderr
    assert "featurize.slope_windows_s must hold positive seconds, got -10" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_inputs_exit_2_naming_them(tmp_path: Path, raw_params: dict[str, Any]) -> None:
    project = _project(tmp_path, raw_params)
    done = _run_featurize(project)
    assert done.returncode == 2, done.stderr
    assert "missing input:" in done.stderr
    assert raw_params["paths"]["truth"] in done.stderr
    assert raw_params["paths"]["metrics"]["validation"] in done.stderr
    assert "Traceback" not in done.stderr
    # Nothing written: not the output, not even its parent folders.
    assert sorted(p.name for p in project.iterdir()) == ["params.yaml"]


def _write_inputs(project: Path, raw: dict[str, Any], *, telemetry: bool, success: bool) -> None:
    paths = raw["paths"]
    start = pd.Timestamp("2026-07-01T00:00:00Z")
    truth = pd.DataFrame(
        {
            schema.RACK_ID: ["R01", "R01"],
            schema.MODULE_ID: ["R01-M01", "R01-M02"],
            "position": [0, 1],
            "fault_type": ["internal_short", "none"],
            "fault_start": [start + pd.Timedelta(seconds=60), pd.NaT],
            "nuisance_type": ["none", "none"],
            "nuisance_start": [pd.NaT, pd.NaT],
            "vent_time": [start + pd.Timedelta(seconds=500), pd.NaT],
            "pnr_time": [start + pd.Timedelta(seconds=550), pd.NaT],
        }
    )
    (project / paths["truth"]).parent.mkdir(parents=True)
    truth.to_parquet(project / paths["truth"], index=False)
    validation = project / paths["metrics"]["validation"]
    validation.parent.mkdir(parents=True)
    validation.write_text(json.dumps({"success": success}))
    if telemetry:
        seconds = np.arange(600)
        frame = pd.concat(
            [
                pd.DataFrame(
                    {
                        schema.TIMESTAMP: start + pd.to_timedelta(seconds, unit="s"),
                        schema.RACK_ID: "R01",
                        schema.MODULE_ID: module_id,
                    }
                    | {name: np.float32(25.0) for name in schema.SIGNALS}
                )
                for module_id in ("R01-M01", "R01-M02")
            ],
            ignore_index=True,
        )
        telemetry_dir = project / paths["telemetry_dir"]
        telemetry_dir.mkdir(parents=True)
        frame.to_parquet(telemetry_dir / "R01.parquet", index=False)


def test_missing_telemetry_leaves_no_half_written_output(
    tmp_path: Path, raw_params: dict[str, Any]
) -> None:
    project = _project(tmp_path, raw_params)
    _write_inputs(project, raw_params, telemetry=False, success=True)
    done = _run_featurize(project)
    assert done.returncode == 2, done.stderr
    assert f"{raw_params['paths']['telemetry_dir']}: no Parquet partitions found" in done.stderr
    labelled = _features_dir(project, raw_params)
    assert not labelled.exists()
    # No temporary sibling left behind either.
    assert list(labelled.parent.iterdir()) == []


def test_failed_validation_stops_the_stage(tmp_path: Path, raw_params: dict[str, Any]) -> None:
    project = _project(tmp_path, raw_params)
    _write_inputs(project, raw_params, telemetry=True, success=False)
    done = _run_featurize(project)
    assert done.returncode == 2, done.stderr
    assert "says validation failed; not featurizing" in done.stderr
    assert not _features_dir(project, raw_params).exists()


def test_valid_inputs_write_one_labelled_features_file_per_rack_and_day(
    tmp_path: Path, raw_params: dict[str, Any]
) -> None:
    raw = deep_merge(raw_params, {"label": {"prediction_window_s": 300, "guard_s": 30}})
    project = _project(tmp_path, raw)
    _write_inputs(project, raw, telemetry=True, success=True)
    done = _run_featurize(project)
    assert done.returncode == 0, done.stderr
    features_dir = _features_dir(project, raw)
    (written,) = features_dir.iterdir()  # the rows lie in one day
    assert written.name.startswith("R01.") and written.suffix == ".parquet"
    labelled = pd.read_parquet(written)
    assert set(schema.LABEL_COLUMNS) <= set(labelled.columns)
    # PNR at 550 s, guard 30 s, window 300 s: hazard on [220, 520) of R01-M01.
    assert int(labelled[schema.HAZARD].sum()) == 300
    assert "featurized" in done.stderr and "300 hazard seconds" in done.stderr
