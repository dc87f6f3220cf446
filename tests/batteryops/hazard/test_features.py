"""batteryops.hazard.features: per-module rolling features of one rack, without look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import FeaturizeParams, Params
from batteryops.hazard import feature_kernels, features
from batteryops.hazard.features import (
    STUCK_WINDOW_S,
    feature_names,
    featurize_rack,
    logger_copy,
    output_names,
)
from tests.batteryops.conftest import TinyFleet

START = pd.Timestamp("2026-07-01T00:00:00Z")
DURATION_S = 900
MODULES = ["R01-M01", "R01-M02", "R01-M03", "R01-M04"]
HOT = "R01-M02"
HEATING_C_PER_S = 0.05  # 3 C/min


def _rack(seed: int = 0) -> pd.DataFrame:
    """Four modules of one rack; R01-M02 heats at 3 C/min, the others idle near 25 C."""
    rng = np.random.default_rng(seed)
    seconds = np.arange(DURATION_S, dtype=float)
    frames = []
    for module_id in MODULES:
        noise = rng.normal(0.0, 0.1, DURATION_S)
        temp_max = 25.0 + noise + (HEATING_C_PER_S * seconds if module_id == HOT else 0.0)
        frames.append(
            pd.DataFrame(
                {
                    schema.TIMESTAMP: START + pd.to_timedelta(seconds, unit="s"),
                    schema.RACK_ID: "R01",
                    schema.MODULE_ID: module_id,
                    "voltage_v": 58.0 + rng.normal(0, 0.01, DURATION_S),
                    "current_a": 10.0 * np.sin(seconds / 60.0),
                    "soc_pct": 50.0 - seconds / 1000.0,
                    "temp_avg_c": temp_max - 1.0,
                    "temp_max_c": temp_max,
                    "temp_min_c": temp_max - 2.0,
                    "ambient_c": np.full(DURATION_S, 24.0),
                    "coolant_c": np.full(DURATION_S, 20.0),
                    "cell_v_max": np.full(DURATION_S, 3.71),
                    "cell_v_min": np.full(DURATION_S, 3.69),
                    "gas_co_ppm": 1.0 + rng.normal(0, 0.5, DURATION_S),
                    "gas_h2_ppm": 0.5 + rng.normal(0, 0.5, DURATION_S),
                    "gas_voc_ppm": 3.0 + rng.normal(0, 0.5, DURATION_S),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def fparams(params: Params) -> FeaturizeParams:
    return params.featurize


@pytest.fixture(scope="module")
def featurized(fparams: FeaturizeParams) -> pd.DataFrame:
    return featurize_rack(_rack(), fparams)


def _module(frame: pd.DataFrame, module_id: str) -> pd.DataFrame:
    return frame[frame[schema.MODULE_ID] == module_id].reset_index(drop=True)


def test_feature_names_unique_and_all_in_output(
    featurized: pd.DataFrame, fparams: FeaturizeParams
) -> None:
    names = feature_names(fparams)
    assert len(names) == len(set(names))
    missing = [name for name in names if name not in featurized.columns]
    assert not missing


def test_feature_names_follow_the_windows(fparams: FeaturizeParams) -> None:
    names = feature_names(fparams)
    for window in fparams.slope_windows_s:
        assert f"temp_max_c_slope_{window}s_per_min" in names
    for window in fparams.rolling_windows_s:
        assert f"temp_max_c_std_{window}s" in names
    other = fparams.model_copy(update={"slope_windows_s": [30]})
    assert "temp_max_c_slope_30s_per_min" in feature_names(other)
    assert "temp_max_c_slope_10s_per_min" not in feature_names(other)


def test_the_spread_level_can_leave_the_inputs_and_its_excess_join_them(
    fparams: FeaturizeParams,
) -> None:
    levels = ["cell_v_spread_v", "cell_v_spread_v_mean_60s", "cell_v_spread_v_mean_300s"]
    assert set(levels) <= set(feature_names(fparams))  # the default keeps them
    other = fparams.model_copy(update={"spread_level_inputs": False, "spread_excess_input": True})
    names = feature_names(other)
    assert not set(levels) & set(names) and "cell_v_spread_v_std_60s" in names
    assert names[-1] == "cell_v_spread_excess_v"
    outputs = output_names(other)  # computed and stored either way
    assert set(levels) | {"cell_v_spread_excess_v"} <= set(outputs)
    assert len(outputs) == len(set(outputs))


def test_output_columns_unique_and_raw_columns_untouched(featurized: pd.DataFrame) -> None:
    assert featurized.columns.is_unique
    raw = _rack().sort_values([schema.MODULE_ID, schema.TIMESTAMP], ignore_index=True)
    assert list(featurized.columns[: len(raw.columns)]) == list(raw.columns)
    pd.testing.assert_frame_equal(featurized[list(raw.columns)], raw)


def test_featurizing_twice_adds_no_duplicate_columns(
    featurized: pd.DataFrame, fparams: FeaturizeParams
) -> None:
    again = featurize_rack(featurized, fparams)
    assert again.columns.is_unique
    assert list(again.columns) == list(featurized.columns)


def test_extra_columns_such_as_labels_are_kept(fparams: FeaturizeParams) -> None:
    rack = _rack()
    rack[schema.HAZARD] = np.int8(0)
    out = featurize_rack(rack, fparams)
    assert schema.HAZARD in out.columns
    assert out.columns.is_unique


def test_features_are_float32_and_sorted(
    featurized: pd.DataFrame, fparams: FeaturizeParams
) -> None:
    added = [n for n in feature_names(fparams) if n not in schema.CANONICAL_COLUMNS]
    assert all(featurized[name].dtype == np.float32 for name in added)
    ordered = featurized.sort_values([schema.MODULE_ID, schema.TIMESTAMP], ignore_index=True)
    pd.testing.assert_frame_equal(featurized, ordered)


def test_input_order_does_not_matter(featurized: pd.DataFrame, fparams: FeaturizeParams) -> None:
    shuffled = _rack().sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(featurize_rack(shuffled, fparams), featurized)


@pytest.mark.parametrize("cut_s", [120, 450, 700])
def test_no_look_ahead(featurized: pd.DataFrame, fparams: FeaturizeParams, cut_s: int) -> None:
    rack = _rack()
    later = rack[schema.TIMESTAMP] > START + pd.Timedelta(seconds=cut_s)
    rng = np.random.default_rng(cut_s)
    for name in schema.SIGNALS:
        rack.loc[later, name] = rng.uniform(-50.0, 500.0, int(later.sum()))
    changed = featurize_rack(rack, fparams)
    upto = featurized[schema.TIMESTAMP] <= START + pd.Timedelta(seconds=cut_s)
    names = feature_names(fparams)
    pd.testing.assert_frame_equal(
        changed.loc[upto, names].reset_index(drop=True),
        featurized.loc[upto, names].reset_index(drop=True),
    )
    # The change is seen afterwards, so the check above is not vacuous.
    assert not changed.loc[~upto, "temp_max_c_mean_60s"].equals(
        featurized.loc[~upto, "temp_max_c_mean_60s"]
    )


def test_no_look_ahead_when_later_rows_are_missing(
    featurized: pd.DataFrame, fparams: FeaturizeParams
) -> None:
    rack = _rack()
    cut = START + pd.Timedelta(seconds=500)
    truncated = featurize_rack(rack[rack[schema.TIMESTAMP] <= cut], fparams)
    names = feature_names(fparams)
    upto = featurized[schema.TIMESTAMP] <= cut
    pd.testing.assert_frame_equal(
        truncated[names], featurized.loc[upto, names].reset_index(drop=True)
    )


def test_hot_module_stands_out_from_its_rack(featurized: pd.DataFrame) -> None:
    late = featurized[featurized[schema.TIMESTAMP] >= START + pd.Timedelta(seconds=600)]
    for name in ("temp_max_vs_rack_c", "temp_max_c_slope_60s_per_min"):
        per_module = late.groupby(schema.MODULE_ID)[name].mean()
        assert per_module.idxmax() == HOT, name
        others = per_module.drop(HOT)
        assert per_module[HOT] > others.max() + 1.0, (name, per_module.to_dict())


def test_slope_measures_degrees_per_minute(featurized: pd.DataFrame) -> None:
    hot = _module(featurized, HOT)
    settled = hot.iloc[400:]
    for window in (60, 300):
        slope = settled[f"temp_max_c_slope_{window}s_per_min"]
        np.testing.assert_allclose(slope, HEATING_C_PER_S * 60.0, atol=0.3)
    cool = _module(featurized, "R01-M01").iloc[400:]
    assert cool["temp_max_c_slope_300s_per_min"].abs().max() < 0.2


def test_slope_is_nan_until_the_window_has_history(featurized: pd.DataFrame) -> None:
    hot = _module(featurized, HOT)
    assert hot["temp_max_c_slope_60s_per_min"].iloc[:60].isna().all()
    assert hot["temp_max_c_slope_60s_per_min"].iloc[60:].notna().all()


def test_rack_median_difference(featurized: pd.DataFrame) -> None:
    at = featurized[featurized[schema.TIMESTAMP] == START + pd.Timedelta(seconds=300)]
    median = at["temp_max_c"].median()
    np.testing.assert_allclose(at["temp_max_vs_rack_c"], at["temp_max_c"] - median, atol=1e-4)


def test_rack_median_holds_readings_of_unsynchronised_loggers(fparams: FeaturizeParams) -> None:
    # Loggers reading every 10 s, each on its own second: at any second one module reads, but
    # the rack's median is still over all four (each reading stands until the next, <= 30 s).
    rack = _rack()
    offset = rack[schema.MODULE_ID].map({m: i for i, m in enumerate(MODULES)})
    seconds = (rack[schema.TIMESTAMP] - START).dt.total_seconds().astype(int)
    sparse = rack[(seconds - offset) % 10 == 0].reset_index(drop=True)
    out = featurize_rack(sparse, fparams)
    late = out[out[schema.TIMESTAMP] >= START + pd.Timedelta(seconds=600)]
    hot = late[late[schema.MODULE_ID] == HOT]
    cool = late[late[schema.MODULE_ID] != HOT]
    # The hot module is ~30-45 C above the idle three: their median is ~25 C, not itself.
    assert (hot["temp_max_vs_rack_c"] > 25.0).all()
    assert cool["temp_max_vs_rack_c"].abs().max() < 1.5


def test_level_and_derived_features(featurized: pd.DataFrame) -> None:
    np.testing.assert_allclose(featurized["temp_spread_c"], 2.0, atol=1e-4)
    np.testing.assert_allclose(featurized["cell_v_spread_v"], 0.02, atol=1e-5)
    # Kept to SIGNIFICAND_BITS: within 2 ** -15 of the exact difference, relatively.
    np.testing.assert_allclose(
        featurized["temp_max_over_coolant_c"],
        featurized["temp_max_c"] - 20.0,
        atol=1e-4,
        rtol=2.0 ** -(features.SIGNIFICAND_BITS + 1),
    )


def test_missing_share_counts_dropouts(fparams: FeaturizeParams) -> None:
    rack = _rack()
    module = rack[schema.MODULE_ID] == "R01-M03"
    seconds = (rack[schema.TIMESTAMP] - START).dt.total_seconds()
    rack.loc[module & seconds.between(100, 129), "temp_max_c"] = np.nan
    out = _module(featurize_rack(rack, fparams), "R01-M03")
    share = out["sensor_temp_max_missing_share_60s"]
    assert share.iloc[99] == 0.0
    assert share.iloc[159] == pytest.approx(30 / 60)
    assert share.iloc[200] == 0.0


# --- stuck sensor --------------------------------------------------------------------------------


def _stuck_rack(stuck_value: float, from_s: int) -> pd.DataFrame:
    rack = _rack()
    seconds = (rack[schema.TIMESTAMP] - START).dt.total_seconds()
    stuck = (rack[schema.MODULE_ID] == "R01-M04") & (seconds >= from_s)
    rack.loc[stuck, "temp_max_c"] = stuck_value
    return rack


def test_varying_sensor_is_not_stuck(featurized: pd.DataFrame) -> None:
    for module_id in MODULES:
        flags = _module(featurized, module_id)["sensor_temp_max_stuck"]
        assert flags.iloc[1:].sum() == 0, module_id


def test_sensor_stuck_from_the_start_is_flagged(fparams: FeaturizeParams) -> None:
    out = _module(featurize_rack(_stuck_rack(25.0, 0), fparams), "R01-M04")
    flags = out["sensor_temp_max_stuck"].to_numpy()
    # Stuck once a whole window of readings has been seen unchanged, not before.
    assert not flags[: STUCK_WINDOW_S - 1].any()
    assert (flags[STUCK_WINDOW_S - 1 :] == 1.0).all()


def test_sensor_stuck_after_noisy_history_is_flagged(fparams: FeaturizeParams) -> None:
    from_s = 200
    stuck_value = float(np.float32(25.37))  # a sensor stuck at one logged float32 reading
    out = _module(featurize_rack(_stuck_rack(stuck_value, from_s), fparams), "R01-M04")
    flags = out["sensor_temp_max_stuck"].to_numpy()
    assert not flags[1 : from_s + STUCK_WINDOW_S - 1].any()
    assert flags[from_s + STUCK_WINDOW_S - 1 :].all()


def test_first_reading_is_not_flagged_stuck(featurized: pd.DataFrame) -> None:
    for module_id in MODULES:
        assert _module(featurized, module_id)["sensor_temp_max_stuck"].iloc[0] == 0.0


def test_simulated_stuck_sensor_is_flagged(tiny_fleet: TinyFleet, tiny_params: Params) -> None:
    plan = tiny_fleet.plan
    (index,) = np.flatnonzero(plan.nuisance_type == "stuck_sensor")
    module_id = plan.module_ids[index]
    rack = tiny_fleet.frames[plan.rack_ids[plan.rack_index[index]]]
    out = _module(featurize_rack(rack, tiny_params.featurize), module_id)
    after = int(plan.nuisance_start_s[index]) + STUCK_WINDOW_S
    assert out["sensor_temp_max_stuck"].iloc[after:].mean() > 0.99


def test_many_racks_in_one_call_equal_each_rack_alone(
    tiny_fleet: TinyFleet, fparams: FeaturizeParams
) -> None:
    from batteryops.hazard.features import featurize_racks

    frames = list(tiny_fleet.frames.values())
    # Racks of different lengths and starts, shuffled together.
    parts = [frames[0], frames[1].iloc[1000:], frames[2].iloc[:5000]]
    alone = pd.concat([featurize_rack(p, fparams) for p in parts], ignore_index=True)
    together = featurize_racks(pd.concat(parts).sample(frac=1.0, random_state=3), fparams)
    keys = [schema.MODULE_ID, schema.TIMESTAMP]
    alone = alone.sort_values(keys, ignore_index=True)
    together = together.sort_values(keys, ignore_index=True)
    assert list(together.columns) == list(alone.columns)
    pd.testing.assert_frame_equal(together, alone, check_exact=False, rtol=1e-6, atol=1e-6)


def _overcharging(gain_c_per_min_per_kw: float, seed: int = 1) -> pd.DataFrame:
    """The rack of :func:`_rack` charging with a fluctuating current (+ = discharge).

    R01-M04's temperature rate follows its charge power at ``gain_c_per_min_per_kw`` (all the
    power turned into heat, as past full charge); the others store it and stay near 25 C.
    """
    rack = _rack(seed)
    rng = np.random.default_rng(seed)
    seconds = np.arange(DURATION_S, dtype=float)
    current = -20.0 - 8.0 * np.sin(seconds / 37.0) + rng.normal(0, 0.5, DURATION_S)
    rack["current_a"] = np.tile(current, len(MODULES))
    power_kw = -current * 58.0 / 1000.0
    heating = np.cumsum(gain_c_per_min_per_kw * power_kw / 60.0)
    late = rack[schema.MODULE_ID] == "R01-M04"
    for column in ("temp_max_c", "temp_avg_c", "temp_min_c"):
        rack.loc[late, column] += heating
    return rack


def test_heat_balance_finds_the_gain_of_a_module_turning_charge_into_heat(
    fparams: FeaturizeParams,
) -> None:
    gain = 3.0  # C/min per kW: 1.16 kW of charge warms it by about 3.5 C a minute
    out = featurize_rack(_overcharging(gain), fparams)
    settled = out[out[schema.TIMESTAMP] >= START + pd.Timedelta(seconds=300)]
    heating = settled[settled[schema.MODULE_ID] == "R01-M04"]
    np.testing.assert_allclose(heating["heat_gain_c_per_min_per_kw"].median(), gain, rtol=0.15)
    assert heating["heat_power_r2"].median() > 0.8
    # The fitted line at the present power tracks the module's own rate as the charger swings.
    rate = gain * heating["charge_power_kw"]
    error = (heating["heat_balance_slope_per_min"] - rate).abs()
    assert error.median() < 0.1 * rate.mean(), error.describe()
    storing = settled[settled[schema.MODULE_ID] != "R01-M04"]
    assert storing["heat_gain_c_per_min_per_kw"].abs().median() < 0.2
    assert storing["heat_power_r2"].median() < 0.1
    assert storing["heat_balance_slope_per_min"].abs().median() < 0.3


def test_heat_balance_without_charge_is_the_mean_rate(fparams: FeaturizeParams) -> None:
    """A discharging rack has no charge power: the ridge keeps the gain at 0 where the power
    does not move, and the line is the module's mean rate over the window."""
    rack = _rack()
    rack["current_a"] = 10.0
    hot = _module(featurize_rack(rack, fparams), HOT).iloc[120:]
    np.testing.assert_allclose(hot["charge_power_kw"], 0.0)
    np.testing.assert_allclose(hot["heat_gain_c_per_min_per_kw"], 0.0, atol=1e-9)
    np.testing.assert_allclose(
        hot["heat_balance_slope_per_min"].median(), HEATING_C_PER_S * 60.0, atol=0.3
    )


