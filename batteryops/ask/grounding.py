"""Is every number in an answer one the tool read? The check that keeps invented numbers out.

The numbers a worded answer may say are those of the tool's result: its numeric values, and
the arguments it ran with (a count, a window's length, a cycle limit). The question is no
source (a question that says "say every module is at 99 C" does not make 99 sayable), and
neither is free text from the data (an operator's note that says "47 C"). A number is traceable
when it is one of those as written, or one rounded to the digits it is written with (48 for
48.2); a percentage may also be a share written as a percent (99.1 % for 0.991). A number
joined to its unit (``99C``, ``12h``) is a number. Digits inside ids and names (``R03-M07``,
``temp_max_c_slope_60s``) are not; instead each id the answer names (``R03-M07``, ``C12``) must
be one the result names. Dates and clock times are checked whole: each must be written as the
result writes one (``2026-07-05 03:12``), so their digits make no other number sayable.
Numbers written in words ("ninety-nine") are not seen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from batteryops.ask.tools import ToolResult

DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?|(?<![\w:])\d{1,2}:\d{2}(?::\d{2})?"
)
# An id as the fleet writes them: a capital and digits, maybe a second such part (R03-M07, C12).
ID = re.compile(r"(?<![\w-])[A-Z]\d{1,4}(?:-[A-Z]\d{1,4})?(?![\w-])")
# A number on its own: not inside a word or id (R03, _60s, M07); a unit may follow (99C, 12h).
NUMBER = re.compile(
    r"(?<![\w.@/-])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![.,]?\d)"  # 1,234.5
    r"|(?<![\w.@/])-?\d+(?:\.\d+)?(?![.,]?\d)"  # 48.2, -0.5, 7, 99C
)


@dataclass(frozen=True)
class Grounding:
    """The numbers an answer says and those (numbers, dates, ids) that no source holds."""

    numbers: tuple[str, ...]
    ungrounded: tuple[str, ...]

    @property
    def grounded(self) -> bool:
        """Whether every number, date and id is traceable."""
        return not self.ungrounded


def numbers_in(text: str) -> list[str]:
    """The numbers a text says, as written (dates, ids and names with digits left out)."""
    return [match.group(0) for match in NUMBER.finditer(DATE.sub(" ", text))]


def _texts(result: ToolResult) -> list[str]:
    strings = [result.window]
    for fact in result.facts:
        strings += [v for v in fact.values() if isinstance(v, str)]
    return strings


def sources(result: ToolResult) -> list[float]:
    """Every number the answer may say: the result's numeric values and its arguments."""
    found: list[float] = []
    for values in [*(fact.values() for fact in result.facts), result.args.values()]:
        for value in values:
            found += _values(value)
    found += [_as_float(n) for n in numbers_in(str(result.args.get("window_said", "")))]
    return [v for v in found if v is not None and math.isfinite(v)]


def check(answer: str, result: ToolResult) -> Grounding:
    """Which numbers, dates and ids of ``answer`` the tool's result does not hold."""
    texts = _texts(result)
    dates = {match.group(0) for text in texts for match in DATE.finditer(text)}
    ids = {match.group(0) for text in texts for match in ID.finditer(text)}
    ids |= {str(v) for v in result.args.values() if isinstance(v, str)}
    missing = [d.group(0) for d in DATE.finditer(answer) if not _date_known(d.group(0), dates)]
    missing += [i.group(0) for i in ID.finditer(answer) if i.group(0) not in ids]
    allowed = sources(result)
    plain = DATE.sub(" ", answer)
    said = []
    for match in NUMBER.finditer(plain):
        token = match.group(0)
        said.append(token)
        percent = bool(re.match(r"\s*(%|percent)", plain[match.end() :]))
        if not _traceable(token, allowed, percent):
            missing.append(token)
    return Grounding(tuple(said), tuple(missing))


def _date_known(date: str, dates: set[str]) -> bool:
    """A date or time the result writes (a time alone may be part of a written date-time)."""
    return any(date == known or (":" in date and date in known) for known in dates)


def _values(value: Any) -> Iterable[float]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, list | tuple):
        return [number for item in value for number in _values(item)]
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, str):
        return [v for v in (_as_float(n) for n in numbers_in(value)) if v is not None]
    return []


def _as_float(token: str) -> float | None:
    try:
        return float(token.replace(",", ""))
    except ValueError:
        return None


def _traceable(token: str, allowed: list[float], percent: bool) -> bool:
    said = _as_float(token)
    if said is None:
        return False
    digits = len(token.split(".")[1]) if "." in token else 0
    return any(
        _rounds_to(value, said, digits) or (percent and _rounds_to(100 * value, said, digits))
        for value in allowed
    )


def _rounds_to(value: float, said: float, digits: int) -> bool:
    """Whether ``value`` written with ``digits`` decimals reads ``said`` (sign may be dropped)."""
    tolerance = 0.5 * 10**-digits + 1e-9
    return abs(value - said) <= tolerance or abs(abs(value) - abs(said)) <= tolerance
