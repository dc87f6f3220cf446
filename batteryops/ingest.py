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

import gzip
import json
import logging
import re
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from batteryops import schema
from batteryops.config import IngestParams

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
            "rows_out": self.rows_out,
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
        unit = bracket.group(2).lower().replace(" ", "").replace("deg", "deg")
        return bracket.group(1), unit.replace("º", "°") or None
    parts = re.split(r"[_\s]+", text)
    if len(parts) > 1 and parts[-1].lower() in KNOWN_UNITS | {"degc", "degf"}:
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
            key = unit.replace("°", "°")
            if key not in units:
                problems.append(
                    f"column '{header}': unit '{unit}' does not fit {canonical} "
                    f"(expected one of {sorted(units)})"
                )
                unmapped.append(header)
                continue
            conversion = units[key]
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
    import csv

    header = next(csv.reader([header_line], delimiter=delimiter))
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
    )


def _count_outside_quotes(line: str, char: str) -> int:
    return sum(part.count(char) for i, part in enumerate(line.split('"')) if i % 2 == 0)


def read_text_table(path: Path, sniffed: Sniffed, block_size: int) -> tuple[pa.Table, list[str]]:
    """Every column of a text export as strings, and the malformed rows skipped (their text)."""
    names = _unique(list(sniffed.header))
    malformed: list[str] = []

    def skip_row(row: Any) -> str:
        malformed.append(str(row.text)[:200])
        return "skip"

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
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
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


