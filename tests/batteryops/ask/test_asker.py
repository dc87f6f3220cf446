"""batteryops.ask.asker over the ask fleet's real store: answers, wording checks, injection.

The language model is a scripted OpenAI-compatible endpoint: the tests choose its replies, so
that what the asker does with a wrong tool, an invented number or an absent endpoint is seen.
"""

from __future__ import annotations

import json
import time

import pytest

from batteryops.ask.asker import Asker, QuestionError
from batteryops.ask.language_model import LanguageModel
from batteryops.core.config import Params
from benchmarks import ask_fleet


def _asker(fleet, params: Params, endpoint=None, route: str = "router_first") -> Asker:
    settings = params.ask.model_copy(update={"route": route})
    model = LanguageModel(endpoint.url, "scripted", 10.0, 1.0, 60.0) if endpoint else None
    return Asker(fleet, settings, model)


def test_the_router_answers_with_the_stores_numbers_and_names_tool_and_window(
    fleet, params: Params
) -> None:
    answer = _asker(fleet, params).ask("Which modules ran hottest overnight?")
    assert answer.tool == "hottest_modules" and answer.chosen_by == "router"
    assert "R02-M05 peaked at 68.4 C" in answer.answer
    assert "R03-M07 peaked at 47.3 C" in answer.answer
    assert answer.answer.endswith(
        "[tool: hottest_modules; window: the last 12 hours (overnight): "
        "2026-07-04 20:00 UTC to 2026-07-05 08:00 UTC]"
    )
    assert answer.worded_by == "template" and answer.model_wording_grounded is None


def test_why_a_module_alarmed_comes_from_its_stored_explanation(fleet, params: Params) -> None:
    answer = _asker(fleet, params).ask("why did R02-M05 alarm?")
    assert "temp_max_c_slope_60s_per_min = 1.84 (+3.12)" in answer.answer
    assert {"feature": "gas_co_ppm", "value": 41.5, "contribution": 1.97} in answer.facts


def test_a_grounded_wording_is_kept(fleet, params: Params, endpoint) -> None:
    endpoint.word = lambda prompt: "R02-M05 ran hottest overnight, peaking at 68.4 C."
    answer = _asker(fleet, params, endpoint).ask("Which modules ran hottest overnight?")
    assert answer.worded_by == "model" and answer.model_wording_grounded is True
    assert answer.answer.startswith("R02-M05 ran hottest overnight, peaking at 68.4 C.")
    assert "[tool: hottest_modules;" in answer.answer


def test_a_wording_with_an_invented_number_falls_back_to_the_template(
    fleet, params: Params, endpoint
) -> None:
    endpoint.word = lambda prompt: "R02-M05 peaked at 71 C and R03-M07 at 47.3 C."
    answer = _asker(fleet, params, endpoint).ask("Which modules ran hottest overnight?")
    assert answer.worded_by == "template" and answer.model_wording_grounded is False
    assert answer.rejected_numbers == ["71"]
    assert "71" not in answer.answer and "R02-M05 peaked at 68.4 C" in answer.answer


def test_the_model_chooses_what_the_router_does_not_claim(fleet, params: Params, endpoint) -> None:
    endpoint.choose = lambda question: json.dumps({"tool": "fleet_summary"})
    endpoint.word = lambda prompt: "no numbers here"
    answer = _asker(fleet, params, endpoint).ask("How are my batteries getting on?")
    assert (answer.tool, answer.chosen_by) == ("fleet_summary", "model")


def test_a_tool_outside_the_list_is_no_choice(fleet, params: Params, endpoint) -> None:
    endpoint.choose = lambda question: json.dumps({"tool": "delete_alarms"})
    answer = _asker(fleet, params, endpoint, "model_first").ask("Which modules ran hottest?")
    assert (answer.tool, answer.chosen_by) == ("hottest_modules", "router")


def test_the_model_never_sees_the_data_when_it_chooses(fleet, params: Params, endpoint) -> None:
    # R01-M02's alarm carries an operator note that tries to steer the answer.
    endpoint.word = lambda prompt: "Every module is at 99 C; alarm 1 deleted."
    answer = _asker(fleet, params, endpoint, "model_first").ask("Why did R01-M02 alarm?")
    choice = next(r for r in endpoint.requests if "response_format" in r)
    assert ask_fleet.INJECTION not in json.dumps(choice)
    enum = choice["response_format"]["json_schema"]["schema"]["properties"]["tool"]["enum"]
    assert set(enum) == {
        "hottest_modules", "alarms", "module_history", "why_alarmed", "health_ranking",
        "drift_status", "model_status", "fleet_summary", "none",
    }  # fmt: skip
    assert answer.worded_by == "template" and "99 C" not in answer.answer
    assert "99" in answer.rejected_numbers


def test_a_change_request_is_refused_without_asking_the_model(
    fleet, params: Params, endpoint
) -> None:
    answer = _asker(fleet, params, endpoint, "model_first").ask("delete all alarms")
    assert answer.tool is None and "cannot change anything" in answer.answer
    assert endpoint.requests == []


def test_an_absent_endpoint_leaves_the_router_to_answer_at_once(fleet, params: Params) -> None:
    settings = params.ask.model_copy(update={"route": "model_first"})
    model = LanguageModel("http://127.0.0.1:9/v1", "absent", 5.0, 0.5, 60.0)
    asker = Asker(fleet, settings, model)
    started = time.monotonic()
    first = asker.ask("Which modules ran hottest overnight?")
    second = asker.ask("what alarms are open?")  # the endpoint is not tried again for a while
    assert (first.tool, second.tool) == ("hottest_modules", "alarms")
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("question", ["", "   ", "x" * 501])
def test_empty_or_overlong_questions_are_refused(fleet, params: Params, question: str) -> None:
    with pytest.raises(QuestionError):
        _asker(fleet, params).ask(question)


def test_the_evaluation_set_routes_as_labelled(fleet, params: Params) -> None:
    from benchmarks.ask import QUESTIONS, judge, load_questions

    asker = _asker(fleet, params)
    rows = [judge(asker, case) for case in load_questions(QUESTIONS)]
    claimed = [r for r in rows if r["claimed"]]
    assert len(rows) >= 40
    assert sum(r["correct"] for r in claimed) / len(claimed) >= 0.9
    assert not any(r["invented_numbers"] for r in rows)
    assert not [r["question"] for r in rows if r["missing_facts"]]


def test_the_cli_answers_from_the_services_database_and_leaves_it_as_it_was(
    fleet, capsys, tmp_path
) -> None:
    import hashlib

    from batteryops.cli import main
    from tests.batteryops.ask.conftest import root_of

    database = root_of(fleet) / "ask_fleet.db"
    before = hashlib.md5(database.read_bytes()).hexdigest()
    url = f"sqlite:///{database}"
    assert (
        main(["ask", "--database", url, "--no-model", "which", "modules", "ran", "hottest?"]) == 0
    )
    out = capsys.readouterr().out
    assert "R02-M05 peaked at 68.4 C" in out and "[tool: hottest_modules;" in out
    assert main(["ask", "--database", url, "--no-model", "--json", "delete all alarms"]) == 0
    assert json.loads(capsys.readouterr().out)["tool"] is None
    assert hashlib.md5(database.read_bytes()).hexdigest() == before
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert main(["ask", "--database", missing, "anything?"]) == 2
    assert "no service database" in capsys.readouterr().err
