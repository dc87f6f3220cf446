"""The deterministic router: which tool a question asks for, and its arguments, by rules.

It claims a question only when one of its rules matches (words a question about that tool must
use); otherwise it says plainly that it cannot answer and what it can. Requests to change
anything (acknowledge, delete, set, promote) are refused: every tool reads. The arguments are
parsed from the question by :func:`arguments`, which a language model's tool choice uses too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from batteryops.ask import parse
from batteryops.ask.tools import (
    AlarmArgs,
    Args,
    HealthArgs,
    HottestArgs,
    ModuleArgs,
)

CAN_ANSWER = (
    "which modules ran hottest over a window, open or recent alarms, a module's history, why a "
    "module alarmed, which cells are nearest end of life (or within N cycles), drift and "
    "monitoring status, the serving model's version and gates, and a fleet overview"
)
# Each rule: a tool and the words that claim a question for it, tried in this order.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "why_alarmed",
        (
            r"\bwhy\b.*\b(alarm|alert|warn|flag|trip|fire)",
            r"\bexplain\b",
            r"\bcause[ds]?\b.*\balarm",
            r"\breason\b",
        ),
    ),
    (
        "health_ranking",
        (
            r"\bsoh\b|state of health|\brul\b|remaining (useful )?life|replac|end of life|\beol\b",
            r"\bcells?\b.*\b(degrad|worst|weak|fade|capacity|cycles?)",
            r"\bcycles? (left|remaining)",
        ),
    ),
    ("drift_status", (r"\bdrift|distribution shift|data shift|\bmonitoring\b|\bretrain",)),
    (
        "model_status",
        (r"\bmodel\b|\bversion\b|\bgates?\b|\bchampion\b|\bthreshold\b|\bregistry\b",),
    ),
    ("alarms", (r"\balarm|\balert|\bwarnings?\b",)),
    (
        "hottest_modules",
        (r"\bhott?(est)?\b|\bwarmest\b|\bhighest temp|\bran hot|\boverheat|\btemperatures?\b",),
    ),
    (
        "fleet_summary",
        (
            r"\bsummary\b|\boverview\b|\bhow is the fleet\b|\bfleet status\b",
            r"\bhow many (modules|racks)\b|\bstatus of the fleet\b",
        ),
    ),
)
WRITES = (
    r"\b(ack(nowledge)?|delete|remove|drop|set|change|update|promote|roll ?back|mark|clear"
    r"|reset|shut ?down|stop|restart|disable|enable)\b"
)
QUESTION_WORD = r"^\s*(why|which|what|how|when|who|show|list)\b"
RECENT = (
    r"\b(recent|last|past|today|overnight|last night|yesterday|raised|opened|fired|since|over"
    r"|during|in the)\b"
)
OPEN_NOW = r"\b(open|active|current|now|right now|unresolved)\b"
MODULE_TOOLS = frozenset({"why_alarmed", "module_history"})


@dataclass(frozen=True)
class Fleet:
    """The ids a question's arguments are checked against."""

    modules: tuple[str, ...]
    racks: tuple[str, ...]


@dataclass(frozen=True)
class Routed:
    """A tool and its checked arguments."""

    tool: str
    args: Args


@dataclass(frozen=True)
class Refusal:
    """Why the question gets no tool (said to the user as it is).

    ``kind``: ``write`` (it asks to change something), ``unknown`` (no rule claims it) or
    ``argument`` (an argument the fleet cannot take).
    """

    reason: str
    kind: str = "unknown"


def route(question: str, fleet: Fleet, defaults: Defaults) -> Routed | Refusal:
    """The tool a question asks for by the rules, with its arguments; or why none."""
    lowered = question.lower()
    if re.search(WRITES, lowered) and not re.search(QUESTION_WORD, lowered):
        return Refusal(
            f"I only read the fleet's data; I cannot change anything. I can answer: {CAN_ANSWER}.",
            "write",
        )
    tool = claim(question, fleet)
    if tool is None:
        return Refusal(f"I cannot answer that from the fleet's data. I can answer: {CAN_ANSWER}.")
    try:
        return Routed(tool, arguments(tool, question, fleet, defaults))
    except parse.ArgumentError as error:
        return Refusal(str(error), "argument")


def claim(question: str, fleet: Fleet) -> str | None:
    """The tool the rules give the question, or None when no rule matches."""
    lowered = question.lower()
    try:
        named = parse.module_ids(question, fleet.modules)
    except parse.ArgumentError:
        named = ["?"]  # a module was named (one the fleet lacks): arguments() says so
    for tool, patterns in RULES:
        if any(re.search(pattern, lowered) for pattern in patterns):
            if tool == "alarms" and named and re.search(r"\bwhy\b|\bexplain", lowered):
                return "why_alarmed"
            if tool in ("hottest_modules", "alarms") and named:
                return "module_history"
            return tool
    if named:
        return "module_history"
    return None


@dataclass(frozen=True)
class Defaults:
    """What a question that does not say takes (``params.yaml`` ``ask.default_*``)."""

    window_s: int
    count: int


def arguments(tool: str, question: str, fleet: Fleet, defaults: Defaults) -> Args:
    """The tool's arguments as the question gives them, checked against the fleet.

    Raises:
        parse.ArgumentError: If the question gives an argument the fleet or the tool cannot
            take, or the tool needs a module the question does not name.
    """
    if tool in MODULE_TOOLS:
        named = parse.module_ids(question, fleet.modules)
        if len(named) != 1:
            raise parse.ArgumentError(
                "name one module, as R03-M07 or rack 3 module 7"
                if not named
                else f"name one module at a time (named: {', '.join(named)})"
            )
        span = parse.window(question, 1800 if tool == "module_history" else defaults.window_s)
        return ModuleArgs(module_id=named[0], window_s=span.seconds, window_said=span.said)
    if tool == "hottest_modules":
        span = parse.window(question, defaults.window_s)
        racks = parse.rack_ids(question, fleet.racks)
        return HottestArgs(
            window_s=span.seconds,
            window_said=span.said,
            count=parse.count(question, defaults.count),
            rack_id=racks[0] if racks else None,
        )
    if tool == "alarms":
        lowered = question.lower()
        recent = re.search(RECENT, lowered) and not re.search(OPEN_NOW, lowered)
        span = parse.window(question, 86400)
        return AlarmArgs(
            state="recent" if recent else "open",
            window_s=span.seconds,
            window_said=span.said,
            count=parse.count(question, 10),
        )
    if tool == "health_ranking":
        return HealthArgs(count=parse.count(question, 10), within_cycles=parse.cycles(question))
    return Args()
