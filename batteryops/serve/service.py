"""The live service's state behind the endpoints: intake, the scoring loop, storage, alerts.

:class:`Service` owns the champion models, the online scorer, the store and the subscribers;
:mod:`batteryops.serve.routes` exposes it and :mod:`batteryops.serve.app` wraps both in the ASGI
application.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.hazard.model import DELTA_T_FORECAST, PROBABILITY
from batteryops.serve import intake
from batteryops.serve.champion import Loaded, ModelSource
from batteryops.serve.engine import OnlineScorer, OpenAlarm, TickResult
from batteryops.serve.landing import Landing
from batteryops.serve.notify import Alert, Notifier
from batteryops.serve.store import MONITORED, Store

log = logging.getLogger("batteryops.serve")
TICK_S = 0.2  # the scorer looks for new data this often


class Service:
    """Everything behind the endpoints: intake, scoring loop, storage, alerts, subscribers."""

    def __init__(
        self,
        params: Params,
        source: ModelSource,
        store: Store,
        notifier: Notifier,
        root: Path = Path("."),
        clock: Any = time.time,
    ):
        self.params, self.settings = params, params.serve
        self.source, self.store, self.notifier, self.root = source, store, notifier, root
        self.gate = intake.Gate(self.settings, clock, params.alarm.max_logger_period_s)
        # Every accepted row, whole, for the next training run (`batteryops collect`).
        self.landing = Landing(root / params.paths.landing_dir)
        self.engine: OnlineScorer | None = None
        self.model: Loaded | None = None
        self.health_version: str | None = None
        self._intake_lock = threading.Lock()
        self._tick_lock = threading.Lock()
        self._batch = 0
        self.subscribers: set[asyncio.Queue] = set()
        self.started = time.time()
        self.received_rows = 0
        self.scored_rows = 0
        self.refused: dict[int, int] = {}
        self._buckets: dict[str, tuple[float, float]] = {}
        self._pruned_minute = -1
        self._shown: dict[int, tuple[float, str]] = {}  # open alarm -> (peak, top features) sent
        closed, newest = store.recover()
        self.gate.last_ts.update(newest)
        if closed or newest:
            log.info(
                "restart: %d modules known, %d alarms left open were closed", len(newest), closed
            )
        self.load_model()

    # ---- models -------------------------------------------------------------------------
    def load_model(self) -> bool:
        """Load (or reload) the hazard champion; True if the model changed."""
        loaded = self.source.current()
        if loaded is None:
            return False
        if self.model is not None and loaded.version == self.model.version:
            return False
        with self._tick_lock:
            if self.engine is None:
                self.engine = OnlineScorer(loaded.scorer, loaded.version, self.settings.buffer_s)
            else:
                self.engine.set_scorer(loaded.scorer, loaded.version)
            self.model = loaded
        return True

    def poll_models(self) -> list[dict[str, Any]]:
        """Reload what moved in the registry; the messages to broadcast about it."""
        messages = []
        current = self.model.version if self.model else None
        if self.source.changed(current) and self.load_model():
            log.info("champion moved: %s -> %s", current, self.model.version)
            messages.append({"type": "model", "from": current, "model": self.model.info})
        self.refresh_health()
        return messages

    def refresh_health(self) -> None:
        """Grade the cells of the pipeline's cycle data when a new SOH champion appears."""
        from batteryops.health.model import IncompatibleModelError

        version = self.source.health_version()
        if version is None or version == self.health_version:
            return
        try:
            found = self.source.health()
        except IncompatibleModelError as error:  # an old champion: say so once, keep serving
            log.warning("SOH champion v%s grades no cells: %s", version, error)
            self.health_version = version
            return
        if found is None:
            return
        model, version = found
        cycles = self.root / self.params.paths.cycles
        if cycles.is_file():
            curves = self.root / self.params.paths.curves
            table = model.predict_cells(
                pd.read_parquet(cycles), pd.read_parquet(curves) if curves.is_file() else None
            )
            self._store_health(table, version)
        self.health_version = version

    def _store_health(self, table: pd.DataFrame, version: str) -> None:
        now = time.time()
        self.store.write_health(
            {
                "cell_id": str(row.cell_id),
                "cycle": int(row.cycle),
                "soh": _number(row.soh),
                "rul_cycles": _number(getattr(row, "rul_cycles", None)),
                "rul_low_cycles": _number(getattr(row, "rul_low_cycles", None)),
                "rul_high_cycles": _number(getattr(row, "rul_high_cycles", None)),
                "health_class": row.health_class,
                "model_version": version,
                "at": now,
            }
            for row in table.itertuples(index=False)
        )

    def grade_cycles(self, body: bytes) -> list[dict[str, Any]]:
        """Per-cell SOH, RUL and class of posted cycle data (JSON rows, canonical columns)."""
        from batteryops.health.model import IncompatibleModelError

        try:
            found = self.source.health()
        except IncompatibleModelError as error:
            raise intake.BatchError(409, f"the SOH champion cannot grade cycles: {error}") from None
        if found is None:
            raise intake.BatchError(503, "no battery-soh champion is registered yet")
        try:
            rows = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise intake.BatchError(400, f"malformed JSON: {error}") from None
        rows = rows.get("rows") if isinstance(rows, dict) else rows
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise intake.BatchError(422, 'expected a JSON list of cycle rows or {"rows": [...]}')
        frame = pd.DataFrame.from_records(rows)
        missing = [c for c in ("cell_id", "cycle", "capacity_ah") if c not in frame]
        if missing:
            raise intake.BatchError(422, f"cycle rows lack {missing}")
        for column in frame.columns.drop("cell_id"):
            converted = pd.to_numeric(frame[column], errors="coerce")
            bad = converted.isna() & frame[column].notna()
            if bad.any():
                where = int(np.flatnonzero(bad.to_numpy())[0])
                raise intake.BatchError(
                    422,
                    f"row {where}, column {column!r}: expected a number, got "
                    f"{frame[column].iloc[where]!r}",
                )
            frame[column] = converted
        frame["cell_id"] = frame["cell_id"].astype(str)
        for column in schema.CYCLE_SIGNALS:
            if column not in frame:
                frame[column] = np.nan
        model, version = found
        table = model.predict_cells(frame, None)
        self._store_health(table, version)
        return [_jsonable(r) for r in table.to_dict("records")]

    # ---- intake ---------------------------------------------------------------------------
    def ingest(self, body: bytes, content_type: str) -> dict[str, Any]:
        """Parse, check and queue one posted batch (whole or not at all)."""
        if self.engine is None:
            raise intake.BatchError(503, "no battery-hazard champion yet: run `make run` first")
        return self.ingest_frame(intake.parse(body, content_type, self.params.ingest))

    def ingest_frame(self, rows: pd.DataFrame) -> dict[str, Any]:
        """Check and queue canonical rows (whole or not at all)."""
        if self.engine is None:
            raise intake.BatchError(503, "no battery-hazard champion yet: run `make run` first")
        backlog = self.engine.pending_rows
        if backlog > self.settings.max_pending_rows:
            raise intake.BatchError(
                429, f"scoring is {backlog} rows behind (serve.max_pending_rows): retry shortly"
            )
        with self._intake_lock:
            checked = self.gate.check(rows)
            self._batch += 1
            self.landing.write(checked, self._batch)
            self.engine.add(checked, self._batch)
            self.gate.accept(checked)
            self.received_rows += len(checked)
            return {
                "accepted": len(checked),
                "batch": self._batch,
                "modules": int(checked[schema.MODULE_ID].nunique()),
            }

    def allow(self, client: str) -> bool:
        """Token bucket per client: ``rate_limit_per_s`` with a burst of twice that."""
        rate = self.settings.rate_limit_per_s
        now = time.monotonic()
        tokens, last = self._buckets.get(client, (2 * rate, now))
        tokens = min(2 * rate, tokens + (now - last) * rate)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            return False
        self._buckets[client] = (tokens - 1, now)
        return True

    # ---- scoring ----------------------------------------------------------------------------
    def tick(self) -> list[dict[str, Any]]:
        """Score what arrived, store it in one transaction, alert; the messages to broadcast."""
        with self._tick_lock:
            if self.engine is None:
                return []
            result = self.engine.tick(self.settings.max_rows_per_tick)
            if result.empty:
                return []
            opened_ids = self._persist(result)
        for alarm in result.opened:
            self.notifier.notify(
                Alert(
                    "alarm",
                    alarm.module_id,
                    f"thermal hazard alarm on {alarm.module_id}",
                    {
                        "alarm_id": alarm.alarm_id,
                        "rack_id": alarm.rack_id,
                        "opened": _iso(alarm.opened_ts),
                        "probability": round(alarm.peak_probability, 4),
                        "top_features": alarm.top_features,
                        "model_version": self.engine.version,
                    },
                )
            )
        self.scored_rows += result.seconds_scored
        return self._messages(result, opened_ids)

    def _persist(self, result: TickResult) -> list[int]:
        """Store the tick (scores, module states, alarms) in one transaction; the new alarm ids.

        Alarms a failed tick opened but never stored are stored now (they join
        ``result.opened``); scores past ``serve.history_s`` are pruned once a minute of data.
        """
        version = self.engine.version
        open_features = {k: v.top_features for k, v in self.engine.open_alarms.items()}
        closed = {id(a) for a in result.closed}
        unstored = [
            a
            for a in self.engine.open_alarms.values()
            if a.alarm_id is None and all(a is not b for b in result.opened)
        ]
        result.opened = unstored + result.opened
        ids = self.store.write_tick(
            _score_rows(result.scores),
            _module_rows(result.latest, open_features, version),
            [_alarm_row(a, version, id(a) in closed) for a in result.opened],
            _alarm_updates(result),
        )
        for alarm, alarm_id in zip(result.opened, ids, strict=True):
            alarm.alarm_id = alarm_id
        self._prune(result.latest)
        return ids

    def _prune(self, latest: pd.DataFrame | None) -> None:
        """Delete scores older than ``serve.history_s``, at most once a minute of data time."""
        if latest is not None and len(latest):
            newest = int(latest["ts"].max())
            if newest // 60 != self._pruned_minute:
                self._pruned_minute = newest // 60
                self.store.prune(newest - self.settings.history_s)

    def _messages(self, result: TickResult, opened_ids: list[int]) -> list[dict[str, Any]]:
        latest = result.latest
        modules = [
            [m, r, int(ts), round(float(p), 5), bool(a), _number(t), _number(limit)]
            for m, r, ts, p, a, t, limit in zip(
                latest[schema.MODULE_ID],
                latest[schema.RACK_ID],
                latest["ts"],
                latest[PROBABILITY],
                latest["alarm"],
                latest["temp_max_c"],
                latest["current_limit_a"],
                strict=True,
            )
        ]
        messages: list[dict[str, Any]] = [
            {
                "type": "tick",
                "through_batch": result.through_batch,
                "seconds": result.seconds_scored,
                "fields": ["module_id", "rack_id", "ts", "p", "alarm", "temp_max_c", "limit_a"],
                "modules": modules,
                "sent_at": time.time(),
            }
        ]
        for alarm_id in opened_ids:
            messages.append({"type": "alarm", "alarm": self.store.alarm(alarm_id)})
        for alarm in result.opened:
            self._shown[alarm.alarm_id] = (round(alarm.peak_probability, 4), alarm.top_features)
        closing = {a.alarm_id for a in result.closed}
        # An open alarm's row is sent again when what the page shows of it changed: its peak
        # (to the 4 decimals shown) or its explanation (refreshed once a minute of alarm).
        for alarm in result.extended:
            if alarm.alarm_id is None or alarm.alarm_id in closing or alarm.alarm_id in opened_ids:
                continue
            shown = (round(alarm.peak_probability, 4), alarm.top_features)
            if self._shown.get(alarm.alarm_id) != shown:
                self._shown[alarm.alarm_id] = shown
                messages.append({"type": "alarm", "alarm": self.store.alarm(alarm.alarm_id)})
        for alarm in result.closed:  # the stored row, with its closing second
            self._shown.pop(alarm.alarm_id, None)
            if alarm.alarm_id is not None and alarm.alarm_id not in opened_ids:
                messages.append({"type": "alarm", "alarm": self.store.alarm(alarm.alarm_id)})
        return messages

    async def broadcast(self, messages: list[dict[str, Any]]) -> None:
        """Queue messages for every WebSocket subscriber; a subscriber that lags is dropped."""
        for message in messages:
            text = json.dumps(message, default=_default)
            for queue in list(self.subscribers):
                try:
                    queue.put_nowait(text)
                except asyncio.QueueFull:
                    self.subscribers.discard(queue)  # its socket closes once it has drained

    async def run(self, stop: asyncio.Event) -> None:
        """The scoring loop: tick whenever data waits, poll the registry now and then."""
        next_poll = time.monotonic() + self.settings.model_poll_s
        while not stop.is_set():
            try:
                if self.engine is not None and self.engine.pending_rows:
                    await self.broadcast(await asyncio.to_thread(self.tick))
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.settings.model_poll_s
                    await self.broadcast(await asyncio.to_thread(self.poll_models))
                    await asyncio.to_thread(self.landing.flush, due_only=True)
            except Exception:  # noqa: BLE001 - the loop must outlive one bad tick
                log.exception("scoring tick failed")
            if self.engine is not None and self.engine.pending_rows:
                await asyncio.sleep(0)  # a backlog: straight on to the next tick
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=TICK_S)

    def forecast(self, module_id: str, steps: int) -> pd.DataFrame | None:
        """A module's multi-step temperature forecast (between ticks: the buffer holds still)."""
        with self._tick_lock:
            return self.engine.forecast(module_id, steps) if self.engine else None

    def status(self) -> dict[str, Any]:
        """Counters for the status endpoint."""
        return {
            "uptime_s": round(time.time() - self.started, 1),
            "received_rows": self.received_rows,
            "scored_rows": self.scored_rows,
            "refused": self.refused,
            "subscribers": len(self.subscribers),
            "engine": self.engine.describe() if self.engine else None,
            "alerts": self.notifier.stats(),
            "storage": self.store.counts(),
        }


