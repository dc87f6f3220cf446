"""DVC stage ``check_params``: all of ``params.yaml`` validated before any other stage runs.

Every stage depends on this stage's marker, and this stage on the whole of ``params.yaml``, so
``dvc repro`` validates every section (ranges included, the service's too) before it removes
the outputs of a stage whose parameters changed: a misspelled key or an impossible gate fails
here, exit 2, with every output still in place. The marker's text never changes, so a valid
change re-runs only the stages that track the changed parameters.
"""

from __future__ import annotations

from pathlib import Path

from batteryops.core.config import Params
from stages._common import run

MARKER = "params.yaml: every section valid\n"


def main(params: Params) -> None:
    """``run`` has loaded and validated the params; record that they passed."""
    marker = Path(params.paths.params_check)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(MARKER, encoding="utf-8")


if __name__ == "__main__":
    run("check_params", main)
