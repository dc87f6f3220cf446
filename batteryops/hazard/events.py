"""Alarm logic and event-level scoring, per the metrics contract of ``shared/DESIGN.md``.

* An alarm second: at least ``k`` of the last ``n`` seconds scored at or over the threshold
  (:func:`persistent_level_rows`, for evaluation, ``batteryops score`` and the live service).
  A logger that reads every ``p`` seconds (its median step, :func:`logger_period_s`) stands for
  the ``p`` seconds up to each reading: k-of-n counts seconds, not rows, so a 10 s or 30 s logger
  alarms at its readings instead of never completing the count; a reading stands for them at the
  lower of its score and the one before, so one reading alone never alarms (at 1 Hz ``k``
  readings are needed). At 1 Hz nothing changes.
* An alarm episode: a maximal run of alarm seconds, runs less than ``episode_merge_gap_s``
  apart merged (:func:`starts_episode`; the live service applies it one second at a time).
* A runaway event is detected only by an alarm between its fault start and its PNR; its lead
  time runs from the first such alarm to PNR. ``event_recall_at_min_lead`` counts events
  detected at least ``min_lead_s`` before PNR.
* False alarms: episodes starting on modules that never run away (and episodes that start
  before the fault on modules that do), per module-day of that exposure, excluding a module's
  time after an adjacent module in its rack has vented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from batteryops.core import bounds, schema, timegrid
from batteryops.core.config import AlarmParams
from batteryops.hazard.labels import NEIGHBOUR_VENTED

SECONDS_PER_DAY = 86400.0
PROBABILITY = "hazard_probability"


def persistent_level_rows(
    seconds: np.ndarray, score: np.ndarray, modules: np.ndarray, k: int, n: int
) -> np.ndarray:
    """The persistent-alarm level of each row: the ``k``-th highest score of its last ``n`` s.

    The one implementation of the k-of-n rule, for evaluation (on grids, through
    :func:`persistent_level`), ``batteryops score`` and the live service (on rows).
    ``level >= threshold`` is the alarm: at least ``k`` of the module's seconds
    ``t - n + 1 .. t`` scored at or over the threshold. Seconds without a row, NaN scores and
    seconds before the module's first row count as below every threshold, so one level serves
    every threshold.

    Args:
        seconds: Whole epoch seconds of each row.
        score: Each row's score.
        modules: Each row's module code; rows sorted by module (each module's rows together)
            then second, one row per module and second.
        k: Seconds over the threshold needed.
        n: Seconds looked back, the current one included.

    Returns:
        The level of each row (float64, -inf where fewer than ``k`` seconds hold a score).
    """
    modules = np.asarray(modules)
    seconds = np.asarray(seconds, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(modules)) + 1, [len(modules)]])
    out = _kth_highest(seconds, score, bounds, k, n)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        read = lo + np.flatnonzero(~np.isnan(score[lo:hi]))
        period = logger_period_s(seconds[read])
        if period > 1:  # a coarser logger: its readings stand for the seconds before them
            out[lo:hi] = -np.inf
            out[read] = _held_level(seconds[read], score[read], period, k, n)
    return out


def logger_period_s(seconds: np.ndarray) -> int:
    """A module's logging period: the median step between its readings, whole seconds, >= 1."""
    steps = np.diff(np.asarray(seconds, dtype=np.int64))
    if not len(steps):
        return 1
    # At 1 Hz most steps are 1 s: then both middle steps are (a partition of every step is slow).
    if 2 * np.count_nonzero(steps == 1) > len(steps) and steps.min() >= 1:
        return 1
    return max(1, int(np.median(steps)))


class LoggerPeriodError(ValueError):
    """Telemetry read more sparsely than ``alarm.max_logger_period_s``: no alarm can be trusted."""


def check_logger_periods(seconds: np.ndarray, modules: np.ndarray, max_period_s: int) -> None:
    """Refuse modules whose logger reads less often than every ``max_period_s`` seconds.

    Args:
        seconds: Whole epoch seconds of each row, sorted by module then second.
        modules: Each row's module id.
        max_period_s: ``alarm.max_logger_period_s``.

    Raises:
        LoggerPeriodError: Naming the first such module and its period.
    """
    modules = np.asarray(modules)
    change = np.flatnonzero(modules[1:] != modules[:-1]) + 1
    for lo, hi in zip(np.r_[0, change], np.r_[change, len(modules)], strict=True):
        period = logger_period_s(seconds[lo:hi])
        if period > max_period_s:
            raise LoggerPeriodError(
                f"module {str(modules[lo])!r}: one reading every {period} s; the hazard model is "
                f"judged at loggers of up to {max_period_s} s (alarm.max_logger_period_s), "
                "so its alarms cannot be trusted here: log at least that often"
            )


