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
   rack + module; module ids stay as the files give them unless they repeat across racks
   (``ingest.module_ids``, :func:`name_modules`). Unmapped columns are kept out (and listed).
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

import logging
import re
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

from batteryops.core import schema
from batteryops.core.config import IngestParams
from batteryops.core.io import write_parquet
from batteryops.ingest import columns, files
from batteryops.ingest.columns import normalise_name
from batteryops.ingest.files import Sniffed, UnusableFile
from batteryops.ingest.values import NUMBER, OFFSET, parse_numbers, parse_timestamps

logger = logging.getLogger(__name__)

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

UNITS = columns.TELEMETRY_UNITS  # header units accepted per canonical signal
KNOWN_UNITS = columns.known_units(UNITS.values())
Mapped = dict[str, tuple[str, columns.Conversion]]  # header -> (canonical name, unit conversion)

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


def split_unit(header: str) -> tuple[str, str | None]:
    """``'Voltage (mV)'`` -> ``('Voltage', 'mv')``, with the telemetry units (:data:`UNITS`)."""
    return columns.split_unit(header, KNOWN_UNITS)


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


def map_columns(headers: list[str], aliases: dict[str, str]) -> tuple[Mapped, list[str], list[str]]:
    """Map file headers to canonical names with their unit conversion.

    Returns:
        ``{header: (canonical, (scale, offset))}``, the unmapped headers, and problems found
        (a unit that does not fit its signal, or two headers for one signal).
    """
    mapped: Mapped = {}
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


# --- files to canonical rows ---------------------------------------------------------------------


@dataclass
class FileRows:
    """One file's valid rows: UTC nanoseconds, asset codes into ``modules``, signals."""

    nanoseconds: np.ndarray
    codes: np.ndarray
    modules: list[str]
    racks: list[str]
    signals: dict[str, np.ndarray]


# The columns a file cannot do without: what a reason calls each, and what was expected.
_REQUIRED = {
    schema.TIMESTAMP: (
        "timestamp",
        "a column named like 'timestamp' or 'time' (or add one to ingest.aliases)",
    ),
    schema.MODULE_ID: (
        "asset",
        "a 'module_id' column, or rack + module columns (or ingest.aliases)",
    ),
}


def file_rows(path: Path, params: IngestParams, report: FileReport) -> FileRows:
    """One file's rows in canonical names and units (not yet deduplicated or resampled).

    Raises:
        UnusableFile: If the file cannot be used at all.
    """
    sniffed = files.sniff(path)
    aliases = alias_table(params.aliases)
    table, malformed = _read(path, sniffed, aliases, int(params.block_size_mb * 1024 * 1024))
    report.rows_in = table.num_rows + len(malformed)
    if malformed:
        report.dropped["malformed_row"] += len(malformed)
        report.examples.extend(malformed)
    mapped = _required_columns(path, table, sniffed, aliases, report)
    by_canonical = {canonical: header for header, (canonical, _) in mapped.items()}
    stamps, keep = _timestamps(table, by_canonical[schema.TIMESTAMP], params, report)
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
            column=by_canonical[schema.TIMESTAMP],
            expected="ISO 8601, epoch s/ms/us/ns or Excel serial timestamps",
        )
    everything = bool(keep.all())
    report.rows_out = int(keep.sum())
    signals = _signals(table, mapped, None if everything else keep, sniffed, params, report)
    return FileRows(
        nanoseconds=stamps if everything else stamps[keep],
        codes=codes if everything else codes[keep],
        modules=modules,
        racks=racks,
        signals=signals,
    )


def _read(
    path: Path, sniffed: Sniffed, aliases: dict[str, str], block_size: int
) -> tuple[pa.Table, list[str]]:
    """The file as an Arrow table (typed fast path first for text), and its malformed rows."""
    if sniffed.kind == "parquet":
        return files.read_parquet(path), []
    mapped, _, _ = map_columns(columns.unique_names(list(sniffed.header)), aliases)
    try:
        return files.read_text_table(path, sniffed, block_size, _fast_types(sniffed, mapped))
    except pa.ArrowInvalid:
        return files.read_text_table(path, sniffed, block_size)


def _required_columns(
    path: Path, table: pa.Table, sniffed: Sniffed, aliases: dict[str, str], report: FileReport
) -> Mapped:
    """Map the table's headers; refuse a file without timestamp, asset or data rows."""
    headers = list(table.column_names)
    mapped, unmapped, problems = map_columns(headers, aliases)
    report.unmapped = [h for h in unmapped if h in headers]
    report.columns = {header: canonical for header, (canonical, _) in mapped.items()}
    found = {canonical for canonical, _ in mapped.values()}
    for column, (what, expected) in _REQUIRED.items():
        if column not in found:
            raise UnusableFile(
                f"no {what} column among {list(sniffed.header or headers)[:20]}",
                line=sniffed.skip_rows + 1,
                expected=expected,
            )
    for problem in problems:
        logger.warning("%s: %s", path, problem)
    if table.num_rows == 0:
        raise UnusableFile("no data rows", line=sniffed.skip_rows + 2, expected="data rows")
    return mapped


