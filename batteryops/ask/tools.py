"""The read-only tools a question can run, each with a typed, validated signature.

A tool reads through a :class:`FleetReader` (the live service's store and the registry, read
only: the protocol has no method that writes) and returns a :class:`ToolResult`: the rows it
read (numbers rounded as they are said), the window it covered, and a templated answer that
says them. Arguments are pydantic models: a value out of range is refused with its name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from batteryops.ask.parse import MAX_COUNT, MAX_CYCLES, MAX_WINDOW_S


class FleetReader(Protocol):
    """What the tools may read. Nothing here writes."""

    def modules(self) -> list[dict[str, Any]]:
        """Every module's latest state (``module_id``, ``rack_id``, ``last_ts``, scores)."""

    def alarms(
        self, state: str | None, limit: int, module_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Alarms, newest first (``state``: open, closed, unreviewed or None for all)."""

    def hottest(
        self, since_ts: int, until_ts: int, limit: int, rack_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Each module's peak ``temp_max_c`` in the window, hottest first."""

    def module_window(self, module_id: str, since_ts: int, until_ts: int) -> dict[str, Any]:
        """One module's peak and mean temperature, peak probability and alarm seconds."""

    def health(self) -> list[dict[str, Any]]:
        """Per-cell SOH, RUL and its interval."""

    def model(self) -> dict[str, Any] | None:
        """The serving model: name, version, threshold, recorded metrics, its registry decision."""

    def monitoring(self) -> dict[str, Any]:
        """The pipeline's drift metrics and the last monitoring run."""


class Args(BaseModel):
    """A tool's arguments: checked, no extra keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowArgs(Args):
    """A window back from the newest stored second."""

    window_s: int = Field(3600, ge=60, le=MAX_WINDOW_S)
    window_said: str = ""


class HottestArgs(WindowArgs):
    """``hottest_modules``."""

    count: int = Field(5, ge=1, le=MAX_COUNT)
    rack_id: str | None = None


class AlarmArgs(WindowArgs):
    """``alarms``: the open ones, or those opened in the window."""

    state: Literal["open", "recent"] = "open"
    count: int = Field(10, ge=1, le=MAX_COUNT)


class ModuleArgs(WindowArgs):
    """``module_history`` and ``why_alarmed``."""

    module_id: str = Field(min_length=1, max_length=64, pattern=r"^[\w.@-]+$")


class HealthArgs(Args):
    """``health_ranking``: the cells nearest end of life, or those within a cycle limit."""

    count: int = Field(10, ge=1, le=MAX_COUNT)
    within_cycles: int | None = Field(None, ge=1, le=MAX_CYCLES)


@dataclass
class ToolResult:
    """What a tool read, and the templated answer that says it."""

    tool: str
    args: dict[str, Any]
    window: str
    facts: list[dict[str, Any]]
    text: str
    notes: list[str] = field(default_factory=list)  # free text from the data: never a source


@dataclass(frozen=True)
class Tool:
    """A read-only tool: its name, what it answers, its arguments and its body."""

    name: str
    description: str
    args: type[Args]
    run: Callable[[FleetReader, Any], ToolResult]


def newest_ts(reader: FleetReader) -> int | None:
    """The store's newest scored second ("now" for a window), or None if it holds none."""
    stamps = [m["last_ts"] for m in reader.modules() if m.get("last_ts") is not None]
    return int(max(stamps)) if stamps else None


def when(ts: float | None) -> str:
    """A UTC second as ``2026-07-05 03:12 UTC``."""
    if ts is None:
        return "unknown"
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(reader: FleetReader, args: WindowArgs) -> tuple[int, int, str] | None:
    now = newest_ts(reader)
    if now is None:
        return None
    said = args.window_said or f"the last {args.window_s // 60} minutes"
    return now - args.window_s, now, f"{said}: {when(now - args.window_s)} to {when(now)}"


def _r(value: Any, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _listed(facts: list[dict[str, Any]]) -> dict[str, Any]:
    """The count an answer says of the rows it lists ("3 cells")."""
    return {"listed": len(facts)}


def _empty(tool: str, args: Args, why: str) -> ToolResult:
    return ToolResult(tool, args.model_dump(), "none", [], why)


def hottest_modules(reader: FleetReader, args: HottestArgs) -> ToolResult:
    """The modules whose hottest sensor peaked highest in the window."""
    span = _span(reader, args)
    if span is None:
        return _empty("hottest_modules", args, "The service has scored no telemetry yet.")
    since, until, window = span
    rows = reader.hottest(since, until, args.count, args.rack_id)
    facts = [
        {
            "module_id": r["module_id"],
            "rack_id": r["rack_id"],
            "peak_temp_c": _r(r["peak_temp_c"], 1),
            "mean_temp_c": _r(r["mean_temp_c"], 1),
        }
        for r in rows
        if r.get("peak_temp_c") is not None
    ]
    if not facts:
        return ToolResult(
            "hottest_modules",
            args.model_dump(),
            window,
            [],
            "No temperature was read in that window.",
        )
    where = f" in rack {args.rack_id}" if args.rack_id else ""
    said = ", ".join(
        f"{f['module_id']} peaked at {f['peak_temp_c']} C (mean {f['mean_temp_c']} C)"
        for f in facts
    )
    text = f"The {len(facts)} hottest modules{where} over {window}: {said}."
    return ToolResult("hottest_modules", args.model_dump(), window, [*facts, _listed(facts)], text)


def alarms(reader: FleetReader, args: AlarmArgs) -> ToolResult:
    """The open alarms, or those opened in the window."""
    if args.state == "open":
        rows = reader.alarms("open", args.count)
        window = f"open now (newest data {when(newest_ts(reader))})"
    else:
        span = _span(reader, args)
        if span is None:
            return _empty("alarms", args, "The service has scored no telemetry yet.")
        since, _, window = span
        rows = [a for a in reader.alarms(None, 1000) if a["opened_ts"] >= since][: args.count]
    facts = [
        {
            "alarm_id": a["id"],
            "module_id": a["module_id"],
            "opened": when(a["opened_ts"]),
            "closed": when(a["closed_ts"]) if a.get("closed_ts") else "open",
            "peak_probability": _r(a["peak_probability"], 3),
            "review": a.get("review") or "none",
        }
        for a in rows
    ]
    notes = [a["note"] for a in rows if a.get("note")]
    what = "open alarms" if args.state == "open" else "alarms opened"
    if not facts:
        return ToolResult("alarms", args.model_dump(), window, [], f"No {what}: {window}.", notes)
    said = "; ".join(
        f"{f['module_id']} (alarm {f['alarm_id']}, opened {f['opened']}, peak probability "
        f"{f['peak_probability']}, "
        f"{'still open' if f['closed'] == 'open' else 'closed ' + f['closed']}, "
        f"review: {f['review']})"
        for f in facts
    )
    noun = "open alarm" if args.state == "open" else "alarm"
    opened = "" if args.state == "open" else " opened"
    text = f"{plural(len(facts), noun)}{opened} ({window}): {said}."
    return ToolResult("alarms", args.model_dump(), window, [*facts, _listed(facts)], text, notes)


def module_history(reader: FleetReader, args: ModuleArgs) -> ToolResult:
    """One module over the window: temperatures, scores, alarms, its latest state."""
    latest = next((m for m in reader.modules() if m["module_id"] == args.module_id), None)
    if latest is None:
        return _empty("module_history", args, f"The service has no data of {args.module_id}.")
    since, until = latest["last_ts"] - args.window_s, latest["last_ts"]
    window = f"{args.window_said or 'the window'}: {when(since)} to {when(until)}"
    summary = reader.module_window(args.module_id, since, until)
    if summary.get("peak_temp_c") is None and summary.get("peak_probability") is None:
        text = f"{args.module_id} has no scored seconds in {window}."
        return ToolResult("module_history", args.model_dump(), window, [], text)
    raised = [a for a in reader.alarms(None, 50, args.module_id) if a["opened_ts"] >= since]
    fact = {
        "module_id": args.module_id,
        "rack_id": latest["rack_id"],
        "peak_temp_c": _r(summary.get("peak_temp_c"), 1),
        "mean_temp_c": _r(summary.get("mean_temp_c"), 1),
        "latest_temp_c": _r(latest.get("temp_max_c"), 1),
        "peak_probability": _r(summary.get("peak_probability"), 3),
        "latest_probability": _r(latest.get("probability"), 3),
        "alarm_seconds": int(summary.get("alarm_seconds") or 0),
        "alarms_opened": len(raised),
        "current_limit_a": _r(latest.get("current_limit_a"), 0),
    }
    limit = (
        f"its current limit is {fact['current_limit_a']} A"
        if fact["current_limit_a"] is not None
        else "no current limit applies"
    )
    text = (
        f"{args.module_id} (rack {fact['rack_id']}) over {window}: hottest sensor peaked at "
        f"{fact['peak_temp_c']} C (mean {fact['mean_temp_c']} C, now {fact['latest_temp_c']} C); "
        f"hazard probability peaked at {fact['peak_probability']} (now "
        f"{fact['latest_probability']}); {fact['alarm_seconds']} seconds in alarm, "
        f"{fact['alarms_opened']} alarms opened; {limit}."
    )
    return ToolResult("module_history", args.model_dump(), window, [fact], text)


FEATURE = re.compile(r"^\s*(?P<name>[^=;]+?)=(?P<value>[^ ;]+)\s*\((?P<how>[^)]*)\)\s*$")


def explanation(top_features: str) -> list[dict[str, Any]]:
    """``name=value (+contribution); ...`` as rows (a physics alarm's evidence has no number)."""
    rows = []
    for part in (top_features or "").split(";"):
        match = FEATURE.match(part)
        if match is None:
            continue
        how = match["how"]
        number = re.fullmatch(r"[+-]?\d+(?:\.\d+)?", how)
        rows.append(
            {
                "feature": match["name"].strip(),
                "value": float(match["value"]) if _numeric(match["value"]) else match["value"],
                "contribution": float(how) if number else how,
            }
        )
    return rows


def _signed(value: Any) -> str:
    return f"{value:+g}" if isinstance(value, float) else str(value)


def plural(count: int, noun: str) -> str:
    """``1 alarm``, ``2 alarms``, ``2 breaches``."""
    return f"{count} {noun}" + ("" if count == 1 else "es" if noun.endswith("ch") else "s")


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def why_alarmed(reader: FleetReader, args: ModuleArgs) -> ToolResult:
    """A module's latest alarm and what pushed its score up (TreeSHAP, stored with the alarm)."""
    found = reader.alarms(None, 1, args.module_id)
    if not found:
        latest = next((m for m in reader.modules() if m["module_id"] == args.module_id), None)
        if latest is None:
            return _empty("why_alarmed", args, f"The service has no data of {args.module_id}.")
        fact = {"module_id": args.module_id, "probability": _r(latest.get("probability"), 3)}
        window = f"all stored alarms (newest data {when(latest['last_ts'])})"
        text = (
            f"{args.module_id} has not alarmed; its latest hazard probability is "
            f"{fact['probability']}."
        )
        return ToolResult("why_alarmed", args.model_dump(), window, [fact], text)
    alarm = found[0]
    reasons = explanation(alarm.get("top_features", ""))
    fact = {
        "alarm_id": alarm["id"],
        "module_id": args.module_id,
        "opened": when(alarm["opened_ts"]),
        "closed": when(alarm["closed_ts"]) if alarm.get("closed_ts") else "open",
        "peak_probability": _r(alarm["peak_probability"], 3),
        "model_version": alarm.get("model_version"),
    }
    said = (
        "; ".join(f"{r['feature']} = {r['value']} ({_signed(r['contribution'])})" for r in reasons)
        or "no explanation was stored"
    )
    state = "still open" if fact["closed"] == "open" else f"closed {fact['closed']}"
    window = f"alarm {alarm['id']}: {fact['opened']} to {fact['closed']}"
    text = (
        f"{args.module_id} alarmed at {fact['opened']} (alarm {alarm['id']}, {state}, peak "
        f"probability {fact['peak_probability']}, model version {fact['model_version']}). What "
        f"pushed its score up most (TreeSHAP, log-odds): {said}."
    )
    notes = [alarm["note"]] if alarm.get("note") else []
    return ToolResult("why_alarmed", args.model_dump(), window, [fact, *reasons], text, notes)


def health_ranking(reader: FleetReader, args: HealthArgs) -> ToolResult:
    """Cells by remaining useful life (fewest cycles first), or those within a cycle limit."""
    cells = [c for c in reader.health() if c.get("soh") is not None]
    if not cells:
        return _empty("health_ranking", args, "No cell has a health estimate yet.")
    known = sorted(
        (c for c in cells if c.get("rul_cycles") is not None), key=lambda c: c["rul_cycles"]
    )
    if args.within_cycles is not None:
        known = [c for c in known if c["rul_cycles"] <= args.within_cycles]
    picked = known[: args.count]
    facts = [
        {
            "cell_id": c["cell_id"],
            "cycle": int(c["cycle"]),
            "soh_pct": _r(100 * c["soh"], 1),
            "rul_cycles": int(round(c["rul_cycles"])),
            "rul_low_cycles": None
            if c.get("rul_low_cycles") is None
            else int(round(c["rul_low_cycles"])),
            "rul_high_cycles": None
            if c.get("rul_high_cycles") is None
            else int(round(c["rul_high_cycles"])),
            "health_class": c.get("health_class"),
        }
        for c in picked
    ]
    window = f"latest estimates of {len(cells)} cells"
    scope = (
        f"within {args.within_cycles} cycles of end of life"
        if args.within_cycles is not None
        else "nearest end of life"
    )
    if not facts:
        return ToolResult(
            "health_ranking",
            args.model_dump(),
            window,
            [{"listed": 0, "estimated": len(cells)}],
            f"No cell is {scope} ({window}).",
        )
    said = "; ".join(
        f"{f['cell_id']}: SOH {f['soh_pct']} % at cycle {f['cycle']}, about {f['rul_cycles']} "
        f"cycles left"
        + (
            f" (from {f['rul_low_cycles']} to {f['rul_high_cycles']})"
            if f["rul_low_cycles"] is not None and f["rul_high_cycles"] is not None
            else ""
        )
        for f in facts
    )
    text = f"{plural(len(facts), 'cell')} {scope} ({window}): {said}."
    summary = _listed(facts) | {"estimated": len(cells)}
    return ToolResult("health_ranking", args.model_dump(), window, [*facts, summary], text)


def drift_status(reader: FleetReader, args: Args) -> ToolResult:
    """The pipeline's drift report and the live service's last monitoring run."""
    status = reader.monitoring()
    facts, parts = [], []
    drift = status.get("pipeline_drift")
    if drift:
        fact = {
            "source": "pipeline drift report",
            "drifted_columns": drift.get("number_of_drifted_columns"),
            "columns": drift.get("number_of_columns"),
            "share_of_drifted_columns": _r(drift.get("share_of_drifted_columns"), 3),
            "retrain": bool(drift.get("retrain")),
        }
        facts.append(fact)
        parts.append(
            f"the pipeline's drift report found {fact['drifted_columns']} of {fact['columns']} "
            f"columns drifted (share {fact['share_of_drifted_columns']}), "
            + ("retraining called for" if fact["retrain"] else "no retraining called for")
        )
    live = status.get("monitoring")
    if live:
        breaches = list(live.get("breaches") or [])
        fact = {
            "source": "live monitoring",
            "breaches": len(breaches),
            "breached": breaches,  # sentences the monitor wrote from its own numbers
            "at": live.get("at"),
        }
        facts.append(fact)
        parts.append(
            "the last live monitoring run found "
            + (
                f"{plural(len(breaches), 'breach')}: " + "; ".join(breaches)
                if breaches
                else "no breach"
            )
        )
    if not facts:
        return _empty("drift_status", args, "No drift report or monitoring run is recorded yet.")
    text = "Drift and monitoring: " + "; ".join(parts) + "."
    return ToolResult("drift_status", args.model_dump(), "the latest reports", facts, text)


MODEL_METRICS = (
    "pr_auc",
    "event_recall",
    "event_recall_lower95",
    "false_alarms_per_module_day",
    "false_alarms_per_module_day_upper95",
    "lead_time_min_median",
)


def model_status(reader: FleetReader, args: Args) -> ToolResult:
    """The serving model: version, operating threshold, recorded metrics, its gate decision."""
    model = reader.model()
    if model is None:
        return _empty("model_status", args, "No battery-hazard model is serving yet.")
    metrics = model.get("metrics") or {}
    fact = {
        "name": model.get("name"),
        "version": model.get("version"),
        "threshold": _r(model.get("threshold"), 4),
        "decision": model.get("decision"),
        **{k: _r(metrics[k], 3) for k in MODEL_METRICS if metrics.get(k) is not None},
    }
    reasons = list(model.get("reasons") or [])
    said = ", ".join(f"{k} {fact[k]}" for k in MODEL_METRICS if k in fact)
    text = (
        f"{fact['name']} version {fact['version']} is serving at threshold {fact['threshold']}"
        + (f"; its recorded test metrics: {said}" if said else "")
        + (
            f"; registry decision: {fact['decision']} ({'; '.join(reasons)})"
            if fact["decision"]
            else ""
        )
        + "."
    )
    return ToolResult("model_status", args.model_dump(), "the serving model", [fact], text)


def fleet_summary(reader: FleetReader, args: Args) -> ToolResult:
    """How many racks and modules report, how many alarm now, the hottest, the open alarms."""
    modules = reader.modules()
    if not modules:
        return _empty("fleet_summary", args, "The service has scored no telemetry yet.")
    temps = [m for m in modules if m.get("temp_max_c") is not None]
    hottest = max(temps, key=lambda m: m["temp_max_c"]) if temps else None
    fact = {
        "racks": len({m["rack_id"] for m in modules}),
        "modules": len(modules),
        "alarming_now": sum(1 for m in modules if m.get("alarm")),
        "open_alarms": len(reader.alarms("open", 1000)),
        "hottest_module": hottest["module_id"] if hottest else None,
        "hottest_temp_c": _r(hottest["temp_max_c"], 1) if hottest else None,
    }
    window = f"latest state (newest data {when(newest_ts(reader))})"
    text = (
        f"{fact['modules']} modules in {fact['racks']} racks report; {fact['alarming_now']} "
        f"in alarm now, {plural(fact['open_alarms'], 'open alarm')}; hottest now: "
        f"{fact['hottest_module']} at {fact['hottest_temp_c']} C."
    )
    return ToolResult("fleet_summary", args.model_dump(), window, [fact], text)


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            "hottest_modules",
            "which modules ran hottest over a time window",
            HottestArgs,
            hottest_modules,
        ),
        Tool("alarms", "open alarms, or alarms raised over a time window", AlarmArgs, alarms),
        Tool(
            "module_history",
            "one module's temperatures, scores and alarms over a window",
            ModuleArgs,
            module_history,
        ),
        Tool(
            "why_alarmed",
            "why a module alarmed: its latest alarm and what drove it",
            ModuleArgs,
            why_alarmed,
        ),
        Tool(
            "health_ranking",
            "cells by state of health and remaining life, or those near end of life",
            HealthArgs,
            health_ranking,
        ),
        Tool("drift_status", "data drift and live monitoring status", Args, drift_status),
        Tool(
            "model_status",
            "the serving model's version, threshold, metrics and gates",
            Args,
            model_status,
        ),
        Tool("fleet_summary", "an overview of the fleet now", Args, fleet_summary),
    )
}
