"""Maccor text exports (tab-separated) to :class:`~batteryops.ingest.records.Records`.

Three layouts are read; each has a preamble, then a column header line, then one row per record:

* one preamble line, ``Today's Date ... Date of Test: ... Filename: ... Procedure: ...
  Comment/Barcode: ...``, then ``Rec# Cyc# Step Test (Sec) Step (Sec) Amp-hr Watt-hr Amps Volts
  State ES DPt Time ...`` (TRI's beep test files; test time also as ``Test (Min)``, or as
  ``TestTime`` durations ``0d 00:00:01.0000``);
* ``Key:<tab>value`` preamble lines (``Today's Date:``, ``Filename:``, ``Tester Channel:``,
  ``Procedure:``), then ``Rec# Cyc# Step TestTime StepTime ...`` with durations and ``Aux #n`` +
  `` Units`` column pairs (cellpy's LG M50 file);
* ``Name: Channel: Tester Procedure Description Started SCap ...`` lines, then ``Rec Cycle P
  Cycle C Step TestTime StepTime Cap. [Ah] Ener. [Wh] Current [A] Voltage [V] Md ...`` with blank
  lines around it (cellpy's KIT/SIMBA file). Its ``TestTime`` has no unit: the unit (seconds,
  minutes or hours) is the one that makes the test time span match the ``DPT Time`` stamps (in that
  file, minutes). ``Cycle C`` is the cycle index (``Cycle P`` stays 0 at the first rest).

Maccor's current is unsigned in some exports and + on charge in others, so the sign comes from
the ``State``/``Md`` column: ``C`` charge (current -|I| here), ``D`` discharge (+|I|); rests and
other states (``R``, ``O``, ``S``, ``P``, ``FRA``) carry no current. A non-zero current in another
state keeps Maccor's own sign (negated) where the file is signed, and is quarantined where the
file is unsigned (its direction is unknown). ``Amp-hr`` restarts every step and counts up both
ways: :func:`~batteryops.ingest.records.per_cycle_from_steps` makes the per-cycle counters.
Temperatures come only from ``Aux #n`` columns whose ``Units`` column says a temperature unit;
values outside the physical limits of cycle data (an unplugged thermocouple reads about
-2500 °C) are left missing and counted. ``VAR1..15`` have no unit and are never read.

The cell id is the ``Comment/Barcode`` when it is a barcode (one token with a digit; ``EXP`` or a
sentence is a comment), else the original ``Filename``/``Name`` without Maccor's channel
extension (``.034``), else the file stem. A rejected variant: the AC-impedance export
(``MACCOR, INC.    AC Impedance Test``, ``*.EDA0001.041``) holds a frequency sweep, no records.

Hand-written rather than a library: beep's ``MaccorDatapath`` reads only the one-line layout
and battdat's ``MACCORReader`` only ``Test (Min)``; cellpy needs one configuration per layout;
none reports the line of a bad row, which the quarantine needs, and each brings its own stack
of pinned dependencies. The layouts are a few lines of text splitting.

The text helpers (:class:`TextRows`, :class:`RowCheck`) are shared with the Novonix and PEC
readers (:mod:`batteryops.ingest.cyclers.novonix_pec`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import DEFAULT_CYCLE_LIMITS
from batteryops.ingest import columns, files, records
from batteryops.ingest.columns import normalise_name, unique_names
from batteryops.ingest.cyclers import Reader
from batteryops.ingest.files import UnusableFile

SOURCE_FORMAT = "maccor_text"
HEADER_SEARCH_LINES = 40  # the column header comes within this many lines
TEMPERATURE_LIMITS = DEFAULT_CYCLE_LIMITS["temperature_c"]  # outside: not a cell temperature
CHARGE_STATES, DISCHARGE_STATES = {"C"}, {"D"}
# Canonical column -> normalised header names (name without its unit), first match wins.
_ALIASES: dict[str, list[str]] = {
    schema.CYCLE: ["cyc", "cyclec", "cycle"],
    records.STEP: ["step"],
    records.TEST_TIME: ["test", "testtime"],
    "step_capacity_ah": ["amphr", "cap", "capacity"],
    records.CURRENT: ["amps", "current"],
    records.VOLTAGE: ["volts", "voltage"],
    "state": ["state", "md"],
    "stamp": ["dpttime"],
}
_REQUIRED = [schema.CYCLE, records.STEP, records.TEST_TIME, "step_capacity_ah"]
_REQUIRED += [records.CURRENT, records.VOLTAGE, "state"]
# Units Maccor leaves out of its own header names.
_IMPLIED_UNITS = {"amps": "a", "volts": "v", "amphr": "ah"}
_UNIT_TABLES = {
    records.TEST_TIME: columns.SECONDS,
    "step_capacity_ah": columns.AMP_HOURS,
    records.CURRENT: columns.AMPS,
    records.VOLTAGE: columns.VOLTS,
}
_DURATION = re.compile(r"^\s*(\d+)d\s+(\d+):(\d+):(\d+(?:\.\d*)?)\s*$")
_FIRST_LINE_LABELS = (
    "Today's Date",
    "Date of Test",
    "Filename",
    "Procedure",
    "Comment/Barcode",
    "Tester Channel",
    "Description",
)
_BARCODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_EXPECTED_FILE = (
    "a Maccor text export: a tab-separated header with Rec#, Cyc#, Step, test time, Amp-hr, "
    "Amps, Volts and State, then one row per record"
)


# --- text tables, shared with the other text readers of this package ----------------------------


@dataclass
class TextRows:
    """The data rows of a text export as text, with the file line of each (1-based)."""

    headers: list[str]
    raw: pd.DataFrame
    lines: np.ndarray
    header_line: int
    # Per row: how many non-empty fields it had past the header's width (0 for most; a row with
    # more is two records run together or a shifted row, and is set aside, never cut).
    overflow: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def text_rows(lines: list[str], header_index: int, split: Callable[[str], list[str]]) -> TextRows:
    """The rows below a header line, each cut or padded to the header's width.

    Args:
        lines: The file's lines (split at newlines only, so line numbers match an editor's).
        header_index: 0-based index of the column header line.
        split: Splits one line into its fields.

    Returns:
        Rows as text (blank lines skipped); a missing field is ``""``; fields past the header's
        width are counted in ``overflow`` when they hold anything (trailing tabs are common).
    """
    headers = [name.strip() for name in split(lines[header_index])]
    width = len(headers)
    kept, numbers, overflow = [], [], []
    for index in range(header_index + 1, len(lines)):
        line = lines[index].rstrip("\r")
        if not line.strip():
            continue
        fields = split(line)
        kept.append(fields[:width] + [""] * (width - len(fields)))
        numbers.append(index + 1)
        overflow.append(sum(1 for extra in fields[width:] if extra.strip()))
    raw = pd.DataFrame(kept, columns=unique_names(headers), dtype=object)
    lines_of = np.array(numbers, dtype=np.int64)
    return TextRows(headers, raw, lines_of, header_index + 1, np.array(overflow, dtype=np.int64))


@dataclass
class RowCheck:
    """Parses the columns a reader needs and collects, per row, what is wrong with it."""

    rows: TextRows
    decimal_comma: bool = False
    reasons: dict[int, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        width = len(self.rows.headers)
        self.flag(
            self.rows.overflow > 0,
            lambda row: (
                f"line {self.rows.lines[row]}: {self.rows.overflow[row]} more field(s) "
                f"than the header's {width} (expected one record per line)"
            ),
        )

    def flag(self, mask: np.ndarray, message: Callable[[int], str]) -> None:
        """Record ``message(row)`` for each row in ``mask``."""
        for row in np.flatnonzero(mask):
            self.reasons.setdefault(int(row), []).append(message(int(row)))

    def number(self, column: str, header: str, expected: str, integer: bool = False) -> np.ndarray:
        """A column's values as float64; a row whose value is not a number is flagged.

        Args:
            column: The canonical name (as the reason names it).
            header: The file's column.
            expected: What a value should be, for the reason.
            integer: Also flag values that are not whole numbers.
        """
        texts = self.rows.raw[header].astype(str).str.strip()
        if self.decimal_comma:
            texts = texts.str.replace(",", ".", regex=False)
        values = pd.to_numeric(texts, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if integer:
            bad |= np.isfinite(values) & (values != np.round(values))
        values[bad] = np.nan
        self.flag_values(bad, column, header, expected)
        return values

    def flag_values(self, bad: np.ndarray, column: str, header: str, expected: str) -> None:
        """Flag the rows in ``bad``, quoting the file's value of ``header``."""
        texts = self.rows.raw[header]
        self.flag(
            bad,
            lambda row: (
                f"line {self.rows.lines[row]}: {column} (column '{header}') is "
                f"{texts.iat[row].strip()!r} (expected {expected})"
            ),
        )

    def good(self) -> np.ndarray:
        """Boolean mask of the rows with nothing wrong."""
        mask = np.ones(len(self.rows.lines), dtype=bool)
        mask[list(self.reasons)] = False
        return mask

    def quarantined(self) -> pd.DataFrame:
        """The flagged rows: ``line``, ``reason``, then the row's own values as text."""
        order = sorted(self.reasons)
        frame = self.rows.raw.iloc[order].reset_index(drop=True)
        frame.insert(0, "reason", ["; ".join(self.reasons[row]) for row in order])
        frame.insert(0, records.LINE, self.rows.lines[order])
        return frame


