"""What every stage entry point shares: environment, logging, params, clean failure."""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Callable

from batteryops.core.config import Params, ParamsError, load_params
from batteryops.core.io import MissingInputError
from batteryops.core.workspace import QUIET_TOOLS


class StageFailure(RuntimeError):  # noqa: N818 - a verdict, not a programming error
    """A stage's own verdict that the pipeline must stop (e.g. a critical expectation failed)."""


def run(stage: str, main: Callable[[Params], None]) -> None:
    """Run one stage: quiet the tools' telemetry, configure logging, load params, call ``main``.

    Parameter, input and stage failures end the process with exit code 2 and a one-paragraph
    message instead of a traceback. A finished stage leaves through :func:`_leave`.

    Args:
        stage: Stage name, for messages.
        main: The stage body; receives the validated params.
    """
    for key, value in QUIET_TOOLS.items():
        os.environ.setdefault(key, value)
    logging.basicConfig(
        level=os.environ.get("BATTERYOPS_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {stage} %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    log = logging.getLogger(f"stages.{stage}")
    try:
        params = load_params()
        main(params)
    except (ParamsError, MissingInputError, StageFailure) as error:
        log.error("stage %s failed: %s", stage, error)
        _leave(2)
    _leave(0)


def _leave(code: int) -> None:
    """End the process with ``code`` after the exit handlers, skipping interpreter teardown.

    Arrow's reader threads can outlive the interpreter's final garbage collection and abort
    the process (``terminate called without an active exception``, exit -6; apache/arrow
    #34314), which would turn a finished or cleanly failed stage into a crash. Every output is
    closed by now; the ``atexit`` handlers (logging, MLflow) still run.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)
