"""NASA Ames PCoE Li-ion ageing data: the MATLAB file of each cell, and a per-discharge summary.

The Prognostics Center of Excellence battery set (Saha & Goebel 2007; US Government work, public
domain) has one MATLAB v5 file per 18650 cell, ``B00xx.mat``: a struct ``B00xx`` whose field
``cycle`` is the array of operations in test order, each with ``type`` (``charge``,
``discharge`` or ``impedance``), ``ambient_temperature`` (°C), ``time`` (its start, a MATLAB
date vector) and ``data``. Charges and discharges hold ``Voltage_measured`` (V),
``Current_measured`` (A; the file calls it "output current", yet it is **+ while charging**, so
the sign is flipped here), ``Temperature_measured`` (cell, °C) and ``Time`` (s from the
operation's start); a discharge also ``Capacity`` (Ah: the current integrated until the first
sample below 2.7 V, whatever the cut-off, and 0 or empty when the discharge never got there).
An impedance operation (EIS) holds the fitted ``Re`` and ``Rct`` (Ω).

scipy reads the MATLAB container; no library knows this layout, so the rest is written here.

Records (:func:`read_nasa_mat`):

* ``cycle``: cycle *k* is the *k*-th discharge and every operation since the discharge before it,
  so the charge that precedes a discharge belongs to its cycle (and so does a second charge with
  no discharge between, or an EIS). Operations after the last discharge form cycle *n* + 1,
  which has no discharge.
* ``step``: the operation's 1-based index in ``cycle`` (MATLAB's ``B0025.cycle(4)``); ``line``:
  the sample's 1-based row among all charge and discharge samples in file order.
* ``test_time_s``: the operation's start minus the first operation's start, plus ``Time``.
* counters: :func:`batteryops.ingest.records.coulomb_count` within each operation (never across
  the unlogged gap between two), on the operation's own side only (as a cycler's step counts:
  the ~2.5 s, 3 A pulse out of the cell as every charge starts is not a discharge), then carried
  over the operations of the cycle with :func:`batteryops.ingest.records.per_cycle_from_steps`.
* ``resistance_ohm``: each EIS's ``Re`` (Ω; the ohmic part, closest to a cycler's 1 kHz
  resistance) on the first record of its cycle after it; NaN on the other records.
* ``ambient_c``: the ``ambient_temperature`` of the sample's operation (the chamber's set-point;
  NaN where the operation has none), so a cycle's ``ambient_c`` is its charge's and discharge's
  chamber, not an EIS's (the 4 °C cells had theirs at 24 °C).
* ``metadata["cycles"]``: per cycle, the ambient temperature, the file's ``Capacity``, the counted
  capacity and their difference, and the last usable ``Re``/``Rct`` measured in the cycle;
  ``metadata["impedance"]``: every EIS with its cycle and what made a value unusable (complex,
  not positive, or above :data:`FAILED_FIT_OHM`).

The summary (:func:`read_nasa_summary`): a third party's ``cycle_summary.csv``, one row per
discharge (battery_id, cycle_number, start_time, ambient_temperature, capacity_ahr, ...), which
the per-cycle ingest rejects (``capacity_ahr`` is none of its capacity names); its
``ambient_temperature`` is the row's ``ambient_c``. Its ``cycle_number`` is the MATLAB index of
the discharge operation (4, 6, 8, ...), so cycles are renumbered 1, 2, 3, ... per cell in that
order, as the MATLAB reader numbers them.
"""

from __future__ import annotations

import csv
import io
import re
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.ingest import files
from batteryops.ingest import records as rec
from batteryops.ingest.columns import normalise_name
from batteryops.ingest.cyclers import Reader
from batteryops.ingest.files import UnusableFile
from batteryops.ingest.records import CycleSummary, Records