def test_heat_balance_is_nan_without_voltage(fparams: FeaturizeParams) -> None:
    """A logger without the module voltage has no charge power: no fit (the ΔT forecast falls
    back on the trend, :func:`batteryops.hazard.models.base_forecast`)."""
    rack = _rack()
    rack["voltage_v"] = np.nan
    out = featurize_rack(rack, fparams)
    assert out["heat_balance_slope_per_min"].isna().all()
    assert out["charge_power_kw"].isna().all()


def test_rolling_regression_equals_least_squares_per_window() -> None:
    from batteryops.hazard import feature_kernels

    rng = np.random.default_rng(5)
    seconds = np.sort(rng.choice(np.arange(2000), 1200, replace=False)).astype(np.int64)
    x = rng.normal(1.0, 0.5, len(seconds))
    y = 2.0 + 3.0 * x + rng.normal(0, 0.2, len(seconds))
    x[rng.random(len(x)) < 0.05] = np.nan
    y[rng.random(len(y)) < 0.05] = np.nan
    bounds = np.array([0, 700, len(seconds)], dtype=np.int64)
    window, ridge, min_pairs = 90, 0.01, 10
    out = np.empty((4, len(x)))
    feature_kernels.rolling_regression(seconds, x, y, bounds, window, ridge, min_pairs, out)
    for i in range(len(x)):
        lo = 0 if i < 700 else 700
        inside = np.arange(lo, i + 1)
        inside = inside[seconds[inside] > seconds[i] - window]
        pairs = inside[~np.isnan(x[inside]) & ~np.isnan(y[inside])]
        if len(pairs) < min_pairs:
            assert np.isnan(out[:, i]).all()
            continue
        xs, ys = x[pairs], y[pairs]
        cov = np.mean((xs - xs.mean()) * (ys - ys.mean()))
        expected = [cov / (xs.var() + ridge), xs.mean(), ys.mean()]
        expected.append(cov**2 / ((xs.var() + ridge) * ys.var()))
        np.testing.assert_allclose(out[:, i], expected, rtol=1e-9, atol=1e-9)


