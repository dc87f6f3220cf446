"""The batteryops pipeline as a Prefect 3 flow: one task per DVC stage, in DVC's own order.

The stage graph comes from DVC itself (``Repo(root).index.graph``, whose edges point from a stage
to the stages it depends on), so there is no second DAG in Python. Each task runs
``dvc repro --single-item STAGE``: DVC still decides whether the stage is up to date, and still
writes ``dvc.lock``. Stages whose dependencies are done are submitted together (up to
``flow.max_parallel_stages``): DVC holds its repository lock while it checks and records a stage
but lets go of it while the stage's command runs, so their commands run side by side and
``--wait-for-lock`` makes the checks queue rather than fail. :data:`SOLO_STAGES` (featurize and
evaluate, near 3.6 GB each) run with nothing beside them (:class:`StageSlots`). A lock that
cannot be had (the repository's, or a file another stage is writing), or a ``dvc`` process
killed by a signal, is retried; a stage that failed on its own merits is reported at once.

Run once:            python -m flows.pipeline   (returns at once when ``dvc status`` is clean)
Run every stage:     python -m flows.pipeline --force
Serve on a schedule: python -m flows.pipeline --serve [--cron "0 */6 * * *" | --interval 3600]

Serving needs a Prefect server (``prefect server start``, then ``PREFECT_API_URL``): the server's
scheduler creates the runs, the serving process executes them. tests/flows/test_schedule.py
starts a real server and waits for a scheduled run to complete.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows._common import ROOT, project_params

if TYPE_CHECKING:
    from batteryops.core.config import ComputeParams

# What DVC prints when another process holds the repository lock.
LOCK_MARKERS = ("Unable to acquire lock", "is busy, it is being blocked by")
# Exit codes of a process killed by a signal (SIGKILL, SIGTERM; as seen direct or by a shell).
KILLED = (-9, -15, 137, 143)
# Stages that run with no other stage beside them: each peaks near 3.6 GB on the default fleet,
# so any neighbour would take the run past the 4 GB that `make run` keeps to (README, speed).
SOLO_STAGES = frozenset({"featurize", "evaluate"})
# On Dask (``flow.task_runner: dask``): each worker offers ``max_parallel_stages`` of these; a
# stage takes one, a solo stage all of them, so it runs alone on its worker.
STAGE_SLOTS = "stage_slots"


class StageSlots:
    """Side by side for most stages, alone for :data:`SOLO_STAGES` (a readers-writer lock).

    A solo stage waits for the running stages to end and holds off new ones while it waits, so
    it is not starved by a stream of small stages.
    """

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._running = 0
        self._solo_waiting = 0
        self._solo_running = False

    def __reduce__(self) -> tuple[type, tuple]:
        """Unpickle as fresh, free slots.

        A served flow travels to its run's process by value (cloudpickle); a lock cannot.
        """
        return (StageSlots, ())

    @property
    def solo_waiting(self) -> int:
        """How many solo stages wait for their turn."""
        with self._turn:
            return self._solo_waiting

    @contextmanager
    def slot(self, stage: str) -> Iterator[None]:
        """Hold a place for ``stage`` while it runs."""
        solo = stage in SOLO_STAGES
        with self._turn:
            if solo:
                self._solo_waiting += 1
                self._turn.wait_for(lambda: self._running == 0 and not self._solo_running)
                self._solo_waiting -= 1
                self._solo_running = True
            else:
                self._turn.wait_for(lambda: not self._solo_running and not self._solo_waiting)
                self._running += 1
        try:
            yield
        finally:
            with self._turn:
                if solo:
                    self._solo_running = False
                else:
                    self._running -= 1
                self._turn.notify_all()


SLOTS = StageSlots()


def stage_graph(root: str | Path = ROOT) -> dict[str, list[str]]:
    """Every DVC stage of ``dvc.yaml`` with the stages it depends on, in dependency order.

    Data sources tracked by ``.dvc`` files (``feedback.dvc``: served data that ``batteryops
    collect`` added) are no stages: nothing to run, so no task.

    Args:
        root: Project root holding ``dvc.yaml``.

    Returns:
        ``{stage: [upstream stages]}``, ordered so that each stage follows its upstreams.
    """
    import networkx as nx
    from dvc.repo import Repo
    from dvc.stage import PipelineStage

    with Repo(str(root)) as repo:
        graph = repo.index.graph
        stages = {node: node.name for node in graph.nodes if isinstance(node, PipelineStage)}
        order = [n for n in reversed(list(nx.topological_sort(graph))) if n in stages]
        return {
            stages[node]: sorted(stages[dep] for dep in graph.successors(node) if dep in stages)
            for node in order
        }


def run_stage(stage: str, root: str | Path = ROOT, force: bool = False) -> dict[str, Any]:
    """Reproduce one stage with DVC; raise with DVC's output if it fails.

    Args:
        stage: Stage name in ``dvc.yaml``.
        root: Project root.
        force: Run the stage even if DVC finds it up to date.

    Returns:
        ``{"stage", "ran"}``: whether DVC ran the command or found the stage up to date.
    """
    command = [sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "--single-item", stage]
    if force:
        command.append("--force")
    env = {
        # Stages side by side: OpenMP's threads (XGBoost, scikit-learn) sleep while they wait
        # instead of spinning on a core the other stage needs (as the Makefile sets it).
        "OMP_WAIT_POLICY": "PASSIVE",
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    with SLOTS.slot(stage):
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise StageError(stage, done.returncode, output)
    return {"stage": stage, "ran": f"Running stage '{stage}'" in output}


class StageError(RuntimeError):
    """A DVC stage failed; carries DVC's exit code and the tail of its output."""

    def __init__(self, stage: str, returncode: int, output: str):
        tail = "\n".join(output.strip().splitlines()[-15:])
        super().__init__(f"stage '{stage}' failed (dvc exit {returncode}):\n{tail}")
        self.stage, self.returncode, self.output = stage, returncode, output

    @property
    def transient(self) -> bool:
        """A lock held elsewhere or a killed process: worth another try.

        DVC exits 255 for every error it raises, a stage that failed on its own merits among
        them, so the exit code alone does not tell: only a lock message in the output, or a
        process killed by a signal, does.
        """
        killed = self.returncode in KILLED
        return killed or any(marker in self.output for marker in LOCK_MARKERS)


