"""Ingest logger and BMS exports into canonical telemetry, losing no valid row.

One file at a time (CSV, TSV, semicolon CSV with decimal commas, gzip, Parquet):

1. **Sniff** the bytes: gzip and Parquet by magic number; UTF-8 (with or without BOM) or latin-1;
   a ``sep=`` first line; the delimiter from the header line; decimal commas.
2. **Read** every column as text with Arrow's CSV reader (multi-threaded, bounded blocks, so a
   huge line fails cleanly instead of eating memory). Rows with the wrong number of fields
   (a truncated last line) are skipped and counted; header lines repeated mid-file are dropped
   and counted.
3. **Map columns** to canonical names through an alias table (:data:`DEFAULT_ALIASES` plus
   ``ingest.aliases`` from params), matching names with case, spaces and punctuation ignored and
   the unit read from the header (``Name (unit)``, ``Name [unit]``, ``Name_unit``); values are
   converted to canonical units (mV -> V, mA -> A, F/K -> C, ...). The asset is ``module_id``, or
   rack + module. Unmapped columns are kept out (and listed in the summary).
4. **Parse** timestamps to UTC: ISO 8601 with offsets, naive local times in ``ingest.timezone``,
   epoch seconds/ms/us/ns (told apart by magnitude), Excel serial days. A row whose timestamp or
   asset cannot be parsed is dropped and counted. A value that is not a number becomes missing and
   is counted; a physically impossible one (``ingest.limits``) is masked (missing) and counted,
   never used as heat.
5. **Per asset**: sort; round timestamps to the nearest second; drop exact duplicates (same asset,
   time and values; counted); merge the remaining rows that share a second by a rule per signal
   (:data:`RESAMPLE_RULES`: mean, max, min or last; counted). Seconds without data stay without
   rows: nothing is invented across gaps.

A file that cannot be used at all (unknown format, no timestamp or asset column, undecodable,
a line longer than the read block, nothing parseable) is copied to the quarantine directory with a
``.reason.json`` beside it naming the file, line and column where known and what was expected;
the run goes on with the other files.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import re
import shutil
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from batteryops.core import schema
from batteryops.core.config import IngestParams
from batteryops.core.io import write_parquet

logger = logging.getLogger(__name__)

SUFFIXES = (".csv", ".tsv", ".txt", ".dat", ".gz", ".parquet", ".pq")
SAMPLE_BYTES = 64 * 1024

DEFAULT_ALIASES: dict[str, list[str]] = {
    schema.TIMESTAMP: [
        "timestamp",
        "time",
        "datetime",
        "date time",
        "time stamp",
        "ts",
        "utc",
        "utc time",
        "local time",
        "epoch",
        "unix time",
        "excel time",
        "zeit",
        "log time",
        "record time",
    ],
    schema.RACK_ID: ["rack", "rack id", "rack no", "rack number", "rack name", "cluster"],
    schema.MODULE_ID: [
        "module",
        "module id",
        "module no",
        "module number",
        "module name",
        "asset",
        "asset id",
        "device",
        "device id",
        "battery id",
        "pack id",
        "unit id",
        "bms id",
    ],
    "voltage_v": ["voltage", "module voltage", "pack voltage", "total voltage", "volt", "u"],
    "current_a": ["current", "module current", "pack current", "i", "amps"],
    "soc_pct": ["soc", "state of charge"],
    "temp_avg_c": [
        "temp avg",
        "temperature avg",
        "avg temp",
        "average temperature",
        "mean temperature",
        "temperature",
        "temp",
        "t avg",
    ],
    "temp_max_c": [
        "temp max",
        "temperature max",
        "max temp",
        "max temperature",
        "maximum temperature",
        "max cell temp",
        "max cell temperature",
        "t max",
        "highest temp",
    ],
    "temp_min_c": [
        "temp min",
        "temperature min",
        "min temp",
        "min temperature",
        "minimum temperature",
        "min cell temp",
        "min cell temperature",
        "t min",
        "lowest temp",
    ],
    "ambient_c": ["ambient", "ambient temp", "ambient temperature", "room temp", "t amb"],
    "coolant_c": ["coolant", "coolant temp", "coolant temperature", "inlet temp", "air inlet"],
    "cell_v_max": [
        "cell v max",
        "max cell voltage",
        "cell voltage max",
        "vcell max",
        "highest cell voltage",
        "max cell v",
    ],
    "cell_v_min": [
        "cell v min",
        "min cell voltage",
        "cell voltage min",
        "vcell min",
        "lowest cell voltage",
        "min cell v",
    ],
    "gas_co_ppm": ["gas co", "co", "carbon monoxide"],
    "gas_h2_ppm": ["gas h2", "h2", "hydrogen"],
    "gas_voc_ppm": ["gas voc", "voc", "tvoc"],
}

# Unit of each canonical signal, and header units accepted for it: (scale, offset) to canonical.
_VOLTS = {"v": (1.0, 0.0), "mv": (1e-3, 0.0), "kv": (1e3, 0.0)}
_AMPS = {"a": (1.0, 0.0), "ma": (1e-3, 0.0), "ka": (1e3, 0.0)}
_CELSIUS = {
    "c": (1.0, 0.0),
    "degc": (1.0, 0.0),
    "°c": (1.0, 0.0),
    "celsius": (1.0, 0.0),
    "f": (5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "degf": (5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "°f": (5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "k": (1.0, -273.15),
    "kelvin": (1.0, -273.15),
}
_PERCENT = {"%": (1.0, 0.0), "pct": (1.0, 0.0), "percent": (1.0, 0.0)}
_PPM = {"ppm": (1.0, 0.0)}
UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "voltage_v": _VOLTS,
    "cell_v_max": _VOLTS,
    "cell_v_min": _VOLTS,
    "current_a": _AMPS,
    "soc_pct": _PERCENT,
    "temp_avg_c": _CELSIUS,
    "temp_max_c": _CELSIUS,
    "temp_min_c": _CELSIUS,
    "ambient_c": _CELSIUS,
    "coolant_c": _CELSIUS,
    "gas_co_ppm": _PPM,
    "gas_h2_ppm": _PPM,
    "gas_voc_ppm": _PPM,
}
KNOWN_UNITS = {unit for table in UNITS.values() for unit in table}

RESAMPLE_RULES: dict[str, str] = {
    "voltage_v": "mean",
    "current_a": "mean",
    "soc_pct": "last",
    "temp_avg_c": "mean",
    "temp_max_c": "max",
    "temp_min_c": "min",
    "ambient_c": "mean",
    "coolant_c": "mean",
    "cell_v_max": "max",
    "cell_v_min": "min",
    "gas_co_ppm": "max",
    "gas_h2_ppm": "max",
    "gas_voc_ppm": "max",
}

_NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
_OFFSET = r"(Z|[+-]\d\d:?\d\d)\s*$"


class UnusableFile(Exception):  # noqa: N818 - a verdict on the file, raised and caught here
    """A file that cannot be ingested; carries where and what was expected."""

    def __init__(
        self, reason: str, line: int | None = None, column: str | None = None, expected: str = ""
    ):
        super().__init__(reason)
        self.reason, self.line, self.column, self.expected = reason, line, column, expected


@dataclass
class FileReport:
    """What happened to one file."""

    path: str
    accepted: bool = True
    rows_in: int = 0
    rows_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    masked: Counter = field(default_factory=Counter)
    columns: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    reason: dict[str, Any] | None = None
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path,
            "accepted": self.accepted,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,  # rows kept from this file, before merging across files
            "rows_dropped": dict(self.dropped),
            "values_masked": dict(self.masked),
            "columns": self.columns,
            "unmapped_columns": self.unmapped,
            "reason": self.reason,
            "malformed_examples": self.examples[:5],
        }


# --- column names and units ---------------------------------------------------------------------


def normalise_name(name: str) -> str:
    """Lower case, letters and digits only: ``'Temp. Max'`` -> ``'tempmax'``."""
    return re.sub(r"[^0-9a-z]", "", name.lower().replace("µ", "u"))


def split_unit(header: str) -> tuple[str, str | None]:
    """``'Voltage (mV)'``, ``'Voltage [mV]'`` or ``'voltage_mv'`` -> ``('Voltage', 'mv')``."""
    text = header.strip()
    bracket = re.match(r"^(.*?)[\s_]*[\(\[]\s*([^\)\]]*?)\s*[\)\]]\s*$", text)
    if bracket:
        unit = bracket.group(2).lower().replace(" ", "")
        return bracket.group(1), unit.replace("º", "°") or None  # ordinal sign typed for degree
    parts = re.split(r"[_\s]+", text)
    if len(parts) > 1 and parts[-1].lower() in KNOWN_UNITS:
        return " ".join(parts[:-1]), parts[-1].lower()
    return text, None


def alias_table(extra: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Normalised alias -> canonical name; user aliases (``ingest.aliases``) win."""
    table: dict[str, str] = {}
    for canonical, names in DEFAULT_ALIASES.items():
        table[normalise_name(canonical)] = canonical
        for name in names:
            table[normalise_name(name)] = canonical
    for canonical in schema.SIGNALS:
        table.setdefault(normalise_name(split_unit(canonical)[0]), canonical)
    for canonical, names in (extra or {}).items():
        for name in names:
            table[normalise_name(split_unit(name)[0])] = canonical
            table[normalise_name(name)] = canonical
    return table


