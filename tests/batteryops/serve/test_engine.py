"""Online scoring gives what offline scoring gives, second by second, whatever the batch sizes."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.hazard.model import PROBABILITY
from batteryops.serve.engine import OnlineScorer
from tests.batteryops.conftest import Trained

BATCH_SECONDS = [1, 3, 17, 60, 240, 1, 1, 90]


def _runaway_rack(trained: Trained) -> tuple[str, pd.DataFrame]:
    runaway = trained.truth.dropna(subset=["pnr_time"])
    rack = runaway[schema.RACK_ID].value_counts().index[0]
    return rack, trained.frames[rack]


def _feed(engine: OnlineScorer, frame: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    seconds = frame[schema.TIMESTAMP].astype("int64") // 10**9
    start, end = int(seconds.min()), int(seconds.max())
    outputs, alarms, batch = [], [], 0
    sizes = itertools.cycle(BATCH_SECONDS)
    while start <= end:
        stop = start + next(sizes)
        part = frame[(seconds >= start) & (seconds < stop)]
        start = stop
        if part.empty:
            continue
        batch += 1
        engine.add(part.sort_values([schema.MODULE_ID, schema.TIMESTAMP]), batch)
        result = engine.tick()
        outputs.append(result.scores)
        for alarm in result.opened:
            alarm.alarm_id = batch  # what the service does once it has stored it
        alarms += [("opened", a.module_id, a.opened_ts) for a in result.opened]
        alarms += [("closed", a.module_id, a.last_ts) for a in result.closed]
    # Within a tick, an alarm may open and close: order the events by time (opening first).
    return pd.concat(outputs, ignore_index=True), sorted(
        alarms, key=lambda e: (e[2], e[0][0] == "c")
    )


@pytest.fixture(scope="module")
def fed(trained: Trained):
    rack, frame = _runaway_rack(trained)
    engine = OnlineScorer(trained.scorer, "test", buffer_s=360)
    online, alarms = _feed(engine, frame)
    offline = trained.scorer.score(frame)
    return rack, frame, online, offline, alarms


def test_every_second_is_scored_once(fed) -> None:
    _, frame, online, _, _ = fed
    assert len(online) == len(frame)
    assert not online.duplicated([schema.MODULE_ID, "ts"]).any()


def test_online_scores_equal_offline(fed) -> None:
    _, _, online, offline, _ = fed
    keys = [schema.MODULE_ID, schema.TIMESTAMP]
    joined = offline.merge(online, on=keys, suffixes=("_off", "_on"))
    assert len(joined) == len(offline)
    # The window kernels run on prefix sums: a buffer that starts elsewhere rounds the sums
    # differently (features agree to ~1e-6 relative), which now and then puts a value on the
    # other side of a tree's split: a few probabilities move by up to a few thousandths.
    difference = (joined[f"{PROBABILITY}_on"] - joined[f"{PROBABILITY}_off"]).abs()
    assert difference.max() < 0.01, joined.loc[difference.idxmax()]
    assert (difference < 1e-5).mean() > 0.999
    assert (joined["alarm_on"] == joined["alarm_off"]).all()
    np.testing.assert_allclose(
        joined["current_limit_a"],
        joined["recommended_current_limit_a"].astype(float),
        rtol=1e-4,
        atol=1e-3,
    )


def test_runaways_open_an_alarm_before_pnr(fed, trained: Trained) -> None:
    rack, _, _, _, alarms = fed
    truth = trained.truth[trained.truth[schema.RACK_ID] == rack].dropna(subset=["pnr_time"])
    opened = {}
    for kind, module_id, ts in alarms:
        if kind == "opened":
            opened.setdefault(module_id, ts)
    for module_id, pnr in zip(truth[schema.MODULE_ID], truth["pnr_time"], strict=True):
        assert module_id in opened, (module_id, alarms)
        assert opened[module_id] < pnr.value // 10**9


def test_alarm_episodes_alternate_open_and_closed(fed) -> None:
    _, _, _, _, alarms = fed
    per_module: dict[str, list[str]] = {}
    for kind, module_id, _ in alarms:
        per_module.setdefault(module_id, []).append(kind)
    for kinds in per_module.values():
        assert kinds[0] == "opened"
        assert all(a != b for a, b in itertools.pairwise(kinds))


def test_explanations_at_onset(fed) -> None:
    _, _, online, _, alarms = fed
    onsets = {(m, ts) for kind, m, ts in alarms if kind == "opened"}
    explained = online[online["top_features"] != ""]
    assert onsets <= set(zip(explained[schema.MODULE_ID], explained["ts"], strict=True))
    assert explained["alarm"].all()


def test_forecast_continues_a_heating_module(trained: Trained) -> None:
    rack, frame = _runaway_rack(trained)
    truth = trained.truth.dropna(subset=["pnr_time"])
    runaway = truth[truth[schema.RACK_ID] == rack].iloc[0]
    # Up to ten minutes before PNR: the module is heating.
    upto = frame[frame[schema.TIMESTAMP] <= runaway["pnr_time"] - pd.Timedelta(minutes=10)]
    engine = OnlineScorer(trained.scorer, "test", buffer_s=360)
    engine.add(upto.sort_values([schema.MODULE_ID, schema.TIMESTAMP]), 1)
    scored = engine.tick().scores
    ahead = engine.forecast(runaway[schema.MODULE_ID], 25)
    assert len(ahead) == 25
    assert np.diff(ahead["ts"]).tolist() == [30] * 24
    mine = scored[scored[schema.MODULE_ID] == runaway[schema.MODULE_ID]].iloc[-1]
    # The first step is the 30 s forecast the service scored for that second.
    assert ahead["delta_c"].iloc[0] == pytest.approx(mine["delta_t_30s_forecast_c"], abs=1e-3)
    assert ahead["temp_max_c"].iloc[-1] > mine["temp_max_c"]
    assert engine.forecast("R99-M99", 3) is None


def test_forecast_starts_from_the_newest_valid_reading(trained: Trained) -> None:
    """A dropout (NaN) in the module's newest second does not blank the forecast: it starts
    from the newest reading there is, and the module keeps warming step after step."""
    rack, frame = _runaway_rack(trained)
    truth = trained.truth.dropna(subset=["pnr_time"])
    runaway = truth[truth[schema.RACK_ID] == rack].iloc[0]
    upto = frame[frame[schema.TIMESTAMP] <= runaway["pnr_time"] - pd.Timedelta(minutes=10)]
    upto = upto.sort_values([schema.MODULE_ID, schema.TIMESTAMP]).reset_index(drop=True)
    mine = upto.index[upto[schema.MODULE_ID] == runaway[schema.MODULE_ID]]
    upto.loc[mine[-3:], ["temp_max_c", "temp_avg_c"]] = np.nan
    engine = OnlineScorer(trained.scorer, "test", buffer_s=360)
    engine.add(upto, 1)
    engine.tick()
    ahead = engine.forecast(runaway[schema.MODULE_ID], 10)
    assert np.isfinite(ahead["temp_max_c"]).all()
    newest = float(upto.loc[mine[-4], "temp_max_c"])
    assert ahead["temp_max_c"].iloc[0] == pytest.approx(newest + ahead["delta_c"].iloc[0], abs=1e-3)
    assert ahead["temp_max_c"].iloc[-1] > newest