def build_flow(
    max_parallel: int,
    retries: int,
    retry_delay_s: int,
    task_runner: str = "threads",
    compute: ComputeParams | None = None,
):
    """Build the Prefect flow (Prefect is imported here so importing this module is cheap).

    Args:
        max_parallel: Stages side by side (``flow.max_parallel_stages``; per worker on Dask).
        retries: Retries of a stage that failed on a lock or a killed process.
        retry_delay_s: Seconds before such a retry.
        task_runner: ``threads`` (this process) or ``dask`` (:func:`dask_task_runner`).
        compute: The ``compute`` section: the Dask cluster for ``dask``.
    """
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    def _retry_transient(_task, _task_run, state) -> bool:
        try:
            state.result()
        except StageError as error:
            return error.transient
        except Exception:  # noqa: BLE001 - anything not from dvc is not known to be transient
            return False
        return False

    stage_task = task(
        run_stage,
        retries=retries,
        retry_delay_seconds=retry_delay_s,
        retry_condition_fn=_retry_transient,
        task_run_name="dvc:{stage}",
    )
    on_dask = task_runner == "dask"
    runner = (
        dask_task_runner(max_parallel, compute)
        if on_dask
        else ThreadPoolTaskRunner(max_workers=max_parallel)
    )

    @flow(name="batteryops-pipeline", task_runner=runner, log_prints=True)
    def pipeline(root: str = str(ROOT), force: bool = False) -> list[dict[str, Any]]:
        """Run every DVC stage in dependency order, independent stages side by side."""
        futures = {}
        for stage, upstream in stage_graph(root).items():
            with _stage_slots(stage, max_parallel) if on_dask else nullcontext():
                futures[stage] = stage_task.submit(
                    stage,
                    root,
                    force,
                    wait_for=[futures[name] for name in upstream if name in futures],
                )
        results = [future.result() for future in futures.values()]
        ran = [r["stage"] for r in results if r["ran"]]
        print(f"stages run: {', '.join(ran) or 'none (all up to date)'}")
        return results

    return pipeline


