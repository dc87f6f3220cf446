"""The pipeline flow on a ``DaskTaskRunner``: stages as tasks on Dask workers, solo stages alone.

A toy DVC project whose stages record when their command ran: ``prepare``, then ``featurize``
(a solo stage by name, :data:`flows.pipeline.SOLO_STAGES`) beside ``left`` and ``right``, then
``combine``. On a local cluster of one worker process with two stage slots, ``left`` and
``right`` may share the worker but ``featurize`` runs with nothing beside it; every stage's
output is there and DVC records it; a second run finds every stage up to date.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from batteryops.core.config import ComputeParams

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
# When the command ran, and the process that ran `dvc repro` for it (the shell's grandparent).
TIMED = "(date +%s.%N; sleep 2; date +%s.%N; ps -o ppid= -p $PPID) > {name}.times"


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server for the module's flows (each start costs 12-25 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


@pytest.fixture
def dvc_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    for command in (["git", "init", "-q"], [str(BIN / "dvc"), "init", "-q"]):
        subprocess.run(command, cwd=project, env=env, check=True)
    stages = {"prepare": ([], ["prepare.times"])}
    for name in ("featurize", "left", "right"):
        stages[name] = (["prepare.times"], [f"{name}.times"])
    stages["combine"] = (["featurize.times", "left.times", "right.times"], ["combine.times"])
    lines = ["stages:"]
    for name, (deps, outs) in stages.items():
        lines += [f"  {name}:", f"    cmd: {TIMED.format(name=name)}"]
        lines += ["    deps:", *[f"      - {d}" for d in deps]] if deps else []
        lines += ["    outs:", *[f"      - {o}" for o in outs]]
    (project / "dvc.yaml").write_text("\n".join(lines) + "\n")
    return project


def _interval(project: Path, name: str) -> tuple[float, float]:
    start, end, _ = (project / f"{name}.times").read_text().split()
    return float(start), float(end)


def _runner_pid(project: Path, name: str) -> int:
    return int((project / f"{name}.times").read_text().split()[2])


def test_the_flow_runs_its_stages_on_dask_workers_solo_stages_alone(
    dvc_project: Path, prefect_server: None
) -> None:
    from flows.pipeline import build_flow, stage_graph

    compute = ComputeParams(cluster="local", workers=1)
    pipeline = build_flow(2, 0, 0, task_runner="dask", compute=compute)
    state = pipeline(root=str(dvc_project), return_state=True)
    assert state.is_completed(), state
    results = state.result()
    again = pipeline(root=str(dvc_project))
    assert [r["stage"] for r in results] == list(stage_graph(dvc_project))
    assert all(r["ran"] for r in results)
    assert not any(r["ran"] for r in again)  # DVC found every stage up to date
    solo = _interval(dvc_project, "featurize")
    for other in ("left", "right"):
        start, end = _interval(dvc_project, other)
        assert end <= solo[0] or start >= solo[1], f"{other} ran beside featurize"
    assert "combine" in (dvc_project / "dvc.lock").read_text()
    # The worker process ran them, not this one.
    assert os.getpid() not in {_runner_pid(dvc_project, n) for n in stage_graph(dvc_project)}


def test_a_cluster_whose_workers_offer_no_stage_slots_is_refused() -> None:
    from distributed import LocalCluster

    from flows.pipeline import dask_task_runner

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        compute = ComputeParams(cluster=cluster.scheduler_address)
        with pytest.raises(RuntimeError, match="--resources stage_slots=2"):
            dask_task_runner(2, compute)


def test_the_flow_runs_on_a_scheduler_and_worker_started_as_a_team_would(
    dvc_project: Path, tmp_path: Path, prefect_server: None
) -> None:
    """`dask scheduler` and `dask worker ... --resources stage_slots=2`, as the README has them."""
    import json
    import time

    from flows.pipeline import build_flow, stage_graph

    scheduler_file = tmp_path / "scheduler.json"
    dask = str(BIN / "dask")
    started = [
        subprocess.Popen(
            [dask, "scheduler", "--port", "0", "--no-dashboard", "--scheduler-file",
             str(scheduler_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        for _ in range(120):
            if scheduler_file.exists() and scheduler_file.stat().st_size:
                break
            time.sleep(0.5)
        address = json.loads(scheduler_file.read_text())["address"]
        started.append(
            subprocess.Popen(
                [dask, "worker", address, "--nthreads", "2", "--resources", "stage_slots=2",
                 "--no-dashboard"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=120)
        pipeline = build_flow(2, 0, 0, task_runner="dask", compute=ComputeParams(cluster=address))
        state = pipeline(root=str(dvc_project), return_state=True)
        assert state.is_completed(), state
        results = state.result()
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(timeout=60)
    assert [r["stage"] for r in results] == list(stage_graph(dvc_project))
    assert all(r["ran"] for r in results)
    # The worker's process ran them (under the nanny this test started), not this one.
    assert os.getpid() not in {_runner_pid(dvc_project, n) for n in stage_graph(dvc_project)}
