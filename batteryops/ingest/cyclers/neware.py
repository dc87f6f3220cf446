"""Neware BTS exports: the flat record CSV, the nested "regular export" CSV, and ``.ndax``.

* **Flat CSV** (``neware_csv``): one header line (``DataPoint, Cycle Index, Step Index, Step Type,
  Time, Cumulative Time, Current(A), Voltage(V), Capacity(Ah), Chg. Cap.(Ah), DChg. Cap.(Ah),
  Date, ...``) and one line per record. ``Time`` is the step time, ``Cumulative Time`` the test
  time, both as ``h:mm:ss`` with hours past 24.
* **Regular export** (``neware_regular_csv``): three header lines, one per level. Cycle rows
  (``Cycle Index, Chg. Cap.(Ah), ...``), step rows that start with one empty field (``,Step Index,
  Step Number, Step Type, ...``) and record rows that start with two (``,,DataPoint, Time, Total
  Time, Current(A), Voltage(V), Capacity(Ah), ..., T1(?), CPU(?), ...``). A record takes its cycle
  and step from the rows above it; BTS writes the first step row on the first cycle row's line.
  The temperature units print as ``(?)``: BTS writes the degree sign in a code page the CSV
  loses. The values are degrees Celsius (26.6-27.0 in the IFE example), read as such and said
  so in ``metadata``. ``T1`` is the aux temperature probe; ``CPU(?)`` is the tester's own
  temperature, not the cell's, and is never read.
* **.ndax** (``neware_ndax``): BTS 8 binary, a zip of XML and ``.ndc`` files, read with the
  NewareNDA library (``newarenda``, BSD-3-Clause). Its current is in mA (+ on charge), its
  ``Charge_Capacity(mAh)`` and ``Discharge_Capacity(mAh)`` restart at every step, its ``Cycle``
  is the tester's and ``Time`` is the step time. NewareNDA pairs auxiliary ``.ndc`` files with
  the ``Aux`` entries of ``TestInfo.xml`` by sorting file names, which mislabels them when the
  channel numbers sort differently (in the IFE example the temperature probe lands in a column
  named ``?1_y``, the tester's CPU temperature in ``?1_x`` and a zero aux voltage in ``T1``),
  so the temperature is taken here from the file named after its entry:
  ``data_AUX_<RealChlID>_<ChlType - 100>_<AuxID>.ndc`` with ``ChlType`` 103 (a temperature;
  the IFE example's 102, 103 and 1122 entries match ``_144_2_1``, ``_144_3_1``, ``_1_1022_1``).
  Files from BTS 8 store time and charge counters only for some records; NewareNDA fills the
  others (time from the record interval, charge by integrating the current), and ``metadata``
  says how many records that touched.

The CSVs are read here by hand with Python's ``csv`` module: each row keeps its line for the
quarantine, and the nested layout needs its levels joined; the libraries that know these
layouts (cellpy, beep) read them into frames without line numbers or row checks and bring
large dependency trees of their own.

Conventions for all three: Neware's current is + on charge; here a step whose type names a
direction (``CC Chg``, ``CCCV_DChg``, ...) takes that direction with the file's magnitude (some
exports write unsigned currents), any other step the file's current with its sign turned. The
per-step counters become per-cycle ones through
:func:`batteryops.ingest.records.per_cycle_from_steps`, with a step starting wherever the step
index, the step number, the cycle or the step time says so.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.ingest import columns, files
from batteryops.ingest.cyclers import Reader
from batteryops.ingest.files import UnusableFile
from batteryops.ingest.records import (
    QUARANTINE_COLUMNS,
    Records,
    coulomb_count,
    per_cycle_from_steps,
    records_frame,
)

TEMPERATURE_UNITS: columns.UnitTable = {
    **columns.CELSIUS,
    "℃": (1.0, 0.0),
    "?": (1.0, 0.0),  # BTS's degree sign lost in the CSV's code page
}
_DURATION_UNITS: columns.UnitTable = {"": (1.0, 0.0), **columns.SECONDS}
# Header name (normalised, unit removed) -> what it is, with the units it may come in.
_ALIASES: dict[str, tuple[str, columns.UnitTable | None]] = {
    "cycleindex": ("cycle", None),
    "cycleid": ("cycle", None),
    "cycle": ("cycle", None),
    "stepindex": ("step", None),
    "stepid": ("step", None),
    "stepnumber": ("step_number", None),
    "steptype": ("step_type", None),
    "stepname": ("step_type", None),
    "cumulativetime": ("time", _DURATION_UNITS),
    "totaltime": ("time", _DURATION_UNITS),
    "testtime": ("time", _DURATION_UNITS),
    "time": ("step_time", _DURATION_UNITS),
    "steptime": ("step_time", _DURATION_UNITS),
    "current": ("current", columns.AMPS),
    "voltage": ("voltage", columns.VOLTS),
    "capacity": ("capacity", columns.AMP_HOURS),
    "chgcap": ("charge", columns.AMP_HOURS),
    "chargecapacity": ("charge", columns.AMP_HOURS),
    "dchgcap": ("discharge", columns.AMP_HOURS),
    "dischargecapacity": ("discharge", columns.AMP_HOURS),
    "t1": ("temperature", TEMPERATURE_UNITS),
    "temperature": ("temperature", TEMPERATURE_UNITS),
    "celltemperature": ("temperature", TEMPERATURE_UNITS),
    "date": ("date", None),
    "realtime": ("date", None),
    "absolutetime": ("date", None),
}
_CANONICAL = {
    "cycle": schema.CYCLE,
    "time": "test_time_s",
    "current": "current_a",
    "voltage": "voltage_v",
}
_EXPECTED = {
    "cycle": "an integer cycle index >= 0",
    "time": "a duration as h:mm:ss or seconds",
    "current": "a number (A or mA, as the header says)",
    "voltage": "a number (V)",
}
_MISSING = {"", "nan", "na", "n/a", "null", "none", "-", "--"}
_DURATION = re.compile(
    r"^\s*(?:(?P<days>\d+)\s*(?:d|days?)?,?[\s-]+)?"
    r"(?P<hours>\d+):(?P<minutes>\d{1,2}):(?P<seconds>\d{1,2}(?:\.\d*)?)\s*$"
)
_NDAX_TEMPERATURE_TYPE = 103  # TestInfo.xml ChlType of a temperature channel
_ZIP_MAGIC = b"PK\x03\x04"


# --- detection ----------------------------------------------------------------------------------


def _first_lines(head: bytes, count: int) -> list[list[str]]:
    """The first ``count`` lines of a text head, split at commas (a BOM dropped)."""
    text = head.decode("latin-1").lstrip("\ufeff").lstrip("ï»¿")
    lines = text.splitlines()[:count]
    return [[field.strip() for field in line.split(",")] for line in lines]


def _is_flat_csv(path: Path, head: bytes) -> bool:
    """A Neware flat export: ``Cycle Index``, ``Step Index`` and ``Step Type`` on line 1."""
    lines = _first_lines(head, 1)
    if not lines or not lines[0][0]:
        return False
    names = set(lines[0])
    return (
        bool(names & {"Cycle Index", "Cycle ID"})
        and bool(names & {"Step Index", "Step ID"})
        and bool(names & {"Step Type", "Step Name"})
        and any(name.startswith("Voltage(") for name in names)
    )


def _is_regular_csv(path: Path, head: bytes) -> bool:
    """A Neware regular export: cycle, step and record header lines, indented by commas."""
    lines = _first_lines(head, 3)
    return (
        len(lines) == 3
        and lines[0][0] in {"Cycle Index", "Cycle ID"}
        and len(lines[1]) > 1
        and lines[1][0] == ""
        and lines[1][1] in {"Step Index", "Step ID"}
        and len(lines[2]) > 2
        and lines[2][:2] == ["", ""]
        and any(name.startswith("Voltage(") for name in lines[2])
    )


def _is_ndax(path: Path, head: bytes) -> bool:
    """A BTS ``.ndax``: a zip whose first entries are Neware's XML or ``.ndc`` files."""
    return (
        path.suffix.lower() == ".ndax"
        and head.startswith(_ZIP_MAGIC)
        and (b".xml" in head or b".ndc" in head)
    )


