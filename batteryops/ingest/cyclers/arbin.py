"""Arbin exports and Battery Data Hub CSVs, read to the cycler record contract.

Formats (:data:`READERS`, most specific first):

* ``arbin_res``: Arbin's ``.res`` result file, an MS-Access (Jet) database. It is read with
  ``mdb-export`` and ``mdb-tables`` from Debian's ``mdbtools`` (run as programs; a file is
  refused with the install command when they are missing): ``Global_Table`` (test name,
  channel, start, schedule), ``Channel_Normal_Table`` (the records; exported in storage order,
  so sorted by ``Data_Point`` here) and ``Auxiliary_Table`` with ``Aux_Global_Data_Table``
  (auxiliary temperatures, ``Data_Type`` 1; the mean where there are several). mdbtools'
  programs are GPL-2+: they run as separate programs, neither imported nor shipped.
* ``batterydatahub_summary``: Battery Data Hub's ``<cell>-summary.csv`` (batterydata.energy.gov):
  one row per cycle, read into :class:`~batteryops.ingest.records.CycleSummary`.
* ``batterydatahub_raw``: its ``<cell>-raw.csv`` (records: ``Cycle_Index``, ``Step``, ``Time_s``,
  ``Current_A``, ``Voltage_V``, ``Cell_Temperature_C``, throughput counters, ...).
* ``arbin_csv``: Arbin's CSV export (``Data_Point``, ``Test_Time``, ``Step_Index``,
  ``Cycle_Index``, ``Current``, ``Voltage``, ``Charge_Capacity``, ``Discharge_Capacity``,
  ``Temperature``; units in brackets where the export writes them, else Arbin's s, A, V, Ah,
  °C). A ``<stem>_Metadata.csv`` beside it (:data:`SIDECARS`) names the cell (``Item_ID``), the
  channel, the start and the schedule.

What the files do, checked on their data: Arbin (CSV and ``.res``) and Battery Data Hub count
current + on charge (the voltage and the charge counter rise with it), so the sign is flipped.
Arbin's ``Charge_Capacity`` and ``Discharge_Capacity`` run from the start of each cycle and are
used as they are. Battery Data Hub's per-row ``Charge_Capacity_Ah`` / ``Discharge_Capacity_Ah``
restart at rests and run on across some steps (Maccor-style), so the raw reader takes its
cumulative ``Absolute_Charge_Throughput_Ah`` (in + out) and ``Charge_Throughput_Ah`` (in - out)
instead: charge in = (absolute + net) / 2 and out = (absolute - net) / 2, counted from each
cycle's first record. Battery Data Hub names a cell's files ``<cell>-raw.csv`` and
``<cell>-summary.csv``; the cell id is ``<cell>`` for both.

Why hand-written: the readers that exist do not fit. beep (Apache-2.0) pins numpy 1.22 and
pandas 1.4; cellpy (MIT) needs Python >= 3.13 and shells out to the same ``mdb-export`` for
``.res`` on Linux; battery-data-toolkit (Apache-2.0) brings PyTables, h5py and EMMOntoPy. None
keeps each unreadable row with its line and reason, which the contract asks for.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.ingest import columns, files
from batteryops.ingest.columns import normalise_name
from batteryops.ingest.cyclers import Reader
from batteryops.ingest.files import UnusableFile
from batteryops.ingest.records import (
    CHARGE,
    CURRENT,
    DISCHARGE,
    RESISTANCE,
    STEP,
    TEMPERATURE,
    TEST_TIME,
    VOLTAGE,
    CycleSummary,
    Records,
    coulomb_count,
    records_frame,
)

CYCLE = schema.CYCLE
_REQUIRED, _CHECKED, _OPTIONAL = "required", "checked", "optional"  # what a bad value does to a row
_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "-"})
_COUNT: columns.UnitTable = {}  # indices have no unit
_MDB_TOOLS = ("mdb-tables", "mdb-export")
_MDB_INSTALL = "mdbtools installed (Debian: apt-get install -y mdbtools)"
_MDB_TIMEOUT_S = 600.0
_JET_MAGIC = (b"Standard Jet DB", b"Standard ACE DB")  # bytes 4-18 of an MS-Access file
_OLE_EPOCH = datetime(1899, 12, 30)  # day 0 of Arbin's .res DateTime (OLE automation date)
_MATLAB_DAY_ONE = 367  # MATLAB datenum of 0001-01-01 (Battery Data Hub's Datenum_d)
_ROUND_AH = 12  # decimals of a difference of Battery Data Hub counters (they have 8)
_SIGN_NOTE = "the file counts current + on charge; flipped to + on discharge"


@dataclass(frozen=True)
class _Signal:
    """A column a format has: the names that feed it, its units and what a bad value does."""

    column: str
    names: tuple[str, ...]  # header keys (normalised, or as written for exact layouts)
    rule: str = _OPTIONAL  # _REQUIRED: missing/not a number quarantines; _CHECKED: text does
    units: columns.UnitTable = field(default_factory=dict)
    default_unit: str = ""
    expected: str = "a number"


@dataclass(frozen=True)
class _Layout:
    """The columns of one format, matched on normalised names or on names as written."""

    signals: tuple[_Signal, ...]
    exact: bool = False  # Battery Data Hub: ``Q_chg`` and ``q_chg`` are different columns


_ARBIN = _Layout(
    (
        _Signal(TEST_TIME, ("testtime",), _REQUIRED, columns.SECONDS, "s", "a test time in s"),
        _Signal(CYCLE, ("cycleindex",), _REQUIRED, _COUNT, "", "an integer cycle index >= 0"),
        _Signal(STEP, ("stepindex",), _OPTIONAL, _COUNT, "", "a step index"),
        _Signal(CURRENT, ("current",), _REQUIRED, columns.AMPS, "A", "a current in A"),
        _Signal(VOLTAGE, ("voltage",), _REQUIRED, columns.VOLTS, "V", "a voltage in V"),
        _Signal(CHARGE, ("chargecapacity",), _OPTIONAL, columns.AMP_HOURS, "Ah"),
        _Signal(DISCHARGE, ("dischargecapacity",), _OPTIONAL, columns.AMP_HOURS, "Ah"),
        _Signal(
            TEMPERATURE,
            ("temperature", "auxtemperature1", "temperature1", "celltemperature"),
            _OPTIONAL,
            columns.CELSIUS,
            "°C",
        ),
        _Signal(RESISTANCE, ("internalresistance",), _OPTIONAL, columns.OHMS, "Ohm"),
    ),
)
_ARBIN_HEADER = {"datapoint", "testtime", "cycleindex", "stepindex", "current", "voltage"}
_ARBIN_UNITS = columns.known_units(
    [columns.SECONDS, columns.AMPS, columns.VOLTS, columns.AMP_HOURS, columns.CELSIUS, columns.OHMS]
)
_ABSOLUTE, _NET = "absolute_throughput_ah", "net_throughput_ah"  # Battery Data Hub counters
_BDH_RAW = _Layout(
    (
        _Signal(TEST_TIME, ("Time_s",), _REQUIRED, _COUNT, "s", "a test time in s"),
        _Signal(CYCLE, ("Cycle_Index",), _REQUIRED, _COUNT, "", "an integer cycle index >= 0"),
        _Signal(STEP, ("Step",), _OPTIONAL, _COUNT, "", "a step index"),
        _Signal(CURRENT, ("Current_A",), _REQUIRED, _COUNT, "A", "a current in A"),
        _Signal(VOLTAGE, ("Voltage_V",), _REQUIRED, _COUNT, "V", "a voltage in V"),
        _Signal(TEMPERATURE, ("Cell_Temperature_C",), _OPTIONAL, _COUNT, "°C"),
        _Signal(_ABSOLUTE, ("Absolute_Charge_Throughput_Ah",), _OPTIONAL, _COUNT, "Ah"),
        _Signal(_NET, ("Charge_Throughput_Ah",), _OPTIONAL, _COUNT, "Ah"),
    ),
    exact=True,
)
_BDH_RAW_HEADER = {"Cycle_Index", "Step", "Time_s", "Current_A", "Voltage_V"}
_BDH_SUMMARY = _Layout(
    (
        _Signal(CYCLE, ("Cycle_Index",), _REQUIRED, _COUNT, "", "an integer cycle index >= 0"),
        _Signal("capacity_ah", ("Q_dis",), _CHECKED, _COUNT, "Ah", "a discharge capacity in Ah"),
        _Signal(schema.CHARGE_CAPACITY, ("Q_chg",), _OPTIONAL, _COUNT, "Ah"),
        _Signal("temperature_c", ("T_avg",), _OPTIONAL, _COUNT, "°C"),
        _Signal("start_s", ("tsecs_start",), _OPTIONAL, _COUNT, "s"),
        _Signal("end_s", ("tsecs_end",), _OPTIONAL, _COUNT, "s"),
        _Signal(_ABSOLUTE, ("Absolute_Charge_Throughput_Ah",), _OPTIONAL, _COUNT, "Ah"),
        _Signal(_NET, ("Charge_Throughput_Ah",), _OPTIONAL, _COUNT, "Ah"),
    ),
    exact=True,
)
_BDH_SUMMARY_HEADER = {"Cycle_Index", "Q_chg", "Q_dis", "tsecs_start"}


# --- text tables --------------------------------------------------------------------------------


@dataclass
class _Table:
    """A delimited text's data rows as text columns, with where each row is in the file."""

    headers: list[str]
    cells: dict[str, np.ndarray]  # header -> the rows' values as text
    lines: np.ndarray  # 1-based line each row starts on (the row number in a database table)
    positions: np.ndarray  # the row's place among the data rows, from 0
    malformed: pd.DataFrame  # rows whose field count differs from the header's

    def __len__(self) -> int:
        return len(self.lines)

    def take(self, order: np.ndarray) -> _Table:
        """The rows in ``order``, numbered 1, 2, ... (a database table's rows have no line)."""
        size = len(order)
        return _Table(
            headers=self.headers,
            cells={name: values[order] for name, values in self.cells.items()},
            lines=np.arange(1, size + 1, dtype=np.int64),
            positions=np.arange(size, dtype=np.int64),
            malformed=self.malformed,
        )


