"""batteryops.ask.router: tools and arguments by rules; refusals that say why."""

from __future__ import annotations

import pytest

from batteryops.ask import router
from batteryops.ask.tools import AlarmArgs, HealthArgs, HottestArgs, ModuleArgs

FLEET = router.Fleet(
    tuple(f"R{r:02d}-M{m:02d}" for r in (1, 2, 3) for m in range(1, 9)), ("R01", "R02", "R03")
)
DEFAULTS = router.Defaults(3600, 5)


def _route(question: str) -> router.Routed | router.Refusal:
    return router.route(question, FLEET, DEFAULTS)


def test_the_questions_of_the_issue_go_to_their_tools() -> None:
    hottest = _route("which modules ran hottest overnight?")
    assert hottest == router.Routed(
        "hottest_modules",
        HottestArgs(window_s=43200, window_said="the last 12 hours (overnight)", count=5),
    )
    why = _route("why did R03-M07 alarm?")
    assert why.tool == "why_alarmed" and why.args.module_id == "R03-M07"
    cells = _route("which cells will need replacing within 200 cycles?")
    assert cells == router.Routed("health_ranking", HealthArgs(count=10, within_cycles=200))
    assert _route("has anything drifted since the last model?").tool == "drift_status"


def test_open_and_recent_alarms() -> None:
    assert _route("what alarms are open right now?").args.state == "open"
    recent = _route("alarms raised in the last 12 hours")
    assert isinstance(recent.args, AlarmArgs)
    assert (recent.args.state, recent.args.window_s, recent.args.count) == ("recent", 43200, 10)


def test_a_named_module_asks_for_its_history() -> None:
    routed = _route("what happened to rack 3 module 7 in the last 10 hours?")
    assert routed.args == ModuleArgs(
        module_id="R03-M07", window_s=36000, window_said="the last 10 hours"
    )
    assert _route("temperature of R2-M5").tool == "module_history"


@pytest.mark.parametrize(
    "question",
    ["delete all alarms", "acknowledge alarm 2", "set the threshold to 0.5", "promote version 3"],
)
def test_requests_to_change_anything_are_refused(question: str) -> None:
    refused = _route(question)
    assert isinstance(refused, router.Refusal) and refused.kind == "write"
    assert "cannot change anything" in refused.reason


def test_what_no_rule_claims_is_refused_with_what_can_be_asked() -> None:
    refused = _route("what's the weather in Paris?")
    assert isinstance(refused, router.Refusal) and refused.kind == "unknown"
    assert "which modules ran hottest" in refused.reason


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("why did R09-M01 alarm?", "no module 'R09-M01'"),
        ("why did it alarm?", "name one module"),
        ("why did R01-M01 and R01-M02 alarm?", "one module at a time"),
        ("top 80 hottest modules", "1..50"),
        ("hottest modules in the last 9 days", "1 minute to 7 days"),
    ],
)
def test_arguments_the_fleet_cannot_take_are_refused_by_name(question: str, said: str) -> None:
    refused = _route(question)
    assert isinstance(refused, router.Refusal) and refused.kind == "argument"
    assert said in refused.reason


def test_the_arguments_are_checked_whoever_chose_the_tool() -> None:
    with pytest.raises(ValueError, match="name one module"):
        router.arguments("module_history", "how is the fleet?", FLEET, DEFAULTS)
