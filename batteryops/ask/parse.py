"""Arguments read from a question by code: module and cell ids, counts, windows, cycle limits.

Every value is checked against the fleet: a module id must be one the store knows (``R03-M07``,
also written ``R3-M7``, ``R3 M7`` or ``rack 3 module 7``), a count lies in 1..:data:`MAX_COUNT`,
a window in 1 minute..:data:`MAX_WINDOW_S`. What the question does not say takes the tool's
default; what it says but cannot be checked is an :class:`ArgumentError` that names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_COUNT = 50
MAX_WINDOW_S = 7 * 86400
MAX_CYCLES = 100_000
# "Overnight": the last 12 hours of data (the store's newest second is "now").
OVERNIGHT_S = 12 * 3600
WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
}
UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
    "week": 7 * 86400,
}
_NUMBER = r"(\d+(?:\.\d+)?|" + "|".join(sorted(WORDS, key=len, reverse=True)) + r")"
_UNIT = r"(s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?|d|days?|weeks?)\b"


class ArgumentError(ValueError):
    """An argument the question gives that the fleet or the tool cannot take."""


@dataclass(frozen=True)
class Window:
    """The seconds a tool reads, back from the store's newest second, and how to say them."""

    seconds: int
    said: str  # "the last 2 hours", "overnight (the last 12 hours)"


def _number(token: str) -> float:
    return float(WORDS[token.lower()]) if token.lower() in WORDS else float(token)


def module_ids(question: str, known: Iterable[str]) -> list[str]:
    """The fleet's module ids named in the question, in the order named.

    Raises:
        ArgumentError: If the question names a module id the fleet does not have.
    """
    known = list(known)
    by_key: dict[object, str] = {_module_key(m): m for m in known}
    spans = []
    for module in known:  # ids as the fleet writes them, whatever their form
        for match in re.finditer(rf"(?<![\w@-]){re.escape(module)}(?![\w@-])", question, re.I):
            spans.append((match.start(), match.end(), module, match[0]))
    patterns = (
        r"\b[Rr](\d{1,3})\s*[-_ /.]?\s*[Mm](\d{1,3})\b",
        r"\brack\s*(\d{1,3})\s*,?\s*module\s*(\d{1,3})\b",
    )
    for pattern in patterns:
        for match in re.finditer(pattern, question, flags=re.IGNORECASE):
            if any(a <= match.start() < b for a, b, _, _ in spans):
                continue
            key = (int(match.group(1)), int(match.group(2)))
            spans.append((match.start(), match.end(), by_key.get(key), match[0]))
    found: list[str] = []
    for _, _, module, said in sorted(spans, key=lambda span: span[0]):
        if module is None:
            raise ArgumentError(f"no module {said!r} in the fleet (known: {_sample(by_key)})")
        if module not in found:
            found.append(module)
    return found


def rack_ids(question: str, known: Iterable[str]) -> list[str]:
    """The racks named alone (``rack 3``, ``R03`` without a module), checked against the fleet."""
    racks = {_rack_key(r): r for r in known}
    found = []
    pattern = r"\b(?:rack\s*(\d{1,3})|[Rr](\d{1,3}))\b(?!\s*[-_ /.]?\s*(?:[Mm]\d|module))"
    for match in re.finditer(pattern, question, flags=re.IGNORECASE):
        key = int(match.group(1) or match.group(2))
        if key not in racks:
            raise ArgumentError(
                f"no rack {match[0]!r} in the fleet (known: {sorted(racks.values())})"
            )
        if racks[key] not in found:
            found.append(racks[key])
    return found


def count(question: str, default: int) -> int:
    """How many the question asks for (``top 5``, ``three hottest``, ``10 cells``), else default.

    Raises:
        ArgumentError: If it asks for none or for more than :data:`MAX_COUNT`.
    """
    lowered = question.lower()
    not_time = r"\b(?!\s*" + _UNIT + ")"
    match = re.search(r"\b(?:top|first|worst|best|hottest|last)\s+" + _NUMBER + not_time, lowered)
    match = match or re.search(
        r"\b" + _NUMBER + r"\s+(?:hottest|warmest|worst|weakest|modules?|cells?|alarms?|racks?)\b",
        lowered,
    )
    if match is None:
        return default
    value = _number(match.group(1))
    if value != int(value) or not 1 <= value <= MAX_COUNT:
        raise ArgumentError(f"a count must be a whole number in 1..{MAX_COUNT}, got {match[0]!r}")
    return int(value)


def window(question: str, default_s: int) -> Window:
    """The time window the question names, else the default (both checked).

    ``overnight`` and ``last night`` are the last 12 hours; ``today`` the last 24; ``last N
    minutes | hours | days``, ``past hour``, ``this week`` as said.

    Raises:
        ArgumentError: If the window is shorter than a minute or longer than a week.
    """
    lowered = question.lower()
    if re.search(r"\bover\s?night\b|\blast night\b", lowered):
        return Window(OVERNIGHT_S, "the last 12 hours (overnight)")
    match = re.search(r"\b(?:last|past|previous)\s+" + _NUMBER + r"\s*" + _UNIT, lowered)
    match = match or re.search(
        r"\b(?:in|over|within|during)\s+" + _NUMBER + r"\s*" + _UNIT, lowered
    )
    if match:
        seconds = _number(match.group(1)) * UNITS[_singular(match.group(2))]
        return _checked(int(seconds), f"the last {match.group(1)} {match.group(2)}")
    match = re.search(r"\b(?:last|past|this)\s+(minute|hour|day|week)\b", lowered)
    if match:
        return _checked(UNITS[match.group(1)], f"the last {match.group(1)}")
    if re.search(r"\btoday\b|\b24 ?h\b", lowered):
        return Window(86400, "the last 24 hours")
    return _checked(default_s, f"the last {_duration(default_s)}")


def cycles(question: str) -> int | None:
    """A cycle limit (``within 200 cycles``, ``in the next 200 cycles``), else None.

    Raises:
        ArgumentError: If the limit is not a whole number in 1..:data:`MAX_CYCLES`.
    """
    match = re.search(
        r"(\d[\d,]*(?:\.\d+)?)\s*(?:more\s+|further\s+)?(?:cycles?|efc)\b", question.lower()
    )
    if match is None:
        return None
    value = float(match.group(1).replace(",", ""))
    if value != int(value) or not 1 <= value <= MAX_CYCLES:
        raise ArgumentError(f"a cycle limit must be a whole number in 1..{MAX_CYCLES}")
    return int(value)


def _checked(seconds: int, said: str) -> Window:
    if not 60 <= seconds <= MAX_WINDOW_S:
        raise ArgumentError(f"a window must last 1 minute to 7 days, got {said!r}")
    return Window(seconds, said)


def _singular(unit: str) -> str:
    unit = unit.rstrip("s") if unit not in ("s",) else unit
    return {"sec": "sec", "min": "min", "hr": "hr"}.get(unit, unit)


def _duration(seconds: int) -> str:
    if seconds % 86400 == 0:
        days = seconds // 86400
        return "day" if days == 1 else f"{days} days"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "hour" if hours == 1 else f"{hours} hours"
    return f"{seconds // 60} minutes"


def _module_key(module_id: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"[Rr](\d+)-[Mm](\d+)", module_id)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _rack_key(rack_id: str) -> int | None:
    match = re.fullmatch(r"[Rr](\d+)", rack_id)
    return int(match.group(1)) if match else None


def _sample(by_key: dict) -> str:
    names = sorted(v for k, v in by_key.items() if k is not None)
    return ", ".join(names[:3]) + (f", ... ({len(names)} modules)" if len(names) > 3 else "")
