"""Online scoring gives what offline scoring gives, second by second, whatever the batch sizes.

And the alarm rule is one: evaluation, ``batteryops score`` and the service agree.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import AlarmParams, FeaturizeParams, Params
from batteryops.hazard import events
from batteryops.hazard.labels import NEIGHBOUR_VENTED
from batteryops.hazard.model import PROBABILITY
from batteryops.hazard.scoring import Scorer
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


# --- one alarm rule: evaluation, `batteryops score` and the service agree --------------------
# A stand-in model whose probability is a column of the telemetry, so that the three callers of
# the alarm rule see exactly the same probabilities.
GIVEN = "given_probability"
THRESHOLD = 0.5
AGREEMENT_START = pd.Timestamp("2026-07-01T00:00:00Z")


class _GivenProbability:
    """Scores each row with its :data:`GIVEN` column; no features are read."""

    delta_t_horizon_s = 30

    def __init__(self, featurize: FeaturizeParams):
        self.featurize = featurize

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values([schema.MODULE_ID, schema.TIMESTAMP], ignore_index=True)

    def matrix(self, frame: pd.DataFrame) -> None:
        return None

    def hazard_probability(self, frame: pd.DataFrame, matrix: None = None) -> np.ndarray:
        return frame[GIVEN].to_numpy(dtype=float)

    def delta_t_forecast(self, frame: pd.DataFrame, matrix: None = None) -> np.ndarray:
        return np.zeros(len(frame))

    def top_features(self, frame: pd.DataFrame, top: int) -> list[str]:
        return ["given"] * len(frame)


def _given_telemetry() -> pd.DataFrame:
    """Two modules of one rack over 600 s with hand-made probabilities.

    R01-M01 scores over the threshold in three runs whose alarm seconds lie 33 s and 93 s
    apart, with a NaN score and two missing seconds inside the first run; two-second spikes
    (one short of k = 3) never alarm. R01-M02 spikes every 7 s (never 3 of 5) and alarms once.
    """
    seconds = np.arange(600)
    first = np.full(600, 0.1)
    for start, end in [(100, 130), (162, 180), (272, 300)]:
        first[start:end] = 0.9
    first[[400, 401, 450, 451]] = 0.95
    first[115] = np.nan
    second = np.where(seconds % 7 == 0, 0.9, 0.2)
    second[500:520] = 0.8
    frames = []
    for module_id, probability, keep in [
        ("R01-M01", first, ~np.isin(seconds, [120, 121])),
        ("R01-M02", second, np.ones(600, dtype=bool)),
    ]:
        frame = pd.DataFrame(
            {
                schema.TIMESTAMP: AGREEMENT_START + pd.to_timedelta(seconds, unit="s"),
                schema.RACK_ID: "R01",
                schema.MODULE_ID: module_id,
                **{name: np.float32(25.0) for name in schema.SIGNALS},
                GIVEN: probability.astype(np.float32),  # as scores are stored
            }
        )
        frames.append(frame[keep])
    return pd.concat(frames, ignore_index=True)


def _seconds(stamps: pd.Series) -> np.ndarray:
    return (stamps.astype("int64") // 10**9).to_numpy()


def _evaluation(telemetry: pd.DataFrame, alarm: AlarmParams) -> dict[str, tuple]:
    """Per module: the alarm at its rows and the episodes, as the ``evaluate`` stage finds them."""
    scored = telemetry.assign(**{NEIGHBOUR_VENTED: False})
    truth = pd.DataFrame(
        {
            schema.MODULE_ID: ["R01-M01", "R01-M02"],
            "fault_start": [pd.NaT, pd.NaT],
            "pnr_time": [pd.NaT, pd.NaT],
        }
    )
    found = {}
    for track in events.module_tracks(scored, truth, GIVEN):
        alarm_on = track.level(alarm.persistence_k, alarm.persistence_n) >= THRESHOLD
        rows = telemetry[telemetry[schema.MODULE_ID] == track.module_id]
        at_rows = alarm_on[_seconds(rows[schema.TIMESTAMP]) - int(track.seconds[0])]
        found[track.module_id] = (
            at_rows,
            events.episodes(track.seconds[alarm_on], alarm.episode_merge_gap_s),
        )
    return found


def _served(scorer: Scorer, telemetry: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """The service's scores and its episodes (opened second, last alarm second) per module."""
    engine = OnlineScorer(scorer, "test", buffer_s=360)
    scores, opened = [], []
    in_time = telemetry.sort_values(schema.TIMESTAMP, kind="stable")
    for batch, rows in enumerate(np.array_split(np.arange(len(in_time)), 37)):
        part = in_time.iloc[rows].sort_values([schema.MODULE_ID, schema.TIMESTAMP])
        engine.add(part, batch)
        result = engine.tick()
        scores.append(result.scores)
        opened += result.opened
    episodes = sorted((a.module_id, a.opened_ts, a.last_ts) for a in opened)
    return pd.concat(scores, ignore_index=True), episodes


# serve.alarm_gap_s was 60 whatever the model; the registered merge gap now decides.
@pytest.mark.parametrize(("merge_gap_s", "first_module_episodes"), [(20, 3), (60, 2), (120, 1)])
def test_evaluation_score_and_service_raise_the_same_alarms(
    tiny_params: Params, merge_gap_s: int, first_module_episodes: int
) -> None:
    alarm = AlarmParams(
        persistence_k=3,
        persistence_n=5,
        episode_merge_gap_s=merge_gap_s,
        min_lead_s=300,
        false_alarm_budget_per_module_day=1.0,
    )
    model = _GivenProbability(tiny_params.featurize)
    scorer = Scorer(model, THRESHOLD, alarm, tiny_params.derating, 3)  # type: ignore[arg-type]
    telemetry = _given_telemetry()
    evaluated = _evaluation(telemetry, alarm)
    offline = scorer.score(telemetry)
    online, served_episodes = _served(scorer, telemetry)
    online = online.sort_values([schema.MODULE_ID, "ts"], ignore_index=True)
    np.testing.assert_array_equal(online[PROBABILITY], offline[PROBABILITY].astype(float))
    expected_episodes = []
    for module_id, (alarm_at_rows, module_episodes) in evaluated.items():
        mine = offline[schema.MODULE_ID] == module_id
        np.testing.assert_array_equal(offline.loc[mine, "alarm"], alarm_at_rows)
        np.testing.assert_array_equal(
            online.loc[online[schema.MODULE_ID] == module_id, "alarm"], alarm_at_rows
        )
        alarm_seconds = _seconds(offline.loc[mine & offline["alarm"], schema.TIMESTAMP])
        assert events.episodes(alarm_seconds, merge_gap_s) == module_episodes
        expected_episodes += [(module_id, int(first), int(last)) for first, last in module_episodes]
    assert served_episodes == expected_episodes
    assert len(evaluated["R01-M01"][1]) == first_module_episodes
    assert len(evaluated["R01-M02"][1]) == 1
