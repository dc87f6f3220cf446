"""Ingest cycler exports into canonical cycle data: one row per cell per cycle.

The contract is ``schema.CYCLE_COLUMNS``: ``cell_id`` (text), ``cycle`` (int64) and float64
signals, any of which may be missing for a source; sorted by (cell_id, cycle), one row per key.

One file at a time (:func:`read_cycle_file`; CSV, TSV, semicolon CSV with decimal commas, gzip,
Parquet):

1. **Sniff** with :func:`batteryops.ingest.files.sniff` (format, compression, encoding,
   ``sep=`` line, delimiter, decimal mark). Text is read with Python's ``csv`` module, which keeps
   each row's line number for the quarantine (per-cycle files hold thousands of rows, not
   millions).
2. **Layout**: ``auto`` picks ``matr`` when the header holds ``QDischarge`` and ``chargetime``:
   the per-cycle ``summary`` of Severson et al. 2019 (data.matr.io), one file per cell named like
   ``b1c0.csv``. Its ``chargetime`` is a charge duration, not test time, so ``time_s`` stays
   missing unless the file has a time column. Any other file is ``generic``.
3. **Map columns** through an alias table (:data:`DEFAULT_ALIASES`, or :data:`MATR_ALIASES`, plus
   ``cycle_ingest.aliases``), matching names with case, spaces and punctuation ignored, the unit
   read from the header (``Name (unit)``, ``Name [unit]``, ``Name_unit``) and converted
   (:data:`UNITS`: mAh -> Ah, mOhm -> Ohm, K/F -> C, min/h/days -> s, % -> fraction). A chamber
   temperature (``ambient_temperature``, ``chamber_temperature``, ...) is ``ambient_c``, never
   ``temperature_c`` (the cell's). A depth of discharge without a unit whose values exceed 1.5
   is read as percent. Without a cell column, the file name (without extensions) is the cell id.
4. **Check rows**: a row without a cell, with a cycle that is not an integer >= 0, without a
   numeric capacity, with a capacity of 0 Ah (not a measurement: the MATR cycle-0 rows) or with
   a value outside ``cycle_ingest.limits`` is quarantined with a reason naming its line, the
   column, the value and what was expected. A value that is not a number in an optional column
   becomes missing and is counted.
5. **Derive** what the file implies: cumulative throughputs from per-cycle charge and discharge
   capacities when the file has no throughput columns (summed over the rows kept, per cell in
   cycle order), and C-rates from currents and ``cycle_ingest.nominal_capacity_ah``.

Across files (:func:`ingest_cycle_files`): exact duplicate rows are dropped (counted); rows that
share (cell_id, cycle) but differ are all quarantined; derived throughputs are summed again per
cell over every file, so a cell split across files keeps counting. A file that cannot be used at
all is copied to the quarantine directory with a ``.reason.json`` beside it
(:func:`batteryops.ingest.files.quarantine`, as for telemetry), and the run goes on with the
other files.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import CycleIngestParams
from batteryops.core.io import atomic_path, write_json, write_parquet
from batteryops.core.schema import CHARGE_CAPACITY, CHARGE_CURRENT, DISCHARGE_CURRENT
from batteryops.ingest import columns, files
from batteryops.ingest.columns import normalise_name, unique_names
from batteryops.ingest.files import Sniffed, UnusableFile
from batteryops.ingest.values import MISSING_TEXT, text_numbers

logger = logging.getLogger(__name__)

THROUGHPUTS = {"charge_throughput_ah": CHARGE_CAPACITY, "discharge_throughput_ah": "capacity_ah"}
C_RATES = {"charge_c_rate": CHARGE_CURRENT, "discharge_c_rate": DISCHARGE_CURRENT}

# Header names per column, most specific first: when two headers match one column, the one whose
# alias comes first wins ("Test Time" over "Time").
DEFAULT_ALIASES: dict[str, list[str]] = {
    schema.CELL_ID: [
        "cell_id",
        "cell_name",
        "cell",
        "battery_id",
        "battery",
        "cell_barcode",
        "barcode",
        "channel",
    ],
    schema.CYCLE: ["cycle", "cycle_index", "cycle_number", "cycle_no", "cycle_nr", "cyc"],
    "capacity_ah": [
        "discharge_capacity",
        "capacity_discharge",
        "qdischarge",
        "dchg_capacity",
        "qd",
        "capacity",
    ],
    "resistance_ohm": ["internal_resistance", "dcir", "ir", "resistance"],
    "temperature_c": [
        "tavg",
        "t_avg",
        "temperature_avg",
        "mean_temperature",
        "cell_temperature",
        "temperature",
        "temp",
    ],
    "charge_throughput_ah": [
        "charge_throughput",
        "cumulative_charge",
        "cumulative_charge_capacity",
        "cum_charge",
    ],
    "discharge_throughput_ah": [
        "discharge_throughput",
        "cumulative_discharge",
        "cumulative_discharge_capacity",
        "cum_discharge",
    ],
    "charge_c_rate": ["charge_c_rate", "charge_crate", "c_rate_charge", "charge_rate"],
    "discharge_c_rate": [
        "discharge_c_rate",
        "discharge_crate",
        "c_rate_discharge",
        "discharge_rate",
    ],
    "depth_of_discharge": ["depth_of_discharge", "dod"],
    "temperature_max_c": ["tmax", "t_max", "max_temperature", "temperature_max", "max_temp"],
    # The chamber's, never the cell's: no bare "temperature" or "temp" here.
    "ambient_c": [
        "ambient_temperature",
        "chamber_temperature",
        "ambient_temp",
        "chamber_temp",
        "temperature_ambient",
        "temperature_chamber",
        "t_ambient",
        "t_amb",
        "t_chamber",
        "ambient",
    ],
    "charge_time_s": ["charge_time", "chargetime", "chg_time", "charging_time"],
    "time_s": ["test_time", "total_time", "elapsed_time", "time"],
    CHARGE_CAPACITY: ["charge_capacity", "capacity_charge", "qcharge", "chg_capacity", "qc"],
    CHARGE_CURRENT: ["charge_current", "chg_current", "current_charge", "i_charge"],
    DISCHARGE_CURRENT: ["discharge_current", "dchg_current", "current_discharge", "i_discharge"],
}
# The MATR summary: QDischarge, QCharge, IR, Tavg, Tmax, chargetime (min); Tmin stays unmapped.
MATR_ALIASES: dict[str, list[str]] = {
    schema.CELL_ID: DEFAULT_ALIASES[schema.CELL_ID],
    schema.CYCLE: ["cycle", "cycle_index"],
    "capacity_ah": ["qdischarge"],
    CHARGE_CAPACITY: ["qcharge"],
    "resistance_ohm": ["ir"],
    "temperature_c": ["tavg"],
    "temperature_max_c": ["tmax"],
    "charge_time_s": ["chargetime"],  # minutes (MATR_MINUTES)
    "time_s": DEFAULT_ALIASES["time_s"],
}
# The MATR summary's columns without a unit in their header, and the unit they are in.
MATR_MINUTES = ["charge_time_s"]

UNITS = columns.CYCLE_UNITS  # header units accepted per column
# A ``Name_unit`` header is split at any unit of cycle data or telemetry (as it always was).
_HEADER_UNITS = columns.known_units(
    [*columns.CYCLE_UNITS.values(), *columns.TELEMETRY_UNITS.values()]
)

MAX_CYCLE = 1e9  # no cell lives a billion cycles: a larger index is a corrupt value
PERCENT_THRESHOLD = 1.5  # a unitless depth of discharge above this is percent, not a fraction
_ROW_EXPECTED = (
    "rows with a cell, an integer cycle >= 0, a numeric capacity > 0 and values inside "
    "cycle_ingest.limits; one set of values per (cell_id, cycle)"
)


@dataclass
class CycleFileResult:
    """What one file yields.

    Attributes:
        frame: Canonical cycle rows that passed every check, sorted by (cell_id, cycle).
        quarantined: Rows set aside: ``line`` (in the file; the row number for Parquet),
            ``reason``, then the file's own columns as text.
        summary: JSON-ready account of the file (rows read, kept and quarantined by reason,
            column mapping, unmapped columns, layout, unit conversions, derived columns).
        kept_source: For each row of ``frame``: its ``line`` and the file's values as text.
        increments: For each row of ``frame``: the per-cycle amount behind each derived
            throughput column (only the derived ones are present).
    """

    frame: pd.DataFrame
    quarantined: pd.DataFrame
    summary: dict[str, Any]
    kept_source: pd.DataFrame
    increments: pd.DataFrame


# --- column names and units ---------------------------------------------------------------------


@dataclass
class _Mapping:
    """Which header feeds each (canonical or helper) column, with its unit conversion."""

    headers: dict[str, str] = field(default_factory=dict)
    conversions: dict[str, tuple[float, float]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def label(self, column: str) -> str:
        """``"cycle (column 'Cycle_Index')"``: a column as a reason names it."""
        header = self.headers.get(column)
        return f"{column} (column '{header}')" if header is not None else column


def _split_unit(header: str) -> tuple[str, str | None]:
    """Name and lower-case unit of a header (:func:`batteryops.ingest.columns.split_unit`)."""
    return columns.split_unit(header, _HEADER_UNITS)


def _alias_table(layout: str, extra: dict[str, list[str]]) -> dict[str, tuple[str, int]]:
    """Normalised name -> (column, rank); a lower rank wins. User aliases rank first."""
    table: dict[str, tuple[str, int]] = {}
    for column, names in (MATR_ALIASES if layout == "matr" else DEFAULT_ALIASES).items():
        table[normalise_name(column)] = (column, 1)
        for rank, name in enumerate(names, start=2):
            table.setdefault(normalise_name(name), (column, rank))
    for column, names in extra.items():
        for name in names:
            table[normalise_name(_split_unit(name)[0])] = (column, 0)
            table[normalise_name(name)] = (column, 0)
    return table


def _map_headers(headers: list[str], table: dict[str, tuple[str, int]]) -> _Mapping:
    """Map file headers to columns and unit conversions; list what is left and why."""
    mapping = _Mapping()
    chosen: dict[str, tuple[int, str, str | None]] = {}
    for header in headers:
        name, unit = _split_unit(header)
        whole = table.get(normalise_name(header))
        hit = whole or table.get(normalise_name(name))
        if hit is None:
            mapping.unmapped.append(header)
            continue
        column, rank = hit
        if unit is not None and column in UNITS and unit not in UNITS[column]:
            if whole is None:
                mapping.problems.append(
                    f"column '{header}': unit '{unit}' does not fit {column} "
                    f"(expected one of {sorted(UNITS[column])})"
                )
                mapping.unmapped.append(header)
                continue
            unit = None  # the whole header is an alias: what looked like a unit is part of it
        if column in chosen:
            loser = header if chosen[column][0] <= rank else chosen[column][1]
            mapping.problems.append(f"column '{loser}' also matches {column}; left unmapped")
            mapping.unmapped.append(loser)
            if loser == header:
                continue
        chosen[column] = (rank, header, unit)
    for column, (_, header, unit) in chosen.items():
        mapping.headers[column] = header
        mapping.conversions[column] = UNITS.get(column, {}).get(unit or "", (1.0, 0.0))
        if unit is not None:
            mapping.units[column] = unit
    mapping.unmapped = [h for h in headers if h in set(mapping.unmapped)]
    return mapping


def _detect_layout(headers: list[str], wanted: str) -> str:
    if wanted != "auto":
        return wanted
    names = {normalise_name(_split_unit(header)[0]) for header in headers}
    return "matr" if {"qdischarge", "chargetime"} <= names else "generic"


# --- reading ------------------------------------------------------------------------------------


@dataclass
class _Table:
    """A file's data rows as text, with their line numbers."""

    headers: list[str]
    raw: pd.DataFrame
    lines: np.ndarray
    malformed: pd.DataFrame
    repeated_headers: int = 0
    decimal_comma: bool = False
    header_line: int = 1


