"""Cycler records: the per-record time series of a cycler export, and the cycles they make.

Every cycler reader (:mod:`batteryops.ingest.cyclers`) turns one export into :class:`Records`:
the rows it could read in :data:`RECORD_COLUMNS` (SI units; current + on discharge, as in
telemetry), the rows it could not with the reason and the line, and what the file says about the
test. :func:`cycles_from_records` then makes the canonical cycle rows
(:data:`batteryops.core.schema.CYCLE_COLUMNS`) that the health task reads.

Cyclers count charge differently (Arbin: from the start of the cycle, one counter each way;
Maccor and Neware: from the start of each step, one counter for both ways), so readers bring
their counters to one meaning with :func:`per_cycle_from_steps`, or integrate the current with
:func:`coulomb_count` where the file has no counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema

RECORD = "record"  # the row's place in the file's own order, from 0
LINE = "line"  # where a reason points: the line in a text file, the row in a binary one (1-based)
TEST_TIME = "test_time_s"  # seconds since the test started
STEP = "step"  # the cycler's step index (-1 where the file has none)
CURRENT = "current_a"  # + discharge (out of the cell), - charge
VOLTAGE = "voltage_v"
CHARGE = "charge_capacity_ah"  # into the cell since its cycle started
DISCHARGE = "discharge_capacity_ah"  # out of the cell since its cycle started
TEMPERATURE = "temperature_c"  # cell temperature (surface); NaN where not measured
RESISTANCE = "resistance_ohm"  # what the cycler measured (Arbin's Internal_Resistance); NaN if none
AMBIENT = "ambient_c"  # the chamber (ambient) temperature the file states; NaN where it does not
RECORD_COLUMNS = [
    RECORD,
    LINE,
    TEST_TIME,
    schema.CYCLE,
    STEP,
    CURRENT,
    VOLTAGE,
    CHARGE,
    DISCHARGE,
    TEMPERATURE,
    RESISTANCE,
    AMBIENT,
]
# Columns a reader may leave out of its records (missing, NaN): what most files do not say.
OPTIONAL_RECORD_COLUMNS = [AMBIENT]
RECORD_DTYPES = {RECORD: "int64", LINE: "int64", schema.CYCLE: "int64", STEP: "int64"}
QUARANTINE_COLUMNS = [LINE, "reason"]
REQUIRED_CYCLE = [*schema.CYCLE_KEYS, "capacity_ah"]  # what a per-cycle export must have
# A record whose current is within this share of the file's largest is a rest, not a charge or
# a discharge (cyclers report a few microamps of offset at rest).
REST_SHARE = 1e-3
# A run of charging (discharging) splits a cycle's discharge (charge) into two runs when it is at
# least this share of the cycle's largest run of its side (cycles_from_records): smaller ones are
# pulses inside a run.
SPLIT_SHARE = 0.5


@dataclass
class Records:
    """What a reader makes of one export.

    Attributes:
        cell_id: The cell: from the file's metadata where it names one, else the file's stem.
        frame: The readable records (:data:`RECORD_COLUMNS`, in file order; those of
            :data:`OPTIONAL_RECORD_COLUMNS` a reader leaves out are missing).
        source_format: Which reader read it (``"arbin_csv"``, ``"maccor_text"``, ...).
        quarantined: Rows set aside: ``line``, ``reason`` (what was wrong, the column and what was
            expected), then the row's own values as text where the format has text.
        metadata: What the file says about the test: ``nominal_capacity_ah`` when it says so,
            the channel, the start time, the procedure, the units it used.
    """

    cell_id: str
    frame: pd.DataFrame
    source_format: str
    quarantined: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=QUARANTINE_COLUMNS)
    )
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in RECORD_COLUMNS if c not in self.frame.columns]
        required = [c for c in missing if c not in OPTIONAL_RECORD_COLUMNS]
        if required:
            raise ValueError(f"{self.source_format} records lack the columns {required}")
        self.frame = self.frame.assign(**dict.fromkeys(missing, np.nan))[RECORD_COLUMNS].astype(
            {c: RECORD_DTYPES.get(c, "float64") for c in RECORD_COLUMNS}
        )


@dataclass
class CycleSummary:
    """What a reader makes of an export that holds one row per cycle (no records).

    Attributes:
        frame: Canonical cycle rows of every cell in the file
            (:data:`batteryops.core.schema.CYCLE_COLUMNS` plus any of
            :data:`batteryops.core.schema.CYCLE_HELPER_COLUMNS`; missing values NaN), and
            optionally ``line``: where each row is in the file, for the reasons that point at it.
        source_format: Which reader read it.
        quarantined: Rows set aside, as in :class:`Records`.
        metadata: What the file says about the test.
    """

    frame: pd.DataFrame
    source_format: str
    quarantined: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=QUARANTINE_COLUMNS)
    )
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED_CYCLE if c not in self.frame.columns]
        if missing:
            raise ValueError(f"{self.source_format} cycle rows lack the columns {missing}")
        # A per-cycle export may lack any signal: missing, not an error.
        absent = [c for c in schema.CYCLE_SIGNALS if c not in self.frame.columns]
        self.frame = self.frame.assign(**dict.fromkeys(absent, np.nan))


def records_frame(**columns: Any) -> pd.DataFrame:
    """A :data:`RECORD_COLUMNS` frame from the columns given; the others missing.

    ``record`` defaults to 0, 1, ...; ``line`` to ``record + 2`` (one header line); ``step`` to
    -1; capacities, temperatures and resistance to NaN.
    """
    size = len(next(iter(columns.values()))) if columns else 0
    frame = pd.DataFrame({name: np.asarray(values) for name, values in columns.items()})
    frame.index = pd.RangeIndex(size)
    if RECORD not in frame:
        frame[RECORD] = np.arange(size)
    if LINE not in frame:
        frame[LINE] = frame[RECORD] + 2
    if STEP not in frame:
        frame[STEP] = -1
    for name in RECORD_COLUMNS:
        if name not in frame:
            frame[name] = np.nan
    return frame[RECORD_COLUMNS]


def per_cycle_from_steps(
    cycle: np.ndarray, step: np.ndarray, capacity: np.ndarray, current: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Charge and discharge counters from the start of each cycle, from one counter per step.

    Maccor's ``Amp-hr`` and Neware's ``Capacity`` restart at every step and count both ways up.
    A step's charge goes to the charge side when its current is a charge (negative here), to the
    discharge side when a discharge; each side carries its step totals on to the end of the cycle.

    Args:
        cycle: Cycle index per record (file order).
        step: Step index per record; a new step starts wherever it (or the cycle) changes.
        capacity: The step counter (Ah, >= 0).
        current: Current per record (A, + discharge).

    Returns:
        ``charge_capacity_ah`` and ``discharge_capacity_ah`` per record.
    """
    capacity = np.nan_to_num(np.abs(np.asarray(capacity, dtype=float)))
    charge, discharge = np.zeros(len(capacity)), np.zeros(len(capacity))
    if not len(capacity):
        return charge, discharge
    new_cycle = np.concatenate([[True], np.diff(cycle) != 0])
    new_step = new_cycle | np.concatenate([[True], np.diff(step) != 0])
    starts = np.flatnonzero(new_step)
    step_of = np.cumsum(new_step) - 1  # each record's step (a run of one step index)
    totals = np.maximum.reduceat(capacity, starts)
    # A step counts on the side of its mean current; a rest on neither.
    sign = np.sign(np.add.reduceat(np.nan_to_num(np.asarray(current, dtype=float)), starts))
    cycle_of_step = np.cumsum(new_cycle[starts])
    for side, wanted in ((charge, -1.0), (discharge, 1.0)):
        mine = pd.Series(np.where(sign == wanted, totals, 0.0))
        # This side's totals of the cycle's earlier steps (a sum that restarts every cycle, so
        # the counters never step back by a rounding error).
        before = (mine.groupby(cycle_of_step).cumsum() - mine).to_numpy()
        side[:] = before[step_of] + np.where(sign[step_of] == wanted, capacity, 0.0)
    return charge, discharge