def parse_numbers(column: pa.Array, decimal_comma: bool) -> tuple[np.ndarray, int]:
    """Text or numbers to float64, and how many non-empty texts were not a number."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
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
    return values.to_numpy(zero_copy_only=False).astype(np.float64), bad


def parse_timestamps(column: pa.Array, timezone: str, dayfirst: bool) -> np.ndarray:
    """Any supported timestamp form to UTC nanoseconds since the epoch; NaT where unparseable.

    Numbers are epoch seconds, milliseconds, microseconds or nanoseconds (told apart by
    magnitude) or Excel serial days (20,000-80,000, i.e. 1954-2119, in ``timezone``). Text is ISO
    8601: with an offset or ``Z`` it is converted to UTC, without one it is taken as local time in
    ``timezone`` (ambiguous or non-existent local times at DST changes become NaT).
    """
    nat = np.iinfo(np.int64).min
    if pa.types.is_timestamp(column.type):
        series = pd.Series(column.to_pandas())
        if series.dt.tz is None:
            series = series.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        return series.dt.tz_convert("UTC").array.asi8.copy()
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


def file_rows(path: Path, params: IngestParams, report: FileReport) -> pd.DataFrame:
    """One file's rows in canonical names and units (not yet deduplicated or resampled).

    Raises:
        UnusableFile: If the file cannot be used at all.
    """
    sniffed = sniff(path)
    block_size = int(params.block_size_mb * 1024 * 1024)
    if sniffed.kind == "parquet":
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise UnusableFile(f"unreadable Parquet: {error}", expected="a Parquet file") from error
        malformed: list[str] = []
        headers = table.column_names
    else:
        table, malformed = read_text_table(path, sniffed, block_size)
        headers = list(table.column_names)
    report.rows_in = table.num_rows + len(malformed)
    if malformed:
        report.dropped["malformed_row"] += len(malformed)
        report.examples.extend(malformed)
    mapped, unmapped, problems = map_columns(headers, alias_table(params.aliases))
    report.unmapped = unmapped
    report.columns = {header: canonical for header, (canonical, _) in mapped.items()}
    by_canonical = {canonical: header for header, (canonical, _) in mapped.items()}
    if schema.TIMESTAMP not in by_canonical:
        raise UnusableFile(
            f"no timestamp column among {headers[:20]}",
            line=sniffed.skip_rows + 1,
            expected="a column named like 'timestamp' or 'time' (or add one to ingest.aliases)",
        )
    if schema.MODULE_ID not in by_canonical:
        raise UnusableFile(
            f"no asset column among {headers[:20]}",
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

    module = _text(table.column(by_canonical[schema.MODULE_ID]))
    if schema.RACK_ID in by_canonical:
        rack = _text(table.column(by_canonical[schema.RACK_ID]))
        prefixed = np.char.startswith(module.astype(str), rack.astype(str))
        module = np.where(
            prefixed | (rack == ""),
            module,
            np.char.add(np.char.add(rack.astype(str), "-"), module.astype(str)),
        )
    else:
        rack = _rack_of(module)
    no_asset = (module == "") & keep
    report.dropped["missing_asset"] += int(no_asset.sum())
    keep &= ~no_asset
    if not keep.any():
        raise UnusableFile(
            f"no row with a parseable timestamp and asset ({dict(report.dropped)})",
            column=ts_header,
            expected="ISO 8601, epoch s/ms/us/ns or Excel serial timestamps",
        )

    frame = pd.DataFrame(
        {
            "_ns": stamps[keep],
            schema.RACK_ID: np.asarray(rack)[keep],
            schema.MODULE_ID: np.asarray(module)[keep],
        }
    )
    for canonical in schema.SIGNALS:
        header = by_canonical.get(canonical)
        if header is None:
            frame[canonical] = np.nan
            continue
        values, bad = parse_numbers(table.column(header).combine_chunks(), sniffed.decimal_comma)
        values = values[keep]
        report.masked[f"not_a_number:{canonical}"] += bad
        scale, offset = mapped[header][1]
        if (scale, offset) != (1.0, 0.0):
            values = values * scale + offset
        low, high = params.limits.get(canonical, (-np.inf, np.inf))
        impossible = (values < low) | (values > high)
        if impossible.any():
            report.masked[f"impossible:{canonical}"] += int(impossible.sum())
            values = np.where(impossible, np.nan, values)
        frame[canonical] = values
    report.masked = Counter({k: v for k, v in report.masked.items() if v})
    return frame


def _text(column: pa.ChunkedArray) -> np.ndarray:
    text = pc.utf8_trim_whitespace(column.cast(pa.string()))
    return np.asarray(pc.fill_null(text, "").to_numpy(zero_copy_only=False), dtype=object)


def _rack_of(module: np.ndarray) -> np.ndarray:
    """Rack from a module id 'R01-M03' -> 'R01'; 'unassigned' when the id has no rack part."""
    series = pd.Series(module, dtype=object)
    parts = series.str.split("-", n=1)
    return np.where(parts.str.len() > 1, parts.str[0], "unassigned").astype(object)


def clean(frame: pd.DataFrame, counts: Counter) -> pd.DataFrame:
    """Sort per asset, round to the second, drop exact duplicates, merge rows sharing a second.

    Returns canonical telemetry: one row per asset and second, sorted by module then time.
    """
    frame = frame.sort_values([schema.MODULE_ID, "_ns"], kind="stable", ignore_index=True)
    second = (frame["_ns"].to_numpy() + 500_000_000) // 1_000_000_000
    frame["_s"] = second
    module = frame[schema.MODULE_ID].to_numpy()
    same = np.zeros(len(frame), dtype=bool)
    same[1:] = (module[1:] == module[:-1]) & (second[1:] == second[:-1])
    if same.any():
        # Only the groups holding more than one row need work.
        clash = same.copy()
        clash[:-1] |= same[1:]
        simple, crowded = frame[~clash], frame[clash]
        exact = crowded.duplicated([schema.MODULE_ID, "_ns", *schema.SIGNALS], keep="first")
        counts["duplicate_rows"] += int(exact.sum())
        crowded = crowded[~exact]
        rules = {name: RESAMPLE_RULES[name] for name in schema.SIGNALS}
        rules[schema.RACK_ID] = "last"
        merged = crowded.groupby([schema.MODULE_ID, "_s"], sort=False).agg(rules).reset_index()
        counts["merged_rows"] += len(crowded) - len(merged)
        frame = pd.concat([simple.drop(columns="_ns"), merged], ignore_index=True)
        frame = frame.sort_values([schema.MODULE_ID, "_s"], kind="stable", ignore_index=True)
    else:
        frame = frame.drop(columns="_ns")
    frame[schema.TIMESTAMP] = pd.to_datetime(frame.pop("_s") * 1_000_000_000, utc=True)
    for name in schema.SIGNALS:
        frame[name] = frame[name].astype(np.float32)
    return frame[schema.CANONICAL_COLUMNS]


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


def quarantine(path: Path, report: FileReport, directory: Path, index: int) -> Path:
    """Copy an unusable file into ``directory`` with a reason file beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", path.name)[:120] or "file"
    target = directory / f"{index:03d}_{safe}"
    shutil.copyfile(path, target)
    reason = target.with_name(target.name + ".reason.json")
    reason.write_text(json.dumps(report.reason, indent=2) + "\n")
    return target


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
    frames: list[pd.DataFrame] = []
    for index, path in enumerate(discover(inputs)):
        report = FileReport(path=str(path))
        try:
            frames.append(file_rows(path, params, report))
        except UnusableFile as error:
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
    if frames:
        telemetry = clean(pd.concat(frames, ignore_index=True), counts)
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