def test_logger_copy_keeps_every_period_each_module_on_its_own_second() -> None:
    rack = _rack()
    copy = logger_copy(rack, 10)
    assert set(copy[schema.MODULE_ID]) == {f"{m}@10s" for m in MODULES}
    assert set(copy[schema.RACK_ID]) == {"R01@10s"}
    phases = set()
    for _, rows in copy.groupby(schema.MODULE_ID):
        seconds = (rows[schema.TIMESTAMP] - START).dt.total_seconds().astype(int)
        assert len(rows) == DURATION_S // 10
        assert (seconds.diff().dropna() == 10).all()
        phases.add(int(seconds.iloc[0]) % 10)
    assert len(phases) > 1  # not all on the same seconds
    # The same module always keeps the same seconds (training and scoring agree run to run).
    pd.testing.assert_frame_equal(copy, logger_copy(rack, 10))


def test_round_significand_bounds_the_relative_error() -> None:
    rng = np.random.default_rng(0)
    values = (rng.standard_normal(100_000) * 10.0 ** rng.integers(-6, 6, 100_000)).astype(
        np.float32
    )
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf], dtype=np.float32)
    values = np.concatenate([values, special])
    rounded = values.copy()
    feature_kernels.round_significand(rounded, features.SIGNIFICAND_BITS)
    finite = np.isfinite(values) & (values != 0)
    error = np.abs(rounded[finite] - values[finite]) / np.abs(values[finite])
    assert error.max() <= 2.0 ** -(features.SIGNIFICAND_BITS + 1)
    np.testing.assert_array_equal(rounded[-5:], special)  # zeros, NaN and infinities kept
    assert (rounded.view(np.uint32) & ((1 << (23 - features.SIGNIFICAND_BITS)) - 1) == 0).all()
    again = rounded.copy()
    feature_kernels.round_significand(again, features.SIGNIFICAND_BITS)
    np.testing.assert_array_equal(again, rounded)  # rounding twice changes nothing


