"""The record contract: counters brought to one meaning, and cycles made from records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.ingest.records import (
    RECORD_COLUMNS,
    CycleSummary,
    Records,
    coulomb_count,
    cycles_from_records,
    per_cycle_from_steps,
    records_frame,
)

# Two cycles: charge 0.5 Ah, discharge 0.4 Ah, rest; then charge 0.6 Ah, discharge 0.3 Ah.
CYCLE = np.array([1, 1, 1, 1, 1, 1, 2, 2, 2])
STEP = np.array([1, 1, 2, 2, 3, 3, 1, 1, 2])
STEP_AH = np.array([0.0, 0.5, 0.0, 0.4, 0.0, 0.0, 0.0, 0.6, 0.3])
CURRENT = np.array([-1.0, -1.0, 1.0, 1.0, 0.0, 0.0, -1.0, -1.0, 1.0])


def test_step_counters_become_cycle_counters_on_each_side() -> None:
    charge, discharge = per_cycle_from_steps(CYCLE, STEP, STEP_AH, CURRENT)
    np.testing.assert_allclose(charge, [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0.6, 0.6])
    np.testing.assert_allclose(discharge, [0, 0, 0, 0.4, 0.4, 0.4, 0, 0, 0.3])


def test_step_counters_add_up_over_several_steps_of_one_side() -> None:
    # CC then CV charge: two charge steps of one cycle add up.
    charge, _ = per_cycle_from_steps(
        np.array([1, 1, 1, 1]), np.array([1, 1, 2, 2]), np.array([0, 0.3, 0, 0.1]), -np.ones(4)
    )
    np.testing.assert_allclose(charge, [0, 0.3, 0.3, 0.4])


def test_coulomb_count_integrates_each_side_per_cycle() -> None:
    hours = np.arange(9) * 3600.0
    charge, discharge = coulomb_count(hours, CURRENT, CYCLE)
    np.testing.assert_allclose(charge, [0, 1, 1, 1, 1, 1, 0, 1, 1])
    np.testing.assert_allclose(discharge, [0, 0, 0, 1, 1.5, 1.5, 0, 0, 0])


def _records(metadata: dict | None = None) -> Records:
    charge, discharge = per_cycle_from_steps(CYCLE, STEP, STEP_AH, CURRENT)
    frame = records_frame(
        test_time_s=np.arange(9) * 3600.0 + 100.0,
        cycle=CYCLE,
        step=STEP,
        current_a=CURRENT,
        voltage_v=np.full(9, 3.7),
        charge_capacity_ah=charge,
        discharge_capacity_ah=discharge,
        temperature_c=np.arange(9, dtype=float),
    )
    return Records("cell-1", frame, "test", metadata=metadata or {})


def test_cycles_from_records_one_row_per_cycle() -> None:
    cycles = cycles_from_records(_records({"nominal_capacity_ah": 1.0}))
    assert list(cycles.columns) == schema.CYCLE_COLUMNS + schema.CYCLE_HELPER_COLUMNS
    assert cycles[schema.CYCLE].tolist() == [1, 2]
    np.testing.assert_allclose(cycles["capacity_ah"], [0.4, 0.3])
    np.testing.assert_allclose(cycles[schema.CHARGE_CAPACITY], [0.5, 0.6])
    np.testing.assert_allclose(cycles["discharge_throughput_ah"], [0.4, 0.7])
    np.testing.assert_allclose(cycles["charge_throughput_ah"], [0.5, 1.1])
    np.testing.assert_allclose(cycles["temperature_c"], [2.5, 7.0])
    np.testing.assert_allclose(cycles["time_s"], [5 * 3600.0, 8 * 3600.0])
    np.testing.assert_allclose(cycles["depth_of_discharge"], [0.4, 0.3])
    np.testing.assert_allclose(cycles["discharge_c_rate"], [1.0, 1.0])
    assert cycles["resistance_ohm"].isna().all()  # the file measured none


def test_cycles_without_a_nominal_capacity_leave_rates_missing() -> None:
    cycles = cycles_from_records(_records())
    assert cycles[["charge_c_rate", "discharge_c_rate", "depth_of_discharge"]].isna().all().all()
    given = cycles_from_records(_records(), nominal_capacity_ah=2.0)
    np.testing.assert_allclose(given["depth_of_discharge"], [0.2, 0.15])


def test_records_name_the_columns_a_reader_forgot() -> None:
    with pytest.raises(ValueError, match=r"arbin_csv records lack the columns \['voltage_v'\]"):
        Records(
            "c", pd.DataFrame(columns=[c for c in RECORD_COLUMNS if c != "voltage_v"]), "arbin_csv"
        )
    # The optional ambient_c is not named among the missing ones.
    lacking = [c for c in RECORD_COLUMNS if c not in ("voltage_v", "ambient_c")]
    with pytest.raises(ValueError, match=r"lack the columns \['voltage_v'\]$"):
        Records("c", pd.DataFrame(columns=lacking), "arbin_csv")
    with pytest.raises(ValueError, match="capacity_ah"):
        CycleSummary(pd.DataFrame(columns=[schema.CELL_ID, schema.CYCLE]), "beep_json")


def test_records_frame_fills_defaults() -> None:
    frame = records_frame(test_time_s=[0.0, 1.0], cycle=[0, 0], current_a=[0, 1], voltage_v=[3, 3])
    assert frame[["record", "line", "step"]].values.tolist() == [[0, 2, -1], [1, 3, -1]]
    assert frame["temperature_c"].isna().all()
    assert frame["ambient_c"].isna().all()


def test_a_cycles_ambient_is_its_chamber_while_discharging() -> None:
    records = _records()
    # Cycle 1 charges and rests at 24 C, discharges at 44 C (the chamber moved for it): 44.
    # Cycle 2 states its chamber on its charge only: that one.
    ambient = np.array([24.0, 24.0, 44.0, 44.0, 24.0, 24.0, 30.0, 30.0, np.nan])
    frame = records.frame.assign(ambient_c=ambient)
    cycles = cycles_from_records(Records("cell-1", frame, "test"))
    np.testing.assert_allclose(cycles["ambient_c"], [44.0, 30.0])
    np.testing.assert_allclose(cycles["temperature_c"], [2.5, 7.0])  # the cell's, apart


def test_records_without_an_ambient_column_read_as_unknown_chamber() -> None:
    # Records written before ambient_c was in the contract (or a reader that never knew it).
    older = _records().frame.drop(columns=["ambient_c"])
    records = Records("cell-1", older, "test")
    assert list(records.frame.columns) == RECORD_COLUMNS
    assert records.frame["ambient_c"].isna().all()
    assert cycles_from_records(records)["ambient_c"].isna().all()
    assert list(older.columns) == [c for c in RECORD_COLUMNS if c != "ambient_c"]  # not changed


def test_a_cycle_without_a_discharge_has_no_capacity() -> None:
    frame = records_frame(
        test_time_s=[0.0, 3600.0],
        cycle=[0, 0],
        current_a=[-1.0, -1.0],
        voltage_v=[3.6, 4.1],
        charge_capacity_ah=[0.0, 1.0],
        discharge_capacity_ah=[0.0, 0.0],
    )
    cycles = cycles_from_records(Records("formation", frame, "test"))
    assert np.isnan(cycles["capacity_ah"].iloc[0])
    assert cycles[schema.CHARGE_CAPACITY].iloc[0] == 1.0


def test_a_cycle_of_several_loops_has_the_largest_as_capacity_and_all_as_throughput() -> None:
    # Two charge/discharge loops under one cycle index (Maccor, Neware), steps 1-4; then a
    # discharge with a short charge pulse inside it (step 6): a pulse never splits a run.
    step = np.array([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8])
    current = np.array([-1, -1, 1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1, 1, 1.0])
    step_ah = np.array([0, 1.0, 0, 0.9, 0, 0.8, 0, 0.7, 0, 1.0, 0, 0.5, 0, 0.02, 0, 0.45])
    cycle = np.array([1] * 8 + [2] * 8)
    charge, discharge = per_cycle_from_steps(cycle, step, step_ah, current)
    frame = records_frame(
        test_time_s=np.arange(16) * 600.0,
        cycle=cycle,
        step=step,
        current_a=current,
        voltage_v=np.full(16, 3.7),
        charge_capacity_ah=charge,
        discharge_capacity_ah=discharge,
    )
    cycles = cycles_from_records(Records("loops", frame, "test"))
    np.testing.assert_allclose(cycles["capacity_ah"], [0.9, 0.95])  # 0.9 > 0.7; 0.5 + 0.45
    np.testing.assert_allclose(cycles[schema.CHARGE_CAPACITY], [1.0, 1.0])
    np.testing.assert_allclose(cycles["discharge_throughput_ah"], [1.6, 2.55])