MAT_MAGIC = b"MATLAB 5.0 MAT-file"
_MI_COMPRESSED = 15  # MATLAB v5 data type of a zlib-compressed element
# Per-sample fields: the name in the file, what a reason says is expected.
_SAMPLE_FIELDS = {
    "Time": "a time in s",
    "Voltage_measured": "a voltage in V",
    "Current_measured": "a current in A",
    "Temperature_measured": "a temperature in °C",
}
_REQUIRED = ("Time", "Voltage_measured", "Current_measured")  # a sample needs all three
_IN_DISCHARGE = "in_discharge"  # a sample's operation is a discharge
# The PCoE cells' EIS fits lie below 0.3 ohm (Re 0.03-0.2, Rct 0.03-0.3) where they worked; the
# failed ones (B0050, B0052) are complex, negative or above 180 ohm.
FAILED_FIT_OHM = 1.0
QUARANTINE_COLUMNS = [*rec.QUARANTINE_COLUMNS, "operation", *_SAMPLE_FIELDS]
_SUMMARY_COLUMNS = ("battery_id", "cycle_number", "capacity_ahr")
_SUMMARY_HEADER = {"batteryid", "cyclenumber", "capacityahr", "ambienttemperature"}


# --- detection ----------------------------------------------------------------------------------


def detect_nasa_mat(path: Path, head: bytes) -> bool:
    """A MATLAB v5 file whose first variable has the fields of the PCoE ``cycle`` array."""
    if not head.startswith(MAT_MAGIC) or len(head) < 136:
        return False
    endian = "<" if head[126:128] == b"IM" else ">"
    body = head[128:]
    if struct.unpack(endian + "I", head[128:132])[0] == _MI_COMPRESSED:
        try:
            body = zlib.decompressobj().decompress(head[136:])
        except zlib.error:
            return False
    return b"ambient_temperature" in body and b"cycle" in body


def detect_nasa_summary(path: Path, head: bytes) -> bool:
    """A CSV whose header names battery_id, cycle_number, capacity_ahr, ambient_temperature."""
    first_line = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
    names = {normalise_name(name) for name in first_line.split(",")}
    return names >= _SUMMARY_HEADER


def is_nasa_readme(path: Path, head: bytes) -> bool:
    """A PCoE ``*README*.txt``: it describes a group of ``.mat`` files (read by their reader)."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    return (
        "readme" in path.name.lower()
        and text.startswith(b"Data Description:")
        and b"Files:" in text
        and b".mat" in text
    )


# --- the MATLAB file ----------------------------------------------------------------------------


@dataclass
class _Operation:
    """One element of the ``cycle`` array."""

    index: int  # 1-based, as MATLAB numbers it
    kind: str
    ambient_c: float
    start: datetime | None
    data: Any

    @property
    def label(self) -> str:
        """``"cycle(4) discharge"``: the operation as a reason names it."""
        return f"cycle({self.index}) {self.kind}"


def _load(path: Path) -> tuple[str, np.ndarray]:
    """The struct's name and its ``cycle`` array.

    Raises:
        batteryops.ingest.files.UnusableFile: If the file is no MATLAB file or has no such struct.
    """
    expected = (
        "a MATLAB v5 file holding one struct (B00xx) whose field 'cycle' is the array of "
        "charge, discharge and impedance operations"
    )
    import scipy.io  # only for .mat files (about 90 ms to import)
    from scipy.io.matlab import MatReadError

    try:
        contents = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except (MatReadError, ValueError, TypeError, OSError, NotImplementedError, zlib.error) as error:
        raise UnusableFile(f"cannot read as a MATLAB file: {error}", expected=expected) from error
    names = [name for name in contents if not name.startswith("__")]
    for name in names:
        operations = getattr(contents[name], "cycle", None)
        if operations is not None:
            return name, np.atleast_1d(operations)
    raise UnusableFile(f"no struct with a field 'cycle' among {names}", expected=expected)


def _start(date_vector: Any) -> datetime | None:
    """A MATLAB date vector ``[year month day hour minute second]`` as a datetime (None if not)."""
    try:
        values = np.asarray(date_vector, dtype=float).ravel()
    except (TypeError, ValueError):
        return None
    if values.size != 6 or not np.isfinite(values).all():
        return None
    try:
        year, month, day, hour, minute = (int(v) for v in values[:5])
        return datetime(year, month, day, hour, minute) + timedelta(seconds=float(values[5]))
    except ValueError:
        return None


def _operations(entries: np.ndarray) -> list[_Operation]:
    operations = []
    for index, entry in enumerate(entries, start=1):
        ambient = np.asarray(getattr(entry, "ambient_temperature", np.nan)).ravel()
        operations.append(
            _Operation(
                index=index,
                kind=str(getattr(entry, "type", "")).strip().lower(),
                ambient_c=float(ambient[0]) if ambient.size == 1 else np.nan,
                start=_start(getattr(entry, "time", None)),
                data=getattr(entry, "data", None),
            )
        )
    return operations


def _numbers(value: Any) -> tuple[np.ndarray, np.ndarray]:
    """A field's values as floats (NaN where not a real number), and as they are in the file."""
    array = np.atleast_1d(np.asarray(value)).ravel()
    if array.dtype.kind in "biuf":
        floats = array.astype(float)
    elif array.dtype.kind == "c":
        floats = np.where(array.imag == 0, array.real, np.nan)
    else:
        text = pd.Series([str(v) for v in array], dtype=object)
        floats = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    floats[~np.isfinite(floats)] = np.nan
    return floats, array