def _timestamps(
    table: pa.Table, header: str, params: IngestParams, report: FileReport
) -> tuple[np.ndarray, np.ndarray]:
    """UTC nanoseconds per row, and which rows to keep (not a repeated header, time parsed)."""
    column = table.column(header).combine_chunks()
    keep = np.ones(table.num_rows, dtype=bool)
    if pa.types.is_string(column.type):
        repeated = pc.equal(pc.utf8_trim_whitespace(column), header).to_numpy(zero_copy_only=False)
        report.dropped["repeated_header"] += int(repeated.sum())
        keep &= ~repeated
    stamps = parse_timestamps(column, params.timezone, params.dayfirst)
    bad_time = (stamps == np.iinfo(np.int64).min) & keep
    report.dropped["unparseable_timestamp"] += int(bad_time.sum())
    keep &= ~bad_time
    return stamps, keep


def _signals(
    table: pa.Table,
    mapped: Mapped,
    keep: np.ndarray | None,
    sniffed: Sniffed,
    params: IngestParams,
    report: FileReport,
) -> dict[str, np.ndarray]:
    """Each mapped signal of the kept rows (all when ``keep`` is None) in canonical units.

    A text that is not a number becomes missing, and so does a value outside ``ingest.limits``
    (physically impossible); both are counted in ``report.masked``.
    """
    by_canonical = {canonical: header for header, (canonical, _) in mapped.items()}
    signals: dict[str, np.ndarray] = {}
    for canonical in schema.SIGNALS:
        header = by_canonical.get(canonical)
        if header is None:
            continue
        values, bad = parse_numbers(table.column(header), sniffed.decimal_comma)
        if keep is not None:
            values = values[keep]
        report.masked[f"not_a_number:{canonical}"] += bad
        scale, offset = mapped[header][1]
        if (scale, offset) != (1.0, 0.0):
            values = values * scale + offset
        values, impossible = columns.mask_outside_limits(values, params.limits.get(canonical))
        if impossible:
            report.masked[f"impossible:{canonical}"] += impossible
        signals[canonical] = values
    report.masked = Counter({k: v for k, v in report.masked.items() if v})
    return signals


def _fast_types(sniffed: Sniffed, mapped: Mapped) -> dict[str, pa.DataType] | None:
    """Arrow types for the mapped columns of a clean export (None if there is no timestamp)."""
    index = {header: i for i, header in enumerate(columns.unique_names(list(sniffed.header)))}
    types: dict[str, pa.DataType] = {}
    for header, (canonical, _) in mapped.items():
        if canonical in (schema.MODULE_ID, schema.RACK_ID):
            types[header] = pa.dictionary(pa.int32(), pa.string())
        elif canonical == schema.TIMESTAMP:
            i = index.get(header)
            sample = (
                sniffed.first_row[i].strip() if i is not None and i < len(sniffed.first_row) else ""
            )
            if re.match(NUMBER, sample):
                types[header] = pa.float64()
            elif re.search(OFFSET, sample) and re.match(r"^\d{4}-\d\d-\d\d[T ]\d", sample):
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

    Work on distinct values only: ids are trimmed and kept as the file gives them (an asset is a
    rack and module pair; :func:`name_modules` decides later, over every file, whether a module
    id needs its rack in front), and the rack taken from the module id before its first ``-``
    when there is no rack column.
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
    joined = _Joined.of(parts)
    order_by_name = np.argsort(np.array(joined.modules, dtype=object))
    rank = np.empty(len(joined.modules), dtype=np.int64)
    rank[order_by_name] = np.arange(len(joined.modules))
    key = np.take(rank, joined.codes)
    second = (joined.nanoseconds + 500_000_000) // 1_000_000_000
    _sort_rows(key, second, [joined.nanoseconds, joined.codes, *joined.signals.values()])
    same = np.zeros(len(key), dtype=bool)
    same[1:] = (key[1:] == key[:-1]) & (second[1:] == second[:-1])
    codes, signals = joined.codes, joined.signals
    if same.any():
        _merge_crowded_seconds(key, second, joined, same, counts)
        keep = np.flatnonzero(~same)
        second, codes = np.take(second, keep), np.take(codes, keep)
        signals = {name: np.take(values, keep) for name, values in signals.items()}
    stamps = pd.DatetimeIndex((second * 1_000_000_000).astype("datetime64[ns]")).tz_localize("UTC")
    columns = {
        schema.TIMESTAMP: stamps,
        schema.RACK_ID: np.take(np.array(joined.racks, dtype=object), codes),
        schema.MODULE_ID: np.take(np.array(joined.modules, dtype=object), codes),
    } | {name: signals[name].astype(np.float32, copy=False) for name in schema.SIGNALS}
    # Built in canonical order, so pandas does not copy the columns once more to reorder them.
    return pd.DataFrame({name: columns[name] for name in schema.CANONICAL_COLUMNS}, copy=False)