def _file_stem(path: Path) -> str:
    """``b1c0.csv.gz`` -> ``b1c0``."""
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    return Path(name).stem or name


def _read_table(path: Path) -> _Table:
    """Read a cycle file (text or Parquet) into text values with line numbers.

    Raises:
        batteryops.ingest.files.UnusableFile: If the file cannot be read at all.
    """
    sniffed = files.sniff(path)
    if sniffed.kind == "parquet":
        frame = files.read_parquet(path).to_pandas()
        headers = unique_names([str(column) for column in frame.columns])
        raw = frame.set_axis(headers, axis=1).astype(str)
        empty = pd.DataFrame(columns=["line", "reason", *headers])
        return _Table(headers, raw, np.arange(1, len(raw) + 1, dtype=np.int64), empty)
    return _parse_text(files.read_text(path, sniffed), sniffed)


def _parse_text(text: str, sniffed: Sniffed) -> _Table:
    """Split delimited text into rows, keeping the line where each row starts."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniffed.delimiter)
    header: list[str] | None = None
    header_line, previous, repeated = 1, 0, 0
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for record in reader:
            start, previous = previous + 1, reader.line_num
            if start <= sniffed.skip_rows or not "".join(record).strip():
                continue  # the `sep=` line, blank lines and rows of empty fields
            if header is None:
                header, header_line = [value.strip() for value in record], start
            elif record[0].strip() == header[0] and [v.strip() for v in record] == header:
                repeated += 1
            else:
                rows.append(record)
                lines.append(start)
    except csv.Error as error:
        raise UnusableFile(
            f"cannot parse as delimited text: {error}",
            line=previous + 1,
            expected="delimited text with lines shorter than 128 kB",
        ) from error
    if header is None:
        raise UnusableFile("no header line", line=1, expected="a header line")
    headers = unique_names(header)
    width = len(headers)
    good = [len(row) == width for row in rows]
    raw = pd.DataFrame([r for r, ok in zip(rows, good, strict=True) if ok], columns=headers)
    malformed = [
        {
            "line": line,
            "reason": f"line {line}: row has {len(row)} fields, the header has {width} "
            "(expected one value per column)",
            **dict(zip(headers, _fit(row, width, sniffed.delimiter), strict=True)),
        }
        for row, line, ok in zip(rows, lines, good, strict=True)
        if not ok
    ]
    return _Table(
        headers=headers,
        raw=raw.astype(str),
        lines=np.array([line for line, ok in zip(lines, good, strict=True) if ok], dtype=np.int64),
        malformed=pd.DataFrame(malformed, columns=["line", "reason", *headers]),
        repeated_headers=repeated,
        decimal_comma=sniffed.decimal_comma,
        header_line=header_line,
    )


def _fit(row: list[str], width: int, delimiter: str) -> list[str]:
    """A row's fields padded or folded to ``width`` values, so nothing is lost in quarantine."""
    if len(row) < width:
        return row + [""] * (width - len(row))
    return row[: width - 1] + [delimiter.join(row[width - 1 :])]


