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


def test_a_number_joined_to_its_unit_is_still_a_number() -> None:
    assert grounding.check("R02-M05 is at 99C after 9h.", RESULT).ungrounded == ("99", "9")


def test_the_digits_of_a_date_make_no_other_number_sayable() -> None:
    # The window's dates hold 04, 05, 08 and 20; none of them may be said as a count.
    checked = grounding.check("20 modules alarmed at 2026-07-05 08:00 UTC.", RESULT)
    assert checked.ungrounded == ("20",)
    assert grounding.check("It peaked at 2026-07-05 09:13 UTC.", RESULT).ungrounded == (
        "2026-07-05 09:13",
    )


def test_an_id_the_result_does_not_name_is_caught() -> None:
    assert grounding.check("R03-M99 peaked at 47.3 C.", RESULT).ungrounded == ("R03-M99",)


def test_only_the_number_written_as_a_percent_may_be_a_share() -> None:
    # 99.1 % is the probability 0.991; a bare 99.1 elsewhere is not.
    assert grounding.check("Probability 99.1 %.", RESULT).grounded
    assert grounding.check("Probability 99.1 %, and 99.1 C.", RESULT).ungrounded == ("99.1",)