@dataclass
class _Joined:
    """Every part's rows end to end, with asset codes into one list of modules (and racks)."""

    codes: np.ndarray
    nanoseconds: np.ndarray
    signals: dict[str, np.ndarray]
    modules: list[str]
    racks: list[str]

    @classmethod
    def of(cls, parts: list[FileRows]) -> _Joined:
        """Join parts; the arrays are this object's own (writeable), so they may change in place."""
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
        signals = {
            name: _joined(
                [
                    part.signals.get(name, np.full(len(part.codes), np.nan, dtype=np.float32))
                    for part in parts
                ]
            )
            for name in schema.SIGNALS
        }
        nanoseconds = _joined([part.nanoseconds for part in parts])
        return cls(_joined(code_parts), nanoseconds, signals, list(names), racks)


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    # One part's arrays are its own (the part is consumed): no copy needed.
    if len(arrays) > 1:
        return np.concatenate(arrays)
    return arrays[0] if arrays[0].flags.writeable else arrays[0].copy()  # Arrow's are not


def _sort_rows(key: np.ndarray, second: np.ndarray, others: list[np.ndarray]) -> None:
    """Sort rows by (asset rank, second) in place, moving ``others`` along (stable)."""
    # One int64 sort key (asset rank, second); exports are nearly sorted, which a stable sort
    # (timsort) handles in close to linear time, and an already sorted one costs a single pass.
    combined = key * (int(second.max() - second.min()) + 1) + (second - second.min())
    if np.any(combined[1:] < combined[:-1]):
        order = np.argsort(combined, kind="stable")
        # Jitter moves few rows: move only those, in place (the arrays are this call's own).
        moved = np.flatnonzero(order != np.arange(len(order)))
        source = np.take(order, moved)
        for values in (key, second, *others):
            values[moved] = np.take(values, source)