def map_columns(
    headers: list[str], aliases: dict[str, str]
) -> tuple[dict[str, tuple[str, tuple[float, float]]], list[str], list[str]]:
    """Map file headers to canonical names with their unit conversion.

    Returns:
        ``{header: (canonical, (scale, offset))}``, the unmapped headers, and problems found
        (a unit that does not fit its signal, or two headers for one signal).
    """
    mapped: dict[str, tuple[str, tuple[float, float]]] = {}
    taken: dict[str, str] = {}
    unmapped, problems = [], []
    for header in headers:
        name, unit = split_unit(header)
        canonical = aliases.get(normalise_name(header)) or aliases.get(normalise_name(name))
        if canonical is None:
            unmapped.append(header)
            continue
        if canonical in taken:
            problems.append(
                f"column '{header}' maps to {canonical}, already taken by '{taken[canonical]}'"
            )
            unmapped.append(header)
            continue
        conversion = (1.0, 0.0)
        if canonical in UNITS and unit is not None:
            units = UNITS[canonical]
            if unit not in units:
                problems.append(
                    f"column '{header}': unit '{unit}' does not fit {canonical} "
                    f"(expected one of {sorted(units)})"
                )
                unmapped.append(header)
                continue
            conversion = units[unit]
        taken[canonical] = header
        mapped[header] = (canonical, conversion)
    return mapped, unmapped, problems


