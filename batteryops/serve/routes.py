"""The live service's endpoints, one router per concern, over one :class:`~.app.Service`.

- :func:`intake_router`: ``POST /api/telemetry`` and ``POST /api/cycles`` (data in);
- :func:`query_router`: liveness, the fleet, SOH, the model and the counters (reads);
- :func:`module_router`: one module's latest state, its scored seconds and its forecast;
- :func:`alarm_router`: the alarm list and the operators' verdicts;
- :func:`live_router`: the live page and its WebSocket;
- :func:`ask_router`: ``POST /api/ask``, a plain-language question answered by a read-only tool.

:func:`routers` lists them; :func:`batteryops.serve.app.create_app` puts them behind the
request guards.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from batteryops.ask.asker import QuestionError
from batteryops.serve import asking, intake

if TYPE_CHECKING:
    from batteryops.serve.service import Service

STATIC = Path(__file__).parent / "static"
MAX_FORECAST_STEPS = 25
ASK_CONCURRENCY = 2  # questions answered at once (the rest wait their turn)


class Review(BaseModel):
    """An operator's verdict on an alarm."""

    by: str | None = Field(default=None, max_length=128)
    note: str | None = Field(default=None, max_length=2000)


def body_limit(service: Service) -> int:
    """The largest request body accepted, in bytes (``serve.max_body_mb``)."""
    return int(service.settings.max_body_mb * 1024 * 1024)


