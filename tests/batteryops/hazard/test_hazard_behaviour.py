"""Behaviour of the trained hazard model: what a safety engineer expects it to do and not do.

A small fleet (4 racks x 8 modules x 6 h, every fault and nuisance kind) is simulated, labelled,
featurized and trained on in-process with the pipeline's own functions; the operating threshold
is chosen on its validation modules under the alarm budget of ``params.yaml``. The model is then
shown situations it must tell apart: a module heating faster than its neighbours, a stuck or a
drifting sensor, a hot day for a whole rack.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.hazard.model import PROBABILITY
from batteryops.hazard.scoring import ALARM, CURRENT_LIMIT
from tests.batteryops.conftest import Trained, small_fleet


def _seconds(frame: pd.DataFrame) -> np.ndarray:
    return (frame[schema.TIMESTAMP] - frame[schema.TIMESTAMP].min()).dt.total_seconds().to_numpy()


def _heat(frame: pd.DataFrame, module: str, c_per_min: float, from_s: float) -> pd.DataFrame:
    """A copy with one module's temperatures rising at ``c_per_min`` from ``from_s`` on."""
    changed = frame.copy()
    rows = (changed[schema.MODULE_ID] == module).to_numpy()
    rise = np.clip(_seconds(changed)[rows] - from_s, 0, None) / 60.0 * c_per_min
    for column, share in (("temp_max_c", 1.0), ("temp_avg_c", 0.4)):
        values = changed.loc[rows, column].to_numpy() + share * rise
        changed.loc[rows, column] = values.astype(changed[column].dtype)
    return changed


def test_module_heating_faster_than_its_neighbours_scores_higher(trained: Trained) -> None:
    frame = trained.healthy_rack
    module = sorted(frame[schema.MODULE_ID].unique())[1]
    end = _seconds(frame).max()
    heated = trained.scorer.score(_heat(frame, module, 1.0, end - 900))
    calm = trained.scorer.score(frame)
    late = heated[_seconds(heated) >= end - 120]
    mine = late[late[schema.MODULE_ID] == module][PROBABILITY].mean()
    neighbours = late[late[schema.MODULE_ID] != module][PROBABILITY].max()
    assert mine > neighbours
    before = calm[(calm[schema.MODULE_ID] == module) & (_seconds(calm) >= end - 120)]
    assert mine > before[PROBABILITY].mean()
    faster = trained.scorer.score(_heat(frame, module, 2.0, end - 900))
    faster_late = faster[(faster[schema.MODULE_ID] == module) & (_seconds(faster) >= end - 120)]
    assert faster_late[PROBABILITY].mean() >= mine


def test_stuck_sensor_alone_does_not_alarm(trained: Trained) -> None:
    frame = trained.healthy_rack.copy()
    module = sorted(frame[schema.MODULE_ID].unique())[0]
    rows = (frame[schema.MODULE_ID] == module).to_numpy() & (_seconds(frame) >= 3600)
    frame.loc[rows, "temp_max_c"] = frame.loc[rows, "temp_max_c"].iloc[0]
    scored = trained.scorer.score(frame)
    assert not scored[ALARM].any()


def test_drifting_sensor_alone_does_not_alarm(trained: Trained) -> None:
    frame = trained.healthy_rack.copy()
    module = sorted(frame[schema.MODULE_ID].unique())[0]
    rows = (frame[schema.MODULE_ID] == module).to_numpy()
    sim = trained.params.simulate
    drift = np.minimum(
        np.clip(_seconds(frame)[rows] - 3600, 0, None) / 3600.0 * sim.drift_c_per_h,
        sim.drift_max_c,
    )
    drifted = frame.loc[rows, "temp_max_c"].to_numpy() + drift
    frame.loc[rows, "temp_max_c"] = drifted.astype(frame["temp_max_c"].dtype)
    scored = trained.scorer.score(frame)
    assert not scored[ALARM].any()


def test_hot_day_for_the_whole_rack_does_not_alarm(trained: Trained) -> None:
    frame = trained.healthy_rack.copy()
    warming = np.clip((_seconds(frame) - 3600) / 3600.0, 0, 1) * 12.0  # +12 C over an hour
    for column in ("temp_avg_c", "temp_max_c", "temp_min_c", "ambient_c", "coolant_c"):
        frame[column] = (frame[column].to_numpy() + warming).astype(frame[column].dtype)
    scored = trained.scorer.score(frame)
    assert not scored[ALARM].any()
    assert scored[CURRENT_LIMIT].min() > 0


def test_nuisance_modules_of_an_unseen_fleet_do_not_alarm(trained: Trained) -> None:
    params = trained.params
    frames, truth = small_fleet(params, seed=params.simulate.seed + 100)
    nuisance = truth[truth["fault_type"] == "none"]
    for rack, frame in frames.items():
        chosen = nuisance.loc[nuisance[schema.RACK_ID] == rack, schema.MODULE_ID]
        vented = truth.loc[truth[schema.RACK_ID] == rack, "vent_time"].dropna()
        quiet = frame[frame[schema.MODULE_ID].isin(chosen)]
        if len(vented):  # a neighbour's fire is not a nuisance: stop before the first vent
            quiet = quiet[quiet[schema.TIMESTAMP] < vented.min()]
        if quiet.empty:
            continue
        scored = trained.scorer.score(quiet)
        alarmed = sorted(scored.loc[scored[ALARM], schema.MODULE_ID].unique())
        kinds = nuisance.set_index(schema.MODULE_ID).loc[alarmed, "nuisance_type"].tolist()
        assert not alarmed, f"alarms on {alarmed} ({kinds})"


def test_scoring_output_has_the_contract_columns(trained: Trained) -> None:
    frame = _heat(trained.healthy_rack, sorted(trained.healthy_rack[schema.MODULE_ID])[0], 3, 0)
    scored = trained.scorer.score(frame)
    assert list(scored.columns[:3]) == [schema.MODULE_ID, schema.TIMESTAMP, schema.RACK_ID]
    assert len(scored) == len(frame)
    alarmed = scored[scored[ALARM]]
    assert not alarmed.empty
    assert (alarmed["top_features"].str.count("=") == trained.scorer.top_features).all()
    assert (scored.loc[~scored[ALARM], "top_features"] == "").all()
    assert (alarmed[CURRENT_LIMIT] == 0).all()