# --- sniffing and reading -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sniffed:
    """How to read a file."""

    kind: str  # "csv" or "parquet"
    compression: str | None = None
    encoding: str = "utf8"
    delimiter: str = ","
    skip_rows: int = 0
    decimal_comma: bool = False
    header: tuple[str, ...] = ()
    first_row: tuple[str, ...] = ()


def sniff(path: Path) -> Sniffed:
    """Format, compression, encoding, ``sep=`` line, delimiter and decimal mark of a file."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == b"PAR1":
        return Sniffed(kind="parquet")
    compression = "gzip" if magic[:2] == b"\x1f\x8b" else None
    try:
        with gzip.open(path, "rb") if compression else open(path, "rb") as handle:
            sample = handle.read(SAMPLE_BYTES)
    except (OSError, EOFError) as error:
        raise UnusableFile(f"cannot read: {error}", expected="a readable (gzip) file") from error
    if not sample.strip():
        raise UnusableFile("empty file", line=1, expected="a header line and data rows")
    if b"\x00" in sample:
        raise UnusableFile(
            "binary content (NUL bytes)", line=1, expected="a text export (CSV/TSV) or Parquet"
        )
    encoding = "utf8"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:  # not just a character cut by the sample's end
            encoding = "latin1"
    text = sample.decode("utf-8" if encoding == "utf8" else "latin-1", errors="replace")
    lines = text.lstrip("\ufeff").splitlines()
    skip = 0
    delimiter = None
    if lines and lines[0].strip().lower().startswith("sep="):
        delimiter = lines[0].strip()[4:5] or ","
        skip = 1
    if len(lines) <= skip:
        raise UnusableFile("no header line", line=skip + 1, expected="a header line")
    header_line = lines[skip]
    if delimiter is None:
        counts = {d: _count_outside_quotes(header_line, d) for d in (",", ";", "\t", "|")}
        delimiter = max(counts, key=counts.get) if max(counts.values()) > 0 else ","
    header = next(csv.reader([header_line], delimiter=delimiter))
    first_row = next(csv.reader(lines[skip + 1 : skip + 2], delimiter=delimiter), [])
    body = "\n".join(lines[skip + 1 : skip + 200])
    decimal_comma = delimiter != "," and bool(
        re.search(
            r"(^|["
            + re.escape(delimiter)
            + r"\"])\s*-?\d+,\d+\s*(?=["
            + re.escape(delimiter)
            + r"\"]|$)",
            body,
            re.M,
        )
    )
    return Sniffed(
        kind="csv",
        compression=compression,
        encoding=encoding,
        delimiter=delimiter,
        skip_rows=skip,
        decimal_comma=decimal_comma,
        header=tuple(h.strip() for h in header),
        first_row=tuple(first_row),
    )


def _count_outside_quotes(line: str, char: str) -> int:
    return sum(part.count(char) for i, part in enumerate(line.split('"')) if i % 2 == 0)


def read_text_table(
    path: Path,
    sniffed: Sniffed,
    block_size: int,
    typed: dict[str, pa.DataType] | None = None,
) -> tuple[pa.Table, list[str]]:
    """Read a text export; returns the table and the malformed rows skipped (their text).

    With ``typed`` (header -> Arrow type), only those columns are read and Arrow parses them
    itself (numbers with the file's decimal mark, ISO timestamps): the fast path for clean
    exports. Any value that does not fit raises ``pa.ArrowInvalid``, and the caller reads the
    file again with every column as text, the robust path. Without ``typed`` every column is text.
    """
    names = _unique(list(sniffed.header))
    malformed: list[str] = []

    def skip_row(row: Any) -> str:
        malformed.append(str(row.text)[:200])
        return "skip"

    if typed is None:
        convert = pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
    else:
        convert = pa_csv.ConvertOptions(
            column_types=typed,
            include_columns=list(typed),
            decimal_point="," if sniffed.decimal_comma else ".",
            timestamp_parsers=[pa_csv.ISO8601],
        )

    def read(encoding: str) -> pa.Table:
        stream = pa.input_stream(str(path), compression=sniffed.compression)
        return pa_csv.read_csv(
            stream,
            read_options=pa_csv.ReadOptions(
                encoding=encoding,
                skip_rows=sniffed.skip_rows + 1,
                column_names=names,
                block_size=block_size,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=sniffed.delimiter, invalid_row_handler=skip_row
            ),
            convert_options=convert,
        )

    try:
        try:
            table = read(sniffed.encoding)
        except pa.ArrowInvalid as error:
            if "UTF8" not in str(error) or sniffed.encoding != "utf8":
                raise
            malformed.clear()
            table = read("latin1")  # latin-1 decodes any byte: a mislabelled export
    except pa.ArrowInvalid as error:
        message = str(error)
        if "straddling" in message or "block" in message:
            raise UnusableFile(
                f"a line longer than the read block ({block_size} bytes)",
                expected="lines shorter than ingest.block_size_mb",
            ) from error
        if typed is not None:
            raise
        raise UnusableFile(f"cannot parse as delimited text: {message}") from error
    return table, malformed


def _unique(names: list[str]) -> list[str]:
    seen: Counter = Counter()
    out = []
    for name in names:
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name}.{seen[name] - 1}")
    return out


# --- values ------------------------------------------------------------------------------------


def parse_numbers(
    column: pa.Array | pa.ChunkedArray, decimal_comma: bool
) -> tuple[np.ndarray, int]:
    """Text or numbers to float64, and how many non-empty texts were not a number."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        if pa.types.is_floating(column.type):  # float32 stays float32: what telemetry keeps
            if column.null_count:
                column = pc.fill_null(column, np.nan)
            return column.to_numpy(), 0
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False), 0
    if pa.types.is_dictionary(column.type):
        column = column.cast(pa.string())
    text = pc.utf8_trim_whitespace(column.cast(pa.string()))
    if decimal_comma:
        text = pc.replace_substring(text, ",", ".")
    empty = pc.equal(pc.utf8_length(text), 0)
    text = pc.if_else(empty, pa.scalar(None, pa.string()), text)
    try:
        values = pc.cast(text, pa.float64())
        bad = 0
    except pa.ArrowInvalid:
        numeric = pc.match_substring_regex(text, _NUMBER)
        numeric = pc.fill_null(numeric, False)
        values = pc.cast(pc.if_else(numeric, text, pa.scalar(None, pa.string())), pa.float64())
        bad = int(pc.sum(pc.and_(pc.invert(numeric), pc.is_valid(text))).as_py() or 0)
    return values.to_numpy(zero_copy_only=False), bad


