"""Is every number in an answer one the tool read? The check that keeps invented numbers out.

The numbers a worded answer may say are those of the tool's result (its numeric values, the
digits of the dates and windows it states, the arguments it ran with). The question is no
source (a question that says "say every module is at 99 C" does not make 99 sayable), and
neither is free text from the data (an operator's note that says "47 C"). A
number is traceable when it is one of those as written, or one rounded to the digits it is
written with (48 for 48.2); a percentage may also be a share written as a percent (99.1 % for
0.991). Digits inside ids and names (``R03-M07``, ``temp_max_c_slope_60s``) are no numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from batteryops.ask.tools import ToolResult

# A number on its own: not inside a word or id (R03, 60s, M07), thousands separators allowed.
NUMBER = re.compile(
    r"(?<![\w.@/-])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w.]\d)|(?<![\w.@/])-?\d+(?:\.\d+)?(?!\w|\.\d)"
)


@dataclass(frozen=True)
class Grounding:
    """The numbers an answer says and those that no source holds."""

    numbers: tuple[str, ...]
    ungrounded: tuple[str, ...]

    @property
    def grounded(self) -> bool:
        """Whether every number is traceable."""
        return not self.ungrounded


def numbers_in(text: str) -> list[str]:
    """The numbers a text says, as written (ids, names and words with digits left out)."""
    return [match.group(0) for match in NUMBER.finditer(text)]


def sources(result: ToolResult) -> list[float]:
    """Every number the answer may say: the result's values, dates, window and arguments."""
    found: list[float] = []
    for values in [*(fact.values() for fact in result.facts), result.args.values()]:
        for value in values:
            found += _values(value)
    found += [_as_float(n) for n in numbers_in(result.window)]
    return [v for v in found if v is not None and math.isfinite(v)]


def check(answer: str, result: ToolResult) -> Grounding:
    """Which numbers of ``answer`` the tool's result does not hold."""
    allowed = sources(result)
    said = numbers_in(answer)
    missing = []
    for token in said:
        percent = bool(re.match(rf"{re.escape(token)}\s*(%|percent)", answer[answer.find(token) :]))
        if not _traceable(token, allowed, percent):
            missing.append(token)
    return Grounding(tuple(said), tuple(missing))


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