def _merge_crowded_seconds(
    key: np.ndarray, second: np.ndarray, joined: _Joined, same: np.ndarray, counts: Counter
) -> None:
    """Merge the rows of each second holding more than one row into its first row, in place.

    ``same`` marks each row that shares its asset and second with the row before; exact
    duplicates are dropped and the rest merged by :data:`RESAMPLE_RULES` (both counted). The
    caller then drops the rows ``same`` marks.
    """
    # Only the seconds holding more than one row need work. Each such second's merged values
    # go to its first row; its other rows are then dropped in one pass per column.
    clash = same.copy()
    clash[:-1] |= same[1:]
    rows = np.flatnonzero(clash)  # np.take with indices: far faster than a boolean mask
    crowded = pd.DataFrame(
        {
            "_code": np.take(joined.codes, rows),
            "_key": np.take(key, rows),
            "_s": np.take(second, rows),
            "_ns": np.take(joined.nanoseconds, rows),
            **{name: np.take(values, rows) for name, values in joined.signals.items()},
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
    for name, values in joined.signals.items():
        values[starts] = merged[name].to_numpy()


# --- the run -----------------------------------------------------------------------------------


def write_racks(telemetry: pd.DataFrame, directory: str | Path, prefix: str = "") -> None:
    """Write canonical telemetry as one Parquet file per rack (``PREFIXrack.parquet``)."""
    for rack_id, rows in telemetry.groupby(schema.RACK_ID, sort=True):
        name = files.safe_name(f"{prefix}{rack_id}")
        write_parquet(rows.reset_index(drop=True), Path(directory) / f"{name}.parquet")


@dataclass
class _Cleaned:
    frame: pd.DataFrame
    counts: Counter
    modules: set[str]
    assets: set[tuple[str, str]]  # (module as in the file, rack)


class ModuleIdError(ValueError):
    """Module ids that repeat across racks where ``ingest.module_ids`` is ``verbatim``."""


def name_modules(assets: set[tuple[str, str]], mode: str) -> dict[tuple[str, str], str]:
    """The module id of each (module, rack) pair whose id changes; the others stay as given.

    Args:
        assets: Every (module id as in the files, rack id) pair read.
        mode: ``ingest.module_ids``: ``auto`` puts the rack in front (``R01-M03``) of the ids
            that stand in more than one rack only, so ids unique across racks join the user's
            own asset tables as they are; ``verbatim`` never (and refuses repeated ids, which
            would merge two modules); ``rack_prefixed`` always (unless the id starts with it).

    Raises:
        ModuleIdError: ``verbatim`` with an id in two racks, naming it and the racks.
    """
    racks_of: dict[str, set[str]] = {}
    for module, rack in assets:
        racks_of.setdefault(module, set()).add(rack)
    repeated = {module for module, racks in racks_of.items() if len(racks) > 1}
    if mode == "verbatim" and repeated:
        module = sorted(repeated)[0]
        raise ModuleIdError(
            f"ingest.module_ids is 'verbatim' but {len(repeated)} module ids stand in more than "
            f"one rack (e.g. {module!r} in racks {sorted(racks_of[module])}): they would merge "
            "two modules; set ingest.module_ids to 'auto' or 'rack_prefixed'"
        )
    prefixed = {m for m, _ in assets} if mode == "rack_prefixed" else repeated
    return {
        (module, rack): f"{rack}-{module}"
        for module, rack in assets
        if module in prefixed and rack and not module.startswith(rack)
    }


def _rename(part: _Cleaned, names: dict[tuple[str, str], str]) -> None:
    """Give a cleaned file's rows the module ids :func:`name_modules` chose."""
    mine = {pair: name for pair, name in names.items() if pair in part.assets}
    if not mine:
        return
    frame = part.frame
    module_codes, modules = pd.factorize(frame[schema.MODULE_ID], sort=False)
    rack_codes, racks = pd.factorize(frame[schema.RACK_ID], sort=False)
    pairs, inverse = np.unique(rack_codes * len(modules) + module_codes, return_inverse=True)
    renamed = np.array(
        [
            mine.get(
                (modules[p % len(modules)], racks[p // len(modules)]), modules[p % len(modules)]
            )
            for p in pairs
        ],
        dtype=object,
    )
    frame[schema.MODULE_ID] = np.take(renamed, inverse.ravel())
    part.modules = set(renamed.tolist())


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
    paths = files.discover(inputs)
    # Two files at a time, each read and cleaned on its own (Arrow and numpy release the GIL for
    # most of the work); files that share a module are merged again below.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda path: _read_one(path, params), paths))
    reports: list[FileReport] = []
    cleaned: list[_Cleaned] = []
    for index, (path, (report, result)) in enumerate(zip(paths, results, strict=True)):
        if isinstance(result, _Cleaned):
            cleaned.append(result)
        else:
            report.accepted = False
            report.reason = result.as_reason(path)
            files.quarantine(path, report.reason, Path(quarantine_dir), index)
            logger.warning("quarantined %s: %s", path, result.reason)
        reports.append(report)
    counts: Counter = Counter()
    names = name_modules(set().union(*(part.assets for part in cleaned)), params.module_ids)
    for part in cleaned:
        counts.update(part.counts)
        _rename(part, names)
    if cleaned:
        telemetry = _combine(cleaned, counts)
    else:
        telemetry = pd.DataFrame(
            {name: pd.Series(dtype=float) for name in schema.CANONICAL_COLUMNS}
        )
    return telemetry, _summary(telemetry, reports, counts)


def _read_one(path: Path, params: IngestParams) -> tuple[FileReport, _Cleaned | UnusableFile]:
    """One file read and cleaned on its own, or why it cannot be used."""
    report = FileReport(path=str(path))
    try:
        rows = file_rows(path, params, report)
    except UnusableFile as error:
        return report, error
    modules = {m for m in rows.modules if m}
    assets = {(m, r) for m, r in zip(rows.modules, rows.racks, strict=True) if m}
    counts: Counter = Counter()
    return report, _Cleaned(clean([rows], counts), counts, modules, assets)


def _summary(telemetry: pd.DataFrame, reports: list[FileReport], counts: Counter) -> dict[str, Any]:
    """The run's summary: files, rows in and out, rows dropped and values masked per reason."""
    dropped: Counter = Counter()
    masked: Counter = Counter()
    for report in reports:
        dropped.update(report.dropped)
        masked.update(report.masked)
    dropped.update(counts)
    return {
        "files_accepted": sum(r.accepted for r in reports),
        "files_rejected": sum(not r.accepted for r in reports),
        "rows_in": sum(r.rows_in for r in reports),
        "rows_out": len(telemetry),
        "rows_dropped": dict(sorted(dropped.items())),
        "values_masked": dict(sorted(masked.items())),
        "assets": int(telemetry[schema.MODULE_ID].nunique()) if len(telemetry) else 0,
        "files": [r.as_dict() for r in reports],
    }
