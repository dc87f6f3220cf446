"""flows.pipeline: the memory-heavy stages run alone, the others side by side."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flows.pipeline import SOLO_STAGES, StageSlots

WAIT_S = 5.0


class Stage(threading.Thread):
    """A stage that holds its slot until released."""

    def __init__(self, slots: StageSlots, name: str) -> None:
        super().__init__(daemon=True)
        self.slots, self.stage = slots, name
        self.entered, self.release = threading.Event(), threading.Event()

    def run(self) -> None:
        with self.slots.slot(self.stage):
            self.entered.set()
            self.release.wait(WAIT_S)


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_featurize_and_evaluate_run_alone() -> None:
    assert {"featurize", "evaluate"} <= SOLO_STAGES


def test_a_solo_stage_waits_for_the_running_ones_and_holds_off_new_ones() -> None:
    slots = StageSlots()
    first, second = Stage(slots, "cycles"), Stage(slots, "train_health")
    for stage in (first, second):
        stage.start()
        assert stage.entered.wait(WAIT_S)  # side by side
    solo = Stage(slots, "featurize")
    solo.start()
    _until(lambda: slots.solo_waiting == 1)
    later = Stage(slots, "validate_cycles")
    later.start()
    assert not solo.entered.wait(0.2)  # the running stages first
    first.release.set()
    assert not solo.entered.wait(0.2)
    second.release.set()
    assert solo.entered.wait(WAIT_S)
    assert not later.entered.is_set()  # it came after the solo stage asked: it waits
    solo.release.set()
    assert later.entered.wait(WAIT_S)
    later.release.set()
    for stage in (first, second, solo, later):
        stage.join(WAIT_S)


def test_two_solo_stages_never_overlap() -> None:
    slots = StageSlots()
    one, other = Stage(slots, "featurize"), Stage(slots, "evaluate")
    one.start()
    assert one.entered.wait(WAIT_S)
    other.start()
    assert not other.entered.wait(0.2)
    one.release.set()
    assert other.entered.wait(WAIT_S)
    other.release.set()


def test_slots_travel_by_value_as_fresh_ones() -> None:
    # Prefect ships a served flow to its run's process with cloudpickle, module globals and all.
    import cloudpickle

    slots = StageSlots()
    held = Stage(slots, "featurize")
    held.start()
    assert held.entered.wait(WAIT_S)
    copy = cloudpickle.loads(cloudpickle.dumps(slots))
    with copy.slot("evaluate"):  # free: the copy holds nothing of the original's state
        pass
    held.release.set()
    held.join(WAIT_S)
