"""flows.pipeline: only transient DVC failures are retried; a failed stage is reported at once."""

from __future__ import annotations

import pytest

from flows.pipeline import StageError

FAILED_STAGE = (
    "ERROR: failed to reproduce 'evaluate': failed to run: python -m stages.evaluate, exited with 1"
)
LOCKED = (
    "ERROR: Unable to acquire lock. Most likely another DVC process is running or was "
    "terminated abruptly."
)
# What this machine's DVC printed when a second `dvc repro` looked at a file being written.
BUSY = (
    "ERROR: failed to reproduce 'check_params': '/tmp/c1/data/params_checked.txt' is busy, it is "
    "being blocked by:\n  (PID 1234): dvc repro validate"
)


def test_a_stage_that_failed_on_its_merits_is_not_retried() -> None:
    # DVC exits 255 for a failed stage as for any error it raises: 255 alone was retried.
    assert not StageError("evaluate", 255, FAILED_STAGE).transient
    assert not StageError("evaluate", 1, "ERROR: unexpected error").transient


@pytest.mark.parametrize(
    ("returncode", "output"),
    [(255, LOCKED), (255, BUSY), (-9, ""), (137, ""), (-15, ""), (143, "")],
)
def test_a_lock_or_a_killed_process_is_retried(returncode: int, output: str) -> None:
    assert StageError("train", returncode, output).transient


def test_an_up_to_date_project_starts_no_flow(tmp_path, monkeypatch, capsys) -> None:
    # Issue 17, point 8: a no-op flow took 52.6 s against 3 s for `dvc repro` (Prefect's
    # temporary server); with nothing to run it now returns after `dvc status`.
    import subprocess
    import sys

    from flows import pipeline

    dvc = [sys.executable, "-m", "dvc"]
    for command in (["git", "init", "-q"], [*dvc, "init", "-q"]):
        subprocess.run(command, cwd=tmp_path, check=True)
    (tmp_path / "in.txt").write_text("1")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  copy:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n"
    )
    subprocess.run([*dvc, "repro", "-q"], cwd=tmp_path, check=True)
    built = []
    monkeypatch.setattr(pipeline, "build_flow", lambda *a: built.append(a) or (lambda **k: None))
    pipeline.main(["--root", str(tmp_path)])
    assert "up to date" in capsys.readouterr().out and not built
    (tmp_path / "in.txt").write_text("2")  # a changed input: the flow runs
    pipeline.main(["--root", str(tmp_path)])
    assert built