def _parse_table(text: str, delimiter: str = ",", skip_lines: int = 0) -> _Table:
    """Rows of a delimited text (header first) with their line numbers; blank lines skipped.

    Raises:
        UnusableFile: If the text cannot be parsed or has no header line.
    """
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    previous = 0
    try:
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if start <= skip_lines or not row:
                continue
            if header is None:
                header = [name.strip().lstrip("\ufeff") for name in row]
            else:
                rows.append((start, row))
    except csv.Error as error:
        raise UnusableFile(
            f"cannot parse as delimited text: {error}",
            line=previous + 1,
            expected="comma-separated text, one record per line",
        ) from error
    if header is None:
        raise UnusableFile("no header line", line=1, expected="a header line")
    return _table_from_rows(header, rows, delimiter)


def _table_from_rows(
    header: list[str], rows: list[tuple[int, list[str]]], delimiter: str
) -> _Table:
    """Columns of the rows that have one field per header name; the others set aside."""
    width = len(header)
    good = [(line, row) for line, row in rows if len(row) == width]
    malformed = [
        {
            "line": line,
            "reason": f"line {line}: row has {len(row)} fields, the header has {width} "
            "(expected one value per column)",
            **dict(zip(header, _fit(row, width, delimiter), strict=True)),
        }
        for line, row in rows
        if len(row) != width
    ]
    values = list(zip(*(row for _, row in good), strict=True)) if good else [()] * width
    return _Table(
        headers=header,
        cells={
            name: np.asarray(column, dtype=object)
            for name, column in zip(header, values, strict=True)
        },
        lines=np.array([line for line, _ in good], dtype=np.int64),
        positions=np.array([i for i, (_, row) in enumerate(rows) if len(row) == width], dtype=int),
        malformed=pd.DataFrame(malformed, columns=["line", "reason", *header]),
    )