def _held_level(seconds: np.ndarray, score: np.ndarray, period: int, k: int, n: int) -> np.ndarray:
    """One module's level at each reading, each standing for up to ``period`` seconds before it.

    A reading stands for the seconds since the one before at the lower of the two scores: the
    score is known to have held over a threshold between two readings only if both are over
    it. A single reading over the threshold (a sensor glitch, one noisy window) is then never
    an alarm, as at 1 Hz ``k`` readings of ``n`` are needed; the cost is one reading of delay.
    """
    cover = np.clip(np.diff(seconds, prepend=seconds[0] - period), 1, period)
    last = np.cumsum(cover) - 1
    expanded = np.repeat(seconds, cover) + np.arange(last[-1] + 1) - np.repeat(last, cover)
    values = np.repeat(np.minimum(score, np.r_[-np.inf, score[:-1]]), cover)
    return _kth_highest(expanded, values, np.array([0, len(values)]), k, n)[last]


def _kth_highest(
    seconds: np.ndarray, score: np.ndarray, bounds: np.ndarray, k: int, n: int
) -> np.ndarray:
    from batteryops.hazard.feature_kernels import kth_highest_trailing

    out = np.empty(len(score))
    kth_highest_trailing(
        np.ascontiguousarray(seconds, dtype=np.int64),
        np.ascontiguousarray(score, dtype=np.float64),
        bounds.astype(np.int64),
        k,
        n,
        out,
    )
    return out


def persistent_level(score: np.ndarray, k: int, n: int) -> np.ndarray:
    """:func:`persistent_level_rows` of one module's scores on its 1 Hz grid (NaN where no row).

    ``persistent_level(s, k, n) >= threshold`` equals ``persistent_alarm(s >= threshold, k, n)``
    for every threshold, so one pass serves a whole threshold search. On the grid of a logger
    slower than 1 Hz, the seconds between readings get no level (-inf): an alarm is raised at
    a reading, as ``batteryops score`` and the service raise it.
    """
    length = len(score)
    read = np.flatnonzero(~np.isnan(score))
    period = logger_period_s(read)
    if period <= 1:
        return persistent_level_rows(
            np.arange(length), score, np.zeros(length, dtype=np.int64), k, n
        )
    level = np.full(length, -np.inf)
    level[read] = _held_level(read, score[read], period, k, n)
    return level


def persistent_alarm(over: np.ndarray, k: int, n: int) -> np.ndarray:
    """True where at least ``k`` of the trailing ``n`` grid seconds are over the threshold."""
    return persistent_level(np.where(over, 1.0, 0.0), k, n) >= 1.0


def starts_episode(
    previous_alarm_s: np.ndarray | float, alarm_s: np.ndarray | float, merge_gap_s: int
) -> np.ndarray | bool:
    """Whether alarm second ``alarm_s`` starts a new episode after ``previous_alarm_s``.

    The merge rule of alarm episodes: an alarm second more than ``merge_gap_s`` seconds after
    the previous one starts a new episode, else it extends that one. Asked one second at a time
    (the live service) or of arrays of consecutive alarm seconds (:func:`episodes`). The live
    service also asks it of the newest scored second: once an alarm then would start a new
    episode, the open one is over.
    """
    return alarm_s - previous_alarm_s > merge_gap_s


def episodes(alarm_seconds: np.ndarray, merge_gap_s: int) -> list[tuple[float, float]]:
    """Merge sorted alarm seconds into ``(start, end)`` episodes (:func:`starts_episode`)."""
    if len(alarm_seconds) == 0:
        return []
    breaks = np.flatnonzero(starts_episode(alarm_seconds[:-1], alarm_seconds[1:], merge_gap_s))
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(alarm_seconds) - 1]])
    return [
        (float(alarm_seconds[s]), float(alarm_seconds[e]))
        for s, e in zip(starts, ends, strict=True)
    ]


