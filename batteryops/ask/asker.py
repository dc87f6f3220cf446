"""A question in, a grounded answer out: route, check the arguments, read, word, check.

``ask.route`` chooses who picks the tool: ``router_first`` (default) takes the deterministic
router's tool wherever its rules claim the question and asks the language model only for the
rest; ``model_first`` asks the model first and falls back on the router when it gives no tool.
Either way the arguments are parsed by code (:func:`batteryops.ask.router.arguments`). The
answer is the tool's templated summary unless the model worded one whose every number the tool
read (:mod:`batteryops.ask.grounding`); it always ends by naming its tool and window.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from batteryops.ask import grounding, parse, router
from batteryops.ask.language_model import NONE, LanguageModel
from batteryops.ask.tools import TOOLS, FleetReader
from batteryops.core.config import AskParams


class QuestionError(ValueError):
    """A question that cannot be asked (empty, or too long)."""


@dataclass
class Answer:
    """What ``batteryops ask`` prints and ``POST /api/ask`` returns."""

    question: str
    answer: str
    tool: str | None = None
    args: dict[str, Any] | None = None
    window: str | None = None
    chosen_by: str | None = None  # router | model
    worded_by: str = "template"  # template | model
    model_wording_grounded: bool | None = None  # None: no model wording was tried
    rejected_numbers: list[str] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The answer as JSON-ready data."""
        return asdict(self)


class Asker:
    """Answers questions about the fleet from a :class:`FleetReader`."""

    def __init__(
        self, reader: FleetReader, settings: AskParams, model: LanguageModel | None = None
    ):
        self.reader, self.settings, self.model = reader, settings, model
        self.defaults = router.Defaults(settings.default_window_s, settings.default_count)

    def ask(self, question: str) -> Answer:
        """Answer one question (never with a number the tools did not read).

        Raises:
            QuestionError: If the question is empty or longer than ``ask.max_question_chars``.
        """
        question = _clean(question, self.settings.max_question_chars)
        modules = self.reader.modules()
        fleet = router.Fleet(
            tuple(m["module_id"] for m in modules), tuple(sorted({m["rack_id"] for m in modules}))
        )
        routed, chosen_by = self._choose(question, fleet)
        if isinstance(routed, router.Refusal):
            return Answer(question, routed.reason)
        result = TOOLS[routed.tool].run(self.reader, routed.args)
        answer = Answer(
            question,
            result.text,
            result.tool,
            result.args,
            result.window,
            chosen_by,
            facts=result.facts,
        )
        if self.model is not None and result.facts:
            worded = self.model.word(question, result)
            if worded is not None:
                checked = grounding.check(worded, result)
                answer.model_wording_grounded = checked.grounded
                answer.rejected_numbers = list(checked.ungrounded)
                if checked.grounded:
                    answer.answer, answer.worded_by = worded, "model"
        answer.answer = f"{answer.answer.rstrip()} [tool: {result.tool}; window: {result.window}]"
        return answer

    def _choose(
        self, question: str, fleet: router.Fleet
    ) -> tuple[router.Routed | router.Refusal, str | None]:
        routed = router.route(question, fleet, self.defaults)
        model_first = self.settings.route == "model_first"
        # A change request or an argument the fleet cannot take is refused whoever picks.
        refused = isinstance(routed, router.Refusal)
        open_to_model = routed.kind == "unknown" if refused else model_first
        if self.model is None or not open_to_model:
            return routed, "router" if isinstance(routed, router.Routed) else None
        tool = self.model.choose(question, TOOLS)
        if tool is None or tool == NONE:
            return routed, "router" if isinstance(routed, router.Routed) else None
        try:
            return router.Routed(
                tool, router.arguments(tool, question, fleet, self.defaults)
            ), "model"
        except parse.ArgumentError as error:
            return router.Refusal(str(error), "argument"), None


def _clean(question: str, limit: int) -> str:
    """The question with control characters and runs of spaces removed; checked for length."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", question or "")
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise QuestionError("ask a question (it was empty)")
    if len(text) > limit:
        raise QuestionError(f"a question is at most {limit} characters (ask.max_question_chars)")
    return text