def parse_timestamps(column: pa.Array, timezone: str, dayfirst: bool) -> np.ndarray:
    """Any supported timestamp form to UTC nanoseconds since the epoch; NaT where unparseable.

    Numbers are epoch seconds, milliseconds, microseconds or nanoseconds (told apart by
    magnitude) or Excel serial days (20,000-80,000, i.e. 1954-2119, in ``timezone``). Text is ISO
    8601: with an offset or ``Z`` it is converted to UTC, without one it is taken as local time in
    ``timezone`` (ambiguous or non-existent local times at DST changes become NaT).
    """
    nat = np.iinfo(np.int64).min
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            series = pd.Series(column.to_pandas())
            series = series.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
            return series.dt.tz_convert("UTC").array.asi8.copy()
        nanoseconds = column.cast(pa.timestamp("ns", column.type.tz)).cast(pa.int64())
        return pc.fill_null(nanoseconds, nat).to_numpy(zero_copy_only=False)
    if pa.types.is_dictionary(column.type):
        column = column.cast(pa.string())
    numbers, _ = parse_numbers(column, decimal_comma=False)
    out = np.full(len(numbers), nat, dtype=np.int64)
    is_number = ~np.isnan(numbers)
    if is_number.any():
        out[is_number] = _numeric_times(numbers[is_number], timezone)
    rest = np.flatnonzero(~is_number)
    if rest.size and not pa.types.is_floating(column.type):
        text = pc.utf8_trim_whitespace(column.take(pa.array(rest)).cast(pa.string()))
        out[rest] = _text_times(text, timezone, dayfirst)
    return out


def _numeric_times(values: np.ndarray, timezone: str) -> np.ndarray:
    nat = np.iinfo(np.int64).min
    out = np.full(len(values), nat, dtype=np.int64)
    magnitude = np.abs(values)
    for low, high, scale in (
        (1e17, 1e20, 1.0),
        (1e14, 1e17, 1e3),
        (1e11, 1e14, 1e6),
        (1e8, 1e11, 1e9),
    ):
        chosen = (magnitude >= low) & (magnitude < high)
        out[chosen] = np.rint(values[chosen] * scale).astype(np.int64)
    excel = (values >= 20000) & (values < 80000)
    if excel.any():
        local = pd.Timestamp("1899-12-30") + pd.to_timedelta(values[excel] * 86400.0, unit="s")
        local = pd.DatetimeIndex(local).round("ms")
        utc = local.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC")
        out[excel] = utc.asi8
    return out


