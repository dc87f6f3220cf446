"""Column names of the data contracts in ``shared/DESIGN.md``."""

from __future__ import annotations

TIMESTAMP = "timestamp"
RACK_ID = "rack_id"
MODULE_ID = "module_id"
KEYS = [TIMESTAMP, RACK_ID, MODULE_ID]

SIGNALS = [
    "voltage_v",
    "current_a",
    "soc_pct",
    "temp_avg_c",
    "temp_max_c",
    "temp_min_c",
    "ambient_c",
    "coolant_c",
    "cell_v_max",
    "cell_v_min",
    "gas_co_ppm",
    "gas_h2_ppm",
    "gas_voc_ppm",
]
CANONICAL_COLUMNS = KEYS + SIGNALS

# Ground truth written beside the telemetry by the simulator (never used as a feature).
TRUTH_COLUMNS = [
    RACK_ID,
    MODULE_ID,
    "position",
    "fault_type",
    "fault_start",
    "nuisance_type",
    "nuisance_start",
    "vent_time",
    "pnr_time",
]
# Fault/nuisance types of collected served episodes (batteryops.ingest.served): always trained on.
SERVED_KIND = "served_"

# Labels written by the ``label`` stage.
HAZARD = "hazard"
OVERHEAT = "overheat"
DELTA_T_30S = "delta_t_30s"
TRAINABLE = "trainable"
LABEL_COLUMNS = [HAZARD, OVERHEAT, DELTA_T_30S, TRAINABLE]

SPLIT = "split"

# Cycle data (SOH/RUL): one row per cell per cycle, sorted by (cell_id, cycle), no duplicate keys.
CELL_ID = "cell_id"
CYCLE = "cycle"
CYCLE_KEYS = [CELL_ID, CYCLE]
CYCLE_SIGNALS = [
    "temperature_c",  # mean cell temperature over the cycle
    "capacity_ah",  # discharge capacity of the cycle
    "resistance_ohm",  # DC internal resistance (pulse), or what the cycler reports
    "charge_throughput_ah",  # charge into the cell, cumulative from its first cycle
    "discharge_throughput_ah",  # charge out of the cell, cumulative from its first cycle
    "charge_c_rate",
    "discharge_c_rate",
    "depth_of_discharge",  # 0-1
    "time_s",  # test time at the end of the cycle, seconds since the cell's first cycle
    "temperature_max_c",  # highest cell temperature over the cycle
    "charge_time_s",  # how long the cycle's charge took (s)
    "ambient_c",  # chamber (ambient) temperature of the cycle, NaN where the source does not say
]
CYCLE_COLUMNS = CYCLE_KEYS + CYCLE_SIGNALS
# Helper columns of cycler exports: read to derive canonical ones, never written out.
CHARGE_CAPACITY = "charge_capacity_ah"  # charge into the cell during one cycle
CHARGE_CURRENT = "charge_current_a"
DISCHARGE_CURRENT = "discharge_current_a"
CYCLE_HELPER_COLUMNS = [CHARGE_CAPACITY, CHARGE_CURRENT, DISCHARGE_CURRENT]
# Optional low-rate (C/20-like) discharge curves at checkpoint cycles: capacity discharged from
# full (Ah) against terminal voltage (V), rows in discharge order.
CURVE_COLUMNS = [CELL_ID, CYCLE, "voltage_v", "capacity_ah"]
