"""Benchmark the live service: sustained ingest + scoring of ~1,000 modules at 1 Hz.

A fleet of ``--racks`` x ``--modules-per-rack`` modules is simulated (with runaways) and then
sent to a real ``batteryops serve`` application (uvicorn on localhost, its own SQLite database)
as a gateway would: one JSON batch per second of data holding every module's row, paced at
1 Hz wall clock, for ``--seconds`` seconds. A WebSocket client listens to the service's
messages. The end-to-end latency of a batch is from just before its POST to the arrival of the
first scoring message that includes it (``through_batch``). The load is bounded: exactly
``--seconds`` requests, on 127.0.0.1 only.

The model is the registry's champion when there is one (``make run`` first) or ``--model``;
with ``--small`` a small model is trained in-process (about a minute), as the tests do.

Usage: .venv/bin/python benchmarks/serve.py [--racks 63] [--modules-per-rack 16]
       [--seconds 180] [--small | --model models:/battery-hazard@champion]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import uvicorn
import websockets
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from batteryops.core.config import deep_merge, load_params, merged_simulate, parse_params  # noqa: E402
from batteryops.mlops import tracking  # noqa: E402
from batteryops.serve.app import Service, create_app  # noqa: E402
from batteryops.serve.champion import StaticSource  # noqa: E402
from batteryops.serve.notify import Notifier  # noqa: E402
from batteryops.serve.store import Store  # noqa: E402
from batteryops.sim import simulate  # noqa: E402


def _scorer(args: argparse.Namespace):
    if args.small:
        from tests.batteryops.conftest import train_small

        return train_small(yaml.safe_load((ROOT / "params.yaml").read_text())).scorer, "small"
    from batteryops.hazard import scoring

    params = load_params(ROOT / "params.yaml")
    tracking.configure(params.tracking, ROOT)
    uri = args.model or f"models:/{params.tracking.model_name}@champion"
    return scoring.load_scorer(uri), uri


def _fleet(params, racks: int, per_rack: int, seconds: int) -> pd.DataFrame:
    sim = merged_simulate(
        params.simulate,
        {
            "racks": racks,
            "modules_per_rack": per_rack,
            "duration_s": seconds,
            "chunk_s": seconds,
            "fault_earliest_s": 60,
            "fault_latest_fraction": 0.5,
        },
    )
    plan = simulate.plan_fleet(sim)
    physics, truth = simulate.simulate_fleet(sim, plan)
    signals = simulate.sensor_readings(sim, plan, physics, truth)
    frame = pd.concat(f for _, f in simulate.telemetry_frames(sim, plan, signals))
    # Data time = now, so the service's clock checks see live telemetry.
    shift = pd.Timestamp.now(tz="UTC").floor("s") - frame["timestamp"].min()
    frame["timestamp"] = frame["timestamp"] + shift
    return frame.sort_values(["timestamp", "module_id"]).reset_index(drop=True)


def _batches(frame: pd.DataFrame) -> list[bytes]:
    out = []
    for _, part in frame.groupby("timestamp", sort=True):
        rows = part.assign(timestamp=part["timestamp"].map(lambda t: t.isoformat()))
        out.append(rows.to_json(orient="records").encode())
    return out


class _Listener(threading.Thread):
    """A WebSocket client recording when each batch number first shows up."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.seen, self.ready = url, {}, threading.Event()
        self.messages = 0
        self.stop = False

    def run(self) -> None:
        asyncio.run(self._listen())

    async def _listen(self) -> None:
        async with websockets.connect(self.url, max_size=None) as socket:
            self.ready.set()
            through = 0
            while not self.stop:
                try:
                    text = await asyncio.wait_for(socket.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                except websockets.ConnectionClosed:
                    return
                now = time.perf_counter()
                message = json.loads(text)
                self.messages += 1
                if message.get("type") == "tick":
                    for batch in range(through + 1, message["through_batch"] + 1):
                        self.seen[batch] = now
                    through = max(through, message["through_batch"])


def main() -> None:
    """Run the load, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--racks", type=int, default=63)
    parser.add_argument("--modules-per-rack", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--small", action="store_true", help="train a small model in-process")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    with tempfile.TemporaryDirectory(prefix="batteryops-serve-bench-") as tmp:
        params = parse_params(
            deep_merge(
                raw,
                {"serve": {"database_url": f"sqlite:///{tmp}/serve.db", "rate_limit_per_s": 100}},
            )
        )
        scorer, model = _scorer(args)
        started = time.perf_counter()
        frame = _fleet(params, args.racks, args.modules_per_rack, args.seconds)
        batches = _batches(frame)
        modules = frame["module_id"].nunique()
        print(
            f"fleet: {modules} modules x {len(batches)} s ({len(frame):,} rows) simulated in "
            f"{time.perf_counter() - started:.1f} s; model {model}"
        )
        service = Service(
            params,
            StaticSource(scorer, "bench"),
            Store(params.serve.database_url),
            Notifier(params.serve.alerts),
            ROOT,
        )
        config = uvicorn.Config(
            create_app(service),
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            ws="websockets-sansio",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        listener = _Listener(f"ws://127.0.0.1:{args.port}/ws")
        listener.start()
        listener.ready.wait(10)

        sent: dict[int, float] = {}
        post_s = []
        refused = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=30) as client:
            start = time.perf_counter()
            for index, body in enumerate(batches):
                due = start + index  # 1 Hz
                time.sleep(max(0.0, due - time.perf_counter()))
                before = time.perf_counter()
                response = client.post(
                    "/api/telemetry", content=body, headers={"Content-Type": "application/json"}
                )
                post_s.append(time.perf_counter() - before)
                if response.status_code != 202:
                    refused += 1
                    continue
                sent[response.json()["batch"]] = before
            deadline = time.perf_counter() + 30
            while len(listener.seen) < len(sent) and time.perf_counter() < deadline:
                time.sleep(0.1)
            wall = time.perf_counter() - start
            status = client.get("/api/status").json()
            alarms = client.get("/api/alarms?limit=1000").json()
        listener.stop = True
        server.should_exit = True
        thread.join(10)

        latency = np.array([listener.seen[b] - t for b, t in sent.items() if b in listener.seen])
        steady = latency[len(latency) // 10 :]  # after the buffers filled
        print(
            f"sent {len(sent)} batches ({len(sent) * modules:,} rows) in {wall:.1f} s; "
            f"refused {refused}; scored rows {status['scored_rows']:,}; "
            f"alarms opened {len(alarms)}"
        )
        print(
            f"POST (parse + checks + queue): median {np.median(post_s) * 1000:.0f} ms, "
            f"p99 {np.percentile(post_s, 99) * 1000:.0f} ms"
        )
        for name, values in (("all", latency), ("after the first 10 %", steady)):
            print(
                f"end-to-end latency, telemetry in -> WebSocket ({name}, {len(values)} batches): "
                f"median {np.median(values):.3f} s, p95 {np.percentile(values, 95):.3f} s, "
                f"p99 {np.percentile(values, 99):.3f} s, max {values.max():.3f} s"
            )
        print(f"missing on the WebSocket: {len(sent) - len(latency)}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"peak RSS (service, client and simulator in one process): {rss:.2f} GB")


if __name__ == "__main__":
    main()