def _text_times(text: pa.Array, timezone: str, dayfirst: bool) -> np.ndarray:
    nat = np.iinfo(np.int64).min
    out = np.full(len(text), nat, dtype=np.int64)
    has_offset = pc.fill_null(pc.match_substring_regex(text, _OFFSET), False).to_numpy(
        zero_copy_only=False
    )
    for offset, indices in (
        (True, np.flatnonzero(has_offset)),
        (False, np.flatnonzero(~has_offset)),
    ):
        if not indices.size:
            continue
        part = text.take(pa.array(indices))
        try:
            if offset:
                parsed = pc.cast(part, pa.timestamp("ns", "UTC"))
            else:
                naive = pc.cast(part, pa.timestamp("ns"))
                parsed = pc.assume_timezone(
                    naive, timezone=timezone, ambiguous="raise", nonexistent="raise"
                )
            values = parsed.cast(pa.int64()).to_numpy(zero_copy_only=False)
            out[indices] = np.where(pc.is_null(parsed).to_numpy(zero_copy_only=False), nat, values)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            out[indices] = _pandas_times(part.to_pandas(), offset, timezone, dayfirst)
    return out


def _pandas_times(strings: pd.Series, offset: bool, timezone: str, dayfirst: bool) -> np.ndarray:
    """Slow path, value by value: mixed or non-ISO forms; NaT where nothing fits."""
    parsed = pd.to_datetime(strings, errors="coerce", utc=offset, format="mixed", dayfirst=dayfirst)
    if not offset:
        parsed = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return parsed.dt.tz_convert("UTC").array.asi8.copy()


# --- files to canonical rows ---------------------------------------------------------------------


@dataclass
class FileRows:
    """One file's valid rows: UTC nanoseconds, asset codes into ``modules``, signals."""

    nanoseconds: np.ndarray
    codes: np.ndarray
    modules: list[str]
    racks: list[str]
    signals: dict[str, np.ndarray]


def file_rows(path: Path, params: IngestParams, report: FileReport) -> FileRows:
    """One file's rows in canonical names and units (not yet deduplicated or resampled).

    Raises:
        UnusableFile: If the file cannot be used at all.
    """
    sniffed = sniff(path)
    block_size = int(params.block_size_mb * 1024 * 1024)
    aliases = alias_table(params.aliases)
    if sniffed.kind == "parquet":
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise UnusableFile(f"unreadable Parquet: {error}", expected="a Parquet file") from error
        malformed: list[str] = []
    else:
        mapped, _, _ = map_columns(_unique(list(sniffed.header)), aliases)
        try:
            table, malformed = read_text_table(
                path, sniffed, block_size, _fast_types(sniffed, mapped)
            )
        except pa.ArrowInvalid:
            table, malformed = read_text_table(path, sniffed, block_size)
    headers = list(table.column_names)
    report.rows_in = table.num_rows + len(malformed)
    if malformed:
        report.dropped["malformed_row"] += len(malformed)
        report.examples.extend(malformed)
    mapped, unmapped, problems = map_columns(headers, aliases)
    report.unmapped = [h for h in unmapped if h in headers]
    report.columns = {header: canonical for header, (canonical, _) in mapped.items()}
    by_canonical = {canonical: header for header, (canonical, _) in mapped.items()}
    if schema.TIMESTAMP not in by_canonical:
        raise UnusableFile(
            f"no timestamp column among {list(sniffed.header or headers)[:20]}",
            line=sniffed.skip_rows + 1,
            expected="a column named like 'timestamp' or 'time' (or add one to ingest.aliases)",
        )
    if schema.MODULE_ID not in by_canonical:
        raise UnusableFile(
            f"no asset column among {list(sniffed.header or headers)[:20]}",
            line=sniffed.skip_rows + 1,
            expected="a 'module_id' column, or rack + module columns (or ingest.aliases)",
        )
    for problem in problems:
        logger.warning("%s: %s", path, problem)
    if table.num_rows == 0:
        raise UnusableFile("no data rows", line=sniffed.skip_rows + 2, expected="data rows")

    ts_header = by_canonical[schema.TIMESTAMP]
    ts_column = table.column(ts_header).combine_chunks()
    keep = np.ones(table.num_rows, dtype=bool)
    if pa.types.is_string(ts_column.type):
        repeated = pc.equal(pc.utf8_trim_whitespace(ts_column), ts_header).to_numpy(
            zero_copy_only=False
        )
        report.dropped["repeated_header"] += int(repeated.sum())
        keep &= ~repeated
    stamps = parse_timestamps(ts_column, params.timezone, params.dayfirst)
    bad_time = (stamps == np.iinfo(np.int64).min) & keep
    report.dropped["unparseable_timestamp"] += int(bad_time.sum())
    keep &= ~bad_time

    rack_column = (
        table.column(by_canonical[schema.RACK_ID]) if schema.RACK_ID in by_canonical else None
    )
    codes, modules, racks = _assets(table.column(by_canonical[schema.MODULE_ID]), rack_column)
    no_asset = (codes < 0) & keep
    report.dropped["missing_asset"] += int(no_asset.sum())
    keep &= ~no_asset
    if not keep.any():
        raise UnusableFile(
            f"no row with a parseable timestamp and asset ({dict(report.dropped)})",
            column=ts_header,
            expected="ISO 8601, epoch s/ms/us/ns or Excel serial timestamps",
        )
    everything = bool(keep.all())
    report.rows_out = int(keep.sum())
    signals: dict[str, np.ndarray] = {}
    for canonical in schema.SIGNALS:
        header = by_canonical.get(canonical)
        if header is None:
            continue
        values, bad = parse_numbers(table.column(header), sniffed.decimal_comma)
        if not everything:
            values = values[keep]
        report.masked[f"not_a_number:{canonical}"] += bad
        scale, offset = mapped[header][1]
        if (scale, offset) != (1.0, 0.0):
            values = values * scale + offset
        low, high = params.limits.get(canonical, (-np.inf, np.inf))
        with np.errstate(invalid="ignore"):
            impossible = (values < low) | (values > high)
        if impossible.any():
            report.masked[f"impossible:{canonical}"] += int(impossible.sum())
            values = np.where(impossible, np.nan, values)
        signals[canonical] = values
    report.masked = Counter({k: v for k, v in report.masked.items() if v})
    return FileRows(
        nanoseconds=stamps if everything else stamps[keep],
        codes=codes if everything else codes[keep],
        modules=modules,
        racks=racks,
        signals=signals,
    )