def coulomb_count(
    test_time_s: np.ndarray, current_a: np.ndarray, cycle: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Charge and discharge from the start of each cycle by integrating the current (trapezoids).

    For files without a counter of their own. Each interval counts on the side of its mean
    current; a cycle starts its counters at 0.
    """
    time = np.asarray(test_time_s, dtype=float)
    current = np.nan_to_num(np.asarray(current_a, dtype=float))
    charge, discharge = np.zeros(len(time)), np.zeros(len(time))
    if len(time) < 2:
        return charge, discharge
    same_cycle = np.diff(cycle) == 0
    mean = (current[1:] + current[:-1]) / 2.0
    amp_hours = np.where(same_cycle, mean * np.nan_to_num(np.diff(time)) / 3600.0, 0.0)
    starts = np.flatnonzero(np.concatenate([[True], ~same_cycle]))
    counts = np.diff(np.append(starts, len(time)))
    for side, amounts in ((charge, -amp_hours), (discharge, amp_hours)):
        total = np.concatenate([[0.0], np.cumsum(np.maximum(amounts, 0.0))])
        side[:] = total - np.repeat(total[starts], counts)
    return charge, discharge


def cycles_from_records(records: Records, nominal_capacity_ah: float | None = None) -> pd.DataFrame:
    """The canonical cycle rows of one cell's records, one per cycle index.

    * ``capacity_ah`` and ``charge_capacity_ah``: the most the cycle's discharge (charge) counter
      gained in one run of discharging (charging) steps (:func:`_largest_run`): a cycle whose
      index the cycler never advanced (Maccor and Neware loops) holds several runs, and its
      capacity is the largest, not their sum (missing for a cycle without such a step);
    * ``temperature_c``: the mean of the cycle's cell temperatures;
    * ``ambient_c``: the median chamber temperature while discharging (where the capacity is
      measured; a set-point, not a mix of two when the chamber moved within the cycle), else
      over the cycle's records; missing where the file states none;
    * ``time_s``: test time at the cycle's last record, from the cell's first record;
    * ``charge_c_rate`` / ``discharge_c_rate``: the median current while charging / discharging
      over the nominal capacity (the file's, else ``nominal_capacity_ah``; missing without one);
    * ``depth_of_discharge``: the discharge capacity over the nominal capacity, at most 1;
    * throughputs: the cumulative charge in and out from the cell's first cycle (every run);
    * ``resistance_ohm``: the cycle's last resistance the cycler measured (> 0), else missing;
    * ``temperature_max_c``: the cycle's highest cell temperature;
    * ``charge_time_s``: the seconds between records while charging (each interval counted on
      the record that starts it).
    """
    frame = records.frame
    nominal = records.metadata.get("nominal_capacity_ah", nominal_capacity_ah)
    cycle = frame[schema.CYCLE]
    rows = frame.groupby(cycle, sort=True)
    current = frame[CURRENT]
    rest = current.abs() <= REST_SHARE * max(float(current.abs().max() or 0.0), 1e-12)
    charging = frame[CURRENT].where((current < 0) & ~rest).abs()
    discharging = frame[CURRENT].where((current > 0) & ~rest)
    out = pd.DataFrame(
        {
            schema.CELL_ID: records.cell_id,
            "temperature_c": rows[TEMPERATURE].mean(),
            # A cycle with no discharging (charging) record has no discharge (charge) capacity.
            "capacity_ah": _largest_run(frame, DISCHARGE, 1.0),
            "resistance_ohm": frame[RESISTANCE]
            .where(frame[RESISTANCE] > 0)
            .groupby(frame[schema.CYCLE])
            .last(),
            schema.CHARGE_CAPACITY: _largest_run(frame, CHARGE, -1.0),
            schema.CHARGE_CURRENT: charging.groupby(frame[schema.CYCLE]).median(),
            schema.DISCHARGE_CURRENT: discharging.groupby(frame[schema.CYCLE]).median(),
            "time_s": rows[TEST_TIME].max() - frame[TEST_TIME].min(),
            "temperature_max_c": rows[TEMPERATURE].max(),
            "charge_time_s": _charge_time(frame, charging.notna().to_numpy()),
            "ambient_c": _ambient(frame, discharging.notna()),
        }
    )
    out.index.name = schema.CYCLE
    out = out.reset_index()
    # Throughputs count every run of the cycle (all the charge that went in and out).
    out["charge_throughput_ah"] = rows[CHARGE].max().fillna(0.0).cumsum().to_numpy()
    out["discharge_throughput_ah"] = rows[DISCHARGE].max().fillna(0.0).cumsum().to_numpy()
    if nominal:
        out["charge_c_rate"] = out[schema.CHARGE_CURRENT] / nominal
        out["discharge_c_rate"] = out[schema.DISCHARGE_CURRENT] / nominal
        out["depth_of_discharge"] = (out["capacity_ah"] / nominal).clip(upper=1.0)
    else:
        out["charge_c_rate"] = out["discharge_c_rate"] = out["depth_of_discharge"] = np.nan
    return out[schema.CYCLE_COLUMNS + schema.CYCLE_HELPER_COLUMNS]


def _ambient(frame: pd.DataFrame, discharging: pd.Series) -> pd.Series:
    """Per cycle, the median chamber temperature while discharging, else over all its records."""
    cycle = frame[schema.CYCLE]
    during = frame[AMBIENT].where(discharging).groupby(cycle).median()
    return during.fillna(frame[AMBIENT].groupby(cycle).median())


def _charge_time(frame: pd.DataFrame, charging: np.ndarray) -> pd.Series:
    """Per cycle, the seconds from each charging record to the next record of the cycle."""
    cycle = frame[schema.CYCLE].to_numpy()
    time = frame[TEST_TIME].to_numpy(dtype=float)
    step = np.zeros(len(time))
    if len(time) > 1:
        step[:-1] = np.where(np.diff(cycle) == 0, np.nan_to_num(np.diff(time)), 0.0)
    seconds = pd.Series(np.where(charging, np.maximum(step, 0.0), 0.0))
    total = seconds.groupby(cycle).sum()
    return total.where(pd.Series(charging).groupby(cycle).any())


def _largest_run(frame: pd.DataFrame, counter: str, wanted: float) -> pd.Series:
    """Per cycle, the most ``counter`` gained over one run of steps of its side (NaN without one).

    A step (a run of one step index) is on the side of its mean current: discharging (+1) or
    charging (-1); a rest step belongs to the side before it. Runs of the ``wanted`` side split
    where the other side takes over with a run of its own at least :data:`SPLIT_SHARE` of that
    side's largest in the cycle: a cycle whose index the cycler never advanced (Maccor and
    Neware loops) splits at each of its charges, while a pulse (Arbin's resistance pulse in a
    fast charge, NASA's at the start of each charge, HPPC) never splits a run. A run's gain is the
    counter's highest value in it less its value at the record before it (0 for the cycle's
    first run: a file that starts mid-run carries what was counted before its first record).
    """
    cycle = frame[schema.CYCLE].to_numpy()
    step = frame[STEP].to_numpy()
    new_step = np.concatenate([[True], (np.diff(cycle) != 0) | (np.diff(step) != 0)])
    step_of = np.cumsum(new_step) - 1
    current = np.nan_to_num(frame[CURRENT].to_numpy(dtype=float))
    step_sign = np.sign(np.bincount(step_of, weights=current))
    side = np.where(step_sign == 0, np.nan, step_sign)[step_of]
    other = DISCHARGE if counter == CHARGE else CHARGE
    run, gains, run_cycle = _runs(cycle, _carried(side, cycle), -wanted, frame[other])
    minor = gains.index[gains < SPLIT_SHARE * gains.groupby(run_cycle).transform("max")]
    side = np.where(np.isin(run, minor), np.nan, side)  # a pulse: part of the run around it
    _, gains, run_cycle = _runs(cycle, _carried(side, cycle), wanted, frame[counter])
    return gains.groupby(run_cycle).max().reindex(np.unique(cycle))


def _carried(side: np.ndarray, cycle: np.ndarray) -> np.ndarray:
    """Each record's side, a record without one (a rest) taking the one before it in its cycle."""
    return pd.Series(side).groupby(cycle).ffill().to_numpy()


def _runs(
    cycle: np.ndarray, side: np.ndarray, wanted: float, counter: pd.Series
) -> tuple[np.ndarray, pd.Series, pd.Series]:
    """Runs of records on the ``wanted`` side: each record's run (0: none), gains, their cycle."""
    in_run = side == wanted
    same_cycle = np.concatenate([[False], np.diff(cycle) == 0])
    start = in_run & ~(np.concatenate([[False], in_run[:-1]]) & same_cycle)
    run = np.where(in_run, np.cumsum(start), 0)
    value = counter.to_numpy(dtype=float)
    previous = pd.Series(value).groupby(cycle).shift().fillna(0.0).to_numpy()
    first = start & (pd.Series(start).groupby(cycle).cumsum().to_numpy() == 1)
    base = pd.Series(np.where(first, 0.0, previous)[start], index=run[start])
    top = pd.Series(value[in_run]).groupby(run[in_run]).max()
    return run, top - base, pd.Series(cycle[start], index=run[start])