# --- text rows ----------------------------------------------------------------------------------


@dataclass
class _Table:
    """Record rows of a text export as text, each with its line; rows set aside already."""

    header: list[str]
    header_line: int = 1
    rows: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    set_aside: list[dict[str, Any]] = field(default_factory=list)

    def add(self, line: int, fields: list[str], extra: tuple[str, ...] = ()) -> None:
        """Keep a row (``extra``: fields from the rows above it), or set it aside (wrong width)."""
        width = len(self.header) - len(extra)
        while len(fields) > width and not fields[-1].strip():
            fields = fields[:-1]  # trailing commas
        if len(fields) == width:
            self.rows.append([*fields, *extra])
            self.lines.append(line)
            return
        reason = (
            f"line {line}: row has {len(fields)} fields, the header has {width} "
            "(expected one value per column)"
        )
        values = (fields + [""] * width)[:width]
        self.set_aside.append(
            {"line": line, "reason": reason, **dict(zip(self.header, values, strict=False))}
        )


def _text_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Every non-blank row of a delimited text file with the line it starts on (1-based).

    Raises:
        batteryops.ingest.files.UnusableFile: If the file is empty, binary or not delimited text.
    """
    sniffed = files.sniff(path)
    text = io.StringIO(files.read_text(path, sniffed), newline="")
    reader = csv.reader(text, delimiter=sniffed.delimiter)
    rows: list[tuple[int, list[str]]] = []
    previous = 0
    try:
        for fields in reader:
            start, previous = previous + 1, reader.line_num
            if "".join(fields).strip():
                rows.append((start, fields))
    except csv.Error as error:
        raise UnusableFile(
            f"cannot parse as delimited text: {error}", line=previous + 1, expected="a CSV export"
        ) from error
    return rows


def _flat_table(path: Path) -> _Table:
    """The flat export's records: one header line, one record per line."""
    rows = _text_rows(path)
    if not rows:
        raise UnusableFile("no header line", line=1, expected="a header line and record rows")
    header = [name.strip() for name in rows[0][1]]
    while header and not header[-1]:
        header.pop()
    table = _Table(header=columns.unique_names(header))
    for line, fields in rows[1:]:
        table.add(line, fields)
    return table


