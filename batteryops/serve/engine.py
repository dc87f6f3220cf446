"""Online scoring: per-module buffers, the featurize stage's code, the registered operating point.

Telemetry arrives in batches of any size. Each :meth:`OnlineScorer.tick` takes what arrived since
the last one and, for the racks that received data (all in one pass):

1. appends it to the rack's buffer of the last ``serve.buffer_s`` seconds (at least the longest
   feature window, so every feature of a new second equals the offline one: every window looks
   back at most that far; ``tests/batteryops/serve/test_engine.py`` checks it);
2. computes the features of the buffer with :func:`batteryops.hazard.features.featurize_racks` (the
   ``featurize`` stage's code, many racks per call) and scores the new seconds only: hazard
   probability and the 30 s temperature-change forecast
   (:class:`batteryops.hazard.model.HazardModel`);
3. applies the alarm exactly as evaluation does: k of the last n seconds at or over the
   operating threshold registered with the model
   (:func:`batteryops.hazard.events.persistent_level_rows` over the buffer's stored scores), the
   derating policy, and TreeSHAP top features at an alarm's onset and once a minute of it
   (:data:`batteryops.hazard.scoring.EXPLAIN_EVERY_S`);
4. turns alarm seconds into alarm episodes with the registered ``alarm.episode_merge_gap_s``
   (:func:`batteryops.hazard.events.starts_episode`, as in the event metrics): opened,
   extended, closed.

:meth:`add` may be called from any thread (the queue has its own lock); :meth:`tick` from one
thread at a time; a model swap takes effect at the next tick (:meth:`set_scorer`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.hazard import derating, events, feature_kernels, features, observer
from batteryops.hazard.model import DELTA_T_FORECAST, PROBABILITY
from batteryops.hazard.scoring import EXPLAIN_EVERY_S, Scorer
from batteryops.serve.store import MONITORED

NEW = "_serve_new"
SCORED = "_serve_probability"
BATCH = "_serve_batch"


@dataclass
class OpenAlarm:
    """An alarm episode still open on a module."""

    alarm_id: int | None
    module_id: str
    rack_id: str
    opened_ts: int
    last_ts: int
    peak_probability: float
    top_features: str
    explained_ts: int


@dataclass
class TickResult:
    """What one tick scored and which alarms it opened, extended or closed."""

    scores: pd.DataFrame  # one row per module and new second
    latest: pd.DataFrame  # the newest scored second of each module that got data
    opened: list[OpenAlarm] = field(default_factory=list)  # in time order; may be closed too
    extended: list[OpenAlarm] = field(default_factory=list)  # opened in an earlier tick
    closed: list[OpenAlarm] = field(default_factory=list)  # may include some opened now
    through_batch: int = -1  # the highest ingest batch number this tick included
    seconds_scored: int = 0

    @property
    def empty(self) -> bool:
        """Whether nothing was scored."""
        return self.scores.empty and not self.closed


class OnlineScorer:
    """Scores telemetry as it arrives, one module-second at a time, with offline semantics."""

    def __init__(self, scorer: Scorer, version: str, buffer_s: int):
        self.scorer = scorer
        self.version = version
        self.buffer_s = buffer_s
        self._pending: list[pd.DataFrame] = []
        self._lock = threading.Lock()
        self._buffer: pd.DataFrame | None = None  # recent telemetry and scores of every module
        self._observers: dict[str, np.ndarray] = {}  # each module's thermal observer state
        self.open_alarms: dict[str, OpenAlarm] = {}
        self.newest: dict[str, int] = {}  # newest scored second per module

    def set_scorer(self, scorer: Scorer, version: str) -> None:
        """Use another model from the next tick on (buffers and open alarms are kept)."""
        self.scorer, self.version = scorer, version

    def _starts_episode(self, previous_alarm_s: int, alarm_s: int) -> bool:
        """Whether an alarm at ``alarm_s`` would start a new episode (the registered gap)."""
        gap = self.scorer.alarm.episode_merge_gap_s
        return bool(events.starts_episode(previous_alarm_s, alarm_s, gap))

    def add(self, rows: pd.DataFrame, batch: int) -> None:
        """Queue validated canonical rows (sorted, unique, newer than any seen per module)."""
        tagged = rows.assign(**{BATCH: np.int64(batch)})
        with self._lock:
            self._pending.append(tagged)

    @property
    def pending_rows(self) -> int:
        """Rows queued for the next tick."""
        with self._lock:
            return sum(len(p) for p in self._pending)

    def tick(self, max_rows: int = 200_000) -> TickResult:
        """Score what was queued since the last tick: whole batches, about ``max_rows`` at most.

        A backlog is worked off over several ticks, oldest first, so that no tick holds the
        features of millions of rows at once.
        """
        with self._lock:
            taken, rows = 0, 0
            while taken < len(self._pending) and (taken == 0 or rows < max_rows):
                rows += len(self._pending[taken])
                taken += 1
            pending, self._pending = self._pending[:taken], self._pending[taken:]
        if not pending:
            return TickResult(pd.DataFrame(), pd.DataFrame(), closed=self._close_stale())
        incoming = pd.concat(pending, ignore_index=True)
        through = int(incoming[BATCH].max())
        scores = self._score(incoming.drop(columns=[BATCH]))
        result = TickResult(scores, self._latest(scores), through_batch=through)
        result.seconds_scored = len(scores)
        self._track_alarms(scores, result)
        result.closed += self._close_stale()
        return result

    # ---- scoring ----------------------------------------------------------------------------
    def _score(self, rows: pd.DataFrame) -> pd.DataFrame:
        rows = rows.assign(**{NEW: True, SCORED: np.nan})
        buffer = self._buffer
        joined = rows if buffer is None else pd.concat([buffer, rows], ignore_index=True)
        # Every new second needs buffer_s of history: keep what its module's oldest new second
        # can see (modules without new rows keep their buffer; they are context for the median).
        oldest_new = rows.groupby(schema.MODULE_ID, sort=False)[schema.TIMESTAMP].min()
        cutoff = joined[schema.MODULE_ID].map(oldest_new) - pd.Timedelta(seconds=self.buffer_s)
        joined = joined[~(joined[schema.TIMESTAMP] <= cutoff)]
        # Racks that got data are featurized (all in one call); the others wait as they are.
        in_play = joined[schema.RACK_ID].isin(set(rows[schema.RACK_ID])).to_numpy()
        idle = joined[~in_play]
        model = self.scorer.model
        frame = model.prepare(
            features.featurize_racks(joined[in_play].reset_index(drop=True), model.featurize)
        )
        new = frame[NEW].to_numpy(dtype=bool)
        self._observe(frame, new)
        fresh = frame[new]
        matrix = model.matrix(fresh)
        probability = model.hazard_probability(fresh, matrix)
        forecast = model.delta_t_forecast(fresh, matrix)
        scored = frame[SCORED].to_numpy(dtype=float).copy()
        scored[new] = probability
        seconds = frame[schema.TIMESTAMP].astype("int64").to_numpy() // 10**9
        codes = pd.factorize(frame[schema.MODULE_ID])[0]
        alarm = self._alarm(codes, seconds, scored)[new]
        temp = fresh["temp_max_c"].to_numpy(dtype=float)
        limit = derating.recommended_current_limit(
            temp, forecast, self.scorer.calibrated(probability), alarm, self.scorer.derating
        )
        out = fresh[[schema.MODULE_ID, schema.TIMESTAMP, schema.RACK_ID]].reset_index(drop=True)
        out = out.assign(
            ts=seconds[new],
            **{
                PROBABILITY: probability.astype(float),
                "alarm": alarm,
                "current_limit_a": limit.astype(float),
                DELTA_T_FORECAST: forecast.astype(float),
                # The signals the store keeps and monitoring reads (one list: store.MONITORED).
                **{name: fresh[name].to_numpy(dtype=float) for name in MONITORED},
            },
        )
        out["top_features"] = self._explain(fresh.reset_index(drop=True), out)
        self.newest.update(out.groupby(schema.MODULE_ID, sort=False)["ts"].max().to_dict())
        # Keep the canonical columns and the scores, not the features, for the next tick.
        keep = [c for c in rows.columns if c != NEW]
        kept = frame[keep].assign(**{SCORED: scored, NEW: False})
        kept = pd.concat([idle, kept], ignore_index=True) if len(idle) else kept
        newest = kept.groupby(schema.MODULE_ID, sort=False)[schema.TIMESTAMP].transform("max")
        # A module silent for longer than the buffer is no one's context any more: drop it.
        window = pd.Timedelta(seconds=self.buffer_s)
        recent = (kept[schema.TIMESTAMP] > newest - window) & (
            newest > kept[schema.TIMESTAMP].max() - 2 * window
        )
        self._buffer = kept[recent].reset_index(drop=True)
        return out

    def _observe(self, frame: pd.DataFrame, new: np.ndarray) -> None:
        """The thermal observer on the new rows, from each module's state after its last tick.

        ``featurize_racks`` ran it over the buffer from a fresh state; the offline features of
        these rows come from the module's whole history, which the carried state stands for.
        """
        fresh = frame.loc[new]
        if fresh.empty:
            return
        codes, modules = pd.factorize(fresh[schema.MODULE_ID], sort=False)
        states = np.stack([self._observers.get(m, observer.fresh_states(1)[0]) for m in modules])
        bounds = np.concatenate([[0], np.flatnonzero(np.diff(codes)) + 1, [len(codes)]])
        out = observer.observe(
            fresh[schema.TIMESTAMP].astype("int64").to_numpy() // 10**9,
            fresh["temp_max_c"].to_numpy(dtype=float),
            fresh["coolant_c"].to_numpy(dtype=float),
            fresh["current_a"].to_numpy(dtype=float),
            bounds,
            states,
            fresh["temp_avg_c"].to_numpy(dtype=float),
            (fresh["cell_v_max"] - fresh["cell_v_min"]).to_numpy(dtype=float),
            fresh["soc_pct"].to_numpy(dtype=float),
        )
        # Rounded as featurize stores them, so a value at a threshold alarms alike on both sides.
        feature_kernels.round_significand(out.reshape(-1), features.SIGNIFICAND_BITS)
        for k, name in enumerate(observer.NAMES):
            frame.loc[new, name] = out[k]
        self._observers.update(zip(modules, states, strict=True))

    def forecast(self, module_id: str, steps: int) -> pd.DataFrame | None:
        """The hottest sensor of a module, ``steps`` x the regressor's horizon ahead.

        Recursive: each step's 30 s forecast (the registered ΔT regressor on the featurize
        stage's features) extends the module's temperatures linearly over the horizon; its
        current, SoC and gases, and every neighbour, hold their last values; the features are
        computed again on that extended buffer for the next step. None if the module has no
        buffer. What the module's load will do is not known, so the spread of what can happen
        grows with every step: read it as "if nothing changes".
        """
        buffer = self._buffer
        if buffer is None or not (buffer[schema.MODULE_ID] == module_id).any():
            return None
        model = self.scorer.model
        horizon = model.delta_t_horizon_s
        rack = buffer.loc[buffer[schema.MODULE_ID] == module_id, schema.RACK_ID].iloc[0]
        frame = buffer.loc[buffer[schema.RACK_ID] == rack, list(schema.CANONICAL_COLUMNS)]
        frame = frame.reset_index(drop=True)
        rows = []
        for _ in range(steps):
            featured = model.prepare(features.featurize_racks(frame, model.featurize))
            mine = featured[featured[schema.MODULE_ID] == module_id]
            last = mine.tail(1)
            delta = float(model.delta_t_forecast(last)[0])
            start = last[schema.TIMESTAMP].iloc[0]
            # From the newest valid reading (a dropout in the newest second is not a reading).
            readings = mine["temp_max_c"].dropna()
            now = float(readings.iloc[-1]) if len(readings) else float("nan")
            rows.append(
                {
                    "ts": int(start.value // 10**9) + horizon,
                    "temp_max_c": now + delta,
                    "delta_c": delta,
                }
            )
            frame = self._extend(frame, module_id, start, horizon, delta)
        return pd.DataFrame(rows)

    def _extend(
        self, frame: pd.DataFrame, module_id: str, start: pd.Timestamp, seconds: int, delta: float
    ) -> pd.DataFrame:
        """``frame`` plus ``seconds`` of every module holding its last readings, one warming.

        Each signal holds its newest valid reading (a dropout in the newest second would
        otherwise blank the whole extension).
        """
        lasts = frame.groupby(schema.MODULE_ID, sort=False).last().reset_index()
        lasts = lasts[frame.columns]
        ahead = np.arange(1, seconds + 1)
        grown = lasts.loc[lasts.index.repeat(seconds)].reset_index(drop=True)
        offsets = np.tile(ahead, len(lasts))
        grown[schema.TIMESTAMP] = start + pd.to_timedelta(offsets, unit="s")
        mine = (grown[schema.MODULE_ID] == module_id).to_numpy()
        for column in ("temp_max_c", "temp_avg_c"):
            values = grown[column].to_numpy(dtype=np.float32).copy()
            values[mine] += np.float32(delta) * (offsets[mine] / seconds).astype(np.float32)
            grown[column] = values
        newest = frame.groupby(schema.MODULE_ID, sort=False)[schema.TIMESTAMP].max()
        grown = grown[grown[schema.TIMESTAMP] > grown[schema.MODULE_ID].map(newest)]
        joined = pd.concat([frame, grown], ignore_index=True)
        cut = joined[schema.TIMESTAMP].max() - pd.Timedelta(seconds=self.buffer_s)
        return joined[joined[schema.TIMESTAMP] > cut].reset_index(drop=True)

    def _alarm(self, codes: np.ndarray, seconds: np.ndarray, scored: np.ndarray) -> np.ndarray:
        """The persistent alarm of every row: k of the last n seconds at or over the threshold.

        Rows are sorted by module then second, one per second; the buffer's rows carry the
        scores of earlier ticks, so a new second's window reaches back into them.
        """
        alarm = self.scorer.alarm
        level = events.persistent_level_rows(
            seconds, scored, codes, alarm.persistence_k, alarm.persistence_n
        )
        return level >= self.scorer.threshold

    def _explain(self, fresh: pd.DataFrame, out: pd.DataFrame) -> np.ndarray:
        """Top features at each alarm's onset and once a minute of it (carried between)."""
        top = np.full(len(out), "", dtype=object)
        chosen = []
        for position in np.flatnonzero(out["alarm"].to_numpy()):
            module_id = out.at[position, schema.MODULE_ID]
            ts = int(out.at[position, "ts"])
            current = self.open_alarms.get(module_id)
            if (
                current is None
                or self._starts_episode(current.last_ts, ts)
                or ts - current.explained_ts >= EXPLAIN_EVERY_S
            ):
                chosen.append(position)
        if chosen:
            text = self.scorer.model.top_features(fresh.iloc[chosen], self.scorer.top_features)
            top[chosen] = text
        return top

    # ---- alarms ---------------------------------------------------------------------------
    def _track_alarms(self, scores: pd.DataFrame, result: TickResult) -> None:
        if scores.empty:
            return
        alarmed = scores[scores["alarm"]]
        opened: list[OpenAlarm] = []
        extended: dict[str, OpenAlarm] = {}
        for row in alarmed.itertuples(index=False):
            module_id, ts = row.module_id, int(row.ts)
            probability = float(getattr(row, PROBABILITY))
            current = self.open_alarms.get(module_id)
            if current is not None and self._starts_episode(current.last_ts, ts):
                result.closed.append(current)
                current = None
            if current is None:
                current = OpenAlarm(
                    None, module_id, row.rack_id, ts, ts, probability, row.top_features, ts
                )
                self.open_alarms[module_id] = current
                opened.append(current)
                continue
            current.last_ts = ts
            current.peak_probability = max(current.peak_probability, probability)
            if row.top_features:
                current.top_features, current.explained_ts = row.top_features, ts
            if current.alarm_id is not None:  # opened in an earlier tick (and stored)
                extended[module_id] = current
        result.opened = opened
        result.extended = list(extended.values())

    def _close_stale(self) -> list[OpenAlarm]:
        """Close alarms whose module has been scored past the gap without alarming."""
        closed = []
        for module_id, alarm in list(self.open_alarms.items()):
            if self._starts_episode(alarm.last_ts, self.newest.get(module_id, alarm.last_ts)):
                closed.append(self.open_alarms.pop(module_id))
        return closed

    @staticmethod
    def _latest(scores: pd.DataFrame) -> pd.DataFrame:
        if scores.empty:
            return scores
        return scores.groupby(schema.MODULE_ID, sort=False).tail(1).reset_index(drop=True)

    def describe(self) -> dict[str, Any]:
        """Buffers and open alarms, for the status endpoint."""
        return {
            "model_version": self.version,
            "modules_buffered": 0
            if self._buffer is None
            else int(self._buffer[schema.MODULE_ID].nunique()),
            "rows_buffered": 0 if self._buffer is None else len(self._buffer),
            "open_alarms": len(self.open_alarms),
            "pending_rows": self.pending_rows,
        }
