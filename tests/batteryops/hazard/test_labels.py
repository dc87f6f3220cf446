"""batteryops.hazard.labels: hazard window, trainable mask, overheat, delta_t on a built rack."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import LabelParams, Params
from batteryops.hazard.labels import NEIGHBOUR_VENTED, label_rack

START = pd.Timestamp("2026-07-01T00:00:00Z")
DURATION_S = 3000
PNR_S, VENT_S = 2000, 1900
PARAMS = LabelParams(
    prediction_window_s=600,
    guard_s=60,
    overheat_threshold_c=60.0,
    overheat_horizon_s=30,
    delta_t_horizon_s=30,
    delta_t_median_s=5,
)


def _at(seconds: float | None) -> pd.Timestamp:
    return pd.NaT if seconds is None else START + pd.Timedelta(seconds=seconds)


def _truth() -> pd.DataFrame:
    """R01-M01 runs away; R01-M02 is beside it; R01-M03 is two positions away.

    R02-M01 vents early at position 0 of *another* rack: it must not mark R01-M02.
    """
    rows = [
        ("R01", "R01-M01", 0, VENT_S, PNR_S),
        ("R01", "R01-M02", 1, None, None),
        ("R01", "R01-M03", 2, None, None),
        ("R02", "R02-M01", 0, 100, 200),
    ]
    return pd.DataFrame(
        {
            schema.RACK_ID: [r[0] for r in rows],
            schema.MODULE_ID: [r[1] for r in rows],
            "position": [r[2] for r in rows],
            "fault_type": ["internal_short", "none", "none", "internal_short"],
            "vent_time": pd.Series([_at(r[3]) for r in rows], dtype="datetime64[ns, UTC]"),
            "pnr_time": pd.Series([_at(r[4]) for r in rows], dtype="datetime64[ns, UTC]"),
        }
    )


def _temperatures() -> dict[str, np.ndarray]:
    seconds = np.arange(DURATION_S, dtype=float)
    ramp = 25.0 + 0.01 * seconds  # 0.3 C per 30 s
    spike = np.full(DURATION_S, 25.0)
    spike[1000:1010] = 70.0  # ten seconds over the 60 C threshold
    return {"R01-M01": ramp, "R01-M02": np.full(DURATION_S, 30.0), "R01-M03": spike}


def _telemetry() -> pd.DataFrame:
    frames = []
    for module_id, temp in _temperatures().items():
        frames.append(
            pd.DataFrame(
                {
                    schema.TIMESTAMP: START + pd.to_timedelta(np.arange(DURATION_S), unit="s"),
                    schema.RACK_ID: "R01",
                    schema.MODULE_ID: module_id,
                    "temp_max_c": temp.astype(np.float32),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def labelled() -> pd.DataFrame:
    # Shuffled input: label_rack sorts by module then time itself.
    shuffled = _telemetry().sample(frac=1.0, random_state=0)
    return label_rack(shuffled, _truth(), PARAMS)


def _module(frame: pd.DataFrame, module_id: str) -> pd.DataFrame:
    return frame[frame[schema.MODULE_ID] == module_id].reset_index(drop=True)


def test_output_sorted_with_label_columns(labelled: pd.DataFrame) -> None:
    for column in schema.LABEL_COLUMNS + [NEIGHBOUR_VENTED]:
        assert column in labelled.columns
    assert len(labelled) == 3 * DURATION_S
    ordered = labelled.sort_values([schema.MODULE_ID, schema.TIMESTAMP], ignore_index=True)
    pd.testing.assert_frame_equal(labelled, ordered)


def test_hazard_exactly_on_the_window_before_the_guard(labelled: pd.DataFrame) -> None:
    module = _module(labelled, "R01-M01")
    window_end = PNR_S - PARAMS.guard_s
    expected = np.zeros(DURATION_S, dtype=np.int8)
    expected[window_end - PARAMS.prediction_window_s : window_end] = 1
    np.testing.assert_array_equal(module[schema.HAZARD].to_numpy(), expected)
    assert module[schema.HAZARD].sum() == PARAMS.prediction_window_s


def test_no_hazard_on_modules_that_never_run_away(labelled: pd.DataFrame) -> None:
    for module_id in ("R01-M02", "R01-M03"):
        assert _module(labelled, module_id)[schema.HAZARD].sum() == 0


def test_runaway_module_untrainable_from_the_guard_onward(labelled: pd.DataFrame) -> None:
    trainable = _module(labelled, "R01-M01")[schema.TRAINABLE].to_numpy()
    window_end = PNR_S - PARAMS.guard_s
    assert trainable[:window_end].all()
    assert not trainable[window_end:].any()


def test_adjacent_module_untrainable_after_its_neighbour_vents(labelled: pd.DataFrame) -> None:
    module = _module(labelled, "R01-M02")
    vented = module[NEIGHBOUR_VENTED].to_numpy()
    trainable = module[schema.TRAINABLE].to_numpy()
    assert not vented[:VENT_S].any() and vented[VENT_S:].all()
    assert trainable[:VENT_S].all()
    assert not trainable[VENT_S:].any()


def test_non_adjacent_module_stays_trainable(labelled: pd.DataFrame) -> None:
    # R01-M03 is two positions from the module that vents; R02-M01 is in another rack.
    module = _module(labelled, "R01-M03")
    assert module[schema.TRAINABLE].all()
    assert not module[NEIGHBOUR_VENTED].any()


def test_overheat_looks_ahead_only(labelled: pd.DataFrame) -> None:
    overheat = _module(labelled, "R01-M03")[schema.OVERHEAT].to_numpy()
    # Readings over 60 C at 1000..1009; horizon 30 s looks at t+1 .. t+30.
    expected = np.zeros(DURATION_S, dtype=np.int8)
    expected[970:1009] = 1
    np.testing.assert_array_equal(overheat, expected)
    # The last hot second is not overheat: nothing after it is hot.
    assert overheat[1009] == 0
    assert overheat[969] == 0


def test_no_overheat_without_exceedance(labelled: pd.DataFrame) -> None:
    assert _module(labelled, "R01-M02")[schema.OVERHEAT].sum() == 0


def test_delta_t_is_temperature_30s_later_minus_now(labelled: pd.DataFrame) -> None:
    module = _module(labelled, "R01-M01")
    temp = module["temp_max_c"].to_numpy(dtype=float)
    delta = module[schema.DELTA_T_30S].to_numpy(dtype=float)
    horizon = PARAMS.delta_t_horizon_s
    first = PARAMS.delta_t_median_s  # from here the trailing median window is complete
    ahead = (temp[horizon:] - temp[:-horizon])[first:]
    np.testing.assert_allclose(delta[:-horizon][first:], ahead, atol=1e-4)
    np.testing.assert_allclose(delta[first:-horizon], 0.3, atol=1e-3)
    assert np.all(np.isnan(delta[-horizon:]))


def test_delta_t_ignores_a_one_second_sensor_glitch() -> None:
    telemetry = _telemetry()
    seconds = (telemetry[schema.TIMESTAMP] - START).dt.total_seconds().astype(int)
    spike = (telemetry[schema.MODULE_ID] == "R01-M02") & (seconds == 530)
    telemetry.loc[spike, "temp_max_c"] += 25.0
    module = _module(label_rack(telemetry, _truth(), PARAMS), "R01-M02")
    delta = module[schema.DELTA_T_30S].to_numpy(dtype=float)
    np.testing.assert_allclose(delta[490:540], 0.0, atol=1e-6)


def test_delta_t_across_a_gap_is_nan() -> None:
    telemetry = _telemetry()
    seconds = (telemetry[schema.TIMESTAMP] - START).dt.total_seconds()
    gap = (telemetry[schema.MODULE_ID] == "R01-M02") & seconds.between(500, 599)
    labelled = label_rack(telemetry[~gap], _truth(), PARAMS)
    module = _module(labelled, "R01-M02")
    at = (module[schema.TIMESTAMP] - START).dt.total_seconds().astype(int)
    delta = module[schema.DELTA_T_30S].set_axis(at)
    # t + 30 falls in the gap for t in 470..499: unknown, not invented.
    assert delta.loc[470:499].isna().all()
    assert (delta.loc[440:469] == 0.0).all()
    assert (delta.loc[600:700] == 0.0).all()
    assert len(module) == DURATION_S - 100


def test_input_frame_is_not_modified() -> None:
    telemetry = _telemetry()
    before = telemetry.copy()
    label_rack(telemetry, _truth(), PARAMS)
    pd.testing.assert_frame_equal(telemetry, before)


def test_unknown_module_raises_naming_it() -> None:
    telemetry = _telemetry()
    telemetry.loc[telemetry[schema.MODULE_ID] == "R01-M03", schema.MODULE_ID] = "R01-M09"
    with pytest.raises(ValueError, match=r"truth table has no row for modules \['R01-M09'\]"):
        label_rack(telemetry, _truth(), PARAMS)


def test_params_from_project_section_work(params: Params) -> None:
    # The same rack with the project's label section changed only where the rack needs it.
    small = params.label.model_copy(update={"prediction_window_s": 300, "guard_s": 30})
    labelled = label_rack(_telemetry(), _truth(), small)
    module = _module(labelled, "R01-M01")
    hazard_seconds = np.flatnonzero(module[schema.HAZARD].to_numpy())
    assert hazard_seconds[0] == PNR_S - 30 - 300
    assert hazard_seconds[-1] == PNR_S - 30 - 1