def _regular_table(path: Path) -> _Table:
    """The regular export's record rows, each with its cycle's and its step's fields appended.

    Raises:
        batteryops.ingest.files.UnusableFile: If the three header lines are not there.
    """
    rows = _text_rows(path)
    if (
        len(rows) < 3
        or rows[1][1][:1] != [""]
        or [field.strip() for field in rows[2][1][:2]] != ["", ""]
    ):
        raise UnusableFile(
            "no cycle, step and record header lines",
            line=1,
            expected="Neware's regular export: 'Cycle Index,...', ',Step Index,...', "
            "',,DataPoint,...'",
        )
    cycle_width = len(rows[0][1])
    step_header = [name.strip() for name in rows[1][1][1:]]
    where = {columns.normalise_name(name): i for i, name in enumerate(step_header)}
    picks = [where.get(name, i) for i, name in enumerate(("stepindex", "stepnumber", "steptype"))]
    record_header = [name.strip() for name in rows[2][1][2:]]
    table = _Table(
        header=[*record_header, "Cycle Index", "Step Index", "Step Number", "Step Type"],
        header_line=rows[2][0],
    )
    cycle, step = "", ("", "", "")
    for line, fields in rows[3:]:
        if fields[0].strip():  # a cycle row, maybe with the first step row on its line
            cycle = fields[0]
            if len(fields) > cycle_width:
                step = tuple(_field(fields[cycle_width:], i) for i in picks)
        elif len(fields) > 1 and fields[1].strip():  # a step row
            step = tuple(_field(fields[1:], i) for i in picks)
        else:
            table.add(line, fields[2:], extra=(cycle, *step))
    return table