# --- values -------------------------------------------------------------------------------------


class _Problems:
    """Per row, what is wrong with it: (kind, message) in the order found."""

    def __init__(self, lines: np.ndarray):
        self.lines = lines
        self.by_row: dict[int, list[tuple[str, str]]] = {}

    def flag(self, mask: np.ndarray, kind: str, message: Callable[[int], str]) -> None:
        """Record ``kind`` for each row in ``mask``, described by ``message(row)``."""
        for row in np.flatnonzero(mask):
            row = int(row)
            text = f"line {self.lines[row]}: {message(row)}"
            self.by_row.setdefault(row, []).append((kind, text))

    def bad_rows(self) -> np.ndarray:
        """Boolean mask of the rows with any problem."""
        mask = np.zeros(len(self.lines), dtype=bool)
        mask[list(self.by_row)] = True
        return mask


def _cell_ids(table: _Table, mapping: _Mapping, stem: str, problems: _Problems) -> np.ndarray:
    header = mapping.headers.get(schema.CELL_ID)
    if header is None:
        return np.full(len(table.raw), stem, dtype=object)
    cells = table.raw[header].str.strip()
    missing = cells.str.lower().isin(MISSING_TEXT).to_numpy()
    problems.flag(
        missing,
        f"{schema.CELL_ID}: missing",
        lambda row: f"{mapping.label(schema.CELL_ID)}: missing (expected a cell name)",
    )
    return cells.to_numpy(dtype=object)


def _cycles(table: _Table, mapping: _Mapping, problems: _Problems) -> np.ndarray:
    header = mapping.headers[schema.CYCLE]
    texts = table.raw[header]
    values, missing, bad = text_numbers(texts, table.decimal_comma)
    label, expected = mapping.label(schema.CYCLE), "expected an integer >= 0"
    with np.errstate(invalid="ignore"):
        fraction = np.isfinite(values) & (values != np.round(values))
        negative = np.isfinite(values) & ~fraction & (values < 0)
        huge = np.isfinite(values) & (values > MAX_CYCLE)
    for mask, kind, what in (
        (missing, "missing", "missing"),
        (bad, "not a number", "is not a number"),
        (fraction, "not an integer", "is not an integer"),
        (negative, "negative", "is negative"),
        (huge, "too large", f"is above {MAX_CYCLE:g}"),
    ):
        problems.flag(
            mask,
            f"{schema.CYCLE}: {kind}",
            lambda row, what=what: (
                f"{label}: missing ({expected})"
                if what == "missing"
                else f"{label}: {texts.iloc[row].strip()!r} {what} ({expected})"
            ),
        )
    return values