def dask_task_runner(max_parallel: int, compute: ComputeParams | None) -> Any:
    """A ``DaskTaskRunner``: on ``compute.cluster``'s scheduler, or a local cluster of workers.

    A local cluster is one worker process of ``max_parallel`` threads offering
    ``max_parallel`` :data:`STAGE_SLOTS`: all on this machine, so a solo stage must be alone on
    it (a second local worker would run stages beside it; the stages that use
    ``compute.workers`` start their own cluster). Workers of a cluster you run must offer them
    too (``dask worker ADDRESS --nthreads 2 --resources stage_slots=2``) and see the project at the
    same path; the flow refuses to start otherwise (a stage asking for a resource no worker has
    would wait for ever). A task that a lost worker had finished runs again: a stage's outputs
    are written under temporary names and renamed, and DVC finds a finished stage up to date.
    """
    from prefect_dask import DaskTaskRunner

    from batteryops.core.config import ComputeParams

    compute = compute or ComputeParams()
    if compute.cluster not in (None, "local"):
        _check_stage_slots(compute.cluster, max_parallel)
        return DaskTaskRunner(address=compute.cluster)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": 1,
            "threads_per_worker": max_parallel,
            "processes": compute.processes,
            "memory_limit": compute.memory_per_worker,
            "resources": {STAGE_SLOTS: max_parallel},
            "dashboard_address": None,
        },
    )


def _stage_slots(stage: str, max_parallel: int) -> Any:
    """Ask Dask for a stage's slots on its worker: all of them for a solo stage."""
    import dask

    return dask.annotate(resources={STAGE_SLOTS: max_parallel if stage in SOLO_STAGES else 1})


def _check_stage_slots(address: str, max_parallel: int) -> None:
    """Refuse a cluster whose workers offer fewer than ``max_parallel`` stage slots."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        workers = client.scheduler_info()["workers"]
    offered = [w.get("resources", {}).get(STAGE_SLOTS, 0) for w in workers.values()]
    if not offered or max(offered) < max_parallel:
        raise RuntimeError(
            f"no worker of the Dask cluster at {address} offers {max_parallel} {STAGE_SLOTS} "
            f"(offered: {offered or 'no workers'}); start them with "
            f"`dask worker {address} --nthreads {max_parallel} "
            f"--resources {STAGE_SLOTS}={max_parallel}` (flow.max_parallel_stages)"
        )


def up_to_date(root: Path) -> bool:
    """Whether ``dvc status`` finds every stage of ``root`` up to date (a second or two)."""
    command = [sys.executable, "-m", "dvc", "status", "--quiet"]
    return subprocess.run(command, cwd=root, capture_output=True).returncode == 0


def main(argv: list[str] | None = None) -> None:
    """Run the flow once, or serve it as a scheduled deployment."""
    params = project_params()
    settings = params.flow
    parser = argparse.ArgumentParser(
        prog="python -m flows.pipeline", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--serve", action="store_true", help="serve as a deployment on a cron schedule"
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--cron", default=settings.cron, help=f"schedule (default from params: {settings.cron!r})"
    )
    when.add_argument(
        "--interval", type=float, metavar="SECONDS", help="run every SECONDS instead of on --cron"
    )
    parser.add_argument(
        "--force", action="store_true", help="run every stage even if DVC finds it up to date"
    )
    parser.add_argument(
        "--root", default=str(ROOT), help="the DVC project to run (default: this one)"
    )
    args = parser.parse_args(argv)
    if not (args.serve or args.force) and up_to_date(Path(args.root)):
        # Prefect's temporary server alone takes 12-25 s to start: nothing to run, no flow run.
        print("pipeline up to date (dvc status): nothing to run, no flow run started")
        return
    pipeline = build_flow(
        settings.max_parallel_stages,
        settings.retries,
        settings.retry_delay_s,
        settings.task_runner,
        params.compute,
    )
    if args.serve:
        schedule = {"interval": args.interval} if args.interval else {"cron": args.cron}
        pipeline.serve(
            name=settings.deployment_name,
            parameters={"root": args.root, "force": args.force},
            **schedule,
        )
    else:
        pipeline(root=args.root, force=args.force)


if __name__ == "__main__":
    main()