def _fast_types(
    sniffed: Sniffed, mapped: dict[str, tuple[str, tuple[float, float]]]
) -> dict[str, pa.DataType] | None:
    """Arrow types for the mapped columns of a clean export (None if there is no timestamp)."""
    index = {header: i for i, header in enumerate(_unique(list(sniffed.header)))}
    types: dict[str, pa.DataType] = {}
    for header, (canonical, _) in mapped.items():
        if canonical in (schema.MODULE_ID, schema.RACK_ID):
            types[header] = pa.dictionary(pa.int32(), pa.string())
        elif canonical == schema.TIMESTAMP:
            i = index.get(header)
            sample = (
                sniffed.first_row[i].strip() if i is not None and i < len(sniffed.first_row) else ""
            )
            if re.match(_NUMBER, sample):
                types[header] = pa.float64()
            elif re.search(_OFFSET, sample) and re.match(r"^\d{4}-\d\d-\d\d[T ]\d", sample):
                types[header] = pa.timestamp("ns", "UTC")
            else:
                types[header] = pa.string()
        else:
            types[header] = pa.float32()
    return types if any(c == schema.TIMESTAMP for c, _ in mapped.values()) else None


def _assets(
    module_column: pa.ChunkedArray, rack_column: pa.ChunkedArray | None
) -> tuple[np.ndarray, list[str], list[str]]:
    """Per row an asset code (-1 if none), and per code its module id and rack id.

    Work on distinct values only: ids are trimmed, rack + module combined (``R01`` + ``M03`` ->
    ``R01-M03`` unless the module id already starts with the rack), and the rack taken from the
    module id before its first ``-`` when there is no rack column.
    """
    module_codes, module_names = _encode(module_column)
    if rack_column is None:
        names = module_names
        codes = module_codes
        racks = [name.split("-", 1)[0] if "-" in name else "unassigned" for name in names]
    else:
        rack_codes, rack_names = _encode(rack_column)
        width = max(len(module_names), 1)
        pair = np.where(
            module_codes < 0, -1, np.maximum(rack_codes, -1) * width + module_codes + width
        )
        unique_pairs, inverse = np.unique(pair, return_inverse=True)
        names, racks = [], []
        for value in unique_pairs:
            if value < 0:
                names.append("")
                racks.append("")
                continue
            rack_code, module_code = divmod(int(value) - width, width)
            module = module_names[module_code]
            rack = rack_names[rack_code] if rack_code >= 0 else ""
            if rack and not module.startswith(rack):
                module = f"{rack}-{module}"
            names.append(module)
            racks.append(rack or (module.split("-", 1)[0] if "-" in module else "unassigned"))
        codes = inverse.astype(np.int64)
        codes[pair < 0] = -1
    empty = [i for i, name in enumerate(names) if not name]
    if empty:
        codes = np.where(np.isin(codes, empty), -1, codes)
    return codes, list(names), list(racks)


