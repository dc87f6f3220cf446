"""The live page's writes carry the API key: its ``post`` helper, run in Node with a fake server.

A service listening off localhost refuses writes without ``X-API-Key`` (401). The page must then
ask the operator for the key once, keep it for the tab's session and send it with every write
(alarm reviews and questions); before, its reviews failed silently and its questions showed the
401. Skipped where Node is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from batteryops.serve.routes import STATIC

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

HARNESS = """
const sent = [];
const storage = new Map();
globalThis.sessionStorage = {
  getItem: (k) => (storage.has(k) ? storage.get(k) : null),
  setItem: (k, v) => storage.set(k, String(v)),
};
let prompts = 0;
globalThis.prompt = () => { prompts += 1; return "s3cret"; };
globalThis.fetch = async (url, options) => {
  sent.push({ url, key: options.headers["X-API-Key"] || null, body: options.body });
  const ok = options.headers["X-API-Key"] === "s3cret";
  return { status: ok ? 200 : 401, ok };
};
%s
(async () => {
  const first = await post("/api/ask", { question: "which modules are hottest?" });
  const second = await post("/api/alarms/7/ack", { by: "live page" });
  console.log(JSON.stringify({ sent, prompts, statuses: [first.status, second.status] }));
})();
"""


def _post_helper() -> str:
    page = (STATIC / "index.html").read_text()
    start, end = page.index("// post:begin"), page.index("// post:end")
    return page[start:end]


def test_a_refused_write_asks_for_the_key_once_and_every_write_then_carries_it(
    tmp_path: Path,
) -> None:
    script = tmp_path / "harness.js"
    script.write_text(HARNESS % _post_helper())
    out = subprocess.run([NODE, str(script)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["statuses"] == [200, 200]
    assert result["prompts"] == 1
    assert [(s["url"], s["key"]) for s in result["sent"]] == [
        ("/api/ask", None),  # refused: no key yet
        ("/api/ask", "s3cret"),  # asked once, sent again
        ("/api/alarms/7/ack", "s3cret"),  # kept for the session
    ]
    assert json.loads(result["sent"][1]["body"]) == {"question": "which modules are hottest?"}
