"""A scheduled Prefect deployment fires: a real server's scheduler creates the run, it completes.

Starts ``prefect server start`` in a temporary ``PREFECT_HOME``, serves ``flows.pipeline`` on a
5 s interval against a one-stage DVC project, and waits for a run that the scheduler made (not
one started by hand) to complete. Prefect 3.8.8's scheduler crashed on every loop with
SQLAlchemy 2.1 (``Can't evaluate bulk DML statement``) and never made a run; the pin is 2.0.x.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.servers import free_port, wait_healthy

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
DEADLINE_S = 240
COMPLETED = {"state": {"type": {"any_": ["COMPLETED"]}}}


def _post(url: str, body: dict) -> list | dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _start(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    handle = log.open("w")
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def dvc_project(tmp_path: Path) -> Path:
    """A git + DVC project with one stage."""
    project = tmp_path / "project"
    project.mkdir()
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    for command in (
        ["git", "init", "-q"],
        [str(BIN / "dvc"), "init", "-q"],
    ):
        subprocess.run(command, cwd=project, env=env, check=True)
    (project / "dvc.yaml").write_text(
        "stages:\n  hello:\n    cmd: echo scheduled > hello.txt\n    outs:\n      - hello.txt\n"
    )
    return project


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A Prefect server with its scheduler, on a free port, state in tmp_path (SQLite) or in a
    database of the test PostgreSQL server (a team's server: asyncpg, Prefect's own driver)."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    database = {}
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").database()
        database["PREFECT_API_DATABASE_CONNECTION_URL"] = url.replace("+psycopg", "+asyncpg")
    env = (
        dict(os.environ)
        | database
        | {
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_API_URL": api,
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
            "PREFECT_UI_ENABLED": "false",
            "DVC_NO_ANALYTICS": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    process = _start(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        tmp_path / "server.log",
        tmp_path,
    )
    try:
        wait_healthy(f"{api}/health", process, tmp_path / "server.log", "Prefect server")
        yield api, env
    finally:
        _stop(process)


def test_a_served_deployment_runs_on_its_schedule(
    server: tuple[str, dict[str, str]], dvc_project: Path, tmp_path: Path
) -> None:
    api, env = server
    serving = _start(
        [
            sys.executable,
            "-m",
            "flows.pipeline",
            "--serve",
            "--interval",
            "5",
            "--root",
            str(dvc_project),
        ],
        env,
        tmp_path / "serve.log",
        ROOT,
    )
    try:
        deadline = time.monotonic() + DEADLINE_S
        completed: list = []
        while not completed:
            assert serving.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (
                "no scheduled run completed; server log:\n"
                + (tmp_path / "server.log").read_text()[-2000:]
                + "\nserving log:\n"
                + (tmp_path / "serve.log").read_text()[-3000:]
            )
            time.sleep(3)
            runs = _post(f"{api}/flow_runs/filter", {"flow_runs": COMPLETED, "limit": 10})
            completed = [run for run in runs if run["auto_scheduled"]]
        assert completed[0]["parameters"]["root"] == str(dvc_project)
        assert (dvc_project / "hello.txt").read_text().strip() == "scheduled"
        server_log = (tmp_path / "server.log").read_text()
        assert "Can't evaluate bulk DML statement" not in server_log
    finally:
        _stop(serving)