def _signals(
    table: _Table, mapping: _Mapping, problems: _Problems, summary: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Every mapped numeric column in canonical units; capacity problems flag the row."""
    values: dict[str, np.ndarray] = {}
    not_a_number: dict[str, int] = {}
    for column, header in mapping.headers.items():
        if column in (schema.CELL_ID, schema.CYCLE):
            continue
        texts = table.raw[header]
        numbers, missing, bad = text_numbers(texts, table.decimal_comma)
        scale, offset = mapping.conversions[column]
        if (scale, offset) != (1.0, 0.0):
            numbers = numbers * scale + offset
        if column == "capacity_ah":
            label = mapping.label(column)
            problems.flag(
                missing,
                "capacity_ah: missing",
                lambda row, label=label: f"{label}: missing (expected a discharge capacity)",
            )
            problems.flag(
                bad,
                "capacity_ah: not a number",
                lambda row, texts=texts, label=label: (
                    f"{label}: {texts.iloc[row].strip()!r} is not a number "
                    "(expected a discharge capacity)"
                ),
            )
        elif bad.any():
            not_a_number[column] = int(bad.sum())
        values[column] = numbers
    summary["values_not_a_number"] = not_a_number
    _percent_depth_of_discharge(values, mapping, summary)
    return values


def _percent_depth_of_discharge(
    values: dict[str, np.ndarray], mapping: _Mapping, summary: dict[str, Any]
) -> None:
    column = "depth_of_discharge"
    if column not in values or column in mapping.units:
        return
    finite = values[column][np.isfinite(values[column])]
    if finite.size and finite.max() > PERCENT_THRESHOLD:
        values[column] = values[column] * 0.01
        summary["unit_conversions"][mapping.headers[column]] = (
            f"values above {PERCENT_THRESHOLD} read as % -> {column} (x 0.01)"
        )


def _derive_c_rates(
    values: dict[str, np.ndarray],
    mapping: _Mapping,
    nominal_capacity_ah: float | None,
    summary: dict[str, Any],
) -> None:
    """C-rates from currents when the file gives currents instead of rates."""
    for rate, current in C_RATES.items():
        if rate in values or current not in values:
            continue
        header = mapping.headers[current]
        if nominal_capacity_ah is None:
            summary["notes"].append(
                f"{rate} left missing: column '{header}' is a current; set "
                "cycle_ingest.nominal_capacity_ah to turn it into a C-rate"
            )
            continue
        values[rate] = np.abs(values[current]) / nominal_capacity_ah
        mapping.headers.setdefault(rate, header)
        summary["derived"][rate] = f"|'{header}'| / nominal_capacity_ah ({nominal_capacity_ah} Ah)"


def _check_values(
    values: dict[str, np.ndarray],
    mapping: _Mapping,
    limits: dict[str, tuple[float, float]],
    problems: _Problems,
) -> None:
    """Flag rows with a zero capacity or a value outside ``limits``."""
    capacity = values["capacity_ah"]
    problems.flag(
        capacity == 0,
        "capacity_ah: zero",
        lambda row: (
            f"{mapping.label('capacity_ah')}: 0 Ah is not a measurement (expected a capacity > 0)"
        ),
    )
    checked = {**limits}
    if CHARGE_CAPACITY in values and "capacity_ah" in limits:
        checked[CHARGE_CAPACITY] = limits["capacity_ah"]  # it feeds the charge throughput
    for column, (low, high) in checked.items():
        if column not in values:
            continue
        column_values = values[column]
        with np.errstate(invalid="ignore"):
            outside = (column_values < low) | (column_values > high)
        problems.flag(
            outside,
            f"{column}: outside limits",
            lambda row, column=column, column_values=column_values, low=low, high=high: (
                f"{mapping.label(column)}: {column_values[row]:g} is outside the allowed range "
                f"[{low:g}, {high:g}] (cycle_ingest.limits)"
            ),
        )


# --- one file -----------------------------------------------------------------------------------


def _require_columns(table: _Table, mapping: _Mapping, layout: str) -> None:
    """Raise UnusableFile unless the file has a cycle and a capacity column and data rows."""
    for column, expected in (
        (schema.CYCLE, "a column named like 'cycle' or 'cycle_index'"),
        ("capacity_ah", "a discharge capacity column like 'discharge_capacity' or 'QDischarge'"),
    ):
        if column not in mapping.headers:
            problems = f" ({'; '.join(mapping.problems)})" if mapping.problems else ""
            raise UnusableFile(
                f"no {column} column among {table.headers[:20]} (layout {layout}){problems}",
                line=table.header_line,
                expected=f"{expected} (or add one to cycle_ingest.aliases)",
            )
    if len(table.raw) + len(table.malformed) == 0:
        raise UnusableFile(
            "no data rows", line=table.header_line + 1, expected="data rows below the header"
        )


def _new_summary(path: Path, table: _Table, mapping: _Mapping, layout: str) -> dict[str, Any]:
    cell_header = mapping.headers.get(schema.CELL_ID)
    conversions = {}
    for column, unit in mapping.units.items():
        scale, offset = mapping.conversions[column]
        if (scale, offset) != (1.0, 0.0):
            shift = f" {offset:+g}" if offset else ""
            conversions[mapping.headers[column]] = f"{unit} -> {column} (x {scale:g}{shift})"
    return {
        "path": str(path),
        "accepted": True,
        "layout": layout,
        "rows_read": len(table.raw) + len(table.malformed) + table.repeated_headers,
        "repeated_headers": table.repeated_headers,
        "columns": {header: column for column, header in mapping.headers.items()},
        "unmapped_columns": mapping.unmapped,
        "column_problems": mapping.problems,
        "cell_id_from": (
            f"column '{cell_header}'" if cell_header else f"file name ('{_file_stem(path)}')"
        ),
        "unit_conversions": conversions,
        "derived": {},
        "notes": [],
    }


def read_cycle_file(path: str | Path, params: CycleIngestParams) -> CycleFileResult:
    """Read one cycler export into canonical cycle rows and quarantined rows.

    Args:
        path: A CSV/TSV (optionally gzip) or Parquet file.
        params: The ``cycle_ingest`` section.

    Returns:
        The kept rows (canonical, sorted), the quarantined rows with reasons, and a summary.

    Raises:
        batteryops.ingest.files.UnusableFile: If the file cannot be used at all
            (unreadable, empty,
            no cycle or capacity column); it names the line and what was expected.
    """
    path = Path(path)
    table = _read_table(path)
    layout = _detect_layout(table.headers, params.layout)
    mapping = _map_headers(table.headers, _alias_table(layout, params.aliases))
    _require_columns(table, mapping, layout)
    summary = _new_summary(path, table, mapping, layout)
    if layout == "matr":
        summary["notes"].append("chargetime is a charge duration in minutes, not test time")
    problems = _Problems(table.lines)
    cells = _cell_ids(table, mapping, _file_stem(path), problems)
    cycles = _cycles(table, mapping, problems)
    values = _signals(table, mapping, problems, summary)
    for column in MATR_MINUTES if layout == "matr" else []:
        if column in values:
            values[column] = values[column] * 60.0
            summary["unit_conversions"][mapping.headers[column]] = f"min -> {column} (x 60)"
    if layout == "matr" and "resistance_ohm" in values:
        # The MATR summary writes IR = 0 for a cycle without a pulse: no measurement, not 0 ohm.
        unmeasured = values["resistance_ohm"] == 0
        values["resistance_ohm"][unmeasured] = np.nan
        summary["notes"].append(f"IR = 0 read as not measured on {int(unmeasured.sum())} rows")
    _derive_c_rates(values, mapping, params.nominal_capacity_ah, summary)
    _check_values(values, mapping, params.limits, problems)
    keep = ~problems.bad_rows()
    frame, increments, order = _kept_rows(cells, cycles, values, keep)
    for column, source_column in THROUGHPUTS.items():
        if column in increments:
            summary["derived"][column] = (
                f"cumulative sum of '{mapping.headers[source_column]}' per cell over kept rows"
            )
    source = table.raw.assign(line=table.lines)[["line", *table.headers]]
    quarantined = _quarantined_rows(table, source, problems)
    summary["rows_kept"] = len(frame)
    summary["rows_quarantined"] = len(quarantined)
    summary["quarantine_reasons"] = _reason_counts(table, problems)
    return CycleFileResult(
        frame=frame,
        quarantined=quarantined,
        summary=summary,
        kept_source=source[keep].take(order).reset_index(drop=True),
        increments=increments,
    )


def read_cycler_export(
    path: str | Path, params: CycleIngestParams, reader: Any = None
) -> tuple[CycleFileResult, pd.DataFrame]:
    """Read an export a cycler reader claims (:func:`batteryops.ingest.cyclers.identify`).

    Records become cycle rows (:func:`batteryops.ingest.records.cycles_from_records`); a
    per-cycle export is read as it is. Cycle rows then pass the checks every cycle row passes
    (a capacity > 0, ``cycle_ingest.limits``), quarantined with the line of the cycle's first
    record; throughputs are summed over the kept cycles, as for any per-cycle file.

    Args:
        path: The export.
        params: The ``cycle_ingest`` section.
        reader: Its :class:`batteryops.ingest.cyclers.Reader` (found here when None).

    Returns:
        The file's result, as :func:`read_cycle_file` gives it, and its records
        (:data:`batteryops.ingest.records.RECORD_COLUMNS` after ``cell_id``; none for a
        per-cycle export).

    Raises:
        batteryops.ingest.files.UnusableFile: If no reader claims the file, or its reader
            cannot use it.
    """
    from batteryops.ingest import cyclers, records

    path = Path(path)
    reader = reader or cyclers.identify(path)
    if not isinstance(reader, cyclers.Reader):
        raise UnusableFile(f"no cycler reader claims {path.name}", expected="a cycler export")
    read = reader.read(path)
    if isinstance(read, records.Records) and read.frame.empty:
        first = read.quarantined["reason"].iloc[0] if len(read.quarantined) else "no data rows"
        raise UnusableFile(
            f"no readable record ({len(read.quarantined)} rows set aside; the first: {first})",
            expected=f"records a {reader.name} export holds",
        )
    if isinstance(read, records.Records):
        cycles = records.cycles_from_records(read, params.nominal_capacity_ah)
        lines = read.frame.groupby(schema.CYCLE)[records.LINE].min().reindex(cycles[schema.CYCLE])
        kept_records = read.frame.assign(**{schema.CELL_ID: read.cell_id})
        kept_records = kept_records[[schema.CELL_ID, *records.RECORD_COLUMNS]]
        rows_read = len(read.frame) + len(read.quarantined)
    else:
        cycles = read.frame.sort_values(schema.CYCLE_KEYS, kind="stable", ignore_index=True)
        lines = cycles.get(records.LINE, pd.Series(np.arange(len(cycles)) + 2))
        kept_records = pd.DataFrame(columns=[schema.CELL_ID, *records.RECORD_COLUMNS])
        rows_read = len(cycles) + len(read.quarantined)
    result = _cycler_result(path, reader.name, cycles, np.asarray(lines, dtype=np.int64), params)
    result.summary |= {"rows_read": rows_read, "records": len(kept_records)}
    result.summary["metadata"] = {k: v for k, v in read.metadata.items() if _plain(v)}
    if len(read.quarantined):
        result.quarantined = pd.concat([read.quarantined, result.quarantined], ignore_index=True)
        # "line 12: voltage (column 'Volts'): 'abc' is not a number" -> "voltage (column 'Volts')",
        # numbers replaced, so that one kind of problem is one key.
        reasons = Counter(
            re.sub(r"\d+(\.\d+)?", "N", re.sub(r"^line \d+: ", "", str(r)).split(":")[0])[:80]
            for r in read.quarantined["reason"]
        )
        result.summary["quarantine_reasons"] |= {f"record: {k}": n for k, n in reasons.items()}
        result.summary["rows_quarantined"] = len(result.quarantined)
    return result, kept_records


def _plain(value: Any) -> bool:
    """Whether a metadata value goes into the JSON summary as it is."""
    return isinstance(value, str | int | float | bool) or value is None


def _cycler_result(
    path: Path, layout: str, cycles: pd.DataFrame, lines: np.ndarray, params: CycleIngestParams
) -> CycleFileResult:
    """Canonical cycle rows from a reader's cycle rows, checked as every cycle row is."""
    signals = [c for c in [*schema.CYCLE_SIGNALS, *schema.CYCLE_HELPER_COLUMNS] if c in cycles]
    # The reader's throughputs (every charge in and out, set-aside cycles too) where it gives
    # them all; else summed over the kept cycles (and again across files), as for CSV files.
    values = {
        c: cycles[c].to_numpy(dtype=float)
        for c in signals
        if c not in THROUGHPUTS or np.isfinite(cycles[c].to_numpy(dtype=float)).all()
    }
    if not np.isfinite(values.get(CHARGE_CAPACITY, np.zeros(0))).any():
        values.pop(CHARGE_CAPACITY, None)
    mapping = _Mapping(headers={c: f"{layout} {c}" for c in values})
    problems = _Problems(lines)
    capacity = values["capacity_ah"]
    problems.flag(
        ~np.isfinite(capacity),
        "capacity_ah: missing",
        lambda row: (
            f"cycle {cycles[schema.CYCLE].iloc[row]}: no discharge in the cycle "
            "(expected a discharge capacity > 0)"
        ),
    )
    values["capacity_ah"] = np.nan_to_num(capacity)
    _check_values(values, mapping, params.limits, problems)
    keep = ~problems.bad_rows()
    cells = cycles[schema.CELL_ID].astype(str).to_numpy()
    frame, increments, order = _kept_rows(cells, cycles[schema.CYCLE].to_numpy(), values, keep)
    source = cycles.astype(str).assign(line=lines)
    source = source[["line", *[c for c in source.columns if c != "line"]]]
    rows = sorted(problems.by_row)
    flagged = source.iloc[rows].copy()
    flagged.insert(1, "reason", ["; ".join(t for _, t in problems.by_row[r]) for r in rows])
    reasons: Counter = Counter(found[0][0] for found in problems.by_row.values())
    summary = {
        "path": str(path),
        "accepted": True,
        "layout": layout,
        "repeated_headers": 0,
        "columns": {},
        "unmapped_columns": [],
        "column_problems": [],
        "cell_id_from": f"{layout} reader",
        "unit_conversions": {},
        "derived": {c: "cumulative sum per cell over kept cycles" for c in increments},
        "notes": [],
        "cycles": len(cycles),
        "rows_kept": len(frame),
        "rows_quarantined": len(flagged),
        "quarantine_reasons": dict(sorted(reasons.items())),
    }
    return CycleFileResult(
        frame=frame,
        quarantined=flagged.reset_index(drop=True),
        summary=summary,
        kept_source=source[keep].take(order).reset_index(drop=True),
        increments=increments,
    )


def _kept_rows(
    cells: np.ndarray, cycles: np.ndarray, values: dict[str, np.ndarray], keep: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The rows in ``keep`` in canonical columns, sorted by (cell_id, cycle), throughputs summed.

    Returns:
        The canonical rows; per row the per-cycle amounts behind the throughput columns the file
        lacks (capacities summed per cell); and the sort order (positions among kept rows).
    """
    frame = pd.DataFrame(
        {
            schema.CELL_ID: cells[keep],
            schema.CYCLE: np.nan_to_num(cycles[keep]).astype(np.int64),
            **{
                column: values[column][keep]
                if column in values
                else np.full(int(keep.sum()), np.nan)
                for column in schema.CYCLE_SIGNALS
            },
        }
    )
    increments = pd.DataFrame(
        {
            column: values[source][keep]
            for column, source in THROUGHPUTS.items()
            if column not in values and source in values
        },
        index=pd.RangeIndex(len(frame)),  # no columns when the file has every throughput
    )
    order = frame.sort_values(schema.CYCLE_KEYS, kind="stable").index.to_numpy()
    frame = frame.take(order).reset_index(drop=True)
    increments = increments.take(order).reset_index(drop=True)
    if len(increments.columns):
        sums = increments.groupby(frame[schema.CELL_ID], sort=False).cumsum()
        frame[list(increments.columns)] = sums
    return frame, increments, order


def _quarantined_rows(table: _Table, source: pd.DataFrame, problems: _Problems) -> pd.DataFrame:
    rows = sorted(problems.by_row)
    flagged = source.iloc[rows].copy()
    flagged.insert(1, "reason", ["; ".join(text for _, text in problems.by_row[r]) for r in rows])
    parts = [part for part in (table.malformed, flagged) if len(part)]
    if not parts:
        return pd.DataFrame(columns=["line", "reason", *table.headers])
    return pd.concat(parts, ignore_index=True).sort_values("line", kind="stable", ignore_index=True)


def _reason_counts(table: _Table, problems: _Problems) -> dict[str, int]:
    """Rows quarantined per reason; a row with several problems counts under its first."""
    counts: Counter = Counter(found[0][0] for found in problems.by_row.values())
    if len(table.malformed):
        counts["row: wrong number of fields"] += len(table.malformed)
    return dict(sorted(counts.items()))


# --- order --------------------------------------------------------------------------------------


def check_cycle_order(frame: pd.DataFrame, limit: int = 20) -> list[str]:
    """Problems with the order of canonical cycle data (none when it meets the contract).

    The contract: rows sorted by cell_id, and within each cell the cycle index strictly
    increasing (so no cycle repeats). One Great Expectations built-in cannot check this per cell.

    Args:
        frame: Canonical cycle data.
        limit: Report at most this many problems (then how many more there are).

    Returns:
        One line per problem, naming the cell, the cycle and the row position.
    """
    cells = frame[schema.CELL_ID].astype(str).to_numpy(dtype=object)
    cycles = frame[schema.CYCLE].to_numpy()
    same = cells[1:] == cells[:-1]
    found: list[tuple[int, str]] = []
    for i in np.flatnonzero(same & (cycles[1:] <= cycles[:-1])):
        what = "repeats" if cycles[i + 1] == cycles[i] else f"comes after cycle {cycles[i]}"
        found.append((i + 1, f"cell {cells[i + 1]!r}: cycle {cycles[i + 1]} at row {i + 1} {what}"))
    for i in np.flatnonzero(~same & (cells[1:] < cells[:-1])):
        found.append(
            (
                i + 1,
                f"cell {cells[i + 1]!r} (cycle {cycles[i + 1]}) at row {i + 1} comes after cell "
                f"{cells[i]!r}: rows must be sorted by cell_id",
            )
        )
    problems = [text for _, text in sorted(found)]
    if len(problems) > limit:
        return problems[:limit] + [f"... and {len(problems) - limit} more"]
    return problems


# --- many files ---------------------------------------------------------------------------------


SUPERSEDED = "cell's records read from another file"


@dataclass
class _Combined:
    """Rows of every file after removing duplicates, and the conflicting rows per file."""

    frame: pd.DataFrame
    conflicts: dict[int, pd.DataFrame]
    duplicates: int
    conflicting_keys: list[str]
    superseded: dict[int, pd.DataFrame]  # per-cycle rows of cells another file has records of


def _stacked(results: list[CycleFileResult]) -> pd.DataFrame:
    """Every file's kept rows, with their file number, row in that file and throughput steps."""
    parts = []
    for number, result in enumerate(results):
        part = result.frame.assign(_file=number, _row=np.arange(len(result.frame)))
        for column in THROUGHPUTS:
            derived = column in result.increments
            part[f"_derived_{column}"] = derived
            part[f"_step_{column}"] = result.increments[column] if derived else np.nan
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _combine(results: list[CycleFileResult], paths: list[Path]) -> _Combined:
    """Drop exact duplicates, set aside conflicting keys, sort, sum derived throughputs again."""
    table = _stacked(results)
    aside, superseded = _superseded(table, results, paths)
    table = table[~aside]
    compared = table[schema.CYCLE_COLUMNS].copy()
    for column in THROUGHPUTS:
        # A derived cumulative value depends on how a cell is split into files: compare steps.
        derived = table[f"_derived_{column}"].to_numpy()
        compared.loc[derived, column] = table.loc[derived, f"_step_{column}"]
        compared[f"_derived_{column}"] = derived
    exact = compared.duplicated(keep="first").to_numpy()
    table, compared = table[~exact], compared[~exact]
    clash = compared.duplicated(schema.CYCLE_KEYS, keep=False).to_numpy()
    conflicts, keys = _conflicts(table[clash], results, paths)
    kept = table[~clash].sort_values(schema.CYCLE_KEYS, kind="stable", ignore_index=True)
    for column in THROUGHPUTS:
        derived = kept[f"_derived_{column}"].to_numpy()
        if derived.any():
            steps = kept.loc[derived, f"_step_{column}"]
            kept.loc[derived, column] = steps.groupby(kept.loc[derived, schema.CELL_ID]).cumsum()
    frame = kept[schema.CYCLE_COLUMNS].astype({schema.CYCLE: np.int64})
    frame = frame.astype({column: np.float64 for column in schema.CYCLE_SIGNALS})
    return _Combined(frame, conflicts, int(exact.sum()), keys, superseded)


def _superseded(
    table: pd.DataFrame, results: list[CycleFileResult], paths: list[Path]
) -> tuple[np.ndarray, dict[int, pd.DataFrame]]:
    """Rows of a per-cycle file for a cell whose raw records another file holds, set aside.

    One cell read both from its cycler's records (NASA's ``.mat``) and from a per-cycle summary
    of them (a third party's ``cycle_summary.csv``) would clash on every cycle, and both
    versions would be lost to the conflict rule. The records are the source: the summary's rows
    of that cell go to its quarantine with the file that holds them; its other cells are kept.
    The whole cell, not only its clashing cycles: two sources number a cell's cycles their own
    way (NASA's summary counts discharges from 1 in its own order), so their rows do not mix.
    """
    raw = np.array([int(r.summary.get("records") or 0) > 0 for r in results], dtype=bool)
    numbers = table["_file"].to_numpy(dtype=np.int64)
    from_raw = raw[numbers] if len(raw) else np.zeros(len(table), dtype=bool)
    owners = (
        table.loc[from_raw, [schema.CELL_ID, "_file"]]
        .drop_duplicates(schema.CELL_ID)
        .set_index(schema.CELL_ID)["_file"]
    )
    aside = ~from_raw & table[schema.CELL_ID].isin(owners.index).to_numpy()
    by_file: dict[int, pd.DataFrame] = {}
    for number, rows in table[aside].groupby("_file"):
        source = results[int(number)].kept_source.iloc[rows["_row"].to_numpy()].copy()
        reason = [
            f"line {line}: cell {cell!r} comes from {paths[int(owners[cell])].name}, which holds "
            "its records; this file's per-cycle rows of it are set aside (expected each cell "
            "from one source)"
            for line, cell in zip(source["line"], rows[schema.CELL_ID], strict=True)
        ]
        source.insert(1, "reason", reason)
        by_file[int(number)] = source.reset_index(drop=True)
    return aside, by_file


def _conflicts(
    clashing: pd.DataFrame, results: list[CycleFileResult], paths: list[Path]
) -> tuple[dict[int, pd.DataFrame], list[str]]:
    """Quarantine rows per file for keys that hold different values, and the keys."""
    by_file: dict[int, list[pd.DataFrame]] = {}
    keys = []
    for (cell, cycle), rows in clashing.groupby(schema.CYCLE_KEYS, sort=True):
        places = [
            f"{paths[int(f)].name} line {results[int(f)].kept_source['line'].iloc[int(r)]}"
            for f, r in zip(rows["_file"], rows["_row"], strict=True)
        ]
        key = f"cell_id={cell!r}, cycle={int(cycle)}"
        keys.append(key)
        for number, group in rows.groupby("_file"):
            source = results[int(number)].kept_source.iloc[group["_row"].to_numpy()].copy()
            reason = [
                f"line {line}: duplicate key {key} with different values in {len(rows)} rows "
                f"({'; '.join(places)}); expected one set of values per (cell_id, cycle)"
                for line in source["line"]
            ]
            source.insert(1, "reason", reason)
            by_file.setdefault(int(number), []).append(source)
    return {n: pd.concat(parts, ignore_index=True) for n, parts in by_file.items()}, keys


def _quarantine_file(
    path: Path, error: UnusableFile, directory: Path, index: int
) -> dict[str, Any]:
    """Copy an unusable file to quarantine with its reason; its summary entry."""
    reason = error.as_reason(path)
    target = files.quarantine(path, reason, directory, index)
    logger.warning("quarantined %s: %s", path, reason["reason"])
    return {"path": str(path), "accepted": False, "reason": reason, "quarantined_as": target.name}


def _write_row_quarantine(
    path: Path, rows: pd.DataFrame, reasons: dict[str, int], directory: Path, taken: set[str]
) -> str:
    """Write ``<stem>.cycles.csv`` and ``<stem>.cycles.csv.reason.json``; the CSV's name."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", _file_stem(path))[:120] or "file"
    name = f"{stem}.cycles.csv"
    if name in taken:
        name = f"{stem}_{len(taken):03d}.cycles.csv"
    taken.add(name)
    target = directory / name
    with atomic_path(target) as tmp:
        rows.to_csv(tmp, index=False)
    write_json(
        {"file": str(path), "rows": len(rows), "reasons": reasons, "expected": _ROW_EXPECTED},
        target.with_name(target.name + ".reason.json"),
    )
    return name


def _read_files(
    found: list[Path], params: CycleIngestParams, directory: Path
) -> tuple[list[tuple[Path, CycleFileResult]], list[dict[str, Any]], list[str], list[pd.DataFrame]]:
    """Each file read by its reader: the accepted ones, every entry, the sidecars, the records."""
    from batteryops.ingest import cyclers, records

    accepted: list[tuple[Path, CycleFileResult]] = []
    entries: list[dict[str, Any]] = []
    sidecars: list[str] = []
    record_parts = [pd.DataFrame(columns=[schema.CELL_ID, *records.RECORD_COLUMNS])]
    for index, path in enumerate(found):
        try:
            kind = cyclers.identify(path)
            if kind == "sidecar":
                sidecars.append(str(path))
                continue
            if kind is None:
                result = read_cycle_file(path, params)
            else:
                result, kept_records = read_cycler_export(path, params, kind)
                record_parts.append(kept_records)
        except UnusableFile as error:
            entries.append(_quarantine_file(path, error, directory, index))
            continue
        accepted.append((path, result))
        entries.append(result.summary)
    return accepted, entries, sidecars, record_parts


def ingest_cycle_files(
    paths: Iterable[str | Path],
    out_path: str | Path,
    quarantine_dir: str | Path,
    params: CycleIngestParams,
    records_path: str | Path | None = None,
) -> dict[str, Any]:
    """Ingest cycler exports into one canonical cycle-data Parquet file.

    A file a cycler reader claims (:mod:`batteryops.ingest.cyclers`: Arbin, Maccor, Neware,
    BioLogic, ... records) is read by it (:func:`read_cycler_export`); a file that only
    accompanies another (a metadata sidecar) is passed over; any other file is a per-cycle
    export (:func:`read_cycle_file`).

    Args:
        paths: Files, or directories to search for supported files
            (see :func:`batteryops.ingest.files.discover`).
        out_path: The canonical Parquet file, written atomically.
        quarantine_dir: Where unusable files are copied (with ``.reason.json``) and
            quarantined rows written as ``<file stem>.cycles.csv`` (with ``.reason.json``).
        params: The ``cycle_ingest`` section.
        records_path: Where the records of the record exports go (Parquet: ``cell_id`` then
            :data:`batteryops.ingest.records.RECORD_COLUMNS`); not written when None.

    Returns:
        A JSON-ready summary: files accepted and rejected, rows read, kept, quarantined,
        duplicates dropped, conflicting keys, cells, sidecars passed over, and one entry per
        file.

    Raises:
        ValueError: If no file yields any row (the message names the files).
    """
    found = files.discover(paths)
    directory = Path(quarantine_dir)
    accepted, entries, sidecars, record_parts = _read_files(found, params, directory)
    rows_kept = sum(len(result.frame) for _, result in accepted)
    if rows_kept == 0:
        _write_quarantines(accepted, {}, directory)
        names = ", ".join(str(path) for path in found) or "(no files found)"
        raise ValueError(f"no cycle rows in any input file: {names}")
    combined = _combine([r for _, r in accepted], [p for p, _ in accepted])
    written = _write_quarantines(accepted, combined.conflicts, directory, combined.superseded)
    order = check_cycle_order(combined.frame)
    if order:  # the frame was just sorted and deduplicated: this is a bug, not bad data
        raise RuntimeError("cycle data out of order after sorting: " + "; ".join(order))
    write_parquet(combined.frame, out_path)
    if records_path is not None:
        frames = [part for part in record_parts if len(part)] or record_parts[:1]
        write_parquet(pd.concat(frames, ignore_index=True), records_path)
    summary = _run_summary(entries, combined, written) | {"sidecars": sidecars}
    logger.info(
        "cycle ingest: %d rows of %d cells from %d files (%d rejected), %d rows quarantined",
        summary["rows_out"],
        summary["cells"],
        summary["files_accepted"],
        summary["files_rejected"],
        summary["rows_quarantined"],
    )
    return summary


def _write_quarantines(
    accepted: list[tuple[Path, CycleFileResult]],
    conflicts: dict[int, pd.DataFrame],
    directory: Path,
    superseded: dict[int, pd.DataFrame] | None = None,
) -> list[str]:
    """Write each file's quarantined rows (its own, conflicting, superseded); the CSV names."""
    written: list[str] = []
    taken: set[str] = set()
    superseded = superseded or {}
    for number, (path, result) in enumerate(accepted):
        parts = [result.quarantined, conflicts.get(number), superseded.get(number)]
        parts = [part for part in parts if part is not None]
        rows = pd.concat([p for p in parts if len(p)] or [result.quarantined], ignore_index=True)
        if rows.empty:
            continue
        reasons = dict(result.summary["quarantine_reasons"])
        if number in conflicts:
            reasons["duplicate key with different values"] = len(conflicts[number])
        if number in superseded:
            reasons[SUPERSEDED] = len(superseded[number])
        written.append(_write_row_quarantine(path, rows, reasons, directory, taken))
    return written


def _run_summary(
    entries: list[dict[str, Any]], combined: _Combined, written: list[str]
) -> dict[str, Any]:
    accepted = [entry for entry in entries if entry["accepted"]]
    reasons: Counter = Counter()
    for entry in accepted:
        reasons.update(entry["quarantine_reasons"])
    conflicting = sum(len(rows) for rows in combined.conflicts.values())
    if conflicting:
        reasons["duplicate key with different values"] += conflicting
    superseded = sum(len(rows) for rows in combined.superseded.values())
    if superseded:
        reasons[SUPERSEDED] += superseded
    return {
        "files_accepted": len(accepted),
        "files_rejected": len(entries) - len(accepted),
        "rows_read": sum(entry["rows_read"] for entry in accepted),
        "rows_out": len(combined.frame),
        "rows_quarantined": sum(reasons.values()),
        "quarantine_reasons": dict(sorted(reasons.items())),
        "repeated_headers": sum(entry["repeated_headers"] for entry in accepted),
        "duplicate_rows_dropped": combined.duplicates,
        "conflicting_keys": combined.conflicting_keys[:50],
        "cells": int(combined.frame[schema.CELL_ID].nunique()),
        "quarantine_files": written,
        "files": entries,
    }