def _fit(row: list[str], width: int, delimiter: str) -> list[str]:
    """A row's fields padded or folded to ``width`` values, so nothing is lost in quarantine."""
    if len(row) < width:
        return row + [""] * (width - len(row))
    return row[: width - 1] + [delimiter.join(row[width - 1 :])]


def _numbers(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Text to float64; also which values are missing and which are not a (finite) number."""
    try:
        values = np.asarray(texts, dtype=np.float64)  # the clean file's fast path
        if np.isfinite(values).all():
            return values, np.zeros(len(values), bool), np.zeros(len(values), bool)
    except ValueError:
        pass
    text = pd.Series(texts, dtype=object).astype(str).str.strip()
    missing = text.str.lower().isin(_MISSING).to_numpy()
    values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~missing & ~np.isfinite(values)
    values[bad] = np.nan
    return values, missing, bad


# --- columns and rows ---------------------------------------------------------------------------


@dataclass
class _Mapped:
    """Which header feeds each column, with its conversion and the unit it was read in."""

    headers: dict[str, str] = field(default_factory=dict)
    conversions: dict[str, columns.Conversion] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _header_key(header: str, layout: _Layout) -> tuple[str, str | None]:
    """How a layout matches a header: as written, or normalised name and unit."""
    if layout.exact:
        return header, None
    name, unit = columns.split_unit(header, _ARBIN_UNITS)
    return normalise_name(name), unit


def _map_headers(table: _Table, layout: _Layout) -> _Mapped:
    """Map a table's headers to the layout's columns (the first matching name wins).

    Raises:
        UnusableFile: If a required or checked column is missing or has a unit it cannot take.
    """
    mapped = _Mapped()
    keys = {}
    for header in table.headers:
        keys.setdefault(_header_key(header, layout)[0], header)
    for signal in layout.signals:
        header = next((keys[name] for name in signal.names if name in keys), None)
        if header is None:
            if signal.rule != _OPTIONAL:
                raise UnusableFile(
                    f"no {signal.column} column among {table.headers[:20]}",
                    line=1,
                    column=signal.names[0],
                    expected=f"a column named {signal.names[0]!r} ({signal.expected})",
                )
            continue
        unit = _header_key(header, layout)[1]
        if unit is not None and unit not in signal.units:
            problem = f"column '{header}': unit '{unit}' is not one of {sorted(signal.units)}"
            if signal.rule != _OPTIONAL:
                raise UnusableFile(problem, line=1, column=header, expected=signal.expected)
            mapped.notes.append(f"{problem}; {signal.column} left missing")
            continue
        mapped.headers[signal.column] = header
        mapped.conversions[signal.column] = signal.units.get(unit or "", columns.NO_CONVERSION)
        if unit or signal.default_unit:
            mapped.units[signal.column] = unit or signal.default_unit
    return mapped


@dataclass
class _Checked:
    """A table's values in canonical units, which rows to keep and the rows set aside."""

    values: dict[str, np.ndarray]
    keep: np.ndarray
    quarantined: pd.DataFrame
    not_a_number: dict[str, int]


def _check_rows(table: _Table, mapped: _Mapped, layout: _Layout) -> _Checked:
    """Numbers of every mapped column; rows with a bad required (or checked) value set aside.

    Raises:
        UnusableFile: If the file has no data rows, a required column is empty on every row,
            or no row is usable.
    """
    if len(table) + len(table.malformed) == 0:
        raise UnusableFile("no data rows", line=2, expected="data rows below the header")
    problems: dict[int, list[str]] = {}
    values: dict[str, np.ndarray] = {}
    not_a_number: dict[str, int] = {}
    for signal in layout.signals:
        header = mapped.headers.get(signal.column)
        if header is None:
            continue
        numbers, missing, bad = _numbers(table.cells[header])
        scale, offset = mapped.conversions[signal.column]
        values[signal.column] = numbers * scale + offset
        if signal.rule == _OPTIONAL:
            if bad.any():
                not_a_number[header] = int(bad.sum())
            continue
        if signal.rule == _REQUIRED and len(table) and missing.all():
            raise UnusableFile(
                f"column '{header}' is empty on every row ({len(table)} rows)",
                line=int(table.lines[0]),
                column=header,
                expected=signal.expected,
            )
        _flag_values(table, signal, header, (numbers, missing, bad), problems)
    keep = np.ones(len(table), dtype=bool)
    keep[list(problems)] = False
    if not keep.any():
        first = problems[min(problems)][0] if problems else table.malformed["reason"].iloc[0]
        raise UnusableFile(f"no usable row; the first: {first}", line=_first_line(table, problems))
    return _Checked(values, keep, _quarantined(table, problems), not_a_number)


def _flag_values(
    table: _Table,
    signal: _Signal,
    header: str,
    parsed: tuple[np.ndarray, np.ndarray, np.ndarray],
    problems: dict[int, list[str]],
) -> None:
    """Note, per row, a value that is not a number, a missing required one, a bad cycle index."""
    numbers, missing, bad = parsed
    with np.errstate(invalid="ignore"):
        not_index = np.isfinite(numbers) & ((numbers != np.round(numbers)) | (numbers < 0))
    flagged = bad | (missing & (signal.rule == _REQUIRED)) | (not_index & (signal.column == CYCLE))
    texts = table.cells[header]
    for row in np.flatnonzero(flagged):
        text = str(texts[row]).strip()
        if missing[row]:
            value = "missing"
        elif bad[row]:
            value = f"{text!r} is not a number"
        else:
            value = f"{text!r} is not an integer >= 0"
        problems.setdefault(int(row), []).append(
            f"line {table.lines[row]}: {signal.column} (column '{header}'): {value} "
            f"(expected {signal.expected})"
        )


def _first_line(table: _Table, problems: dict[int, list[str]]) -> int:
    lines = [int(table.lines[row]) for row in problems] + table.malformed["line"].tolist()
    return min(lines) if lines else 1


def _quarantined(table: _Table, problems: dict[int, list[str]]) -> pd.DataFrame:
    """The rows set aside: line, reason, then the row's own values as text."""
    rows = sorted(problems)
    flagged = pd.DataFrame(
        {
            "line": table.lines[rows],
            "reason": ["; ".join(problems[row]) for row in rows],
            **{name: table.cells[name][rows] for name in table.headers},
        }
    )
    parts = [part for part in (table.malformed, flagged) if len(part)]
    if not parts:
        return pd.DataFrame(columns=["line", "reason", *table.headers])
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values("line", kind="stable", ignore_index=True)


def _records(
    table: _Table, checked: _Checked, charge_discharge: tuple | None = None
) -> pd.DataFrame:
    """The kept rows as a record frame: current flipped to + discharge, a missing step -1."""
    keep = checked.keep
    kept = {column: values[keep] for column, values in checked.values.items()}
    frame: dict[str, Any] = {
        "record": table.positions[keep],
        "line": table.lines[keep],
        TEST_TIME: kept[TEST_TIME],
        CYCLE: kept[CYCLE].astype(np.int64),
        CURRENT: -kept[CURRENT],
        VOLTAGE: kept[VOLTAGE],
    }
    if STEP in kept:
        frame[STEP] = np.where(np.isfinite(kept[STEP]), kept[STEP], -1).astype(np.int64)
    for column in (CHARGE, DISCHARGE, TEMPERATURE):
        if column in kept:
            frame[column] = kept[column]
    if RESISTANCE in kept:  # Arbin writes 0 where it measured none
        frame[RESISTANCE] = np.where(kept[RESISTANCE] > 0, kept[RESISTANCE], np.nan)
    if charge_discharge is not None:
        frame[CHARGE], frame[DISCHARGE] = charge_discharge
    return records_frame(**frame)


def _read_metadata(mapped: _Mapped, checked: _Checked, table: _Table) -> dict[str, Any]:
    """What every reader says about how it read the file."""
    metadata: dict[str, Any] = {
        "columns": dict(mapped.headers),
        "units": dict(mapped.units),
        "current_sign": _SIGN_NOTE,
        "rows_read": len(table) + len(table.malformed),
        "rows_quarantined": len(checked.quarantined),
    }
    if checked.not_a_number:
        metadata["values_not_a_number"] = checked.not_a_number
    if mapped.notes:
        metadata["notes"] = list(mapped.notes)
    return metadata


# --- dates --------------------------------------------------------------------------------------


def _number(text: str | None) -> float | None:
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _unix_time(seconds: float) -> str:
    """Unix seconds (Arbin's CSV DateTime and sidecar) as an ISO time in UTC."""
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")


def _ole_time(days: float) -> str:
    """An OLE automation date (Arbin's .res, local time of the tester) as ISO text."""
    return (_OLE_EPOCH + timedelta(days=days)).isoformat(timespec="seconds")


def _matlab_time(datenum: float) -> str:
    """A MATLAB datenum (Battery Data Hub's ``Datenum_d``, local time) as ISO text."""
    return (datetime(1, 1, 1) + timedelta(days=datenum - _MATLAB_DAY_ONE)).isoformat(
        timespec="seconds"
    )


# --- Arbin CSV ----------------------------------------------------------------------------------


def _first_fields(head_bytes: bytes) -> list[str]:
    """The header line's comma-separated names (a detector's view of a text file)."""
    if b"\x00" in head_bytes:
        return []
    text = head_bytes.decode("utf-8", errors="replace").lstrip("\ufeff")
    first = text.splitlines()[0] if text else ""
    return [name.strip().strip('"') for name in first.split(",")]


def detect_arbin_csv(path: Path, head_bytes: bytes) -> bool:
    """An Arbin CSV export: Data_Point, Test_Time, indices, current and voltage in the header."""
    del path  # the header says it all
    names = {
        normalise_name(columns.split_unit(n, _ARBIN_UNITS)[0]) for n in _first_fields(head_bytes)
    }
    return names >= _ARBIN_HEADER and bool({"chargecapacity", "dischargecapacity"} & names)


def detect_arbin_sidecar(path: Path, head_bytes: bytes) -> bool:
    """Arbin's ``<stem>_Metadata.csv`` (Test_ID, IV_Ch_ID, ...), read by ``arbin_csv``."""
    names = {normalise_name(name) for name in _first_fields(head_bytes)}
    return path.name.lower().endswith("_metadata.csv") and {"testid", "ivchid"} <= names


def _arbin_sidecar(path: Path) -> dict[str, Any]:
    """What the ``<stem>_Metadata.csv`` beside an Arbin CSV says (empty without one)."""
    names = (f"{path.stem}_Metadata.csv", f"{path.stem}_metadata.csv")
    sidecar = next((path.with_name(n) for n in names if path.with_name(n).is_file()), None)
    if sidecar is None:
        return {}
    try:
        rows = list(csv.reader(io.StringIO(sidecar.read_text(encoding="utf-8", errors="replace"))))
    except (OSError, csv.Error) as error:
        return {"sidecar": sidecar.name, "sidecar_problem": str(error)}
    if len(rows) < 2:
        return {"sidecar": sidecar.name, "sidecar_problem": "no row below the header"}
    fields = {normalise_name(k): v.strip() for k, v in zip(rows[0], rows[1], strict=False)}
    metadata: dict[str, Any] = {"sidecar": sidecar.name}
    for key, name in (
        ("itemid", "item_id"),
        ("testid", "test_id"),
        ("deviceid", "device_id"),
        ("schedulefilename", "procedure"),
        ("scheduleversion", "schedule_version"),
    ):
        if fields.get(key):
            metadata[name] = fields[key]
    channel = _number(fields.get("ivchid"))
    if channel is not None:
        metadata["channel"] = int(channel) + 1  # IV_Ch_ID counts from 0; the export says CH<n+1>
    start = _number(fields.get("firststartdatetime"))
    if start:
        metadata["start_time"] = _unix_time(start)
    return metadata


def read_arbin_csv(path: Path) -> Records:
    """Read an Arbin CSV export (and its ``_Metadata.csv`` sidecar when present).

    Args:
        path: The CSV export.

    Returns:
        The records (current + on discharge), the rows set aside and what the file says; the
        cell id is the sidecar's ``Item_ID``, else the file's stem.

    Raises:
        UnusableFile: If the file lacks a required column, a required column is empty on every
            row (as ``Cycle_Index`` in a bare channel export), or no row is usable.
    """
    path = Path(path)
    sniffed = files.sniff(path)
    table = _parse_table(files.read_text(path, sniffed), sniffed.delimiter, sniffed.skip_rows)
    mapped = _map_headers(table, _ARBIN)
    checked = _check_rows(table, mapped, _ARBIN)
    metadata = {**_arbin_sidecar(path), **_read_metadata(mapped, checked, table)}
    date_header = next((h for h in table.headers if normalise_name(h) == "datetime"), None)
    if "start_time" not in metadata and date_header and len(table):
        first = str(table.cells[date_header][checked.keep][0]).strip()
        seconds = _number(first)
        metadata["start_time"] = _unix_time(seconds) if seconds and seconds > 1e8 else first
    return Records(
        cell_id=metadata.get("item_id") or path.stem,
        frame=_records(table, checked),
        source_format="arbin_csv",
        quarantined=checked.quarantined,
        metadata=metadata,
    )


# --- Arbin .res ---------------------------------------------------------------------------------


def detect_arbin_res(path: Path, head_bytes: bytes) -> bool:
    """An Arbin ``.res`` file: an MS-Access database named ``*.res``."""
    return path.suffix.lower() == ".res" and head_bytes[4:19] in _JET_MAGIC


def _mdb(arguments: list[str]) -> str:
    """Run an mdbtools program and return what it prints.

    Raises:
        UnusableFile: If mdbtools is not installed, or the program fails on the file.
    """
    missing = [tool for tool in _MDB_TOOLS if shutil.which(tool) is None]
    if missing:
        raise UnusableFile(
            f"{' and '.join(missing)} not installed: Arbin .res files (MS-Access databases) are "
            "read with mdbtools (Debian: apt-get install -y mdbtools)",
            expected=_MDB_INSTALL,
        )
    try:
        done = subprocess.run(  # a fixed program and the file's path, no shell
            arguments,
            capture_output=True,
            check=True,
            timeout=_MDB_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C"},  # numbers with a decimal point in any locale
        )
    except subprocess.CalledProcessError as error:
        said = error.stderr.decode("utf-8", errors="replace").strip()[:300]
        raise UnusableFile(
            f"{arguments[0]} failed: {said or f'exit code {error.returncode}'}",
            expected="an Arbin .res (MS-Access) database that mdbtools can read",
        ) from error
    except subprocess.TimeoutExpired as error:
        raise UnusableFile(
            f"{arguments[0]} took longer than {_MDB_TIMEOUT_S:g} s", expected="a readable .res"
        ) from error
    return done.stdout.decode("utf-8", errors="replace")


def _res_table(path: Path, name: str) -> _Table:
    return _parse_table(_mdb(["mdb-export", str(path), name]))


def _res_global(path: Path, tables: set[str]) -> dict[str, Any]:
    """The test's name, channel, start, schedule and stated capacity (``Global_Table``).

    Raises:
        UnusableFile: If ``Global_Table`` does not hold exactly one test.
    """
    table = _res_table(path, "Global_Table")
    if len(table) != 1:
        names = [str(name) for name in table.cells.get("Test_Name", [])]
        raise UnusableFile(
            f"Global_Table holds {len(table)} tests {names}: one cell per file is read",
            column="Test_Name",
            expected="one test per .res file",
        )
    row = {name: str(values[0]).strip() for name, values in table.cells.items()}
    metadata: dict[str, Any] = {}
    for key, name in (
        ("Test_Name", "test_name"),
        ("Schedule_File_Name", "procedure"),
        ("Schedule_Version", "schedule_version"),
        ("Creator", "creator"),
        ("Comments", "comments"),
    ):
        if row.get(key):
            metadata[name] = row[key]
    for key, name in (("Channel_Index", "channel"), ("Test_ID", "test_id")):
        if (number := _number(row.get(key))) is not None:
            metadata[name] = int(number)
    # As stated where not zero (Arbin writes 0 for "not set"); MASS and Specific_Capacity
    # come without a unit, Capacity is the nominal capacity in Ah.
    for key, name in (
        ("MASS", "mass"),
        ("Specific_Capacity", "specific_capacity"),
        ("Capacity", "nominal_capacity_ah"),
    ):
        if number := _number(row.get(key)):
            metadata[name] = number
    if start := _number(row.get("Start_DateTime")):
        metadata["start_time"] = _ole_time(start)
    if "Version_Table" in tables:
        version = _res_table(path, "Version_Table").cells.get("Version_Schema_Field", [])
        if len(version):
            metadata["results_file_version"] = str(version[0])
    return metadata


def _res_records_table(path: Path) -> _Table:
    """``Channel_Normal_Table`` in ``Data_Point`` order (mdb-export gives storage order).

    Raises:
        UnusableFile: If the table holds the records of more than one test.
    """
    table = _res_table(path, "Channel_Normal_Table")
    tests = sorted(set(table.cells.get("Test_ID", [])))
    if len(tests) > 1:
        raise UnusableFile(
            f"Channel_Normal_Table holds the records of tests {tests}",
            column="Test_ID",
            expected="one test per .res file",
        )
    if "Data_Point" not in table.cells:
        return table
    points = _numbers(table.cells["Data_Point"])[0]
    return table.take(np.argsort(points, kind="stable"))


def _res_temperature(
    path: Path, tables: set[str], data_points: np.ndarray
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Cell temperature per record from the auxiliary temperature channels (their mean)."""
    if "Auxiliary_Table" not in tables:
        return None, {}
    aux = pd.read_csv(io.StringIO(_mdb(["mdb-export", str(path), "Auxiliary_Table"])))
    if aux.empty or not {"Data_Point", "Data_Type", "X"} <= set(aux.columns):
        return None, {}
    aux = aux[aux["Data_Type"] == 1]  # Arbin's auxiliary data type 1: temperature
    if aux.empty:
        return None, {}
    unit = _aux_temperature_unit(path) if "Aux_Global_Data_Table" in tables else "c"
    scale, offset = columns.CELSIUS.get(unit, columns.NO_CONVERSION)
    values = pd.to_numeric(aux["X"], errors="coerce") * scale + offset
    mean = values.groupby(pd.to_numeric(aux["Data_Point"], errors="coerce")).mean()
    channels = int(aux["Auxiliary_Index"].nunique()) if "Auxiliary_Index" in aux else 1
    how = f"Auxiliary_Table, mean of {channels} temperature channel(s) ({unit})"
    return mean.reindex(data_points).to_numpy(dtype=float), {"temperature_from": how}


def _aux_temperature_unit(path: Path) -> str:
    """The unit ``Aux_Global_Data_Table`` gives the temperature channels (``c`` unless one)."""
    described = pd.read_csv(io.StringIO(_mdb(["mdb-export", str(path), "Aux_Global_Data_Table"])))
    if not {"Data_Type", "Unit"} <= set(described.columns):
        return "c"
    units = described.loc[described["Data_Type"] == 1, "Unit"].dropna().astype(str).str.lower()
    return str(units.iloc[0]) if units.nunique() == 1 else "c"


def read_arbin_res(path: Path) -> Records:
    """Read an Arbin ``.res`` file (MS-Access) with mdbtools.

    Args:
        path: The ``.res`` file.

    Returns:
        The records in ``Data_Point`` order (``line`` is the row in that order, which is the
        ``Data_Point`` where Arbin numbers them 1, 2, ...), current + on discharge, auxiliary
        temperature where the file has it; the cell id is ``Global_Table``'s ``Test_Name``.

    Raises:
        UnusableFile: If mdbtools is missing or fails, a table or column is missing, the file
            holds more than one test, or no row is usable.
    """
    path = Path(path)
    tables = set(_mdb(["mdb-tables", "-1", str(path)]).split())
    for needed in ("Global_Table", "Channel_Normal_Table"):
        if needed not in tables:
            raise UnusableFile(
                f"no {needed} in the database (tables: {sorted(tables)})",
                expected="an Arbin .res file with Global_Table and Channel_Normal_Table",
            )
    metadata = _res_global(path, tables)
    table = _res_records_table(path)
    mapped = _map_headers(table, _ARBIN)
    checked = _check_rows(table, mapped, _ARBIN)
    points = _numbers(table.cells.get("Data_Point", table.lines))[0]
    temperature, how = _res_temperature(path, tables, points)
    if temperature is not None:
        checked.values[TEMPERATURE] = temperature
        mapped.units[TEMPERATURE] = "°C"
    metadata.update(how)
    metadata.update(_read_metadata(mapped, checked, table))
    return Records(
        cell_id=metadata.get("test_name") or path.stem,
        frame=_records(table, checked),
        source_format="arbin_res",
        quarantined=checked.quarantined,
        metadata=metadata,
    )


# --- Battery Data Hub ---------------------------------------------------------------------------


def detect_batterydatahub_raw(path: Path, head_bytes: bytes) -> bool:
    """Battery Data Hub records: Cycle_Index, Step, Time_s, Current_A, Voltage_V."""
    del path
    return set(_first_fields(head_bytes)) >= _BDH_RAW_HEADER


def detect_batterydatahub_summary(path: Path, head_bytes: bytes) -> bool:
    """Battery Data Hub cycle summary: Cycle_Index, Q_chg, Q_dis, tsecs_start."""
    del path
    return set(_first_fields(head_bytes)) >= _BDH_SUMMARY_HEADER


def _bdh_cell(path: Path) -> str:
    """``p492-13`` from ``p492-13-raw.csv`` or ``p492-13-summary.csv``."""
    stem = path.name
    for extension in (".gz", ".csv"):
        if stem.lower().endswith(extension):
            stem = stem[: -len(extension)]
    for suffix in ("-raw", "-summary"):
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def _bdh_metadata(table: _Table, keep: np.ndarray) -> dict[str, Any]:
    """Start time (``Datenum_d``) and which cycles each ``Cycle_Label`` names."""
    metadata: dict[str, Any] = {}
    if "Datenum_d" in table.cells and keep.any():
        first = _number(table.cells["Datenum_d"][keep][0])
        if first:
            metadata["start_time"] = _matlab_time(first)
    if "Cycle_Label" in table.cells and "Cycle_Index" in table.cells:
        labels = pd.DataFrame(
            {
                "label": pd.Series(table.cells["Cycle_Label"][keep]).astype(str).str.strip(),
                "cycle": _numbers(table.cells["Cycle_Index"][keep])[0],
            }
        )
        labels = labels[~labels["label"].str.lower().isin(_MISSING)]
        metadata["cycle_labels"] = {
            label: sorted(int(c) for c in group["cycle"].dropna().unique())
            for label, group in labels.groupby("label", sort=True)
        }
    return metadata


def _throughput_counters(checked: _Checked) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """Per-cycle charge in and out of the kept rows, from the file's cumulative throughputs."""
    keep = checked.keep
    cycle = checked.values[CYCLE][keep]
    if _ABSOLUTE in checked.values and _NET in checked.values:
        absolute, net = checked.values[_ABSOLUTE][keep], checked.values[_NET][keep]
        sides = []
        for total in ((absolute + net) / 2.0, (absolute - net) / 2.0):
            series = pd.Series(total)
            since_start = series - series.groupby(cycle).transform("first")
            sides.append(since_start.round(_ROUND_AH).to_numpy())  # not 1e-17 for "none"
        how = "(Absolute_Charge_Throughput_Ah ± Charge_Throughput_Ah) / 2 from each cycle's start"
        return (sides[0], sides[1]), how
    counted = coulomb_count(checked.values[TEST_TIME][keep], -checked.values[CURRENT][keep], cycle)
    return counted, "coulomb count of Current_A (the file has no throughput counters)"


def read_batterydatahub_raw(path: Path) -> Records:
    """Read a Battery Data Hub ``<cell>-raw.csv``.

    Args:
        path: The CSV.

    Returns:
        The records (current + on discharge; per-cycle charge and discharge from the file's
        throughput counters), the rows set aside, and the start time and cycle labels.

    Raises:
        UnusableFile: If a required column is missing or empty, or no row is usable.
    """
    path = Path(path)
    sniffed = files.sniff(path)
    table = _parse_table(files.read_text(path, sniffed), sniffed.delimiter, sniffed.skip_rows)
    mapped = _map_headers(table, _BDH_RAW)
    checked = _check_rows(table, mapped, _BDH_RAW)
    counters, how = _throughput_counters(checked)
    metadata = {**_read_metadata(mapped, checked, table), **_bdh_metadata(table, checked.keep)}
    metadata["capacity_from"] = how
    if "Frequency_Hz" in table.cells:
        metadata["impedance_rows"] = int(
            np.isfinite(_numbers(table.cells["Frequency_Hz"])[0]).sum()
        )
    return Records(
        cell_id=_bdh_cell(path),
        frame=_records(table, checked, counters),
        source_format="batterydatahub_raw",
        quarantined=checked.quarantined,
        metadata=metadata,
    )


def _summary_frame(cell_id: str, values: dict[str, np.ndarray], lines: np.ndarray) -> pd.DataFrame:
    """Canonical cycle rows from a Battery Data Hub summary's (kept) values, with their lines."""
    size = len(values[CYCLE])
    missing = np.full(size, np.nan)
    frame = pd.DataFrame({schema.CELL_ID: cell_id, CYCLE: values[CYCLE].astype(np.int64)})
    frame["line"] = lines
    for column in (*schema.CYCLE_SIGNALS, schema.CHARGE_CAPACITY):
        frame[column] = values.get(column, missing)
    if "end_s" in values:
        start = values.get("start_s", values["end_s"])
        frame["time_s"] = values["end_s"] - np.nanmin(start) if size else missing
    if _ABSOLUTE in values and _NET in values:
        in_and_out = values[_ABSOLUTE] + values[_NET], values[_ABSOLUTE] - values[_NET]
        frame["charge_throughput_ah"] = np.round(in_and_out[0] / 2.0, _ROUND_AH)
        frame["discharge_throughput_ah"] = np.round(in_and_out[1] / 2.0, _ROUND_AH)
    else:
        frame["charge_throughput_ah"] = frame[schema.CHARGE_CAPACITY].fillna(0.0).cumsum()
        frame["discharge_throughput_ah"] = frame["capacity_ah"].fillna(0.0).cumsum()
    frame = frame[schema.CYCLE_COLUMNS + [schema.CHARGE_CAPACITY, "line"]]
    return frame.sort_values(CYCLE, kind="stable", ignore_index=True)


def _repeated_cycles(table: _Table, checked: _Checked) -> None:
    """Set aside every row of a cycle that appears more than once (one row per cycle)."""
    cycles = pd.Series(checked.values[CYCLE]).where(checked.keep)
    repeated = (cycles.duplicated(keep=False) & cycles.notna()).to_numpy()
    if not repeated.any():
        return
    reasons = {
        int(row): [
            f"line {table.lines[row]}: cycle (column 'Cycle_Index'): {int(cycles[row])} appears "
            "on more than one row (expected one row per cycle)"
        ]
        for row in np.flatnonzero(repeated)
    }
    checked.keep &= ~repeated
    extra = _quarantined(table, reasons)
    parts = [part for part in (checked.quarantined, extra) if len(part)]
    checked.quarantined = pd.concat(parts, ignore_index=True).sort_values(
        "line", kind="stable", ignore_index=True
    )


def read_batterydatahub_summary(path: Path) -> CycleSummary:
    """Read a Battery Data Hub ``<cell>-summary.csv`` (one row per cycle).

    ``Q_dis`` is the capacity (missing in a cycle without a discharge), ``Q_chg`` the charge
    capacity, ``T_avg`` the temperature, ``tsecs_end`` the time; the throughputs come from the
    file's cumulative counters. Battery Data Hub's ``Q_dis`` and ``Q_chg`` are the largest single
    charge or discharge of the cycle, not the total of a cycle with several (HPPC).

    Args:
        path: The CSV.

    Returns:
        The canonical cycle rows (C-rates and resistance missing: the file states neither a
        nominal capacity nor a resistance), the rows set aside and the cycle labels.

    Raises:
        UnusableFile: If ``Cycle_Index`` or ``Q_dis`` is missing, or no row is usable.
    """
    path = Path(path)
    sniffed = files.sniff(path)
    table = _parse_table(files.read_text(path, sniffed), sniffed.delimiter, sniffed.skip_rows)
    mapped = _map_headers(table, _BDH_SUMMARY)
    checked = _check_rows(table, mapped, _BDH_SUMMARY)
    _repeated_cycles(table, checked)
    kept = {column: values[checked.keep] for column, values in checked.values.items()}
    metadata = {**_read_metadata(mapped, checked, table), **_bdh_metadata(table, checked.keep)}
    del metadata["current_sign"]  # no current here
    return CycleSummary(
        frame=_summary_frame(_bdh_cell(path), kept, table.lines[checked.keep]),
        source_format="batterydatahub_summary",
        quarantined=checked.quarantined,
        metadata=metadata,
    )


READERS: list[Reader] = [
    Reader("arbin_res", detect_arbin_res, read_arbin_res),
    Reader("batterydatahub_summary", detect_batterydatahub_summary, read_batterydatahub_summary),
    Reader("batterydatahub_raw", detect_batterydatahub_raw, read_batterydatahub_raw),
    Reader("arbin_csv", detect_arbin_csv, read_arbin_csv),
]
SIDECARS: list[Callable[[Path, bytes], bool]] = [detect_arbin_sidecar]
