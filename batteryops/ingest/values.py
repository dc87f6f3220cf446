"""Text to numbers and UTC times, as exports write them (used by telemetry ingest).

Numbers may carry a decimal comma; times are ISO 8601 (with or without an offset), epoch seconds,
milliseconds, microseconds or nanoseconds, or Excel serial days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"  # a decimal number, as text
OFFSET = r"(Z|[+-]\d\d:?\d\d)\s*$"  # a UTC offset at the end of a time


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
        numeric = pc.match_substring_regex(text, NUMBER)
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
    has_offset = pc.fill_null(pc.match_substring_regex(text, OFFSET), False).to_numpy(
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


# Text that means "no value" in a cycler export (compared lower-case, stripped).
MISSING_TEXT = {"", "nan", "na", "n/a", "#n/a", "null", "none", "nat", "-", "--"}


def text_numbers(
    texts: pd.Series, decimal_comma: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Text to float64; also which values are missing and which are not a (finite) number."""
    text = texts.astype(str).str.strip()
    missing = text.str.lower().isin(MISSING_TEXT).to_numpy()
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~missing & ~np.isfinite(values)
    values[bad] = np.nan
    return values, missing, bad