def test_features_are_kept_to_their_significand_bits(
    featurized: pd.DataFrame, fparams: FeaturizeParams
) -> None:
    low = (1 << (23 - features.SIGNIFICAND_BITS)) - 1
    for name in [n for n in output_names(fparams) if n not in schema.SIGNALS]:
        bits = featurized[name].to_numpy(dtype=np.float32).view(np.uint32)
        assert not (bits & low).any(), name
    # The telemetry's own readings are stored as they came.
    raw = featurized["temp_max_c"].to_numpy(dtype=np.float32).view(np.uint32)
    assert (raw & low).any()


def test_a_reading_stands_in_the_rack_median_as_long_as_the_slowest_accepted_logger(
    params: Params,
) -> None:
    # A module logged every alarm.max_logger_period_s seconds must stay in its rack's median
    # between two readings; the feature's own constant cannot follow the alarm section (changing
    # the alarm would re-featurize everything), so this holds them together.
    assert params.alarm.max_logger_period_s <= features.RACK_HOLD_S


def test_the_held_cell_voltage_reads_both_halves_at_the_slowest_logger_accepted(
    params: Params,
) -> None:
    assert params.alarm.max_logger_period_s < features.HELD_HALF_S
    seconds = np.cumsum(np.tile([29, 31], 20)).astype(np.int64)  # a jittered 30 s logger
    held = np.empty(len(seconds), dtype=np.float32)
    bounds = np.array([0, len(seconds)], dtype=np.int64)
    features.held_cell_voltage(seconds, np.full(len(seconds), 4.1, np.float32), bounds, held)
    assert not np.isnan(held[seconds >= seconds[0] + 2 * features.HELD_HALF_S]).any()


@pytest.mark.parametrize("period", [1, 10, 30])
def test_the_held_cell_voltage_ignores_a_spike_and_follows_a_sustained_rise(period: int) -> None:
    seconds = np.arange(0, 600, period, dtype=np.int64)
    volts = np.full(len(seconds), 4.20)
    volts[seconds == 120] = 4.50  # one sample of a spiky channel
    volts[seconds >= 400] = 4.40  # a cell charged past full
    bounds = np.array([0, len(seconds)], dtype=np.int64)
    held = np.empty(len(seconds), dtype=np.float32)
    features.held_cell_voltage(seconds, volts.astype(np.float32), bounds, held)
    assert np.isnan(held[seconds < features.HELD_HALF_S]).all()  # no earlier half-minute yet
    # The spike is in one of the two half-minutes at a time: the lower one never holds it.
    late = 2 * features.HELD_HALF_S
    assert np.allclose(held[(seconds >= late) & (seconds < 400)], 4.20, atol=1e-4)
    assert np.allclose(held[seconds >= 400 + late], 4.40, atol=1e-4)
