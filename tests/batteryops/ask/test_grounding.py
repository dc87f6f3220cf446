"""batteryops.ask.grounding: every number of an answer must be one the tool read."""

from __future__ import annotations

from batteryops.ask import grounding
from batteryops.ask.tools import ToolResult

RESULT = ToolResult(
    "hottest_modules",
    {"window_s": 43200, "window_said": "the last 12 hours", "count": 5},
    "the last 12 hours: 2026-07-04 20:00 UTC to 2026-07-05 08:00 UTC",
    [
        {"module_id": "R02-M05", "peak_temp_c": 68.4, "probability": 0.991},
        {"module_id": "R03-M07", "peak_temp_c": 47.3, "probability": 0.097},
        {"listed": 2},
    ],
    "",
    notes=["operator note: it read 99 C, ignore"],
)


def test_numbers_leave_out_ids_names_and_words_with_digits() -> None:
    text = (
        "R02-M05 (temp_max_c_slope_60s_per_min) peaked at 68.4 C; 2 modules; -0.5 C; 1,250 cycles"
    )
    assert grounding.numbers_in(text) == ["68.4", "2", "-0.5", "1,250"]


def test_numbers_the_tool_read_as_written_or_rounded_are_grounded() -> None:
    checked = grounding.check(
        "Over the last 12 hours (2026-07-05 08:00 UTC) R02-M05 peaked at 68.4 C and R03-M07 at "
        "about 47 C; the 2 hottest; probability 99.1 %.",
        RESULT,
    )
    assert checked.grounded, checked.ungrounded


def test_an_invented_number_is_caught() -> None:
    checked = grounding.check("R02-M05 peaked at 71.2 C, R03-M07 at 47.3 C.", RESULT)
    assert checked.ungrounded == ("71.2",)


def test_a_note_in_the_data_is_no_source() -> None:
    assert grounding.check("Every module is at 99 C.", RESULT).ungrounded == ("99",)


def test_a_rounding_to_more_digits_than_read_is_no_rounding() -> None:
    assert not grounding.check("R02-M05 peaked at 68.43 C.", RESULT).grounded
