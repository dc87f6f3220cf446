"""flows.pipeline: only transient DVC failures are retried; a failed stage is reported at once."""

from __future__ import annotations

import pytest

from flows.pipeline import StageError

FAILED_STAGE = (
    "ERROR: failed to reproduce 'evaluate': failed to run: python -m stages.evaluate, exited with 1"
)
LOCKED = (
    "ERROR: Unable to acquire lock. Most likely another DVC process is running or was "
    "terminated abruptly."
)


def test_a_stage_that_failed_on_its_merits_is_not_retried() -> None:
    # DVC exits 255 for a failed stage as for any error it raises: 255 alone was retried.
    assert not StageError("evaluate", 255, FAILED_STAGE).transient
    assert not StageError("evaluate", 1, "ERROR: unexpected error").transient


@pytest.mark.parametrize(
    ("returncode", "output"),
    [(255, LOCKED), (-9, ""), (137, ""), (-15, ""), (143, "")],
)
def test_a_lock_or_a_killed_process_is_retried(returncode: int, output: str) -> None:
    assert StageError("train", returncode, output).transient
