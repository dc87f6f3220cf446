"""batteryops.familyb: the independent simulator's fleet, physics and loggers on a small rack."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import FamilyBParams
from batteryops.familyb import fleet, plant, writer

HOUR = 3600
FAULTS = ["internal_short", "external_heating", "cooling_failure", "overcharge"]
BENIGN_HEAT = ["busy_module", "poor_cooling", "contact_resistance"]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    # One heavy-duty rack: every fault starts in its first hour, every benign-heat nuisance
    # runs beside them; 12 h is long enough for the slowest fault (a fan failure, hours).
    params = FamilyBParams(
        racks=1,
        modules_per_rack=8,
        duration_s=12 * HOUR,
        chunk_s=4 * HOUR,
        fault_earliest_s=1200,
        fault_latest_fraction=0.1,
        faults={kind: 1 for kind in FAULTS},
        nuisances={kind: 1 for kind in BENIGN_HEAT},
    )
    folder = tmp_path_factory.mktemp("family_b")
    truth = writer.write_fleet(params, folder)
    return truth, pd.read_parquet(folder / "B-rack-01.parquet")


def test_every_fault_runs_away_after_it_starts(written: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    truth, _ = written
    faulted = truth[truth["fault_type"] != "none"].set_index("fault_type")
    assert sorted(faulted.index) == sorted(FAULTS)
    assert faulted["pnr_time"].notna().all()
    lead_min = (faulted["pnr_time"] - faulted["fault_start"]).dt.total_seconds() / 60
    assert (lead_min > 5).all(), lead_min.to_dict()


def test_benign_heat_never_runs_away(written: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    truth, telemetry = written
    benign = truth[truth["nuisance_type"].isin(BENIGN_HEAT) & (truth["fault_type"] == "none")]
    assert len(benign) == 3
    assert benign["pnr_time"].isna().all() and benign["vent_time"].isna().all()
    hottest = telemetry[telemetry[schema.MODULE_ID].isin(benign[schema.MODULE_ID])]
    assert hottest["temp_max_c"].max() < 60.0


def test_canonical_telemetry(written: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    truth, telemetry = written
    assert list(telemetry.columns) == schema.CANONICAL_COLUMNS
    assert list(truth.columns) == schema.TRUTH_COLUMNS
    assert not telemetry.duplicated([schema.MODULE_ID, schema.TIMESTAMP]).any()
    for _, rows in telemetry.groupby(schema.MODULE_ID):
        assert rows[schema.TIMESTAMP].is_monotonic_increasing
    assert telemetry["soc_pct"].between(0, 100).all()
    # A module's rows stop within a minute of its point of no return (its BMS burnt).
    runaway = truth.dropna(subset=["pnr_time"]).set_index(schema.MODULE_ID)["pnr_time"]
    last = telemetry.groupby(schema.MODULE_ID)[schema.TIMESTAMP].max()
    late = (last[runaway.index] - runaway).dt.total_seconds()
    assert (late <= plant.SUPPRESSED_AFTER_S + fleet.CLOCK_OFFSET_S).all()


def test_placement_names_each_faults_failing_cell_and_its_nearest_thermistor() -> None:
    params = FamilyBParams(racks=2, faults={kind: 1 for kind in FAULTS})
    placed = writer.placement(params).set_index(schema.MODULE_ID)
    racks = fleet.plan_fleet(params)
    for rack in racks:
        for m, module in enumerate(rack.module_ids):
            cell, distance = placed.loc[module, ["failing_cell", "sensor_distance_cells"]]
            if rack.faults[m] in ("none", "overcharge"):  # no one cell
                assert (cell, distance) == (-1, -1)
                continue
            sensors = rack.sensors[m, :, 0]
            assert 0 <= cell < 14 and distance == np.abs(sensors - cell).min()
        for m, victim, _, _ in rack.isc:
            assert placed.loc[rack.module_ids[m], "failing_cell"] == victim
    assert writer.placement(params).equals(writer.placement(params))


def test_sensors_can_be_moved_away_from_each_failing_cell_and_nothing_else_changes() -> None:
    faults = {kind: 2 for kind in FAULTS}
    drawn = FamilyBParams(racks=3, faults=faults)
    far = drawn.model_copy(update={"sensor_min_distance_cells": 3})
    placed = writer.placement(far)
    one_cell = placed["failing_cell"] >= 0
    assert one_cell.sum() == 6 and (placed.loc[one_cell, "sensor_distance_cells"] >= 3).all()
    for before, after in zip(fleet.plan_fleet(drawn), fleet.plan_fleet(far), strict=True):
        assert before.faults == after.faults
        assert np.array_equal(before.module_params, after.module_params)
        assert np.array_equal(before.sensors[:, :, 1], after.sensors[:, :, 1])  # couplings
        moved = fleet.failing_cells(before) >= 0
        assert np.array_equal(before.sensors[~moved], after.sensors[~moved])


def test_same_seed_same_fleet() -> None:
    params = FamilyBParams(racks=3, faults={"overcharge": 2}, nuisances={"heat_wave_racks": 1})
    first, second = fleet.plan_fleet(params), fleet.plan_fleet(params)
    assert [r.faults for r in first] == [r.faults for r in second]
    assert np.array_equal(first[0].module_params, second[0].module_params)
    assert sum(r.nuisance == "heat_wave" for r in first) == 1


def test_too_many_rack_nuisances_are_refused() -> None:
    params = FamilyBParams(racks=1, nuisances={"hvac_cycling_racks": 1, "heat_wave_racks": 1})
    with pytest.raises(ValueError, match="2 rack nuisances for 1 racks"):
        fleet.plan_fleet(params)


def test_hvac_cycling_swings_the_room() -> None:
    # Over a day: at night the room needs no cooling at all.
    small = {"racks": 1, "modules_per_rack": 2}
    rack = fleet.plan_fleet(FamilyBParams(**small, nuisances={"hvac_cycling_racks": 1}))[0]
    steady = fleet.plan_fleet(FamilyBParams(**small))[0]
    swings = []
    for plan in (rack, steady):
        rng = np.random.default_rng(0)
        state = plant.RackState(len(plan.module_ids), rng, float(plan.room[plant.SETPOINT_C]))
        seconds = np.arange(24 * HOUR)
        params = FamilyBParams(racks=1)
        seen = plant.advance(
            state,
            0,
            writer.duty_current(plan, seconds, params, rng),
            writer.outdoor(plan, seconds, params, 0),
            plan.module_params,
            plan.cell_params,
            plan.sensors,
            plan.room,
        )
        room = seen[0, :, plant.OUTPUTS.index("room_c")]
        afternoon = room[12 * HOUR : 18 * HOUR]
        swings.append(float(afternoon.max() - afternoon.min()))
    assert swings[0] > 6.0
    assert swings[1] < 1.5
