"""``batteryops serve``: build the service from params and run it with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from batteryops.core.config import Params
from batteryops.serve import replay
from batteryops.serve.app import Service, api_key_for, create_app
from batteryops.serve.champion import ModelSource, RegistrySource
from batteryops.serve.notify import Notifier
from batteryops.serve.store import Store

log = logging.getLogger("batteryops.serve")
SHUTDOWN_GRACE_S = 10


def database_url(params: Params, root: Path) -> str:
    """``serve.database_url`` with a relative SQLite path taken from the project root."""
    url = params.serve.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
        return f"sqlite:///{(root / url.removeprefix('sqlite:///')).resolve()}"
    return url


def build(
    params: Params,
    root: Path,
    host: str,
    source: ModelSource | None = None,
    replay_source: str | None = None,
    replay_speed: float | None = None,
    replay_start: str | None = None,
    replay_hours: float | None = None,
) -> FastAPI:
    """The application for ``params`` (champions from the registry unless ``source``)."""
    api_key, require_key = api_key_for(params, host)
    service = Service(
        params,
        source or RegistrySource(params, root),
        Store(database_url(params, root)),
        Notifier(params.serve.alerts),
        root,
    )
    service.refresh_health()
    app = create_app(service, api_key, require_key)
    if replay_source is None:
        return app
    frame = replay.load(replay_source, params.ingest, replay_start, replay_hours)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def with_replay(application: FastAPI) -> AsyncIterator[None]:
        async with inner(application):
            stop = asyncio.Event()
            task = asyncio.create_task(
                replay.replay(service, frame, replay_speed or params.serve.replay_speed, stop)
            )
            try:
                yield
            finally:
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.router.lifespan_context = with_replay
    return app


def run(params: Params, args: Any) -> int:
    """Run the service until interrupted."""
    import uvicorn

    host = args.host or params.serve.host
    port = args.port or params.serve.port
    app = build(
        params,
        Path(".").resolve(),
        host,
        replay_source=args.replay,
        replay_speed=args.speed,
        replay_start=args.replay_from,
        replay_hours=args.replay_hours,
    )
    if app.state.service.model is None:
        log.warning(
            "no champion of %s yet: ingest answers 503 until `make run` registers one",
            params.tracking.model_name,
        )
    print(f"batteryops serve: http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=args.log_level,
        ws="websockets-sansio",
        # After SIGTERM, requests in flight get this long before they are cancelled.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    return 0
