"""The ASGI application: REST, WebSocket and the live page over one :class:`Service`.

``batteryops serve`` builds it with :func:`create_app` and runs it with uvicorn. Endpoints
(OpenAPI docs at ``/docs``; the routers per concern are in :mod:`batteryops.serve.routes`,
the state behind them in :mod:`batteryops.serve.service`):

- ``POST /api/telemetry``: a batch (JSON rows, canonical CSV or a logger export) -> 202
- ``GET /api/fleet``: every module's latest state, the model, open alarms, monitoring status
- ``GET /api/modules/{id}`` and ``/api/modules/{id}/history``: latest state and scored seconds
- ``GET /api/alarms``; ``POST /api/alarms/{id}/ack`` | ``/false`` | ``/true``: operator feedback
- ``GET /api/soh``; ``POST /api/cycles``: per-cell SOH, RUL and health class
- ``GET /api/model``: version, metrics, operating point, lineage
- ``POST /api/ask``: a plain-language question, answered by a read-only tool (:mod:`batteryops.ask`)
- ``WS /ws``: a message per scoring tick (the modules it scored) and per new alarm
- ``GET /``: the live page
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from batteryops.core.config import Params
from batteryops.serve import intake, routes
from batteryops.serve.service import Service

__all__ = ["Service", "api_key_for", "create_app", "is_loopback"]

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(service: Service, api_key: str | None = None, require_key: bool = False) -> FastAPI:
    """The FastAPI application over ``service``: its routers behind the request guards.

    Args:
        service: The service state.
        api_key: The key writes must carry in ``X-API-Key``.
        require_key: Whether writes need it (the server listens beyond localhost).
    """
    app = FastAPI(
        title="batteryops live service",
        description="Thermal-runaway early warnings and battery health, scored as telemetry "
        "arrives, with the champion models of the MLflow registry.",
        version="1",
        lifespan=_lifespan(service),
    )
    app.state.service = service
    _guard(app, service, api_key, require_key)
    for router in routes.routers(service):
        app.include_router(router)
    return app


def _lifespan(service: Service) -> Any:
    """Run the scoring loop while the application serves; stop it and the alerts after."""
    stop = asyncio.Event()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(service.run(stop))
        try:
            yield
        finally:
            stop.set()
            await task
            service.landing.flush()
            service.notifier.close()

    return lifespan


def _refuse(service: Service, status: int, message: str) -> JSONResponse:
    """An error response, counted per status for the status endpoint."""
    service.refused[status] = service.refused.get(status, 0) + 1
    return JSONResponse({"error": message}, status_code=status)


def _guard(app: FastAPI, service: Service, api_key: str | None, require_key: bool) -> None:
    """Rate limit per client, the API key on writes, the body size; refused batches."""
    limit = routes.body_limit(service)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        client = request.client.host if request.client else "unknown"
        if request.url.path.startswith("/api/") and not service.allow(client):
            response = _refuse(service, 429, "too many requests: slow down")
            response.headers["Retry-After"] = "1"
            return response
        if request.method in WRITE_METHODS:
            if require_key and request.headers.get("x-api-key") != api_key:
                return _refuse(service, 401, "writes need the API key in the X-API-Key header")
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                return _refuse(
                    service, 413, f"body over serve.max_body_mb ({service.settings.max_body_mb} MB)"
                )
        return await call_next(request)

    @app.exception_handler(intake.BatchError)
    async def batch_error(_: Request, error: intake.BatchError) -> JSONResponse:
        return _refuse(service, error.status, error.message)


def api_key_for(params: Params, host: str) -> tuple[str | None, bool]:
    """The API key and whether writes need it: always beyond localhost, and then it must exist."""
    if is_loopback(host):
        return os.environ.get(params.serve.api_key_env), False
    key = os.environ.get(params.serve.api_key_env)
    if not key:
        raise SystemExit(
            f"refusing to listen on {host} without an API key: set {params.serve.api_key_env}"
        )
    return key, True