@dataclass
class ModuleTrack:
    """One module's scored timeline on its 1 Hz grid."""

    module_id: str
    seconds: np.ndarray  # epoch seconds of the grid
    score: np.ndarray  # NaN where no row
    excluded: np.ndarray  # after a neighbour vented
    fault_start_s: float
    pnr_s: float
    _levels: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)

    def level(self, k: int, n: int) -> np.ndarray:
        """:func:`persistent_level` of this track's score, computed once per (k, n)."""
        if (k, n) not in self._levels:
            self._levels[(k, n)] = persistent_level(self.score, k, n)
        return self._levels[(k, n)]

    def forget_levels(self) -> None:
        """Drop the levels :meth:`level` keeps (a float64 per second of the grid, each)."""
        self._levels.clear()

    @property
    def runaway(self) -> bool:
        """Whether the module reaches its point of no return."""
        return not np.isnan(self.pnr_s)

    @cached_property
    def watched(self) -> np.ndarray:
        """Seconds where an alarm would be false: before any fault, no neighbour vented.

        A fault that never reached its PNR in the data still ends the watch at its start: an
        alarm on a module heating from a real fault is no false alarm.
        """
        quiet_end = np.inf if np.isnan(self.fault_start_s) else self.fault_start_s
        return (~self.excluded) & (self.seconds < quiet_end)

    @cached_property
    def watched_s(self) -> float:
        """How many watched seconds the track holds."""
        return float(self.watched.sum())


def module_tracks(
    scored: pd.DataFrame, truth: pd.DataFrame, score_column: str
) -> list[ModuleTrack]:
    """Build per-module tracks from scored rows sorted by module then timestamp."""
    return score_tracks(scored, truth, [score_column])[score_column]


def event_metrics(
    tracks: list[ModuleTrack], threshold: float, alarm: AlarmParams
) -> dict[str, object]:
    """Event recall, lead times and false alarms at one threshold.

    Args:
        tracks: Scored module timelines.
        threshold: Operating threshold on the score.
        alarm: The ``alarm`` section (persistence, merge gap, minimum lead).

    Returns:
        The event metrics of the contract plus counts and per-event lead times (minutes).
    """
    leads_min: list[float] = []
    lead_by_module: dict[str, float] = {}
    events = 0
    false_alarms = 0
    exposure_s = 0.0
    healthy_s = 0.0
    for track in tracks:
        alarm_on = track.level(alarm.persistence_k, alarm.persistence_n) >= threshold
        alarm_seconds = track.seconds[alarm_on]
        if track.runaway:
            events += 1
            in_window = alarm_seconds[
                (alarm_seconds >= track.fault_start_s) & (alarm_seconds < track.pnr_s)
            ]
            if len(in_window):
                leads_min.append((track.pnr_s - in_window[0]) / 60.0)
                lead_by_module[str(track.module_id)] = round(leads_min[-1], 3)
        else:
            healthy_s += track.watched_s
        exposure_s += track.watched_s
        for start, _ in episodes(alarm_seconds, alarm.episode_merge_gap_s):
            index = int(start - track.seconds[0])
            if track.watched[index]:
                false_alarms += 1
    min_lead_min = alarm.min_lead_s / 60.0
    module_days = exposure_s / SECONDS_PER_DAY
    early = int(sum(lead >= min_lead_min for lead in leads_min))
    return {
        "events": events,
        "events_detected": len(leads_min),
        "event_recall": len(leads_min) / events if events else float("nan"),
        "event_recall_lower95": bounds.share_lower(len(leads_min), events),
        "events_detected_at_min_lead": early,
        "event_recall_at_min_lead": early / events if events else float("nan"),
        "event_recall_at_min_lead_lower95": bounds.share_lower(early, events),
        "lead_time_min_p10": float(np.percentile(leads_min, 10)) if leads_min else 0.0,
        "lead_time_min_median": float(np.median(leads_min)) if leads_min else 0.0,
        "false_alarms": false_alarms,
        "watched_module_days": module_days,
        "healthy_module_days": healthy_s / SECONDS_PER_DAY,
        "false_alarms_per_module_day": false_alarms / module_days if module_days else float("nan"),
        "false_alarms_per_module_day_upper95": bounds.rate_upper(false_alarms, module_days),
        "lead_times_min": [round(lead, 3) for lead in leads_min],
        "lead_times_by_module": lead_by_module,
    }