async def read_body(request: Request, service: Service) -> bytes:
    """The request's body, refused (413) as soon as it grows past :func:`body_limit`."""
    limit = body_limit(service)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise intake.BatchError(
                413, f"body over serve.max_body_mb ({service.settings.max_body_mb} MB)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def routers(service: Service) -> list[APIRouter]:
    """Every router of the service."""
    return [
        live_router(service),
        intake_router(service),
        query_router(service),
        module_router(service),
        alarm_router(service),
        ask_router(service),
    ]


class Question(BaseModel):
    """A plain-language question about the fleet."""

    question: str = Field(min_length=1, max_length=5000)


def ask_router(service: Service) -> APIRouter:
    """``POST /api/ask``: the answer, the tool it came from, its window and facts."""
    router = APIRouter()
    reader = asking.StoreReader(
        service.store,
        service.params,
        service.root,
        lambda: dict(service.model.info) if service.model else None,
    )
    answering = asking.asker(reader, service.params)
    # Questions wait for one another rather than take the threads intake and reads use (a
    # language model may hold one for up to twice ask.timeout_s).
    turns = asyncio.Semaphore(ASK_CONCURRENCY)

    @router.post("/api/ask", summary="ask the fleet a question in plain language")
    async def ask(question: Question) -> dict[str, Any]:
        try:
            async with turns:
                answer = await asyncio.to_thread(answering.ask, question.question)
        except QuestionError as error:
            raise HTTPException(422, str(error)) from error
        return answer.to_dict()

    return router


def intake_router(service: Service) -> APIRouter:
    """Telemetry and cycle data in."""
    router = APIRouter()

    @router.post("/api/telemetry", status_code=202, summary="ingest a batch of telemetry")
    async def telemetry(request: Request) -> dict[str, Any]:
        body = await read_body(request, service)
        content_type = request.headers.get("content-type", "application/json")
        return await asyncio.to_thread(service.ingest, body, content_type)

    @router.post("/api/cycles", summary="grade cells from cycle data")
    async def cycles(request: Request) -> list[dict[str, Any]]:
        return await asyncio.to_thread(service.grade_cycles, await read_body(request, service))

    return router


def query_router(service: Service) -> APIRouter:
    """Reads: liveness, the fleet, SOH, the model, the counters."""
    router = APIRouter()

    @router.get("/api/health", summary="liveness")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model_version": service.model.version if service.model else None}

    @router.get("/api/fleet", summary="every module's latest state")
    async def fleet() -> dict[str, Any]:
        modules = await asyncio.to_thread(service.store.modules)
        open_alarms = await asyncio.to_thread(service.store.alarms, "open")
        return {
            "model": service.model.info if service.model else None,
            "modules": modules,
            "racks": sorted({m["rack_id"] for m in modules}),
            "rack_current_limit_a": _string_limits(modules),
            "open_alarms": open_alarms,
            "monitoring": asking.monitoring_status(service.root, service.params),
            "status": service.status(),
        }

    @router.get("/api/soh", summary="per-cell SOH, RUL and health class")
    async def soh() -> dict[str, Any]:
        return {
            "model_version": service.health_version,
            "cells": await asyncio.to_thread(service.store.health),
        }

    @router.get("/api/model", summary="the model scoring now")
    async def model() -> dict[str, Any]:
        if service.model is None:
            raise HTTPException(503, "no battery-hazard champion yet")
        return service.model.info | {"health_version": service.health_version}

    @router.get("/api/status", summary="service counters")
    async def status() -> dict[str, Any]:
        return await asyncio.to_thread(service.status)

    return router


def module_router(service: Service) -> APIRouter:
    """Reads of one module: its latest state, its scored seconds, its temperature forecast."""
    router = APIRouter()

    @router.get("/api/modules/{module_id}", summary="a module's latest state")
    async def module(module_id: str) -> dict[str, Any]:
        found = await asyncio.to_thread(service.store.module, module_id)
        if found is None:
            raise HTTPException(404, f"unknown module {module_id!r}")
        return found

    @router.get("/api/modules/{module_id}/history", summary="a module's scored seconds")
    async def history(module_id: str, seconds: int = 1800, limit: int = 7200) -> dict[str, Any]:
        found = await asyncio.to_thread(service.store.module, module_id)
        if found is None:
            raise HTTPException(404, f"unknown module {module_id!r}")
        if not 0 < seconds <= service.settings.history_s or not 0 < limit <= 100_000:
            raise HTTPException(422, f"seconds in 1..{service.settings.history_s}, limit 1..100000")
        rows = await asyncio.to_thread(
            service.store.history, module_id, found["last_ts"] - seconds, limit
        )
        alarms = await asyncio.to_thread(service.store.alarms, None, 50, module_id)
        return {"module": found, "history": rows, "alarms": alarms}

    @router.get(
        "/api/modules/{module_id}/forecast", summary="the hottest sensor, steps x 30 s ahead"
    )
    async def forecast(module_id: str, steps: int = 25) -> dict[str, Any]:
        if not 1 <= steps <= MAX_FORECAST_STEPS:
            raise HTTPException(422, f"steps in 1..{MAX_FORECAST_STEPS}")
        if service.engine is None:
            raise HTTPException(503, "no battery-hazard champion yet")
        table = await asyncio.to_thread(service.forecast, module_id, steps)
        if table is None:
            raise HTTPException(404, f"unknown module {module_id!r} (or nothing buffered yet)")
        return {
            "module_id": module_id,
            "step_s": service.engine.scorer.model.delta_t_horizon_s,
            "assumes": "the module's load and its neighbours hold their last values",
            "forecast": table.to_dict("records"),
        }

    return router


MAX_ALARM_ID = 2**63 - 1  # the store's integer key (SQLite and PostgreSQL BIGINT)


def alarm_router(service: Service) -> APIRouter:
    """The alarm list and the operators' verdicts (each broadcast to the live pages)."""
    router = APIRouter()

    @router.get("/api/alarms", summary="alarms, newest first")
    async def alarms(state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if state not in (None, "open", "closed", "unreviewed") or not 0 < limit <= 10_000:
            raise HTTPException(422, "state: open, closed or unreviewed; limit 1..10000")
        return await asyncio.to_thread(service.store.alarms, state, limit)

    async def _review(alarm_id: int, kind: str, review: Review | None) -> dict[str, Any]:
        if not 1 <= alarm_id <= MAX_ALARM_ID:
            raise HTTPException(422, f"alarm ids are 1..{MAX_ALARM_ID}, got {alarm_id}")
        review = review or Review()
        found = await asyncio.to_thread(
            service.store.review, alarm_id, kind, review.by, review.note
        )
        if found is None:
            raise HTTPException(404, f"no alarm {alarm_id}")
        await service.broadcast([{"type": "review", "alarm": found}])
        return found

    @router.post("/api/alarms/{alarm_id}/ack", summary="acknowledge an alarm")
    async def acknowledge(alarm_id: int, review: Review | None = None) -> dict[str, Any]:
        return await _review(alarm_id, "acknowledged", review)

    @router.post("/api/alarms/{alarm_id}/false", summary="mark an alarm false")
    async def mark_false(alarm_id: int, review: Review | None = None) -> dict[str, Any]:
        return await _review(alarm_id, "false_alarm", review)

    @router.post("/api/alarms/{alarm_id}/true", summary="confirm an alarm")
    async def mark_true(alarm_id: int, review: Review | None = None) -> dict[str, Any]:
        return await _review(alarm_id, "true_alarm", review)

    return router


def live_router(service: Service) -> APIRouter:
    """The live page and the WebSocket that feeds it a message per tick and per alarm."""
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @router.websocket("/ws")
    async def live(socket: WebSocket) -> None:
        await socket.accept()
        queue: asyncio.Queue = asyncio.Queue(maxsize=service.settings.websocket_queue)
        service.subscribers.add(queue)
        # The socket is watched while the handler waits for a broadcast: on shutdown the server
        # closes it, no broadcast comes any more, and a handler waiting only for the queue
        # would keep the process alive (the server waits for every handler to return).
        gone = asyncio.create_task(_disconnected(socket))
        try:
            while True:
                ready = asyncio.ensure_future(queue.get())
                await asyncio.wait({ready, gone}, return_when=asyncio.FIRST_COMPLETED)
                if not ready.done():
                    ready.cancel()
                    return
                await socket.send_text(ready.result())
                if queue not in service.subscribers and queue.empty():
                    await socket.close(code=1013, reason="too slow: messages dropped")
                    return
        except WebSocketDisconnect:
            pass
        finally:
            gone.cancel()
            service.subscribers.discard(queue)

    return router


async def _disconnected(socket: WebSocket) -> None:
    """Return once the client or the server has closed ``socket`` (client messages are ignored)."""
    while True:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return


def _string_limits(modules: list[dict[str, Any]]) -> dict[str, float | None]:
    """Per rack (one series string, one current), its most restrictive module's latest limit."""
    limits: dict[str, float | None] = {}
    for module in modules:
        rack, limit = module["rack_id"], module.get("current_limit_a")
        if limit is not None:
            known = limits.get(rack)
            limits[rack] = limit if known is None else min(known, limit)
        else:
            limits.setdefault(rack, None)
    return limits
