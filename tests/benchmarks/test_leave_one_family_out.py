"""benchmarks/leave_one_family_out.py: what the judging fleet is and which modules each judges."""

from __future__ import annotations

import pandas as pd

from batteryops.core.config import load_params
from benchmarks import leave_one_family_out as lofo


def test_judging_fleet_is_the_default_simulator_with_another_seed() -> None:
    params = load_params()
    fleet = lofo.judging_fleet(params, 1007, 7)
    assert (fleet.seed, fleet.racks) == (1007, 7)
    assert fleet.seed != params.simulate.seed
    unchanged = fleet.model_dump(exclude={"seed", "racks"})
    assert unchanged == params.simulate.model_dump(exclude={"seed", "racks"})


def test_a_fault_family_is_judged_on_its_runaways_and_every_benign_module() -> None:
    kinds = pd.Series(
        ["none", "internal_short", "overcharge", "none"], index=["J1", "J2", "J3", "J4"]
    )
    assert lofo.judged_modules(kinds, "internal_short", "fault") == {"J1", "J2", "J4"}
    # A nuisance family's modules carry no fault: judged with every other benign module.
    assert lofo.judged_modules(kinds, "busy_module", "nuisance") == {"J1", "J4"}