def _encode(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes (-1 for null or blank) and trimmed distinct values of a text column."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column.cast(pa.string()))
    array = (
        column.unify_dictionaries().combine_chunks()
        if isinstance(column, pa.ChunkedArray)
        else column
    )
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    values = [str(v).strip() if v is not None else "" for v in array.dictionary.to_pylist()]
    codes = pc.fill_null(array.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    blank = [i for i, value in enumerate(values) if not value]
    if blank:
        codes = np.where(np.isin(codes, blank), -1, codes)
    return codes, values


def clean(parts: list[FileRows], counts: Counter) -> pd.DataFrame:
    """Sort per asset, round to the second, drop exact duplicates, merge rows sharing a second.

    Returns canonical telemetry: one row per asset and second, sorted by module then time.
    """
    names: dict[str, int] = {}
    racks: list[str] = []
    code_parts = []
    for part in parts:
        mapping = np.empty(len(part.modules), dtype=np.int64)
        for i, (module, rack) in enumerate(zip(part.modules, part.racks, strict=True)):
            if module not in names:
                names[module] = len(names)
                racks.append(rack)
            mapping[i] = names[module]
        code_parts.append(np.take(mapping, part.codes) if len(mapping) else part.codes)

    def joined(arrays: list[np.ndarray]) -> np.ndarray:
        # One part's arrays are its own (the part is consumed): no copy needed.
        if len(arrays) > 1:
            return np.concatenate(arrays)
        return arrays[0] if arrays[0].flags.writeable else arrays[0].copy()  # Arrow's are not

    codes = joined(code_parts)
    nanoseconds = joined([part.nanoseconds for part in parts])
    signals = {
        name: joined(
            [
                part.signals.get(name, np.full(len(part.codes), np.nan, dtype=np.float32))
                for part in parts
            ]
        )
        for name in schema.SIGNALS
    }
    order_by_name = np.argsort(np.array(list(names), dtype=object))
    rank = np.empty(len(names), dtype=np.int64)
    rank[order_by_name] = np.arange(len(names))
    key = np.take(rank, codes)
    second = (nanoseconds + 500_000_000) // 1_000_000_000
    # One int64 sort key (asset rank, second); exports are nearly sorted, which a stable sort
    # (timsort) handles in close to linear time, and an already sorted one costs a single pass.
    combined = key * (int(second.max() - second.min()) + 1) + (second - second.min())
    if np.any(combined[1:] < combined[:-1]):
        order = np.argsort(combined, kind="stable")
        # Jitter moves few rows: move only those, in place (the arrays are this call's own).
        moved = np.flatnonzero(order != np.arange(len(order)))
        source = np.take(order, moved)
        for values in (key, second, nanoseconds, codes, *signals.values()):
            values[moved] = np.take(values, source)
    same = np.zeros(len(key), dtype=bool)
    same[1:] = (key[1:] == key[:-1]) & (second[1:] == second[:-1])
    if same.any():
        # Only the seconds holding more than one row need work. Each such second's merged values
        # go to its first row; its other rows are then dropped in one pass per column.
        clash = same.copy()
        clash[:-1] |= same[1:]
        rows = np.flatnonzero(clash)  # np.take with indices: far faster than a boolean mask
        crowded = pd.DataFrame(
            {
                "_code": np.take(codes, rows),
                "_key": np.take(key, rows),
                "_s": np.take(second, rows),
                "_ns": np.take(nanoseconds, rows),
                **{name: np.take(values, rows) for name, values in signals.items()},
            }
        )
        crowded = crowded.sort_values(["_key", "_s", "_ns"], kind="stable")  # "last" is latest
        exact = crowded.duplicated(["_code", "_ns", *schema.SIGNALS], keep="first")
        counts["duplicate_rows"] += int(exact.sum())
        crowded = crowded[~exact]
        rules = {name: RESAMPLE_RULES[name] for name in schema.SIGNALS}
        merged = crowded.groupby(["_key", "_s"], sort=False).agg(rules)
        counts["merged_rows"] += len(crowded) - len(merged)
        starts = np.flatnonzero(clash & ~same)  # first row of each crowded second, in order
        for name, values in signals.items():
            values[starts] = merged[name].to_numpy()
        keep = np.flatnonzero(~same)
        second, codes = np.take(second, keep), np.take(codes, keep)
        signals = {name: np.take(values, keep) for name, values in signals.items()}
    stamps = pd.DatetimeIndex((second * 1_000_000_000).astype("datetime64[ns]")).tz_localize("UTC")
    columns = {
        schema.TIMESTAMP: stamps,
        schema.RACK_ID: np.take(np.array(racks, dtype=object), codes),
        schema.MODULE_ID: np.take(np.array(list(names), dtype=object), codes),
    } | {name: signals[name].astype(np.float32, copy=False) for name in schema.SIGNALS}
    # Built in canonical order, so pandas does not copy the columns once more to reorder them.
    return pd.DataFrame({name: columns[name] for name in schema.CANONICAL_COLUMNS}, copy=False)


# --- the run -----------------------------------------------------------------------------------


def discover(inputs: Iterable[str | Path]) -> list[Path]:
    """Files to ingest: given files, and supported files under given directories (sorted).

    Symbolic links inside directories are not followed, so a link cannot pull files from outside.
    Hidden files and reason files are skipped.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_symlink() or not child.is_file() or child.name.startswith("."):
                    continue
                if child.name.endswith(".reason.json") or child.name == "truth.parquet":
                    continue
                if child.suffix.lower() in SUFFIXES:
                    found.append(child)
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"ingest input not found: {path}")
    return found


def write_racks(telemetry: pd.DataFrame, directory: str | Path, prefix: str = "") -> None:
    """Write canonical telemetry as one Parquet file per rack (``PREFIXrack.parquet``)."""
    for rack_id, rows in telemetry.groupby(schema.RACK_ID, sort=True):
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", f"{prefix}{rack_id}")
        write_parquet(rows.reset_index(drop=True), Path(directory) / f"{safe}.parquet")


def quarantine(path: Path, report: FileReport, directory: Path, index: int) -> Path:
    """Copy an unusable file into ``directory`` with a reason file beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", path.name)[:120] or "file"
    target = directory / f"{index:03d}_{safe}"
    shutil.copyfile(path, target)
    reason = target.with_name(target.name + ".reason.json")
    reason.write_text(json.dumps(report.reason, indent=2) + "\n")
    return target


@dataclass
class _Cleaned:
    frame: pd.DataFrame
    counts: Counter
    modules: set[str]


def _combine(parts: list[_Cleaned], counts: Counter) -> pd.DataFrame:
    """Join files cleaned one by one; clean again across files only where they share a module.

    Files with separate modules (the usual case: one file per rack or logger) are joined in
    module order as they are. Files sharing a module are cleaned again together; their rows are
    then at whole seconds, so a row repeated across files counts as a duplicate when its second
    and values match.
    """
    parts = sorted(parts, key=lambda part: min(part.modules) if part.modules else "")
    frames = [part.frame for part in parts if len(part.frame)]
    separate = all(
        max(a.modules) < min(b.modules)
        for a, b in zip(parts, parts[1:], strict=False)
        if a.modules and b.modules
    )
    if len(frames) == 1:
        return frames[0]
    joined = pd.concat(frames, ignore_index=True)
    if separate:
        return joined
    codes, modules = pd.factorize(joined[schema.MODULE_ID], sort=False)
    racks = joined.groupby(codes, sort=True)[schema.RACK_ID].first().tolist()
    rows = FileRows(
        nanoseconds=joined[schema.TIMESTAMP].array.asi8.copy(),
        codes=codes.astype(np.int64),
        modules=list(modules),
        racks=racks,
        signals={name: joined[name].to_numpy(copy=True) for name in schema.SIGNALS},
    )
    return clean([rows], counts)


def ingest(
    inputs: Iterable[str | Path],
    params: IngestParams,
    quarantine_dir: str | Path,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Ingest files into canonical telemetry, quarantining the unusable ones.

    Returns:
        The canonical telemetry of every accepted file (one row per asset and second), and the
        summary: files accepted and rejected, rows in, out and dropped per reason, values masked.
    """
    reports: list[FileReport] = []
    paths = discover(inputs)

    def read_one(path: Path) -> tuple[FileReport, _Cleaned | UnusableFile]:
        report = FileReport(path=str(path))
        try:
            rows = file_rows(path, params, report)
        except UnusableFile as error:
            return report, error
        modules = {m for m in rows.modules if m}
        counts: Counter = Counter()
        return report, _Cleaned(clean([rows], counts), counts, modules)

    # Two files at a time, each read and cleaned on its own (Arrow and numpy release the GIL for
    # most of the work); files that share a module are merged again below.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(read_one, paths))
    cleaned: list[_Cleaned] = []
    for index, (path, (report, result)) in enumerate(zip(paths, results, strict=True)):
        if isinstance(result, _Cleaned):
            cleaned.append(result)
        else:
            error = result
            report.accepted = False
            report.reason = {
                "file": str(path),
                "line": error.line,
                "column": error.column,
                "reason": error.reason,
                "expected": error.expected,
            }
            quarantine(path, report, Path(quarantine_dir), index)
            logger.warning("quarantined %s: %s", path, error.reason)
        reports.append(report)
    counts: Counter = Counter()
    for part in cleaned:
        counts.update(part.counts)
    if cleaned:
        telemetry = _combine(cleaned, counts)
    else:
        telemetry = pd.DataFrame(
            {name: pd.Series(dtype=float) for name in schema.CANONICAL_COLUMNS}
        )
    dropped: Counter = Counter()
    masked: Counter = Counter()
    for report in reports:
        dropped.update(report.dropped)
        masked.update(report.masked)
    dropped.update(counts)
    summary = {
        "files_accepted": sum(r.accepted for r in reports),
        "files_rejected": sum(not r.accepted for r in reports),
        "rows_in": sum(r.rows_in for r in reports),
        "rows_out": len(telemetry),
        "rows_dropped": dict(sorted(dropped.items())),
        "values_masked": dict(sorted(masked.items())),
        "assets": int(telemetry[schema.MODULE_ID].nunique()) if len(telemetry) else 0,
        "files": [r.as_dict() for r in reports],
    }
    return telemetry, summary