def _field(fields: list[str], index: int) -> str:
    return fields[index] if index < len(fields) else ""


# --- columns and values -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """One header of the file: its kind's conversion to the canonical unit."""

    header: str
    unit: str | None
    scale: float = 1.0
    offset: float = 0.0


def _map_columns(header: list[str], header_line: int) -> dict[str, _Column]:
    """What each header holds (the first header of a kind wins), with its unit conversion.

    Raises:
        batteryops.ingest.files.UnusableFile: If a needed column's unit cannot be converted.
    """
    found: dict[str, _Column] = {}
    for name in header:
        stem, unit = columns.split_unit(name, set())
        kind, units = _ALIASES.get(columns.normalise_name(stem), (None, None))
        if kind is None or kind in found:
            continue
        if units is None or unit is None:
            found[kind] = _Column(name, unit)
        elif unit in units:
            found[kind] = _Column(name, unit, *units[unit])
        elif kind in _CANONICAL:
            raise UnusableFile(
                f"column '{name}': unit '{unit}' cannot be read as {_CANONICAL[kind]}",
                line=header_line,
                column=name,
                expected=f"one of the units {sorted(units)}",
            )
    missing = [kind for kind in _CANONICAL if kind not in found]
    if missing:
        raise UnusableFile(
            f"no {' / '.join(_CANONICAL[kind] for kind in missing)} column among {header[:30]}",
            line=header_line,
            expected="Neware columns 'Cycle Index', 'Cumulative Time' or 'Total Time', "
            "'Current(A)' and 'Voltage(V)'",
        )
    return found


