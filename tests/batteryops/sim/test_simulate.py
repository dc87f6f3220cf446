"""batteryops.sim.simulate: fleet plan, physics, sensors and canonical telemetry of a tiny fleet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import FaultCounts, NuisanceCounts, Params, SimulateParams
from batteryops.sim import simulate
from tests.batteryops.conftest import TinyFleet, gap_seconds


@pytest.fixture(scope="module")
def sim(tiny_params: Params) -> SimulateParams:
    return tiny_params.simulate


def _adjacent(truth: pd.DataFrame, index: int) -> np.ndarray:
    """Mask of the modules beside module ``index`` in its rack."""
    row = truth.iloc[index]
    return (
        (truth[schema.RACK_ID] == row[schema.RACK_ID])
        & ((truth["position"] - row["position"]).abs() == 1)
    ).to_numpy()


# --- plan_fleet ---------------------------------------------------------------------------------


def test_plan_is_deterministic_by_seed(sim: SimulateParams) -> None:
    first, second = simulate.plan_fleet(sim), simulate.plan_fleet(sim)
    np.testing.assert_array_equal(first.fault_type, second.fault_type)
    np.testing.assert_array_equal(first.fault_start_s, second.fault_start_s)
    np.testing.assert_array_equal(first.nuisance_type, second.nuisance_type)
    np.testing.assert_array_equal(first.nuisance_start_s, second.nuisance_start_s)
    np.testing.assert_array_equal(first.sensor_coupling, second.sensor_coupling)


def test_plan_differs_with_another_seed(sim: SimulateParams) -> None:
    first = simulate.plan_fleet(sim)
    other = simulate.plan_fleet(sim.model_copy(update={"seed": sim.seed + 100}))
    same_faults = np.array_equal(first.fault_type, other.fault_type)
    same_starts = np.array_equal(
        np.nan_to_num(first.fault_start_s), np.nan_to_num(other.fault_start_s)
    )
    assert not (same_faults and same_starts)
    assert not np.array_equal(first.sensor_coupling, other.sensor_coupling)


def test_cell_imbalance_leaves_every_other_draw_as_it_was(sim: SimulateParams) -> None:
    plain = simulate.plan_fleet(sim)
    varied = simulate.plan_fleet(
        sim.model_copy(update={"cell_imbalance_soc_max": 0.03, "cell_resistance_mismatch_max": 0.2})
    )
    for name in ("fault_start_s", "nuisance_start_s", "capacity_scale", "sensor_coupling"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(varied, name))
    assert (varied.cell_imbalance_soc > 0).all() and (varied.cell_imbalance_soc <= 0.03).all()
    assert (varied.cell_resistance_mismatch <= 0.2).all()


def test_aged_modules_are_drawn_apart_and_never_among_the_faults(sim: SimulateParams) -> None:
    plain = simulate.plan_fleet(sim.model_copy(update={"aged_module_share": 0.0}))
    assert not plain.aged.any()
    aged = simulate.plan_fleet(sim.model_copy(update={"aged_module_share": 1.0}))
    for name in ("fault_type", "fault_start_s", "nuisance_start_s", "resistance_scale"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(aged, name))
    np.testing.assert_array_equal(aged.aged, aged.fault_type == simulate.NONE)


def test_an_aged_healthy_module_heats_more_under_the_same_load(sim: SimulateParams) -> None:
    def healthy_mean_temp(share: float) -> tuple[np.ndarray, np.ndarray]:
        params = sim.model_copy(update={"aged_module_share": share})
        plan = simulate.plan_fleet(params)
        physics, _ = simulate.simulate_fleet(params, plan)
        healthy = (plan.fault_type == simulate.NONE) & (plan.nuisance_type == simulate.NONE)
        return physics["t_cell"][:, healthy].mean(axis=0), healthy

    young, healthy = healthy_mean_temp(0.0)
    old, _ = healthy_mean_temp(1.0)
    assert healthy.any()
    assert (old > young).all()


def test_benign_spread_is_widest_near_empty_and_grows_with_load(sim: SimulateParams) -> None:
    varied = sim.model_copy(
        update={"cell_imbalance_soc_max": 0.03, "cell_resistance_mismatch_max": 0.2}
    )
    plan = simulate.plan_fleet(varied)
    modules = plan.modules
    socs = np.array([0.05, 0.5, 0.05, 0.5])[:, None] * np.ones((1, modules))
    current = np.array([0.0, 0.0, 40.0, 40.0])[:, None] * np.ones((1, modules))
    physics = {"soc": socs, "current": current, "v_cell": np.full_like(socs, 3.7)}
    spread = simulate.benign_spread_v(varied, plan, physics)
    assert (spread >= 0).all()
    assert (spread[0] > spread[1]).all()  # the OCV curve is steeper near empty
    expected = 40.0 / varied.cells_parallel * varied.cell.r0_ohm * plan.cell_resistance_mismatch
    np.testing.assert_allclose(spread[3] - spread[1], expected, rtol=1e-4)
    off = simulate.benign_spread_v(sim, simulate.plan_fleet(sim), physics)
    assert not off.any()  # none by default: the spread is the fixed 20 mV


def test_plan_counts_and_identities(sim: SimulateParams) -> None:
    plan = simulate.plan_fleet(sim)
    count = sim.racks * sim.modules_per_rack
    assert plan.modules == count
    assert len(set(plan.module_ids)) == count
    assert plan.rack_ids == ["R01", "R02", "R03"]
    assert plan.module_ids[:2] == ["R01-M01", "R01-M02"]
    for name, n in sim.faults.model_dump().items():
        assert int((plan.fault_type == name).sum()) == n
    for name in simulate.NUISANCES:
        assert int((plan.nuisance_type == name).sum()) == getattr(sim.nuisances, name)
    faulty = plan.fault_type != simulate.NONE
    # No module carries both a fault and a nuisance.
    assert not np.any(faulty & (plan.nuisance_type != simulate.NONE))
    # Fault starts fall in [fault_earliest_s, fault_latest_fraction * duration] and only on faults.
    starts = plan.fault_start_s[faulty]
    assert np.all(starts >= sim.fault_earliest_s)
    assert np.all(starts <= sim.fault_latest_fraction * sim.duration_s)
    assert np.all(np.isnan(plan.fault_start_s[~faulty]))


def test_plan_rejects_more_faults_than_modules(sim: SimulateParams) -> None:
    crowded = sim.model_copy(
        update={
            "faults": FaultCounts(
                internal_short=8, external_heating=3, cooling_failure=0, overcharge=0
            )
        }
    )
    # 11 faults + 2 nuisances on 3 x 4 = 12 modules.
    with pytest.raises(
        ValueError, match=r"13 faulty and nuisance modules asked for, but the fleet has only 12"
    ):
        simulate.plan_fleet(crowded)


def test_plan_accepts_a_fleet_exactly_full(sim: SimulateParams) -> None:
    full = sim.model_copy(
        update={
            "faults": FaultCounts(
                internal_short=7, external_heating=3, cooling_failure=0, overcharge=0
            )
        }
    )
    plan = simulate.plan_fleet(full)
    assert np.all((plan.fault_type != simulate.NONE) | (plan.nuisance_type != simulate.NONE))


def test_plan_rejects_more_nuisance_racks_than_racks(sim: SimulateParams) -> None:
    nuisances = sim.nuisances.model_dump() | {"hot_ambient_racks": sim.racks + 1}
    hot = sim.model_copy(update={"nuisances": NuisanceCounts(**nuisances)})
    with pytest.raises(ValueError, match=r"simulate\.nuisances\.hot_ambient_racks exceeds"):
        simulate.plan_fleet(hot)


def test_rack_nuisance_spares_faulty_modules(sim: SimulateParams) -> None:
    nuisances = sim.nuisances.model_dump() | {"hot_ambient_racks": sim.racks}
    plan = simulate.plan_fleet(sim.model_copy(update={"nuisances": NuisanceCounts(**nuisances)}))
    hot = plan.nuisance_type == "hot_ambient"
    assert hot.any()
    assert np.all(plan.fault_type[hot] == simulate.NONE)
    assert np.all(~np.isnan(plan.nuisance_start_s[hot]))


# --- simulate_fleet ----------------------------------------------------------------------------


def test_truth_table_shape(tiny_fleet: TinyFleet, sim: SimulateParams) -> None:
    truth = tiny_fleet.truth
    assert list(truth.columns) == schema.TRUTH_COLUMNS
    assert len(truth) == sim.racks * sim.modules_per_rack
    assert tiny_fleet.physics["t_cell"].shape == (sim.duration_s, len(truth))


def test_every_runaway_fault_reaches_pnr_after_venting(
    tiny_fleet: TinyFleet, sim: SimulateParams
) -> None:
    truth = tiny_fleet.truth
    faulty = truth[truth["fault_type"] != simulate.NONE]
    assert len(faulty) == sum(sim.faults.model_dump().values())
    assert faulty["pnr_time"].notna().all(), faulty[["module_id", "fault_type", "pnr_time"]]
    assert faulty["vent_time"].notna().all()
    assert (faulty["fault_start"] < faulty["vent_time"]).all()
    assert (faulty["vent_time"] < faulty["pnr_time"]).all()


def test_no_healthy_or_nuisance_module_reaches_pnr(
    tiny_fleet: TinyFleet, sim: SimulateParams
) -> None:
    truth = tiny_fleet.truth
    calm = truth[truth["fault_type"] == simulate.NONE]
    assert len(calm) == len(truth) - sum(sim.faults.model_dump().values())
    assert calm["pnr_time"].isna().all()
    assert calm["vent_time"].isna().all()


def test_healthy_modules_stay_below_60c_until_a_neighbour_vents(tiny_fleet: TinyFleet) -> None:
    # After an adjacent module vents and burns, its fire heats the healthy module too (by
    # design), so the healthy module is judged on its own time before that.
    truth, physics = tiny_fleet.truth, tiny_fleet.physics
    for index in np.flatnonzero(truth["fault_type"].to_numpy() == simulate.NONE):
        vents = truth["vent_time"].to_numpy()[_adjacent(truth, index)]
        end = int(np.nanmin(vents)) if np.any(~np.isnan(vents)) else len(physics["t_cell"])
        hottest = max(physics["t_cell"][:end, index].max(), physics["t_mod"][:end, index].max())
        assert hottest < 60.0, (truth.at[index, "module_id"], hottest)


def test_healthy_modules_without_faulty_neighbours_stay_below_60c(sim: SimulateParams) -> None:
    params = sim.model_copy(
        update={
            "faults": FaultCounts(
                internal_short=2, external_heating=1, cooling_failure=0, overcharge=0
            )
        }
    )
    physics, truth = simulate.simulate_fleet(params, simulate.plan_fleet(params))
    faulty = truth["fault_type"].to_numpy() != simulate.NONE
    checked = 0
    for index in np.flatnonzero(~faulty):
        if faulty[_adjacent(truth, index)].any():
            continue
        checked += 1
        assert physics["t_cell"][:, index].max() < 60.0
        assert physics["t_mod"][:, index].max() < 60.0
    assert checked >= 1


# --- sensor_readings ---------------------------------------------------------------------------


def test_temperature_sensors_saturate_and_drop_out_after_pnr(
    tiny_fleet: TinyFleet, sim: SimulateParams
) -> None:
    temp = tiny_fleet.signals["temp_max_c"]
    assert np.nanmax(temp) <= sim.sensor_max_c
    for index, pnr in enumerate(tiny_fleet.truth["pnr_time"]):
        if np.isnan(pnr):
            continue
        after = int(pnr) + sim.sensor_dropout_after_pnr_s
        assert np.all(np.isnan(temp[after:, index]))


def test_stuck_sensor_holds_its_value(tiny_fleet: TinyFleet) -> None:
    plan = tiny_fleet.plan
    (stuck,) = np.flatnonzero(plan.nuisance_type == "stuck_sensor")
    start = int(plan.nuisance_start_s[stuck])
    held = tiny_fleet.signals["temp_max_c"][start:, stuck]
    held = held[~np.isnan(held)]
    assert len(held) > 100
    assert np.all(held == held[0])


# --- telemetry_frames --------------------------------------------------------------------------


def test_telemetry_frames_are_canonical(tiny_fleet: TinyFleet, sim: SimulateParams) -> None:
    assert list(tiny_fleet.frames) == tiny_fleet.plan.rack_ids
    for rack, (rack_id, frame) in enumerate(tiny_fleet.frames.items()):
        assert list(frame.columns) == schema.CANONICAL_COLUMNS
        missing = gap_seconds(tiny_fleet.plan, rack)
        assert len(frame) == sim.modules_per_rack * sim.duration_s - missing
        assert (frame[schema.RACK_ID] == rack_id).all()
        assert frame[schema.MODULE_ID].str.startswith(f"{rack_id}-").all()
        for name in schema.SIGNALS:
            assert frame[name].dtype == np.float32, name


def test_telemetry_timestamps_are_utc_from_start(
    tiny_fleet: TinyFleet, sim: SimulateParams
) -> None:
    frame = next(iter(tiny_fleet.frames.values()))
    stamps = frame[schema.TIMESTAMP]
    assert isinstance(stamps.dtype, pd.DatetimeTZDtype)
    assert str(stamps.dt.tz) == "UTC"
    assert stamps.min() == pd.Timestamp(sim.start_time)
    assert stamps.max() == pd.Timestamp(sim.start_time) + pd.Timedelta(seconds=sim.duration_s - 1)
    assert stamps.notna().all()


def test_telemetry_sorted_by_module_then_time_without_duplicates(tiny_fleet: TinyFleet) -> None:
    for frame in tiny_fleet.frames.values():
        keys = frame[[schema.MODULE_ID, schema.TIMESTAMP]]
        ordered = keys.sort_values([schema.MODULE_ID, schema.TIMESTAMP], ignore_index=True)
        pd.testing.assert_frame_equal(keys.reset_index(drop=True), ordered)
        assert not keys.duplicated().any()


def test_telemetry_start_time_naive_is_taken_as_utc(sim: SimulateParams) -> None:
    short = sim.model_copy(update={"start_time": "2026-07-01T08:00:00", "duration_s": 3})
    plan = simulate.plan_fleet(short)
    signals = {name: np.zeros((3, plan.modules)) for name in schema.SIGNALS}
    rack_id, frame = next(simulate.telemetry_frames(short, plan, signals))
    assert rack_id == "R01"
    assert frame[schema.TIMESTAMP].iloc[0] == pd.Timestamp("2026-07-01T08:00:00Z")


def test_truth_with_times_converts_offsets(tiny_fleet: TinyFleet, sim: SimulateParams) -> None:
    converted = simulate.truth_with_times(sim, tiny_fleet.truth)
    start = pd.Timestamp(sim.start_time)
    for column in ("fault_start", "nuisance_start", "vent_time", "pnr_time"):
        seconds = tiny_fleet.truth[column]
        expected = start + pd.to_timedelta(seconds, unit="s")
        pd.testing.assert_series_equal(converted[column], expected, check_names=False)
        assert converted[column].isna().equals(seconds.isna())
    # The input is left as it was.
    assert tiny_fleet.truth["pnr_time"].dtype == float


def test_chunked_simulation_matches_one_run(tiny_params) -> None:
    params = tiny_params.simulate.model_copy(update={"duration_s": 2500})
    plan = simulate.plan_fleet(params)
    whole, whole_truth = simulate.simulate_fleet(params, plan)
    simulator = simulate.FleetSimulator(params, plan)
    chunks = []
    while not simulator.done:
        chunks.append(simulator.advance(1000))
    assert [len(chunk["t_cell"]) for chunk in chunks] == [1000, 1000, 500]
    for name in simulate.PHYSICS_TRACES:
        np.testing.assert_array_equal(np.concatenate([c[name] for c in chunks]), whole[name])
    pd.testing.assert_frame_equal(simulator.truth(), whole_truth)


def test_stuck_sensor_stays_stuck_across_chunks(tiny_params) -> None:
    params = tiny_params.simulate
    plan = simulate.plan_fleet(params)
    (module,) = np.flatnonzero(plan.nuisance_type == "stuck_sensor")
    stuck_at = int(plan.nuisance_start_s[module])
    simulator = simulate.FleetSimulator(params, plan)
    stuck_values: dict[int, float] = {}
    readings = []
    while not simulator.done:
        start_s = simulator.t
        physics = simulator.advance(1000)
        signals = simulate.sensor_readings(
            params, plan, physics, simulator.truth(), start_s, stuck_values
        )
        readings.append(signals["temp_max_c"][:, module])
    trace = np.concatenate(readings)[stuck_at:]
    trace = trace[~np.isnan(trace)]
    assert len(trace) > 1000
    assert np.all(trace == trace[0])


def test_ev_profile_rack_drives_parks_and_charges(tiny_params) -> None:
    params = tiny_params.simulate.model_copy(update={"ev_profile_racks": 1, "duration_s": 7200})
    plan = simulate.plan_fleet(params)
    assert plan.ev_rack.sum() == 1
    physics, truth = simulate.simulate_fleet(params, plan)
    module_capacity_ah = params.cell.capacity_ah * params.cells_parallel
    c_rate = physics["current"] / module_capacity_ah
    ev_modules = plan.ev_rack[plan.rack_index]
    ev, grid = c_rate[:, ev_modules], c_rate[:, ~ev_modules]
    assert ev.max() > 1.5  # acceleration pulses
    assert np.isclose(ev.min(), -params.ev_charge_c_rate, atol=1e-3)  # fast charge
    assert (np.abs(ev) < 1e-9).mean() > 0.1  # parked
    assert np.abs(grid).max() < 1.0  # grid racks keep their gentle schedule
    runaway = truth["fault_type"] != "none"
    assert truth.loc[runaway, "pnr_time"].notna().all()


def test_too_many_ev_racks_is_refused(tiny_params) -> None:
    params = tiny_params.simulate.model_copy(update={"ev_profile_racks": 99})
    with pytest.raises(ValueError, match="ev_profile_racks exceeds simulate.racks"):
        simulate.plan_fleet(params)


# --- fault mechanisms ---------------------------------------------------------------------------


def _one_rack(sim: SimulateParams, fault: str, **updates) -> SimulateParams:
    faults = {name: 0 for name in simulate.FAULTS} | {fault: 1}
    nuisances = {name: 0 for name in NuisanceCounts.model_fields}
    return sim.model_copy(
        update={
            "racks": 1,
            "modules_per_rack": 4,
            "faults": FaultCounts(**faults),
            "nuisances": NuisanceCounts(**nuisances),
            "dropout_fraction": 0.0,
            **updates,
        }
    )


def test_overheated_cell_starts_an_internal_short(sim: SimulateParams) -> None:
    params = _one_rack(sim, "external_heating", duration_s=7200, fault_earliest_s=60)
    simulator = simulate.FleetSimulator(params, simulate.plan_fleet(params))
    physics = simulator.advance(params.duration_s)
    m = int(np.flatnonzero(simulator.plan.fault_type == "external_heating")[0])
    crossed = int(np.argmax(physics["t_cell"][:, m] > params.separator_short_c))
    assert crossed > 0
    assert simulator.short_start[m] == pytest.approx(crossed + 1, abs=1)
    assert physics["isc_w"][crossed - 1, m] == 0.0
    assert physics["isc_w"][crossed + 60, m] > 0.0
    others = simulator.plan.fault_type == simulate.NONE
    assert np.isinf(simulator.short_start[others]).all()


def test_a_module_heated_from_outside_never_reads_its_hottest_sensor_below_its_mean(
    sim: SimulateParams,
) -> None:
    # Heated from outside, the body outruns its cells; the cells' lag pulled the hottest
    # sensor 2-4 C under the sensors' mean, a reading no logger gives (the observer skips it).
    params = _one_rack(sim, "external_heating", duration_s=7200, fault_earliest_s=60)
    clean = params.imperfections.model_copy(update={"outlier_fraction": 0.0})
    params = params.model_copy(update={"temp_noise_c": 0.0, "imperfections": clean})
    plan = simulate.plan_fleet(params)
    physics, truth = simulate.simulate_fleet(params, plan)
    m = int(np.flatnonzero(plan.fault_type == "external_heating")[0])
    lagging = physics["t_cell"][:, m] < physics["t_mod"][:, m] - 1.0
    assert lagging.sum() > 60  # the case this guards: cells a degree and more under the body
    readings = simulate.sensor_readings(params, plan, physics, truth)
    for column in ("temp_max_c", "temp_avg_c"):
        readings[column] = readings[column][:, m]
    temp_min = readings["temp_min_c"][:, m]
    read = ~np.isnan(readings["temp_max_c"]) & ~np.isnan(readings["temp_avg_c"])
    assert (readings["temp_max_c"][read] >= readings["temp_avg_c"][read]).all()
    assert (readings["temp_avg_c"][read] >= temp_min[read]).all()


def test_overcharged_module_charges_past_full_and_runs_away(sim: SimulateParams) -> None:
    params = _one_rack(sim, "overcharge", duration_s=3 * 3600, fault_earliest_s=60)
    plan = simulate.plan_fleet(params)
    physics, truth = simulate.simulate_fleet(params, plan)
    m = int(np.flatnonzero(plan.fault_type == "overcharge")[0])
    assert physics["soc"][:, m].max() > 1.1
    assert physics["v_cell"][:, m].max() > 4.5
    assert not np.isnan(truth["pnr_time"][m])
    # The BMS keeps every cell it can see at or below 4.2 V (CC-CV), the others never overcharge.
    healthy = plan.fault_type == simulate.NONE
    before = int(truth["pnr_time"][m])
    assert physics["v_cell"][:before, healthy].max() <= 4.2 + 0.01
    assert physics["soc"][:, healthy].max() <= 1.0
    readings = simulate.sensor_readings(params, plan, physics, truth)
    assert readings["soc_pct"].max() <= 100.0
    assert np.nanmax(readings["cell_v_max"]) <= simulate.CELL_V_SENSOR_MAX


def test_cooling_failure_under_heavy_duty_runs_away(sim: SimulateParams) -> None:
    params = _one_rack(sim, "cooling_failure", duration_s=6 * 3600, fault_earliest_s=60)
    params = params.model_copy(update={"fault_latest_fraction": 0.01})
    plan = simulate.plan_fleet(params)
    physics, truth = simulate.simulate_fleet(params, plan)
    m = int(np.flatnonzero(plan.fault_type == "cooling_failure")[0])
    assert not np.isnan(truth["pnr_time"][m])
    # Heavy duty from the fault on: the rack cycles at high_load_c_rate.
    start = int(plan.fault_start_s[m])
    module_capacity_ah = params.cell.capacity_ah * params.cells_parallel
    c_rate = np.abs(physics["current"][start + 10 : start + 600, m]) / module_capacity_ah
    assert np.median(c_rate) == pytest.approx(params.high_load_c_rate, rel=0.05)
    healthy = plan.fault_type == simulate.NONE
    assert np.isnan(truth["pnr_time"][healthy]).all()


# --- imperfections -------------------------------------------------------------------------------


def test_logger_gaps_remove_rows_and_nothing_else(
    tiny_fleet: TinyFleet, sim: SimulateParams
) -> None:
    plan = tiny_fleet.plan
    assert len(plan.gap_module) > 0
    frames = pd.concat(tiny_fleet.frames.values())
    for m, start, end in zip(plan.gap_module, plan.gap_start_s, plan.gap_end_s, strict=True):
        rows = frames[frames[schema.MODULE_ID] == plan.module_ids[m]]
        seconds = (rows[schema.TIMESTAMP] - rows[schema.TIMESTAMP].iloc[0]).dt.total_seconds()
        inside = (seconds >= start) & (seconds < end)
        assert not inside.any()
        assert ((seconds == start - 1) | (start == 0)).any() or (seconds < start).any()


def test_outliers_are_single_samples_of_the_configured_size(sim: SimulateParams) -> None:
    params = sim.model_copy(
        update={
            "imperfections": sim.imperfections.model_copy(update={"outlier_fraction": 0.01}),
            "temp_noise_c": 0.0,
            "dropout_fraction": 0.0,
            "duration_s": 600,
        }
    )
    plan = simulate.plan_fleet(params)
    physics, truth = simulate.simulate_fleet(params, plan)
    clean = simulate.sensor_readings(
        params.model_copy(
            update={"imperfections": sim.imperfections.model_copy(update={"outlier_fraction": 0.0})}
        ),
        plan,
        physics,
        truth,
    )
    noisy = simulate.sensor_readings(params, plan, physics, truth)
    jumps = np.abs(noisy["temp_min_c"] - clean["temp_min_c"])
    hits = jumps > 1.0
    assert 0.005 < hits.mean() < 0.02
    np.testing.assert_allclose(jumps[hits], params.imperfections.outlier_temp_c, rtol=1e-4)


# --- benign heat (issue 18) ----------------------------------------------------------------------


def test_benign_heat_families_are_hotter_for_their_own_reasons(sim: SimulateParams) -> None:
    """Each family makes a module warmer than its neighbours by a cause that is no hazard."""
    quiet = sim.model_copy(
        update={
            "faults": FaultCounts(**dict.fromkeys(sim.faults.model_dump(), 0)),
            "nuisances": NuisanceCounts(
                **dict.fromkeys(sim.nuisances.model_dump(), 0)
                | {"busy_module": 1, "poor_cooling": 1, "contact_resistance": 1}
                | {"calibration_offset": 1}
            ),
            "duration_s": 7200,
            "duty_c_rate": 1.0,
        }
    )
    plan = simulate.plan_fleet(quiet)
    physics, truth = simulate.simulate_fleet(quiet, plan)
    # The same fleet with every family's cause switched off: what the families alone change.
    neutral = quiet.model_copy(
        update={
            "busy_module_current_factor": 1.0,
            "poor_cooling_factor": 1.0,
            "contact_resistance_ohm": 0.0,
        }
    )
    plain_physics, _ = simulate.simulate_fleet(neutral, plan)
    kind = truth["nuisance_type"].to_numpy()
    after = slice(int(np.nanmax(plan.nuisance_start_s)) + 1200, None)  # every family under way
    busy = kind == "busy_module"
    current, plain_current = (np.abs(p["current"][after, busy]) for p in (physics, plain_physics))
    assert current.mean() > 1.3 * plain_current.mean()
    warmer = physics["t_mod"][after].mean(axis=0) - plain_physics["t_mod"][after].mean(axis=0)
    for name, least in (("busy_module", 0.05), ("poor_cooling", 0.05), ("contact_resistance", 0)):
        # A 10 mOhm joint at this duty's ~7 A: ~0.5 W, a few hundredths of a kelvin.
        assert warmer[kind == name].min() > least, name
    assert truth["pnr_time"].isna().all() and truth["vent_time"].isna().all()
    signals = simulate.sensor_readings(quiet, plan, physics, truth)
    offset = kind == "calibration_offset"
    m = int(np.flatnonzero(offset)[0])
    since = int(plan.nuisance_start_s[m]) + 1
    excess = signals["temp_avg_c"][since:, m] - physics["t_mod"][since:, m]
    before = signals["temp_avg_c"][: since - 2, m] - physics["t_mod"][: since - 2, m]
    assert np.nanmean(excess) - np.nanmean(before) == pytest.approx(quiet.calibration_offset_c, 0.1)


def test_a_hot_racks_ambient_and_coolant_readings_show_its_heat_wave(sim: SimulateParams) -> None:
    # The ambient and coolant traces were indexed by rack into a per-module array: every module
    # reported the ambient of one of the first rack's modules, so a heat wave on any other rack
    # heated its modules while their ambient and coolant sensors read normal.
    nuisances = sim.nuisances.model_dump() | {"hot_ambient_racks": 1}
    hot_sim = sim.model_copy(update={"nuisances": NuisanceCounts(**nuisances), "seed": 1})
    plan = simulate.plan_fleet(hot_sim)
    start = np.nanmin(plan.hot_rack_start_s)
    rack = int(np.flatnonzero(~np.isnan(plan.hot_rack_start_s))[0])
    assert rack != 0 and start < hot_sim.duration_s - 10  # where the old indexing went wrong
    physics, _ = simulate.simulate_fleet(hot_sim, plan)
    late = np.arange(hot_sim.duration_s) > start + 1
    in_rack = plan.rack_index == rack
    delta = hot_sim.hot_ambient_delta_c
    for trace in ("ambient", "coolant"):
        heated = (
            physics[trace][late][:, in_rack]
            - physics[trace][late][:, ~in_rack].mean(axis=1)[:, None]
        )
        np.testing.assert_allclose(heated, delta, atol=1e-3)