def false_alarms_by_nuisance(
    tracks: list[ModuleTrack], truth: pd.DataFrame, threshold: float, alarm: AlarmParams
) -> dict[str, dict[str, float]]:
    """False alarms and watched module-days on the modules of each nuisance (and ``none``).

    Modules that run away are left out: their false alarms come before the fault, whatever
    nuisance they carry. Each family that must not alarm can then be read on its own.
    """
    truth = truth.set_index(schema.MODULE_ID)
    kinds = truth.get("nuisance_type", pd.Series("none", index=truth.index))
    quiet = [t for t in tracks if not t.runaway]
    found = {}
    for kind in sorted({kinds[t.module_id] for t in quiet}):
        chosen = [t for t in quiet if kinds[t.module_id] == kind]
        result = event_metrics(chosen, threshold, alarm)
        found[kind] = {
            "modules": len(chosen),
            "false_alarms": result["false_alarms"],
            "watched_module_days": result["watched_module_days"],
        }
    return found


def choose_threshold(
    tracks: list[ModuleTrack], candidates: np.ndarray, alarm: AlarmParams
) -> tuple[float, dict[str, object]]:
    """Pick the operating threshold on validation tracks under the false-alarm budget.

    The feasible thresholds are those whose false alarms per module-day stay within the budget
    and that keep the best recall at the minimum lead. Of them, take the one nearest the middle
    of their range in log-odds: the operating point farthest from both ways of failing, false
    alarms below it and missed or late events above it. A validation split holds few module-days,
    so its edges are weak evidence; the lowest feasible threshold (the longest lead) is where
    unseen healthy modules start to alarm, the highest where unseen events are missed.
    If no threshold meets the budget, take the one with the fewest false alarms (then the best
    recall, then the highest threshold).

    Returns:
        The threshold and its validation event metrics.
    """
    scored = []
    for threshold in np.unique(candidates):
        metrics = event_metrics(tracks, float(threshold), alarm)
        fa = metrics["false_alarms_per_module_day"]
        within = not (fa > alarm.false_alarm_budget_per_module_day)
        recall = float(np.nan_to_num(metrics["event_recall_at_min_lead"]))
        scored.append((float(threshold), within, recall, fa, metrics))
    assert scored, "no candidate thresholds"
    feasible = [row for row in scored if row[1]]
    if not feasible:
        fewest = min(scored, key=lambda row: (np.nan_to_num(row[3], nan=np.inf), -row[2], -row[0]))
        return fewest[0], fewest[4]
    best_recall = max(row[2] for row in feasible)
    kept = [row for row in feasible if row[2] == best_recall]
    low, high = _logit(kept[0][0]), _logit(kept[-1][0])
    middle = (low + high) / 2.0
    # The middle itself, when it keeps the budget and the recall (the feasible set need not be
    # an interval: a higher threshold can split one alarm episode in two); else the nearest.
    at_middle = float(1.0 / (1.0 + np.exp(-middle)))
    metrics = event_metrics(tracks, at_middle, alarm)
    fa = metrics["false_alarms_per_module_day"]
    recall = float(np.nan_to_num(metrics["event_recall_at_min_lead"]))
    if not (fa > alarm.false_alarm_budget_per_module_day) and recall == best_recall:
        return at_middle, metrics
    chosen = min(kept, key=lambda row: (abs(_logit(row[0]) - middle), -row[0]))
    return chosen[0], chosen[4]


def _logit(p: float) -> float:
    clipped = min(max(p, 1e-6), 1.0 - 1e-6)
    return float(np.log(clipped / (1.0 - clipped)))


