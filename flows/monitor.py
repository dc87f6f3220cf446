"""Monitoring of the served data as a Prefect 3 flow, deployed beside the pipeline's.

One task runs :func:`batteryops.serve.monitor.monitor` on the service's database: the Evidently
report of the newest served data against the training data, proxy metrics and operator
feedback, written to ``reports/monitoring.html`` and ``metrics/monitoring.json``. A breach
alerts (``serve.alerts``) and, with ``serve.monitor.retrain_on_breach``, starts the pipeline
flow, whose new model still has to pass the gates of ``register``.

Run once:            python -m flows.monitor
Serve on a schedule: python -m flows.monitor --serve [--cron "*/30 * * * *"]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flows._common import ROOT, project_params


def build_flow():
    """The ``batteryops-monitor`` flow."""
    from prefect import flow, task

    @task(name="monitor-served-data")
    def run_monitoring(root: str) -> dict[str, Any]:
        from batteryops.core.config import load_params
        from batteryops.serve.monitor import monitor
        from batteryops.serve.notify import Notifier
        from batteryops.serve.server import database_url
        from batteryops.serve.store import Store

        params = load_params(Path(root) / "params.yaml")
        store = Store(database_url(params, Path(root)))
        notifier = Notifier(params.serve.alerts)
        try:
            return monitor(params, Path(root), store, notifier)
        finally:
            notifier.close()

    @flow(name="batteryops-monitor", log_prints=True)
    def monitoring(root: str = str(ROOT)) -> dict[str, Any]:
        summary = run_monitoring(root)
        print(f"monitoring verdict: {summary['verdict']}; breaches: {summary['breaches']}")
        return summary

    return monitoring


def main(argv: list[str] | None = None) -> None:
    """Run the flow once, or serve it as a scheduled deployment."""
    settings = project_params().serve.monitor
    parser = argparse.ArgumentParser(
        prog="python -m flows.monitor", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--serve", action="store_true", help="serve as a scheduled deployment")
    parser.add_argument("--cron", default=settings.cron, help=f"default {settings.cron!r}")
    args = parser.parse_args(argv)
    monitoring = build_flow()
    if args.serve:
        monitoring.serve(name=settings.deployment_name, cron=args.cron)
    else:
        monitoring()


if __name__ == "__main__":
    main()
