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

# Labels written by the ``label`` stage.
HAZARD = "hazard"
OVERHEAT = "overheat"
DELTA_T_30S = "delta_t_30s"
TRAINABLE = "trainable"
LABEL_COLUMNS = [HAZARD, OVERHEAT, DELTA_T_30S, TRAINABLE]

SPLIT = "split"