def score_tracks(
    scored: pd.DataFrame, truth: pd.DataFrame, columns: list[str]
) -> dict[str, list[ModuleTrack]]:
    """Per-module tracks of several score columns, each module's grid built once for all.

    A module's rows may lie apart (rack-days read one after another): they make one track.
    """
    truth = truth.set_index(schema.MODULE_ID)
    result: dict[str, list[ModuleTrack]] = {column: [] for column in columns}
    values = {column: scored[column].to_numpy(dtype=float) for column in columns}
    vented = scored[NEIGHBOUR_VENTED].to_numpy().astype(float)
    for module_id, rows in timegrid.module_rows(scored):  # a module's days may be apart
        stamps = scored[schema.TIMESTAMP].iloc[rows]
        positions, length = timegrid.grid_positions(stamps)
        first = np.floor(timegrid.epoch_seconds(stamps.iloc[:1]))[0]
        excluded = timegrid.to_grid(vented[rows], positions, length)
        fault, pnr = timegrid.epoch_seconds(
            truth.loc[[module_id], ["fault_start", "pnr_time"]].iloc[0]
        )
        seconds = first + np.arange(length)
        # A vented neighbour stays vented: seconds between readings (a gap, a coarser logger)
        # keep the last reading's exclusion rather than counting as watched.
        excluded = pd.Series(excluded).ffill().fillna(0.0).to_numpy() > 0
        for column in columns:
            result[column].append(
                ModuleTrack(
                    module_id=module_id,
                    seconds=seconds,
                    score=timegrid.to_grid(values[column][rows], positions, length),
                    excluded=excluded,
                    fault_start_s=fault,
                    pnr_s=pnr,
                )
            )
    return result


# A joined module's grid: its seconds and exclusions, which every score's track shares.
Grid = tuple[np.ndarray, np.ndarray]


def join_tracks(
    tracks: list[ModuleTrack], grids: dict[tuple[str, float, int], Grid] | None = None
) -> list[ModuleTrack]:
    """One track per module: the tracks of a module's spans (partitions) joined on one grid.

    A module's rack is featurized a day at a time, so each day gives it a track; alarms persist
    and false alarms are counted across midnight only on one grid. Seconds between two spans'
    tracks have no score and keep the exclusion of the second before them (as in
    :func:`score_tracks`). Modules keep the order of their first track.

    ``grids``: joined grids to share, filled here (pass the same dict for every score of the
    same rows: one copy of each module's seconds and exclusions instead of one per score).
    """
    parts: dict[str, list[ModuleTrack]] = {}
    for track in tracks:
        parts.setdefault(track.module_id, []).append(track)
    grids = {} if grids is None else grids
    return [group[0] if len(group) == 1 else _joined(group, grids) for group in parts.values()]


def _joined(group: list[ModuleTrack], grids: dict[tuple[str, float, int], Grid]) -> ModuleTrack:
    group = sorted(group, key=lambda track: track.seconds[0])
    first = group[0].seconds[0]
    length = int(group[-1].seconds[-1] - first) + 1
    score = np.full(length, np.nan, dtype=group[0].score.dtype)
    key = (group[0].module_id, float(first), length)
    known = key in grids
    excluded = np.full(length, np.nan)
    for track in group:
        at = (track.seconds - first).astype(np.int64)
        score[at] = track.score
        if not known:
            excluded[at] = track.excluded
    if not known:
        grids[key] = (
            first + np.arange(length, dtype=group[0].seconds.dtype),
            pd.Series(excluded).ffill().fillna(0.0).to_numpy() > 0,
        )
    seconds, excluded = grids[key]
    return ModuleTrack(
        module_id=group[0].module_id,
        seconds=seconds,
        score=score,
        excluded=excluded,
        fault_start_s=group[0].fault_start_s,
        pnr_s=group[0].pnr_s,
    )


def critical_thresholds(tracks: list[ModuleTrack], alarm: AlarmParams) -> np.ndarray:
    """Thresholds where a track's verdict changes, to add to a candidate grid.

    For each track, just above the highest persistent level on its watched seconds (the lowest
    threshold at which it raises no false alarm), and for each runaway, the highest level between
    its fault start and ``min_lead_s`` before PNR (the highest threshold at which it is still
    detected in time). A grid of score quantiles alone can miss the edges of the feasible range
    when the scores crowd near 1.
    """
    edges = []
    for track in tracks:
        level = track.level(alarm.persistence_k, alarm.persistence_n)
        if track.watched.any():
            edges.append(np.nextafter(level[track.watched].max(), np.inf))
        if track.runaway:
            window = (track.seconds >= track.fault_start_s) & (
                track.seconds <= track.pnr_s - alarm.min_lead_s
            )
            if window.any():
                edges.append(level[window].max())
    edges = np.asarray(edges, dtype=float)
    return edges[np.isfinite(edges)]
