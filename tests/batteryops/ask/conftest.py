"""The ask tests' fleet (benchmarks/ask_fleet.py, a real SQLite service store) and a scripted
OpenAI-compatible endpoint (a stand-in for a language model whose replies the test chooses)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from batteryops.core.config import Params
from batteryops.serve.asking import StoreReader
from benchmarks import ask_fleet


@pytest.fixture(scope="session")
def fleet(params: Params, tmp_path_factory: pytest.TempPathFactory) -> StoreReader:
    return ask_fleet.build(tmp_path_factory.mktemp("ask_fleet"), params)


class Scripted:
    """An endpoint whose tool choice and wording replies come from the test."""

    def __init__(self) -> None:
        self.choose: Callable[[str], str] = lambda question: json.dumps({"tool": "none"})
        self.word: Callable[[str], str] = lambda prompt: "no words"
        self.requests: list[dict] = []
        self.url = ""


@pytest.fixture
def endpoint() -> Iterator[Scripted]:
    scripted = Scripted()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            scripted.requests.append(body)
            user = body["messages"][-1]["content"]
            content = scripted.choose(user) if "response_format" in body else scripted.word(user)
            reply = json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": content}}]}
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(reply.encode())

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scripted.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield scripted
    server.shutdown()
    server.server_close()


def root_of(reader: StoreReader) -> Path:
    return reader._root  # noqa: SLF001 - the fleet's folder, for tests that read its files