def _whole_operation_problem(
    operation: _Operation, values: dict[str, tuple[np.ndarray, np.ndarray]]
) -> str | None:
    """Why none of an operation's samples can be used, or None."""
    missing = [name for name in _REQUIRED if name not in values]
    if missing:
        return f"no field {', '.join(missing)} (expected {', '.join(_REQUIRED)} per sample)"
    sizes = {name: len(floats) for name, (floats, _) in values.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{name} {size}" for name, size in sizes.items())
        return f"fields of different lengths ({listed}; expected one value per sample)"
    if operation.start is None:
        return "its start 'time' is not a MATLAB date vector (expected [y m d h min s])"
    return None


@dataclass
class _Samples:
    """What one charge or discharge yields."""

    kept: dict[str, np.ndarray]  # line, time, step, side, current, voltage, temperature, ambient
    quarantined: list[dict[str, Any]]
    rows: int  # rows it takes in the file's line numbering


def _quarantine_row(
    line: int, reason: str, operation: _Operation, raw: dict[str, np.ndarray], sample: int
) -> dict[str, Any]:
    values = {
        name: str(raw[name][sample]) if name in raw and sample < len(raw[name]) else ""
        for name in _SAMPLE_FIELDS
    }
    return {"line": line, "reason": reason, "operation": operation.label, **values}


def _operation_samples(operation: _Operation, first_line: int, test_start: datetime) -> _Samples:
    """The samples of one charge or discharge: kept, or quarantined with their reasons."""
    fields = {name: getattr(operation.data, name, None) for name in _SAMPLE_FIELDS}
    values = {name: _numbers(value) for name, value in fields.items() if value is not None}
    raw = {name: array for name, (_, array) in values.items()}
    rows = max((len(floats) for floats, _ in values.values()), default=1)
    lines = first_line + np.arange(rows)
    problem = _whole_operation_problem(operation, values)
    if problem is not None:
        reasons = [f"line {line}: {operation.label}: {problem}" for line in lines]
        quarantined = [
            _quarantine_row(int(line), reason, operation, raw, sample)
            for sample, (line, reason) in enumerate(zip(lines, reasons, strict=True))
        ]
        return _Samples({}, quarantined, rows)
    problems: dict[int, list[str]] = {}
    for name in _REQUIRED:
        for sample in np.flatnonzero(np.isnan(values[name][0])):
            problems.setdefault(int(sample), []).append(
                f"{name} {str(raw[name][sample])!r} is not a number "
                f"(expected {_SAMPLE_FIELDS[name]})"
            )
    quarantined = [
        _quarantine_row(
            int(lines[sample]),
            f"line {lines[sample]}: {operation.label}, sample {sample + 1}: " + "; ".join(found),
            operation,
            raw,
            sample,
        )
        for sample, found in sorted(problems.items())
    ]
    keep = np.ones(rows, dtype=bool)
    keep[list(problems)] = False
    start = operation.start or test_start  # never None here: a missing start is a problem above
    offset_s = (start - test_start).total_seconds()
    temperature = values.get("Temperature_measured", (np.full(rows, np.nan), None))[0]
    kept = {
        rec.LINE: lines[keep],
        rec.TEST_TIME: offset_s + values["Time"][0][keep],
        rec.STEP: np.full(int(keep.sum()), operation.index),
        _IN_DISCHARGE: np.full(int(keep.sum()), operation.kind == "discharge"),
        rec.CURRENT: -values["Current_measured"][0][keep],  # the file: + while charging
        rec.VOLTAGE: values["Voltage_measured"][0][keep],
        rec.TEMPERATURE: temperature[keep],
        rec.AMBIENT: np.full(int(keep.sum()), operation.ambient_c),
    }
    return _Samples(kept, quarantined, rows)


def _cycle_numbers(operations: list[_Operation]) -> np.ndarray:
    """Each operation's cycle: 1 + the discharges before it (a discharge counts itself)."""
    is_discharge = np.array([op.kind == "discharge" for op in operations], dtype=np.int64)
    return 1 + np.cumsum(is_discharge) - is_discharge


def _records_frame(samples: pd.DataFrame, impedance: pd.DataFrame) -> pd.DataFrame:
    """Records with counters (coulomb counts per operation, carried over each cycle) and Re."""
    step = samples[rec.STEP].to_numpy()
    cycle = samples[schema.CYCLE].to_numpy()
    current = samples[rec.CURRENT].to_numpy()
    within_charge, within_discharge = rec.coulomb_count(
        samples[rec.TEST_TIME].to_numpy(), current, step
    )
    # An operation counts on its own side only, as a cycler's step does: the ~2.5 s, 3 A pulse
    # out of the cell as each charge starts is not a discharge (its records keep their current).
    in_discharge = samples[_IN_DISCHARGE].to_numpy(dtype=bool)
    within_charge = np.where(in_discharge, 0.0, within_charge)
    within_discharge = np.where(in_discharge, within_discharge, 0.0)
    ones = np.ones(len(step))
    charge, _ = rec.per_cycle_from_steps(cycle, step, within_charge, -ones)
    _, discharge = rec.per_cycle_from_steps(cycle, step, within_discharge, ones)
    lines = samples[rec.LINE].to_numpy()
    return rec.records_frame(
        record=lines - 1,
        line=lines,
        test_time_s=samples[rec.TEST_TIME].to_numpy(),
        cycle=cycle,
        step=step,
        current_a=current,
        voltage_v=samples[rec.VOLTAGE].to_numpy(),
        charge_capacity_ah=charge,
        discharge_capacity_ah=discharge,
        temperature_c=samples[rec.TEMPERATURE].to_numpy(),
        resistance_ohm=_resistance_column(samples, impedance),
        ambient_c=samples[rec.AMBIENT].to_numpy(),
    )


def _resistance_column(samples: pd.DataFrame, impedance: pd.DataFrame) -> np.ndarray:
    """Each usable EIS ``Re`` on the first record of its cycle after it; NaN elsewhere.

    ``Re`` (the ohmic, electrolyte part) is what compares with a cycler's 1 kHz resistance;
    ``Rct`` stays in ``metadata["impedance"]``.
    """
    resistance = np.full(len(samples), np.nan)
    time = samples[rec.TEST_TIME].to_numpy()
    cycle = samples[schema.CYCLE].to_numpy()
    usable = impedance[impedance["re_ohm"].notna()]
    positions = np.searchsorted(time, usable[rec.TEST_TIME].to_numpy(), side="left")
    for position, eis_cycle, value in zip(
        positions, usable[schema.CYCLE], usable["re_ohm"], strict=True
    ):
        if position < len(time) and cycle[position] == eis_cycle:
            resistance[position] = value
    return resistance


def _resistance(data: Any, name: str) -> tuple[float, str]:
    """An EIS fit value (Ω), or NaN and why it is unusable."""
    array = np.atleast_1d(np.asarray(getattr(data, name, np.nan))).ravel()
    if array.size != 1:
        return np.nan, f"{name} has {array.size} values"
    value = array[0]
    if np.iscomplexobj(array) and value.imag != 0:
        return np.nan, f"{name} is complex ({value:.4g})"
    try:
        number = float(np.real(value))
    except (TypeError, ValueError):
        return np.nan, f"{name} {str(value)!r} is not a number"
    if not np.isfinite(number) or number <= 0:
        return np.nan, f"{name} {number:g} is not a positive resistance"
    if number > FAILED_FIT_OHM:
        return np.nan, f"{name} {number:.4g} ohm is above {FAILED_FIT_OHM:g} ohm: a failed fit"
    return number, ""


def _impedance_table(
    operations: list[_Operation], cycles: np.ndarray, test_start: datetime
) -> pd.DataFrame:
    """One row per EIS: its operation, cycle, time, ambient, Re and Rct, and any problem."""
    rows = []
    for operation, cycle in zip(operations, cycles, strict=True):
        if operation.kind != "impedance":
            continue
        re_ohm, re_problem = _resistance(operation.data, "Re")
        rct_ohm, rct_problem = _resistance(operation.data, "Rct")
        start = operation.start
        rows.append(
            {
                "operation": operation.index,
                schema.CYCLE: int(cycle),
                rec.TEST_TIME: (start - test_start).total_seconds() if start else np.nan,
                "ambient_temperature_c": operation.ambient_c,
                "re_ohm": re_ohm,
                "rct_ohm": rct_ohm,
                "problem": "; ".join(p for p in (re_problem, rct_problem) if p),
            }
        )
    columns = ["operation", schema.CYCLE, rec.TEST_TIME, "ambient_temperature_c"]
    return pd.DataFrame(rows, columns=[*columns, "re_ohm", "rct_ohm", "problem"])


def _cycle_table(
    operations: list[_Operation], cycles: np.ndarray, frame: pd.DataFrame, impedance: pd.DataFrame
) -> pd.DataFrame:
    """Per cycle: its discharge, ambient, the file's and the counted capacity, last Re and Rct."""
    counted = frame.groupby(schema.CYCLE)[rec.DISCHARGE].max()
    rows = []
    for cycle in np.unique(cycles):
        members = [op for op, c in zip(operations, cycles, strict=True) if c == cycle]
        discharge = next((op for op in members if op.kind == "discharge"), None)
        capacity = np.nan
        if discharge is not None:
            values, _ = _numbers(getattr(discharge.data, "Capacity", np.nan))
            capacity = float(values[0]) if values.size == 1 else np.nan
        rows.append(
            {
                schema.CYCLE: int(cycle),
                "discharge_operation": discharge.index if discharge is not None else -1,
                "charges": sum(op.kind == "charge" for op in members),
                "ambient_temperature_c": (discharge or members[-1]).ambient_c,
                "capacity_file_ah": capacity,
                "capacity_counted_ah": float(counted.get(cycle, np.nan)),
            }
        )
    table = pd.DataFrame(rows)
    table["capacity_difference_ah"] = table["capacity_counted_ah"] - table["capacity_file_ah"]
    last = impedance.groupby(schema.CYCLE)[["re_ohm", "rct_ohm"]].last()  # last usable of each
    table = table.join(last, on=schema.CYCLE)
    measured = impedance.groupby(schema.CYCLE).size()
    table["impedance_count"] = table[schema.CYCLE].map(measured).fillna(0).astype(np.int64)
    return table


def _readme(path: Path) -> tuple[str, str] | None:
    """The PCoE README beside ``path`` that lists it, and its description of the test."""
    for candidate in sorted(path.parent.glob("*README*.txt")):
        text = candidate.read_text(encoding="utf-8", errors="replace")
        if "Files:" not in text:
            continue
        listed = text.split("Files:", 1)[1].split("Data Structure:", 1)[0]
        if re.search(rf"^\s*{re.escape(path.name)}\s", listed, re.MULTILINE):
            description = text.split("Files:", 1)[0].replace("Data Description:", "", 1)
            return candidate.name, " ".join(description.split())
    return None


def _samples_of_file(
    operations: list[_Operation], cycles: np.ndarray, test_start: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every charge and discharge sample: the kept ones (with cycles) and the quarantined ones."""
    kept: list[dict[str, np.ndarray]] = []
    quarantined: list[dict[str, Any]] = []
    line = 1
    for operation, cycle in zip(operations, cycles, strict=True):
        if operation.kind not in ("charge", "discharge"):
            continue
        samples = _operation_samples(operation, line, test_start)
        if samples.kept and len(samples.kept[rec.LINE]):
            cycle_of = np.full(len(samples.kept[rec.LINE]), int(cycle))
            kept.append({**samples.kept, schema.CYCLE: cycle_of})
        quarantined.extend(samples.quarantined)
        line += samples.rows
    if not kept:
        raise UnusableFile(
            "no charge or discharge sample could be read",
            expected="charge/discharge operations with Time, Voltage_measured, Current_measured",
        )
    columns = {name: np.concatenate([part[name] for part in kept]) for name in kept[0]}
    return pd.DataFrame(columns), pd.DataFrame(quarantined, columns=QUARANTINE_COLUMNS)


def _notes(operations: list[_Operation], frame: pd.DataFrame) -> list[str]:
    notes = []
    unknown = sorted({op.kind for op in operations} - {"charge", "discharge", "impedance"})
    if unknown:
        notes.append(f"operations of unknown type {unknown} were not read")
    last_of_step = frame.groupby(rec.STEP)[rec.TEST_TIME].agg(["first", "last"])
    overlaps = int(
        (last_of_step["first"].to_numpy()[1:] < last_of_step["last"].to_numpy()[:-1]).sum()
    )
    if overlaps:
        notes.append(f"{overlaps} operations start before the one before them ended")
    no_temperature = int(frame[rec.TEMPERATURE].isna().sum())
    if no_temperature:
        notes.append(f"{no_temperature} kept samples have no Temperature_measured (NaN)")
    return notes


def _mat_metadata(
    name: str,
    operations: list[_Operation],
    cycles: np.ndarray,
    frame: pd.DataFrame,
    impedance: pd.DataFrame,
    start: datetime,
) -> dict[str, Any]:
    ambient = {op.ambient_c for op in operations if np.isfinite(op.ambient_c)}
    return {
        "source": "NASA Ames Prognostics Center of Excellence Li-ion ageing (Saha & Goebel 2007)",
        "variable": name,
        "start_time": start.isoformat(),
        "operations": {
            kind: sum(op.kind == kind for op in operations) for kind in _kinds(operations)
        },
        "ambient_temperature_c": sorted(ambient),
        "units": {
            "Voltage_measured": "V",
            "Current_measured": "A",
            "Temperature_measured": "°C",
            "Time": "s",
            "Capacity": "Ah",
            "Re": "ohm",
            "Rct": "ohm",
        },
        "current_sign": "the file's Current_measured is + while charging: flipped",
        "cycle_numbering": (
            "cycle k = the k-th discharge and every operation since the one before it; operations "
            "after the last discharge form a cycle without one; step = the operation's 1-based "
            "index in 'cycle'"
        ),
        "cycles": _cycle_table(operations, cycles, frame, impedance),
        "impedance": impedance,
        "notes": _notes(operations, frame),
    }


def read_nasa_mat(path: str | Path) -> Records:
    """Read one PCoE cell file (``B00xx.mat``) into records (see the module's docstring).

    Raises:
        batteryops.ingest.files.UnusableFile: If the file is no MATLAB file, has no ``cycle``
            array, no operation with a start time, or no readable charge or discharge sample.
    """
    path = Path(path)
    name, entries = _load(path)
    operations = _operations(entries)
    starts = [op.start for op in operations if op.start is not None]
    if not starts:
        raise UnusableFile(
            "no operation has a start 'time' (MATLAB date vector)",
            expected="a 'time' of [year month day hour minute second] per operation",
        )
    cycles = _cycle_numbers(operations)
    samples, quarantined = _samples_of_file(operations, cycles, starts[0])
    impedance = _impedance_table(operations, cycles, starts[0])
    frame = _records_frame(samples, impedance)
    metadata = _mat_metadata(name, operations, cycles, frame, impedance, starts[0])
    readme = _readme(path)
    if readme is not None:
        metadata["readme"], metadata["procedure"] = readme
    return Records(name, frame, "nasa_pcoe_mat", quarantined, metadata)


def _kinds(operations: list[_Operation]) -> list[str]:
    return list(dict.fromkeys(op.kind for op in operations))


# --- the per-discharge summary ------------------------------------------------------------------

_SUMMARY_EXPECTED = "a CSV with a header naming battery_id, cycle_number and capacity_ahr"


def _summary_rows(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary's rows as text with their ``line``, and the rows of the wrong width.

    Raises:
        batteryops.ingest.files.UnusableFile: If the file is unreadable or lacks a column.
    """
    sniffed = files.sniff(path)
    text = files.read_text(path, sniffed).lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniffed.delimiter)
    header: list[str] = []
    rows, lines = [], []
    for record in reader:
        if not "".join(record).strip():
            continue
        if not header:
            header = [name.strip() for name in record]
        else:
            rows.append(record)
            lines.append(reader.line_num)
    missing = [name for name in _SUMMARY_COLUMNS if name not in header]
    if missing:
        raise UnusableFile(
            f"no column {missing} among {header[:20]}", line=1, expected=_SUMMARY_EXPECTED
        )
    good = [len(row) == len(header) for row in rows]
    table = pd.DataFrame([r for r, ok in zip(rows, good, strict=True) if ok], columns=header)
    table.insert(0, rec.LINE, [n for n, ok in zip(lines, good, strict=True) if ok])
    malformed = pd.DataFrame(
        {
            rec.LINE: [n for n, ok in zip(lines, good, strict=True) if not ok],
            "reason": [
                f"line {n}: row has {len(r)} fields, the header has {len(header)} "
                "(expected one value per column)"
                for r, n, ok in zip(rows, lines, good, strict=True)
                if not ok
            ],
        }
    )
    return table, malformed


def _summary_problems(table: pd.DataFrame) -> list[str]:
    """Per row, why it is set aside ('' to keep): no cell, no integer cycle, no capacity > 0."""
    cycle = pd.to_numeric(table["cycle_number"].str.strip(), errors="coerce")
    capacity = pd.to_numeric(table["capacity_ahr"].str.strip(), errors="coerce")
    low = pd.to_numeric(table.get("min_voltage", pd.Series("", index=table.index)), errors="coerce")
    reasons = []
    for row in range(len(table)):
        found = []
        if not table["battery_id"].iloc[row].strip():
            found.append("battery_id: missing (expected the cell's name)")
        number = cycle.iloc[row]
        if not (np.isfinite(number) and number == round(number) and number >= 0):
            found.append(
                f"cycle_number {table['cycle_number'].iloc[row]!r} is not an integer >= 0 "
                "(expected the discharge's index)"
            )
        value, text = capacity.iloc[row], table["capacity_ahr"].iloc[row].strip()
        if value == 0:
            found.append(
                f"capacity_ahr 0 (the file's 0 for a discharge that stopped above 2.7 V; "
                f"min_voltage {low.iloc[row]:.2f} V): not a measurement (expected a capacity > 0)"
            )
        elif not text:
            found.append("capacity_ahr: missing (expected a capacity in Ah > 0)")
        elif not (np.isfinite(value) and value > 0):
            found.append(f"capacity_ahr {text!r} is not a capacity (expected a number of Ah > 0)")
        line = table[rec.LINE].iloc[row]
        reasons.append(f"line {line}: " + "; ".join(found) if found else "")
    return reasons


def _discharge_ordinals(table: pd.DataFrame) -> pd.Series:
    """Per row, the discharge's place (1, 2, 3, ...) among its cell's rows by cycle_number.

    Every row with an integer cycle_number counts, kept or not, so that setting one aside does
    not renumber the discharges after it.
    """
    number = pd.to_numeric(table["cycle_number"].str.strip(), errors="coerce")
    cell = table["battery_id"].str.strip()
    return number.groupby(cell).rank(method="dense")


def _summary_extras(kept: pd.DataFrame, cycles: np.ndarray) -> pd.DataFrame:
    """The file's other columns per kept row, in SI units and + on discharge."""

    def number(column: str) -> np.ndarray:
        if column not in kept:
            return np.full(len(kept), np.nan)
        return pd.to_numeric(kept[column], errors="coerce").to_numpy(dtype=float)

    return pd.DataFrame(
        {
            schema.CELL_ID: kept["battery_id"].str.strip().to_numpy(),
            schema.CYCLE: cycles,
            "cycle_number": number("cycle_number").astype(np.int64),
            "start_time": kept.get("start_time", pd.Series("", index=kept.index)).to_numpy(),
            "ambient_temperature_c": number("ambient_temperature"),
            "max_temperature_c": number("max_temperature"),
            "min_voltage_v": number("min_voltage"),
            "final_voltage_v": number("final_voltage"),
            "mean_current_a": -number("mean_current"),  # the file: - on discharge
        }
    )


def read_nasa_summary(path: str | Path) -> CycleSummary:
    """Read the third-party per-discharge summary of the PCoE cells (``cycle_summary.csv``).

    A row is set aside without a cell, an integer ``cycle_number`` or a capacity > 0 (NASA's
    ``Capacity`` is 0 for a discharge that stopped above 2.7 V, missing in others). Cycles are
    renumbered per cell in ``cycle_number`` order (1 = the first discharge), as
    :func:`read_nasa_mat` numbers them; the file's number and its other columns are in
    ``metadata["cycles"]``. ``temperature_c`` stays missing (the file has the maximum and the
    ambient, not the mean) and so does ``time_s`` (it gives each discharge's start, not the end
    of its cycle); ``ambient_c`` is the row's ``ambient_temperature`` (missing where it is not a
    number). The frame keeps each row's ``line``.

    The per-cycle ingest (:mod:`batteryops.ingest.cycle_files`) cannot read it (``capacity_ahr``
    is none of its capacity names), and a reader cannot call it: it dispatches to the readers.

    Raises:
        batteryops.ingest.files.UnusableFile: If the file cannot be read or lacks the columns.
    """
    path = Path(path)
    table, malformed = _summary_rows(path)
    reasons = _summary_problems(table)
    ordinals = _discharge_ordinals(table)
    keep = np.array([not reason for reason in reasons], dtype=bool)
    kept = table[keep].reset_index(drop=True)
    capacity = pd.to_numeric(kept["capacity_ahr"].str.strip()).to_numpy(dtype=float)
    extras = _summary_extras(kept, ordinals[keep].to_numpy().astype(np.int64))
    frame = pd.DataFrame(
        {
            schema.CELL_ID: kept["battery_id"].str.strip(),
            schema.CYCLE: extras[schema.CYCLE],
            **{column: np.nan for column in schema.CYCLE_SIGNALS},
            "capacity_ah": capacity,
            "ambient_c": extras["ambient_temperature_c"],
            rec.LINE: kept[rec.LINE].to_numpy(dtype=np.int64),
        }
    )
    frame = frame.sort_values(schema.CYCLE_KEYS, kind="stable", ignore_index=True)
    frame["discharge_throughput_ah"] = frame.groupby(schema.CELL_ID)["capacity_ah"].cumsum()
    flagged = table[~keep].assign(reason=[r for r in reasons if r])
    quarantined = pd.concat([malformed, flagged], ignore_index=True)
    quarantined = quarantined[[rec.LINE, "reason", *table.columns.drop(rec.LINE)]].astype(
        {rec.LINE: np.int64}
    )
    metadata = {
        "source": "a third party's per-discharge summary of NASA PCoE cells",
        "cycle_numbering": "cycle = 1, 2, 3, ... per cell in the file's cycle_number order "
        "(cycle_number is the MATLAB index of the discharge operation)",
        "units": {"capacity_ahr": "Ah", "ambient_temperature": "°C", "mean_current": "A"},
        "cycles": extras,
    }
    columns = [*schema.CYCLE_COLUMNS, rec.LINE]
    return CycleSummary(
        frame[columns],
        "nasa_pcoe_summary",
        quarantined.sort_values(rec.LINE, ignore_index=True),
        metadata,
    )


READERS = [
    Reader("nasa_pcoe_mat", detect_nasa_mat, read_nasa_mat),
    Reader("nasa_pcoe_summary", detect_nasa_summary, read_nasa_summary),
]
SIDECARS = [is_nasa_readme]
