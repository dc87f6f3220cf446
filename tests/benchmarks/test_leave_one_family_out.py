"""benchmarks/leave_one_family_out.py: what the judging fleet is and which modules each judges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core.config import load_params
from batteryops.hazard import events
from batteryops.hazard.events import SECONDS_PER_DAY, ModuleTrack
from benchmarks import leave_one_family_out as lofo

DAY = int(SECONDS_PER_DAY)


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


def _track(module_id: str, alarms_at: list[int], pnr_s: float = float("nan")) -> ModuleTrack:
    """A day scored 0, with 120 s at 1.0 from each of ``alarms_at``."""
    score = np.zeros(DAY)
    for start in alarms_at:
        score[start : start + 120] = 1.0
    fault_s = pnr_s - 3600 if not np.isnan(pnr_s) else np.nan
    return ModuleTrack(
        module_id, np.arange(DAY, dtype=float), score, np.zeros(DAY, bool), fault_s, pnr_s
    )


def test_false_alarms_are_counted_per_nuisance_and_leads_at_ten_minutes() -> None:
    params = load_params()
    tracks = [_track("J1", [1000, 40_000]), _track("J2", []), _track("J3", [5000])]
    nuisances = pd.DataFrame(
        {"module_id": ["J1", "J2", "J3"], "nuisance_type": ["busy_module", "busy_module", "none"]}
    )
    found = events.false_alarms_by_nuisance(tracks, nuisances, 0.5, params.alarm)
    assert found["busy_module"]["false_alarms"] == 2
    assert found["none"]["false_alarms"] == 1
    assert found["busy_module"]["watched_module_days"] == pytest.approx(2.0, abs=0.01)
    # Runaways alarmed 30 and 6 min before PNR: both at the minimum lead, one at 10 min.
    runaways = [
        _track("J4", [DAY - 1800 - 100], DAY - 100.0),
        _track("J5", [DAY - 460], DAY - 100.0),
    ]
    found = lofo.judged(params, runaways, 0.5)
    assert found["events_detected_at_10_min"] == 1
    assert found["lead_time_min_min"] == pytest.approx(6.0, abs=0.2)
    # Which runaway each lead is, and the one never alarmed (a healthy module is no runaway).
    leads = lofo.lead_times(params, runaways + [_track("J6", [], DAY - 100.0), tracks[0]], 0.5)
    assert list(leads) == ["J4", "J5", "J6"] and leads["J6"] is None
    assert leads["J5"] == pytest.approx(6.0, abs=0.2)


def test_a_coarse_period_is_judged_with_its_false_alarms_by_nuisance() -> None:
    params = load_params()
    tracks = [_track("J1", [1000]), _track("J2", []), _track("J4", [DAY - 1900], DAY - 100.0)]
    nuisances = pd.DataFrame({"module_id": ["J1", "J2"], "nuisance_type": ["busy_module", "none"]})
    found = lofo.judged_by_nuisance(params, tracks, 0.5, nuisances)
    assert found["false_alarms"] == 1 and found["events_detected_at_10_min"] == 1
    split = found["false_alarms_by_nuisance"]
    assert split["busy_module"]["false_alarms"] == 1 and split["none"]["false_alarms"] == 0
