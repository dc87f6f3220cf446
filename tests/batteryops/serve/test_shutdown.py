"""The service stops on request while the live page is open (a WebSocket is connected).

uvicorn closes open connections on SIGTERM and then waits for their handlers to return; a live
handler waiting for the next broadcast, which no longer comes, used to keep the process alive
until it was killed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import websockets

from batteryops.core.config import parse_params
from batteryops.serve.app import Service, create_app
from batteryops.serve.champion import StaticSource
from batteryops.serve.notify import Notifier
from batteryops.serve.store import Store
from tests.batteryops.conftest import Trained
from tests.batteryops.serve.running import running


def test_service_stops_with_a_live_page_connected(
    raw_params, trained: Trained, tmp_path: Path
) -> None:
    params = parse_params(raw_params)
    service = Service(
        params,
        StaticSource(
            trained.scorer,
            "1",
            {"name": "battery-hazard", "version": "1", "threshold": trained.scorer.threshold},
        ),
        Store(f"sqlite:///{tmp_path / 'serve.db'}"),
        Notifier(params.serve.alerts),
    )
    with running(create_app(service)) as server:
        port, thread = server.port, server.thread
        connected, released = threading.Event(), threading.Event()

        async def page() -> None:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as live:
                connected.set()
                try:
                    while True:
                        await live.recv()
                except websockets.ConnectionClosed:
                    released.set()

        client = threading.Thread(target=asyncio.run, args=(page(),), daemon=True)
        client.start()
        assert connected.wait(10)
        time.sleep(0.5)  # the handler is now waiting for a broadcast
        server.server.should_exit = True  # what uvicorn's SIGTERM handler sets
        thread.join(15)
        assert not thread.is_alive(), "the service did not stop within 15 s with a page connected"
        assert released.wait(5), "the page's socket was not closed"
