"""batteryops.ask.parse: arguments read from a question, checked against the fleet."""

from __future__ import annotations

import pytest

from batteryops.ask import parse

MODULES = [f"R{r:02d}-M{m:02d}" for r in (1, 2, 3) for m in range(1, 9)]
RACKS = ["R01", "R02", "R03"]


@pytest.mark.parametrize(
    "question",
    [
        "why did R02-M05 alarm?",
        "why did r2-m5 alarm",
        "what about R2 M5",
        "rack 2 module 5, please",
        "R02_M05 history",
        "rack 2, module 5",
    ],
)
def test_a_module_is_found_however_it_is_written(question: str) -> None:
    assert parse.module_ids(question, MODULES) == ["R02-M05"]


def test_ids_that_follow_no_pattern_are_matched_as_written() -> None:
    assert parse.module_ids("why did inverter-7b trip?", ["inverter-7b", "R01-M01"]) == [
        "inverter-7b"
    ]


def test_a_module_the_fleet_lacks_is_named_in_the_error() -> None:
    with pytest.raises(parse.ArgumentError, match="'R09-M01'"):
        parse.module_ids("why did R09-M01 alarm?", MODULES)


def test_several_modules_come_back_in_the_order_named() -> None:
    assert parse.module_ids("compare R03-M07 with R1-M2", MODULES) == ["R03-M07", "R01-M02"]


def test_racks_alone_not_the_rack_of_a_module() -> None:
    assert parse.rack_ids("hottest in rack 3", RACKS) == ["R03"]
    assert parse.rack_ids("hottest in R01", RACKS) == ["R01"]
    assert parse.rack_ids("how is R02-M05", RACKS) == []
    with pytest.raises(parse.ArgumentError, match="rack 9"):
        parse.rack_ids("hottest in rack 9", RACKS)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("top 3 hottest modules", 3),
        ("the three hottest modules", 3),
        ("10 worst cells", 10),
        ("alarms raised in the last 12 hours", 5),  # 12 is a window, not a count
        ("which modules ran hottest?", 5),
    ],
)
def test_counts(question: str, expected: int) -> None:
    assert parse.count(question, 5) == expected


def test_a_count_out_of_range_is_refused() -> None:
    with pytest.raises(parse.ArgumentError, match="1..50"):
        parse.count("top 500 hottest modules", 5)


@pytest.mark.parametrize(
    ("question", "seconds"),
    [
        ("which modules ran hottest overnight?", 43200),
        ("anything last night?", 43200),
        ("in the last 2 hours", 7200),
        ("over the past 30 minutes", 1800),
        ("past hour", 3600),
        ("last 3 days", 3 * 86400),
        ("today", 86400),
        ("nothing said", 3600),
    ],
)
def test_windows(question: str, seconds: int) -> None:
    assert parse.window(question, 3600).seconds == seconds


def test_a_window_longer_than_a_week_is_refused() -> None:
    with pytest.raises(parse.ArgumentError, match="1 minute to 7 days"):
        parse.window("hottest in the last 30 days", 3600)


def test_cycle_limits() -> None:
    assert parse.cycles("which cells will need replacing within 200 cycles?") == 200
    assert parse.cycles("in the next 1,500 cycles") == 1500
    assert parse.cycles("which cells are weakest?") is None
    with pytest.raises(parse.ArgumentError):
        parse.cycles("within 2.5 cycles")