def _numbers(texts: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Text to float64; also which values are missing and which are not a (finite) number."""
    text = texts.str.strip()
    missing = text.str.lower().isin(_MISSING).to_numpy()
    values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~missing & ~np.isfinite(values)
    values[bad] = np.nan
    return values, missing, bad


def _durations(texts: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``h:mm:ss(.f)`` (hours past 24, an optional ``Nd`` in front) or seconds, to seconds."""
    values, missing, bad = _numbers(texts)
    if bad.any():
        parts = texts[bad].str.extract(_DURATION).astype(float)
        seconds = (
            parts["days"].fillna(0.0) * 86400.0
            + parts["hours"] * 3600.0
            + parts["minutes"] * 60.0
            + parts["seconds"]
        ).to_numpy()
        values[bad] = seconds
        bad = bad & ~np.isfinite(values)
    return values, missing, bad


class _Problems:
    """Per row, what is wrong with it, in the words of a quarantine reason."""

    def __init__(self, lines: np.ndarray, where: str = "line"):
        self.lines, self.where = lines, where
        self.reasons: dict[int, list[str]] = {}

    def flag(self, mask: np.ndarray, describe: Callable[[int], str]) -> None:
        """Note ``describe(row)`` for every row in ``mask``."""
        for row in np.flatnonzero(mask):
            self.reasons.setdefault(int(row), []).append(describe(int(row)))

    def bad(self) -> np.ndarray:
        """Which rows have a problem."""
        mask = np.zeros(len(self.lines), dtype=bool)
        mask[list(self.reasons)] = True
        return mask

    def rows(self, values: Callable[[int], dict[str, str]]) -> list[dict[str, Any]]:
        """The quarantine rows: line, reason, then the row's own values."""
        return [
            {
                "line": int(self.lines[row]),
                "reason": f"{self.where} {self.lines[row]}: " + "; ".join(reasons),
                **values(row),
            }
            for row, reasons in sorted(self.reasons.items())
        ]


def _check_required(
    kind: str,
    header: str,
    values: np.ndarray,
    missing: np.ndarray,
    bad: np.ndarray,
    text: np.ndarray,
    problems: _Problems,
) -> None:
    """Flag rows whose time, current, voltage or cycle is missing or not a number."""
    label, expected = f"{_CANONICAL[kind]} (column '{header}')", _EXPECTED[kind]
    problems.flag(missing, lambda row: f"{label}: missing (expected {expected})")
    what = "is not a duration" if kind == "time" else "is not a number"
    problems.flag(bad, lambda row: f"{label}: {text[row].strip()!r} {what} (expected {expected})")
    if kind == "cycle":
        with np.errstate(invalid="ignore"):
            wrong = np.isfinite(values) & ((values != np.round(values)) | (values < 0))
        problems.flag(wrong, lambda row: f"{label}: {text[row].strip()!r} (expected {expected})")


# --- records ------------------------------------------------------------------------------------


def _signed_current(current: np.ndarray, step_type: np.ndarray | None) -> np.ndarray:
    """Current + on discharge: from the step type's direction where it names one.

    Neware writes + on charge; ``CC DChg``, ``CCCV_Chg`` and the like name the direction, which
    also holds for the exports that write unsigned currents.
    """
    flipped = -current + 0.0
    if step_type is None:
        return flipped
    kind = pd.Series(step_type, dtype=str).str.lower().str.replace(r"[^a-z]", "", regex=True)
    discharge = kind.str.contains("dchg|discharge").to_numpy()
    charge = ~discharge & kind.str.contains("chg|charge").to_numpy()
    magnitude = np.abs(current)
    # + 0.0 turns the -0.0 of a rest into 0.0
    return np.where(discharge, magnitude, np.where(charge, -magnitude, flipped)) + 0.0


def _step_runs(
    cycle: np.ndarray, step: np.ndarray, number: np.ndarray | None, step_time: np.ndarray | None
) -> np.ndarray:
    """A running id that changes wherever a new step starts (its counters restart there).

    A missing step index, number or time takes the row's above: a gap must not split a step,
    or its counter would be counted twice.
    """
    change = np.zeros(len(cycle), dtype=bool)
    change[1:] = (np.diff(cycle) != 0) | (np.diff(_carried(step)) != 0)
    if number is not None:
        change[1:] |= np.diff(_carried(number)) != 0
    if step_time is not None:
        change[1:] |= np.diff(_carried(step_time)) < 0  # the step timer restarts
    return np.cumsum(change)


def _carried(values: np.ndarray) -> np.ndarray:
    """Missing values replaced by the last known one (-1 before any)."""
    return pd.Series(values, dtype=float).ffill().fillna(-1.0).to_numpy()


def _counters(
    values: dict[str, np.ndarray], current: np.ndarray, notes: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Charge and discharge since the start of each cycle, from Neware's per-step counters."""
    cycle = values["cycle"]
    if "capacity" in values:
        per_step = values["capacity"]
    elif "charge" in values and "discharge" in values:
        per_step = np.nan_to_num(values["charge"]) + np.nan_to_num(values["discharge"])
    else:
        notes["capacity"] = "no capacity column: charge counted from the current"
        return coulomb_count(values["time"], current, cycle)
    runs = _step_runs(
        cycle,
        values.get("step", -np.ones(len(cycle))),
        values.get("step_number"),
        values.get("step_time"),
    )
    return per_cycle_from_steps(cycle, runs, per_step, current)


def _read_values(
    table: _Table, mapping: dict[str, _Column], problems: _Problems, notes: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, pd.Series]]:
    """Every mapped column in canonical units; rows with a bad required value flagged."""
    index = {name: i for i, name in enumerate(table.header)}
    texts: dict[str, pd.Series] = {}
    values: dict[str, np.ndarray] = {}
    not_a_number: dict[str, int] = {}
    for kind, column in mapping.items():
        text = pd.Series([row[index[column.header]] for row in table.rows], dtype=str)
        texts[kind] = text
        if kind in ("step_type", "date"):
            continue
        parse = _durations if kind in ("time", "step_time") else _numbers
        numbers, missing, bad = parse(text)
        values[kind] = numbers * column.scale + column.offset
        if kind in _CANONICAL:
            shown = text.to_numpy()
            _check_required(kind, column.header, numbers, missing, bad, shown, problems)
        elif bad.any():
            not_a_number[column.header] = int(bad.sum())
    if not_a_number:
        notes["values_not_a_number"] = not_a_number
    return values, texts


def _records(table: _Table, path: Path, source_format: str) -> Records:
    """Records of a text export's rows; rows with a bad time, current, voltage or cycle set aside.

    Raises:
        batteryops.ingest.files.UnusableFile: If a needed column is missing or there is no row.
    """
    if not table.rows and not table.set_aside:
        raise UnusableFile(
            "no record rows", line=table.header_line + 1, expected="record rows below the header"
        )
    mapping = _map_columns(table.header, table.header_line)
    notes: dict[str, Any] = {}
    lines = np.asarray(table.lines, dtype=np.int64)
    problems = _Problems(lines)
    values, texts = _read_values(table, mapping, problems, notes)
    keep = ~problems.bad()
    kept = {kind: series[keep] for kind, series in values.items()}
    step_type = texts["step_type"].to_numpy()[keep] if "step_type" in texts else None
    current = _signed_current(kept["current"], step_type)
    charge, discharge = _counters(kept, current, notes)
    frame = records_frame(
        record=np.flatnonzero(keep),
        line=lines[keep],
        test_time_s=kept["time"],
        cycle=kept["cycle"].astype(np.int64),
        step=np.nan_to_num(kept.get("step", np.full(len(current), -1.0)), nan=-1.0),
        current_a=current,
        voltage_v=kept["voltage"],
        charge_capacity_ah=charge,
        discharge_capacity_ah=discharge,
        temperature_c=kept.get("temperature", np.full(len(current), np.nan)),
    )
    set_aside = table.set_aside + problems.rows(
        lambda row: dict(zip(table.header, table.rows[row], strict=True))
    )
    quarantined = pd.DataFrame(set_aside, columns=[*QUARANTINE_COLUMNS, *table.header])
    return Records(
        cell_id=path.stem,
        frame=frame,
        source_format=source_format,
        quarantined=quarantined.sort_values("line", kind="stable", ignore_index=True),
        metadata=_text_metadata(mapping, texts, keep, notes),
    )


def _text_metadata(
    mapping: dict[str, _Column], texts: dict[str, pd.Series], keep: np.ndarray, notes: dict
) -> dict[str, Any]:
    """What a CSV export says: the columns read (with their units), its start, the sign rule."""
    metadata: dict[str, Any] = {
        "columns": {kind: column.header for kind, column in mapping.items()},
        "current_sign": "Neware's + charge turned to + discharge; a step type naming "
        "Chg/DChg sets the direction",
        **notes,
    }
    if "date" in texts and keep.any():
        metadata["start_time"] = texts["date"][keep].iloc[0].strip()
    temperature = mapping.get("temperature")
    if temperature is not None and temperature.unit == "?":
        metadata["temperature_unit"] = (
            f"°C assumed: header '{temperature.header}' shows '?' where BTS wrote the degree "
            "sign in a code page the CSV lost"
        )
    return metadata


def read_flat_csv(path: Path) -> Records:
    """Read a Neware flat record CSV (one header line, one record per line).

    Raises:
        batteryops.ingest.files.UnusableFile: If a needed column is missing or unreadable.
    """
    return _records(_flat_table(path), path, "neware_csv")


def read_regular_csv(path: Path) -> Records:
    """Read a Neware regular export (cycle, step and record rows nested by leading commas).

    Raises:
        batteryops.ingest.files.UnusableFile: If the header levels or a needed column is missing.
    """
    return _records(_regular_table(path), path, "neware_regular_csv")


# --- .ndax --------------------------------------------------------------------------------------


def _newarenda() -> Any:
    """NewareNDA's ndax module (imported here: only ``.ndax`` files need it).

    Raises:
        batteryops.ingest.files.UnusableFile: If the library is not installed.
    """
    try:
        from NewareNDA import NewareNDAx
    except ImportError as error:
        raise UnusableFile(
            "reading .ndax needs the NewareNDA library, which is not installed",
            expected="newarenda==2026.6.11 installed (see pyproject.toml)",
        ) from error
    return NewareNDAx


def _ndc_frame(path: Path, name: str) -> pd.DataFrame | None:
    """One ``.ndc`` member of an ``.ndax`` read by NewareNDA (None if the zip lacks it)."""
    ndax = _newarenda()
    with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as folder:
        if name not in archive.namelist():
            return None
        return ndax.read_ndc(archive.extract(name, path=folder))


def _ndax_temperature(
    path: Path, test_info: dict[str, Any], index: np.ndarray
) -> tuple[np.ndarray, str]:
    """The cell temperature per record from the aux file of a ChlType-103 entry, and its source."""
    entries = [
        entry
        for key, entry in test_info.items()
        if re.fullmatch(r"Aux\d+", key) and isinstance(entry, dict)
    ]
    for entry in entries:
        if str(entry.get("ChlType")) != str(_NDAX_TEMPERATURE_TYPE):
            continue
        name = (
            f"data_AUX_{entry.get('RealChlID')}_{_NDAX_TEMPERATURE_TYPE - 100}_"
            f"{entry.get('AuxID')}.ndc"
        )
        aux = _ndc_frame(path, name)
        if aux is None or "Index" not in aux:
            continue
        value = next(c for c in aux.columns if c not in ("Index", "Aux"))
        series = aux.drop_duplicates("Index").set_index("Index")[value].astype(float)
        temperature = series.reindex(index).to_numpy()
        if np.nanmax(np.abs(temperature), initial=0.0) == 0.0:
            return np.full(len(index), np.nan), f"{name}: all zero (no sensor), left missing"
        return temperature, f"{name} (TestInfo.xml Aux ChlType {_NDAX_TEMPERATURE_TYPE})"
    return np.full(len(index), np.nan), "none: no temperature channel (ChlType 103) in the file"


def _ndax_test_time(step_run: np.ndarray, step_time: np.ndarray) -> np.ndarray:
    """Test time from step times: each step starts where the one before it ended.

    Not from the records' clock timestamps: the tester resets its clock every few hours (in the
    IFE example every 8 h, a second or so back each time), its step timer runs on.
    """
    new_step = np.concatenate([[True], np.diff(step_run) != 0])
    starts = np.flatnonzero(new_step)
    ends = np.append(starts[1:] - 1, len(step_time) - 1)
    offsets = np.concatenate([[0.0], np.cumsum(step_time[ends])[:-1]])
    return offsets[np.cumsum(new_step) - 1] + step_time


def _ndax_metadata(path: Path, info: dict[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """What the ``.ndax`` says: channel, start, procedure, software, interpolated records."""
    test = info.get("TestInfo", {}).get("TestInfo", {}) or {}
    version = info.get("VersionInfo", {}).get("ZwjVersion", {}) or {}
    metadata: dict[str, Any] = {
        "channel": "-".join(str(test.get(k, "?")) for k in ("DevID", "UnitID", "ChlID")),
        "start_time": test.get("StartTime"),
        "procedure": test.get("StepName"),
        "software": version.get("CurrClientVer"),
        "units": {"current": "mA", "capacity": "mAh (per step)", "voltage": "V", "time": "s"},
        "current_sign": "NewareNDA's + charge turned to + discharge; a status naming Chg/DChg "
        "sets the direction",
    }
    stored = _ndc_frame(path, "data_runInfo.ndc")
    if stored is not None and "Index" in stored:
        count = int(frame["Index"].isin(stored["Index"]).sum())
        metadata["records_with_stored_time"] = count
        metadata["records_interpolated"] = int(len(frame) - count)
    return {key: value for key, value in metadata.items() if value is not None}


def read_ndax(path: Path) -> Records:
    """Read a Neware ``.ndax`` through NewareNDA (cycle as the tester counts it).

    Raises:
        batteryops.ingest.files.UnusableFile: If NewareNDA is missing or cannot read the file.
    """
    ndax = _newarenda()
    try:
        frame = ndax.read_ndax(str(path), software_cycle_number=False)
        info = ndax.read_ndax_metadata(path)
    except Exception as error:  # any failure of the third-party parser: the file is unusable
        raise UnusableFile(
            f"NewareNDA cannot read it: {type(error).__name__}: {error}",
            expected="an .ndax holding data.ndc in a version NewareNDA reads",
        ) from error
    if frame.empty:
        raise UnusableFile("no records in data.ndc", expected="an .ndax with records")
    test = info.get("TestInfo", {}).get("TestInfo", {}) or {}
    return _ndax_records(path, frame, info, test)


def _ndax_records(
    path: Path, frame: pd.DataFrame, info: dict[str, Any], test: dict[str, Any]
) -> Records:
    """Records from NewareNDA's frame; rows with a non-finite time, current or voltage set aside."""
    rows = np.arange(1, len(frame) + 1)
    step_time = frame["Time"].to_numpy(dtype=float)
    raw = {
        "time": _ndax_test_time(frame["Step"].to_numpy(), step_time),
        "current": frame["Current(mA)"].to_numpy(dtype=float) * 1e-3,
        "voltage": frame["Voltage"].to_numpy(dtype=float),
        "cycle": frame["Cycle"].to_numpy(dtype=float),
    }
    problems = _Problems(rows, where="row")
    for kind, column in zip(raw, ("Time", "Current(mA)", "Voltage", "Cycle"), strict=True):
        label = f"{_CANONICAL[kind]} (field '{column}')"
        problems.flag(~np.isfinite(raw[kind]), lambda row, label=label: f"{label}: not a number")
    keep = ~problems.bad()
    status = frame["Status"].astype(str).to_numpy()[keep]
    current = _signed_current(raw["current"][keep], status)
    per_step = (
        frame["Charge_Capacity(mAh)"].to_numpy(dtype=float)
        + frame["Discharge_Capacity(mAh)"].to_numpy(dtype=float)
    ) * 1e-3
    cycle = raw["cycle"][keep].astype(np.int64)
    charge, discharge = per_cycle_from_steps(
        cycle, frame["Step"].to_numpy()[keep], per_step[keep], current
    )
    temperature, source = _ndax_temperature(path, test, frame["Index"].to_numpy())
    metadata = {**_ndax_metadata(path, info, frame), "temperature_source": source}
    records = records_frame(
        record=rows[keep] - 1,
        line=rows[keep],
        test_time_s=raw["time"][keep],
        cycle=cycle,
        step=frame["Step_Index"].to_numpy(dtype=np.int64)[keep],
        current_a=current,
        voltage_v=raw["voltage"][keep],
        charge_capacity_ah=charge,
        discharge_capacity_ah=discharge,
        temperature_c=temperature[keep],
    )
    quarantined = pd.DataFrame(problems.rows(lambda row: {}), columns=QUARANTINE_COLUMNS)
    barcode = str(test.get("Barcode") or "").strip()
    return Records(barcode or path.stem, records, "neware_ndax", quarantined, metadata)


READERS: list[Reader] = [
    Reader("neware_ndax", _is_ndax, read_ndax),
    Reader("neware_regular_csv", _is_regular_csv, read_regular_csv),
    Reader("neware_csv", _is_flat_csv, read_flat_csv),
]
SIDECARS: list[Callable[[Path, bytes], bool]] = []
