"""Novonix HPC and PEC CSV exports to :class:`~batteryops.ingest.records.Records`.

**Novonix** (``Novonix HPC data file``): a ``[Summary]`` block of ``Key: value`` lines (channel,
cell, protocol, ``Capacity (Ah)``, start), the ``[Protocol]`` text, then ``[Data]``: a header and
one row per record, each line wrapped whole in double quotes. ``Run Time (h)`` is the test time;
``Current (A)`` is + on charge (negated here); ``Temperature (°C)`` is the cell's (``Circuit
Temperature`` is the tester's electronics and is not read). ``Capacity (Ah)`` is one counter for
both ways that runs on across consecutive steps of one direction (in the test file: CC-CV then CC
charge) and is taken to start again where it falls: a counter run ends there or where the cycle
changes, and
:func:`~batteryops.ingest.records.per_cycle_from_steps` makes the per-cycle counters from those
runs (the ``step`` column keeps Novonix's ``Step Number``). ``Capacity (Ah)`` in the summary is
the nominal capacity. The ``<data>_metadata.csv`` beside an export is Novonix's per-cycle summary
(``Cycle, Qc, Qd, CE, ...``): a sidecar, read into ``metadata["summary"]``.

**PEC** (``pec.csv``): ``Key:,value`` lines (``Test:``, ``TestRegime Name:``, ``Start Time:``,
...), a ``#RESULTS CHECK`` block, then the table. Units are in the headers and converted
(``Voltage (mV)``, ``Current (mA)``, ``Charge Capacity (mAh)``; time in ``(Seconds)``,
``(Minutes)``, ``(Decimal Hours)`` or ``(Hours in hh:mm:ss.xxx)``). Current is - on discharge
(negated here); ``Charge/Discharge Capacity (mAh)`` already count from the start of each cycle
(the ``(mWh)`` columns of the same names are energies and are not read); ``Cell surface
temperature`` is the cell's, ``Ambient temperature`` the chamber's (``ambient_c``). The cell id is
the ``Cell ID`` column where filled, else ``<Request Year>-<Test>-<Cell>``, PEC's own key of a
cell's test.

Hand-written rather than a library: beep's ``NovonixDatapath`` maps step type 8 (the CV part of
a CC-CV charge, by the protocol in the file and ``preparenovonix``'s table) to discharge and
keeps no line numbers; cellpy's PEC loader depends on the whole cellpy stack. Both layouts are
a few lines of text splitting with the helpers of :mod:`batteryops.ingest.cyclers.maccor`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.ingest import columns, records
from batteryops.ingest.cyclers import Reader
from batteryops.ingest.cyclers.maccor import (
    TEMPERATURE_LIMITS,
    RowCheck,
    TextRows,
    file_lines,
    header_units,
    kept_rows,
    scale_of,
    text_rows,
)
from batteryops.ingest.files import UnusableFile

NOVONIX_FORMAT, PEC_FORMAT = "novonix_csv", "pec_csv"
SIDECAR_SUFFIX = "_metadata.csv"
_NOVONIX_EXPECTED = (
    "a Novonix export: a [Summary] block, then [Data] with Cycle Number, Step Number, "
    "Run Time (h), Current (A), Potential (V) and Capacity (Ah)"
)
_PEC_EXPECTED = (
    "a PEC export: Key:,value lines, then a table with Cycle, Step, Total Time, Voltage, "
    "Current, Charge Capacity and Discharge Capacity (units in brackets)"
)
_PEC_TIME_UNITS = {"seconds": 1.0, "minutes": 60.0, "decimalhours": 3600.0}
_PEC_CELL_TEMPERATURE = ("cellsurfacetemperature", "celltemperature")  # ambient is not the cell
_PEC_AMBIENT = ("ambienttemperature",)  # the chamber's
_CLOCK = re.compile(r"^\s*(\d+):(\d+):(\d+(?:\.\d*)?)\s*$")


def _find(
    headers: list[str],
    names: dict[str, str],
    context: tuple[int, str],
    tables: dict[str, columns.UnitTable] | None = None,
) -> dict[str, str]:
    """Canonical column -> the file's header with that normalised name (unit left out).

    Args:
        headers: The file's headers.
        names: Canonical column -> normalised header name.
        context: The header's line and what a file should hold, for the error.
        tables: Units a column's header may name (another unit: another column of that name).

    Raises:
        UnusableFile: If a column is missing.
    """
    found = {}
    for column, name in names.items():
        table = (tables or {}).get(column)
        match = next(
            (
                header
                for header in headers
                if header_units(header, {})[0] == name
                and (table is None or header_units(header, {})[1] in (None, *table))
            ),
            None,
        )
        if match is None:
            line, expected = context
            raise UnusableFile(
                f"no column '{name}' ({column})", line=line, column=column, expected=expected
            )
        found[column] = match
    return found


def _scales(found: dict[str, str], tables: dict[str, columns.UnitTable]) -> dict[str, float]:
    """Factor to SI units of each column in ``tables`` (from its header's unit)."""
    return {
        column: scale_of(header_units(found[column], {})[1], table, column, found[column])
        for column, table in tables.items()
    }


def _header_named(rows: TextRows, names: tuple[str, ...]) -> str | None:
    """The first header whose normalised name (unit left out) is one of ``names``."""
    return next((h for h in rows.headers if header_units(h, {})[0] in names), None)


def _temperature(rows: TextRows, header: str | None) -> tuple[np.ndarray, int]:
    """A temperature column in °C (from its header's unit), masked outside physical limits."""
    if header is None:
        return np.full(len(rows.raw), np.nan), 0
    unit = header_units(header, {})[1] or "c"
    scale, offset = columns.CELSIUS.get(unit, (np.nan, np.nan))
    values = pd.to_numeric(rows.raw[header], errors="coerce").to_numpy(dtype=np.float64)
    return columns.mask_outside_limits(values * scale + offset, TEMPERATURE_LIMITS)


def _numbers(check: RowCheck, found: dict[str, str], scales: dict[str, float]) -> dict[str, Any]:
    """Every found column as numbers in SI units (cycle and step must be integers)."""
    integers = (schema.CYCLE, records.STEP)
    return {
        column: check.number(
            column, header, "an integer" if column in integers else "a number", column in integers
        )
        * scales.get(column, 1.0)
        for column, header in found.items()
    }


# --- Novonix --------------------------------------------------------------------------------------


def detect_novonix(path: Path, head_bytes: bytes) -> bool:
    """Whether a file is a Novonix export: ``[Summary]`` first, ``Novonix`` in the summary."""
    text = head_bytes.lstrip(b"\xef\xbb\xbf")
    return text.startswith(b"[Summary]") and b"Novonix" in text[:400]


def detect_novonix_summary(path: Path, head_bytes: bytes) -> bool:
    """Whether a file is the per-cycle summary beside a Novonix export (a sidecar)."""
    first = head_bytes.split(b"\n", 1)[0]
    return path.name.lower().endswith(SIDECAR_SUFFIX) and b"AverageChargeVoltage" in first


def _novonix_summary(lines: list[str]) -> dict[str, str]:
    """The ``[Summary]`` block's ``Key: value`` lines."""
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line.startswith("[End Summary]") or line.startswith("[Data]"):
            break
        key, colon, value = line.partition(":")
        if colon:
            fields[key.strip()] = value.strip()
    return fields


def _number_or_text(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def _novonix_sidecar(path: Path) -> dict[str, Any]:
    """The per-cycle summary beside an export (``<stem>_metadata.csv``), if there is one."""
    sidecar = path.with_name(path.stem + SIDECAR_SUFFIX)
    if not sidecar.is_file():
        return {}
    rows = list(csv.DictReader(line for line in file_lines(sidecar) if line.strip()))
    cycles = [{key: _number_or_text(value) for key, value in row.items() if key} for row in rows]
    return {"summary_file": sidecar.name, "summary": cycles}


def _novonix_metadata(fields: dict[str, str], path: Path) -> tuple[str, dict[str, Any]]:
    """The cell id (``Cell:`` without a file extension) and the summary's metadata."""
    cell = re.sub(r"\.(csv|txt)$", "", fields.get("Cell", ""), flags=re.IGNORECASE)
    metadata: dict[str, Any] = {
        "channel": fields.get("Channel"),
        "start_time": fields.get("Started"),
        "procedure": fields.get("Protocol"),
        "header": fields,
    }
    try:
        nominal = float(fields.get("Capacity (Ah)", ""))
    except ValueError:
        nominal = 0.0
    if nominal > 0:
        metadata["nominal_capacity_ah"] = nominal
    metadata.update(_novonix_sidecar(path))
    return cell or path.stem, {key: value for key, value in metadata.items() if value}


def _counter_runs(cycle: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Run index per record: a new run where the cycle changes or the counter falls."""
    falls = np.concatenate([[False], np.diff(capacity) < 0])
    new_cycle = np.concatenate([[False], np.diff(cycle) != 0])
    return np.cumsum(falls | new_cycle)


def read_novonix(path: Path) -> records.Records:
    """Read a Novonix export (and the per-cycle summary beside it, into the metadata).

    Raises:
        UnusableFile: If the ``[Data]`` block or a column the records need is missing.
    """
    lines = file_lines(path)
    start = next((i for i, line in enumerate(lines) if line.strip() == "[Data]"), None)
    if start is None or start + 1 >= len(lines):
        raise UnusableFile("no [Data] block", line=len(lines), expected=_NOVONIX_EXPECTED)
    rows = text_rows(lines, start + 1, lambda line: line.strip().strip('"').split(","))
    names = {
        schema.CYCLE: "cyclenumber",
        records.STEP: "stepnumber",
        records.TEST_TIME: "runtime",
        records.CURRENT: "current",
        records.VOLTAGE: "potential",
        "capacity": "capacity",
    }
    found = _find(rows.headers, names, (rows.header_line, _NOVONIX_EXPECTED))
    tables = {records.TEST_TIME: columns.SECONDS, records.CURRENT: columns.AMPS}
    tables |= {records.VOLTAGE: columns.VOLTS, "capacity": columns.AMP_HOURS}
    scales = _scales(found, tables)
    check = RowCheck(rows)
    values = _numbers(check, found, scales)
    values[records.CURRENT] = 0.0 - values[records.CURRENT]  # Novonix: + on charge
    temperature = next((h for h in rows.headers if header_units(h, {})[0] == "temperature"), None)
    values[records.TEMPERATURE], masked = _temperature(rows, temperature)
    cell_id, metadata = _novonix_metadata(_novonix_summary(lines), path)
    metadata["units"] = {"test_time": "h", "current": "A (+ charge; negated)", "capacity": "Ah"}
    metadata["temperature_column"], metadata["temperature_masked"] = temperature, masked
    kept = kept_rows(check, values)
    capacity = kept.pop("capacity")
    runs = _counter_runs(kept[schema.CYCLE], capacity)
    kept[records.CHARGE], kept[records.DISCHARGE] = records.per_cycle_from_steps(
        kept[schema.CYCLE], runs, capacity, kept[records.CURRENT]
    )
    frame = records.records_frame(**kept)
    return records.Records(cell_id, frame, NOVONIX_FORMAT, check.quarantined(), metadata)


# --- PEC ------------------------------------------------------------------------------------------

PEC_HEADER_SEARCH_LINES = 200  # the table's header comes within this many lines


def detect_pec(path: Path, head_bytes: bytes) -> bool:
    """Whether a file is a PEC export: ``TestRegime Name:,`` lines or its ``Rack,Shelf`` table."""
    return b"TestRegime Name:," in head_bytes or b",Rack,Shelf,Position," in head_bytes


def _csv_fields(line: str) -> list[str]:
    return next(csv.reader([line]), [])


def _pec_header(lines: list[str]) -> tuple[int | None, dict[str, str]]:
    """The table header's index (outside ``#RESULTS CHECK``) and the ``Key:,value`` fields."""
    fields: dict[str, str] = {}
    in_check = False
    for index, line in enumerate(lines[:PEC_HEADER_SEARCH_LINES]):
        marker = line.strip().upper()
        if marker.startswith(("#RESULTS CHECK", "#END RESULTS CHECK")):
            in_check = marker.startswith("#RESULTS")
            continue
        cells = [cell.strip() for cell in _csv_fields(line)]
        if in_check or not cells:
            continue
        if "Cycle" in cells and "Step" in cells:
            return index, fields
        if cells[0].endswith(":"):
            fields[cells[0].rstrip(":")] = cells[1] if len(cells) > 1 else ""
    return None, fields


def _pec_time(check: RowCheck, header: str) -> tuple[np.ndarray, str]:
    """Total time in seconds from any of PEC's time units.

    Raises:
        UnusableFile: If the header names no time unit PEC writes.
    """
    unit = header_units(header, {})[1] or ""
    if "hh:mm:ss" in unit:
        parts = check.rows.raw[header].astype(str).str.extract(_CLOCK).astype(float)
        seconds = (parts[0] * 3600 + parts[1] * 60 + parts[2]).to_numpy()
        check.flag_values(~np.isfinite(seconds), records.TEST_TIME, header, "hh:mm:ss.xxx")
        return seconds, unit
    table = {**_PEC_TIME_UNITS, **{name: pair[0] for name, pair in columns.SECONDS.items()}}
    if unit not in table:
        raise UnusableFile(
            f"column '{header}' has no time unit PEC writes",
            column=header,
            expected="(Seconds), (Minutes), (Decimal Hours) or (Hours in hh:mm:ss.xxx)",
        )
    return check.number(records.TEST_TIME, header, f"a number of {unit}") * table[unit], unit


def _pec_cell(rows: TextRows, fields: dict[str, str], path: Path) -> tuple[str, dict[str, Any]]:
    """The cell id and the test's metadata.

    Raises:
        UnusableFile: If the export holds more than one cell (records are one cell's).
    """
    raw = rows.raw
    cells = sorted({value.strip() for value in raw.get("Cell", pd.Series(dtype=str))} - {""})
    if len(cells) > 1:
        raise UnusableFile(
            f"the export holds {len(cells)} cells ({', '.join(cells[:5])})",
            column="Cell",
            expected="one cell per PEC export",
        )
    barcodes = sorted({value.strip() for value in raw.get("Cell ID", pd.Series(dtype=str))} - {""})
    key = [fields.get("Request Year", ""), fields.get("Test", ""), *cells]
    cell_id = barcodes[0] if len(barcodes) == 1 else "-".join(part for part in key if part)
    first = raw.iloc[0] if len(raw) else pd.Series(dtype=str)
    channel = "/".join(str(first.get(name, "")).strip() for name in ("Rack", "Shelf", "Position"))
    metadata = {
        "test": fields.get("Test"),
        "procedure": fields.get("TestRegime Name"),
        "start_time": fields.get("Start Time"),
        "channel": channel.strip("/"),
        "header": {key: value for key, value in fields.items() if value},
    }
    if not fields.get("End Time", "").startswith("1/1/0001"):  # PEC's "not ended"
        metadata["end_time"] = fields.get("End Time")
    return cell_id or path.stem, {key: value for key, value in metadata.items() if value}


def read_pec(path: Path) -> records.Records:
    """Read a PEC CSV export.

    Raises:
        UnusableFile: If the table or a column the records need is missing.
    """
    lines = file_lines(path)
    index, fields = _pec_header(lines)
    if index is None:
        raise UnusableFile(
            f"no table header with Cycle and Step in the first {PEC_HEADER_SEARCH_LINES} lines",
            line=1,
            expected=_PEC_EXPECTED,
        )
    rows = text_rows(lines, index, _csv_fields)
    names = {schema.CYCLE: "cycle", records.STEP: "step", records.CURRENT: "current"}
    names |= {records.VOLTAGE: "voltage", records.CHARGE: "chargecapacity"}
    names |= {records.DISCHARGE: "dischargecapacity", records.TEST_TIME: "totaltime"}
    tables = {records.CURRENT: columns.AMPS, records.VOLTAGE: columns.VOLTS}
    tables |= {records.CHARGE: columns.AMP_HOURS, records.DISCHARGE: columns.AMP_HOURS}
    found = _find(rows.headers, names, (rows.header_line, _PEC_EXPECTED), tables)
    check = RowCheck(rows)
    time_header = found.pop(records.TEST_TIME)
    values = _numbers(check, found, _scales(found, tables))
    values[records.TEST_TIME], time_unit = _pec_time(check, time_header)
    values[records.CURRENT] = 0.0 - values[records.CURRENT]  # PEC: - on discharge
    temperature = _header_named(rows, _PEC_CELL_TEMPERATURE)
    values[records.TEMPERATURE], masked = _temperature(rows, temperature)
    ambient = _header_named(rows, _PEC_AMBIENT)
    values[records.AMBIENT], ambient_masked = _temperature(rows, ambient)
    cell_id, metadata = _pec_cell(rows, fields, path)
    units = {column: header_units(header, {})[1] for column, header in found.items()}
    units = {column: unit for column, unit in units.items() if unit}
    metadata["units"] = {**units, records.TEST_TIME: time_unit}
    metadata["temperature_column"], metadata["temperature_masked"] = temperature, masked
    metadata["ambient_column"], metadata["ambient_masked"] = ambient, ambient_masked
    frame = records.records_frame(**kept_rows(check, values))
    return records.Records(cell_id, frame, PEC_FORMAT, check.quarantined(), metadata)


READERS: list[Reader] = [
    Reader(NOVONIX_FORMAT, detect_novonix, read_novonix),
    Reader(PEC_FORMAT, detect_pec, read_pec),
]
SIDECARS: list[Callable[[Path, bytes], bool]] = [detect_novonix_summary]