def kept_rows(check: RowCheck, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rows with nothing wrong, with ``record`` and ``line``; cycle and step as integers.

    Args:
        check: The rows and what is wrong with them.
        values: Per-row arrays (every row of the file) by column name.

    Raises:
        UnusableFile: If no row is readable (the first row's reason, or no rows at all).
    """
    keep = check.good()
    if not keep.any():
        first = min(check.reasons, default=None)
        raise UnusableFile(
            "no readable record: "
            + (check.reasons[first][0] if first is not None else "no rows below the header"),
            line=int(check.rows.lines[first]) if first is not None else check.rows.header_line,
            expected="rows of numbers below the column header",
        )
    kept = {name: array[keep] for name, array in values.items()}
    kept[schema.CYCLE] = kept[schema.CYCLE].astype(np.int64)
    kept[records.STEP] = kept[records.STEP].astype(np.int64)
    kept[records.RECORD], kept[records.LINE] = np.flatnonzero(keep), check.rows.lines[keep]
    return kept


def file_lines(path: Path) -> list[str]:
    """A text export's lines (UTF-8, else latin-1), split at newlines only.

    Latin-1 turns byte 0x85 into a line break for :meth:`str.splitlines`, which would shift the
    line numbers a reason points at.
    """
    text = files.read_text(path, files.Sniffed(kind="csv"))
    return [line.rstrip("\r") for line in text.split("\n")]


def header_units(header: str, implied: dict[str, str]) -> tuple[str, str | None]:
    """Normalised name and lower-case unit of a header (``'Cap. [Ah]'`` -> ``('cap', 'ah')``)."""
    name, unit = columns.split_unit(header, set())
    key = normalise_name(name)
    return key, unit if unit is not None else implied.get(key)


def scale_of(unit: str | None, table: columns.UnitTable, column: str, header: str) -> float:
    """The factor to the canonical unit (1 without a unit); an unknown unit makes the file unusable.

    Raises:
        UnusableFile: If the header names a unit the column cannot have.
    """
    if unit is None:
        return 1.0
    if unit not in table:
        raise UnusableFile(
            f"column '{header}' has unit '{unit}', which does not fit {column}",
            column=header,
            expected=f"one of {sorted(table)}",
        )
    return table[unit][0]


# --- Maccor ---------------------------------------------------------------------------------------


def _header_index(lines: list[str]) -> int | None:
    """Index of the column header line (``Rec#``/``Rec`` first, ``Step`` among the fields)."""
    for index, line in enumerate(lines[:HEADER_SEARCH_LINES]):
        fields = [name.strip() for name in line.split("\t")]
        if fields and fields[0] in ("Rec#", "Rec") and "Step" in fields:
            return index
    return None


def detect_text(path: Path, head_bytes: bytes) -> bool:
    """Whether a file is a Maccor text export: its column header starts ``Rec# Cyc# Step``."""
    lines = head_bytes.decode("latin-1").split("\n")
    index = _header_index(lines)
    if index is None:
        return False
    fields = [name.strip() for name in lines[index].split("\t")]
    return fields[1:3] in (["Cyc#", "Step"], ["Cycle P", "Cycle C"])


def detect_impedance(path: Path, head_bytes: bytes) -> bool:
    """Whether a file is a Maccor AC-impedance export (``MACCOR, INC.  AC Impedance Test``)."""
    first = head_bytes[:200].lstrip(b"\xef\xbb\xbf")
    return first.startswith(b"MACCOR, INC.") and b"AC Impedance" in first


def read_impedance(path: Path) -> records.Records:
    """Refuse a Maccor AC-impedance export: a frequency sweep holds no cycling records.

    Raises:
        UnusableFile: Always, naming what is missing.
    """
    lines = file_lines(path)
    header = next((i + 1 for i, line in enumerate(lines) if line.startswith("Freq(Hz)")), 1)
    raise UnusableFile(
        "a Maccor AC-impedance (EIS) frequency sweep (Freq(Hz), Z', Z''): no cycling records, "
        "no Rec#/Cyc#/Amps/Volts/State columns",
        line=header,
        column="Freq(Hz)",
        expected=_EXPECTED_FILE,
    )


def _map_columns(headers: list[str], header_line: int) -> tuple[dict[str, str], dict[str, float]]:
    """Canonical column -> file header, and the factor of each to SI units.

    Raises:
        UnusableFile: If a column the records need is missing or has a foreign unit.
    """
    found: dict[str, str] = {}
    units: dict[str, str | None] = {}
    for header in headers:
        key, unit = header_units(header, _IMPLIED_UNITS)
        for column, names in _ALIASES.items():
            if column not in found and key in names:
                found[column], units[column] = header, unit
    missing = [column for column in _REQUIRED if column not in found]
    if missing:
        raise UnusableFile(
            f"no column for {', '.join(missing)} in the Maccor header",
            line=header_line,
            column=missing[0],
            expected=_EXPECTED_FILE,
        )
    scales = {
        column: scale_of(units[column], table, column, found[column])
        for column, table in _UNIT_TABLES.items()
    }
    return found, scales


def _durations(check: RowCheck, header: str) -> np.ndarray:
    """Seconds from ``'2d 02:52:51.57'`` durations; a row that is not one is flagged."""
    parts = check.rows.raw[header].astype(str).str.extract(_DURATION).astype(float)
    seconds = (parts[0] * 86400 + parts[1] * 3600 + parts[2] * 60 + parts[3]).to_numpy()
    check.flag_values(~np.isfinite(seconds), records.TEST_TIME, header, "a duration 'Nd hh:mm:ss'")
    return seconds


def _unit_from_stamps(values: np.ndarray, stamps: pd.Series, header: str) -> tuple[float, str]:
    """Seconds per unit of a test time without a unit, from the span of the ``DPt Time`` stamps.

    Raises:
        UnusableFile: If the stamps cannot tell seconds, minutes and hours apart.
    """
    valid = np.flatnonzero(np.isfinite(values))
    ends = np.concatenate([valid[:5], valid[-5:]])
    wall = pd.to_datetime(stamps.iloc[ends].str.strip(), errors="coerce", format="mixed")
    usable = ends[wall.notna().to_numpy()]
    wall = wall.dropna()
    span = values[usable[-1]] - values[usable[0]] if len(usable) > 1 else 0.0
    wall_span = (wall.iloc[-1] - wall.iloc[0]).total_seconds() if len(wall) > 1 else 0.0
    if span > 0 and wall_span > 0:
        ratio = wall_span / span
        scale = min((1.0, 60.0, 3600.0), key=lambda s: abs(np.log(ratio / s)))
        if abs(np.log(ratio / scale)) < np.log(1.2):
            return scale, {1.0: "s", 60.0: "min", 3600.0: "h"}[scale] + " (from the time stamps)"
    raise UnusableFile(
        f"column '{header}' has no unit and its span ({span:g}) does not match the time stamps "
        f"({wall_span:g} s) in seconds, minutes or hours",
        column=header,
        expected="a test time in seconds, minutes or hours, or 'Nd hh:mm:ss' durations",
    )


def _test_time(check: RowCheck, found: dict[str, str], scale: float) -> tuple[np.ndarray, str]:
    """Test time in seconds and the unit the file used."""
    header = found[records.TEST_TIME]
    texts = check.rows.raw[header].astype(str)
    if texts.str.contains("d ", regex=False).any():
        return _durations(check, header), "d hh:mm:ss"
    values = check.number(records.TEST_TIME, header, "a number of seconds or minutes")
    unit = header_units(header, _IMPLIED_UNITS)[1]
    if unit is not None:
        return values * scale, unit
    stamps = check.rows.raw.get(found.get("stamp", ""), pd.Series("", index=check.rows.raw.index))
    factor, unit = _unit_from_stamps(values, stamps, header)
    return values * factor, unit


def _signed_current(
    check: RowCheck, amps: np.ndarray, states: np.ndarray, header: str
) -> tuple[np.ndarray, str]:
    """Current + on discharge from the unsigned or charge-positive ``Amps`` and the state."""
    magnitude = np.abs(amps)
    signed_file = bool(np.nanmin(amps, initial=0.0) < 0)
    charge = np.isin(states, list(CHARGE_STATES))
    discharge = np.isin(states, list(DISCHARGE_STATES))
    current = np.where(charge, -magnitude, np.where(discharge, magnitude, 0.0 - amps))
    if not signed_file:
        unknown = ~charge & ~discharge & (magnitude > 0)
        check.flag(
            unknown,
            lambda row: (
                f"line {check.rows.lines[row]}: current (column '{header}') is "
                f"{amps[row]:g} A in state {states[row]!r}, neither charge (C) nor discharge (D), "
                "in a file whose currents are unsigned (expected no current outside C and D)"
            ),
        )
    return current, "+ charge, - discharge" if signed_file else "unsigned"


def _temperature(rows: TextRows, metadata: dict[str, Any]) -> np.ndarray:
    """Cell temperature from the first ``Aux #n`` column whose ``Units`` say a temperature."""
    names = list(rows.raw.columns)
    tried: list[str] = []
    for index, name in enumerate(names[:-1]):
        if not name.startswith("Aux #") or names[index + 1].split(".")[0].strip() != "Units":
            continue
        unit = rows.raw[names[index + 1]].astype(str).str.strip().str.lower().mode()
        if unit.empty or unit.iat[0] not in columns.CELSIUS:
            continue
        scale, offset = columns.CELSIUS[unit.iat[0]]
        values = pd.to_numeric(rows.raw[name], errors="coerce").to_numpy(dtype=np.float64)
        masked, count = columns.mask_outside_limits(values * scale + offset, TEMPERATURE_LIMITS)
        tried.append(f"{name} ({count} of {len(values)} outside {list(TEMPERATURE_LIMITS)} °C)")
        if np.isfinite(masked).any():
            metadata["temperature_column"] = name
            metadata["temperature_masked"] = count
            return masked
    if tried:
        metadata["temperature_unusable"] = tried
    return np.full(len(rows.raw), np.nan)


def _clean(value: str) -> str:
    """A header value without control characters and repeated blanks."""
    return " ".join("".join(ch for ch in value if ch.isprintable()).split())


def _preamble(lines: list[str]) -> dict[str, str]:
    """The preamble's fields: labelled (``Today's Date ... Filename: ...``) or ``Key<tab>value``."""
    if lines and lines[0].startswith("Today's Date"):
        labels = "|".join(re.escape(label) for label in _FIRST_LINE_LABELS)
        parts = re.split(rf"({labels})\s*:?", "\t".join(lines))
        return {label: _clean(value) for label, value in zip(parts[1::2], parts[2::2], strict=True)}
    fields: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition("\t")
        if _clean(key):
            fields[_clean(key).rstrip(":")] = _clean(value)
    return fields


def _cell_and_metadata(fields: dict[str, str], path: Path) -> tuple[str, dict[str, Any]]:
    """The cell id and the test's metadata from the preamble's fields."""
    comment = fields.get("Comment/Barcode", fields.get("Description", ""))
    original = fields.get("Filename", fields.get("Name", ""))
    name = re.split(r"[\\/]", original)[-1] if original else ""
    stem, extension = re.match(r"^(.*?)(?:\.(\d{3}))?$", name).groups()
    channel = fields.get("Tester Channel", fields.get("Channel")) or extension
    barcode = comment if _BARCODE.match(comment) and re.search(r"\d", comment) else ""
    cell_id = barcode or stem or path.stem
    metadata: dict[str, Any] = {
        "start_time": fields.get("Date of Test", fields.get("Started")),
        "procedure": fields.get("Procedure"),
        "filename": original or None,
        "comment": comment or None,
        "channel": int(channel) if channel and channel.isdigit() else channel,
        "tester": fields.get("Tester"),
        "header": fields,
    }
    return cell_id, {key: value for key, value in metadata.items() if value is not None}


def _decimal_comma(rows: TextRows, voltage: str) -> bool:
    """Whether the file writes decimal commas (``3,46250`` volts), as some Maccor locales do."""
    sample = rows.raw[voltage].head(200).astype(str).str.strip()
    return bool(
        sample.str.fullmatch(r"-?\d+,\d+").any() and not sample.str.contains(".", regex=False).any()
    )


def _record_values(
    check: RowCheck, found: dict[str, str], scales: dict[str, float]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Per-row numbers in SI units (current + on discharge) and the units the file used."""
    values = {
        schema.CYCLE: check.number(schema.CYCLE, found[schema.CYCLE], "an integer cycle", True),
        records.STEP: check.number(records.STEP, found[records.STEP], "an integer step", True),
    }
    values[records.TEST_TIME], time_unit = _test_time(check, found, scales[records.TEST_TIME])
    for column, expected in (
        ("step_capacity_ah", "ampere-hours"),
        (records.CURRENT, "amperes"),
        (records.VOLTAGE, "volts"),
    ):
        values[column] = check.number(column, found[column], expected) * scales[column]
    states = check.rows.raw[found["state"]].astype(str).str.strip().to_numpy()
    values[records.CURRENT], sign = _signed_current(
        check, values[records.CURRENT], states, found["state"]
    )
    return values, {"test_time": time_unit, "current": f"A ({sign}; sign from State)"}


def read_text(path: Path) -> records.Records:
    """Read a Maccor text export.

    Args:
        path: The export.

    Returns:
        Its records (SI units, current + on discharge, counters per cycle), the rows set aside
        with their reasons, and the preamble's metadata.

    Raises:
        UnusableFile: If the column header or a column the records need is missing.
    """
    lines = file_lines(path)
    index = _header_index(lines)
    if index is None:
        raise UnusableFile(
            f"no Maccor column header (Rec#/Rec, Cyc#, Step, ...) in the first "
            f"{HEADER_SEARCH_LINES} lines",
            line=1,
            expected=_EXPECTED_FILE,
        )
    rows = text_rows(lines, index, lambda line: line.split("\t"))
    found, scales = _map_columns(rows.headers, rows.header_line)
    check = RowCheck(rows, decimal_comma=_decimal_comma(rows, found[records.VOLTAGE]))
    values, units = _record_values(check, found, scales)
    cell_id, metadata = _cell_and_metadata(_preamble(lines[:index]), path)
    values[records.TEMPERATURE] = _temperature(rows, metadata)
    metadata["units"] = units
    metadata["columns"] = {column: found[column] for column in _REQUIRED}
    kept = kept_rows(check, values)
    step_capacity = kept.pop("step_capacity_ah")
    kept[records.CHARGE], kept[records.DISCHARGE] = records.per_cycle_from_steps(
        kept[schema.CYCLE], kept[records.STEP], step_capacity, kept[records.CURRENT]
    )
    frame = records.records_frame(**kept)
    return records.Records(cell_id, frame, SOURCE_FORMAT, check.quarantined(), metadata)


READERS: list[Reader] = [
    Reader("maccor_impedance", detect_impedance, read_impedance),
    Reader(SOURCE_FORMAT, detect_text, read_text),
]
SIDECARS: list[Callable[[Path, bytes], bool]] = []