def _score_rows(scores: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of the ``scores`` table (non-finite numbers as NULL)."""
    table = pd.DataFrame(
        {
            "module_id": scores[schema.MODULE_ID].astype(str),
            "ts": scores["ts"].astype("int64"),
            "rack_id": scores[schema.RACK_ID].astype(str),
            "probability": scores[PROBABILITY],
            "alarm": scores["alarm"].astype(bool),
            "current_limit_a": scores["current_limit_a"],
            "forecast_c": scores[DELTA_T_FORECAST],
            **{name: scores[name] for name in MONITORED},
        }
    )
    floats = table.select_dtypes("float").columns
    table[floats] = table[floats].astype(object).where(np.isfinite(table[floats]), None)
    return table.to_dict("records")


def _module_rows(
    latest: pd.DataFrame, open_features: dict[str, str], version: str
) -> list[dict[str, Any]]:
    """Rows of the ``modules`` table: each module's newest scored second."""
    return [
        {
            "module_id": m,
            "rack_id": r,
            "first_ts": int(ts),
            "last_ts": int(ts),
            "probability": _number(p),
            "alarm": bool(a),
            "current_limit_a": _number(limit),
            "forecast_c": _number(f),
            "temp_max_c": _number(t),
            "top_features": open_features.get(m, ""),
            "model_version": version,
        }
        for m, r, ts, p, a, limit, f, t in zip(
            latest[schema.MODULE_ID],
            latest[schema.RACK_ID],
            latest["ts"],
            latest[PROBABILITY],
            latest["alarm"],
            latest["current_limit_a"],
            latest[DELTA_T_FORECAST],
            latest["temp_max_c"],
            strict=True,
        )
    ]


def _alarm_updates(result: TickResult) -> list[dict[str, Any]]:
    """Changes to stored alarms: extended ones (last second, peak, explanation), closed ones."""
    return [
        {
            "id": a.alarm_id,
            "last_ts": a.last_ts,
            "peak_probability": a.peak_probability,
            "top_features": a.top_features,
        }
        for a in result.extended
    ] + [
        {"id": a.alarm_id, "last_ts": a.last_ts, "closed_ts": a.last_ts}
        for a in result.closed
        if a.alarm_id is not None
    ]


def _alarm_row(alarm: OpenAlarm, version: str, closed: bool) -> dict[str, Any]:
    return {
        "module_id": alarm.module_id,
        "rack_id": alarm.rack_id,
        "opened_ts": alarm.opened_ts,
        "last_ts": alarm.last_ts,
        "closed_ts": alarm.last_ts if closed else None,
        "peak_probability": alarm.peak_probability,
        "top_features": alarm.top_features,
        "model_version": version,
        "review": "none",
    }


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _iso(ts: int) -> str:
    return pd.Timestamp(ts, unit="s", tz="UTC").isoformat()


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (
            _number(v)
            if isinstance(v, float | np.floating)
            else _default(v)
            if isinstance(v, np.generic | pd.Timestamp)
            else v
        )
        for k, v in row.items()
    }
