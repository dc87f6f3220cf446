"""BioLogic EC-Lab / BT-Lab exports: text (``.mpt``, or CSV/semicolon text) and binary ``.mpr``.

* **Text** (``biologic_text``): EC-Lab's "Export as text", columns named ``name/unit``
  (``time/s``, ``Ecell/V`` or ``Ewe/V``, ``I/mA``, ``Q charge/mA.h``, ``Q discharge/mA.h``,
  ``cycle number``, ``Ns``, ``T/°C``, ...), separated by tabs or semicolons, sometimes with
  decimal commas. An ``.mpt`` starts with a header block (``EC-Lab ASCII FILE``,
  ``Nb header lines : N``, then the run's settings); a plain export has the column header on
  its first line. ``time/s`` holds seconds, or dates when the export's "Time format" is
  absolute (``05/05/2021 15:36:22.757`` for ``Absolute MMDDYYYY``). The log file (``.mpl``)
  beside a plain export says the same things as an ``.mpt`` header (channel, device, start,
  time format): it is a sidecar, read by this reader for the export of the same stem.
* **Binary** (``biologic_mpr``): the run as EC-Lab saves it (``BIO-LOGIC MODULAR FILE``). No
  public description of its data module is licensed for use here: the open readers (galvani,
  and eclabfiles or yadg built on it) are GPL-3.0, which this project cannot depend on, so an
  ``.mpr`` is claimed and refused with a reason that says to export it as text from EC-Lab.

Conventions: EC-Lab's current is + on charge (oxidation at the working electrode of a cell), so
its sign is turned; mA and mA.h become A and Ah. ``cycle number`` counts from 0 as EC-Lab
does (a cycle is a charge then a discharge under "Charge/Discharge alternance"). ``Q charge`` and
``Q discharge`` count from the start of each half cycle and go back to 0 when the other
direction starts; here each counter's runs add up from the start of the cycle
(:func:`batteryops.ingest.records.per_cycle_from_steps`, a run ending where the counter drops).

Read by hand (no library fits): each row keeps its line for the quarantine, and the column
names are EC-Lab's own; the libraries that know them (galvani, eclabfiles, yadg) are GPL-3.0.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from batteryops.ingest import files
from batteryops.ingest.cyclers import Reader
from batteryops.ingest.files import UnusableFile
from batteryops.ingest.records import (
    QUARANTINE_COLUMNS,
    Records,
    coulomb_count,
    per_cycle_from_steps,
    records_frame,
)
from batteryops.ingest.values import text_numbers

MPR_MAGIC = b"BIO-LOGIC MODULAR FILE"
_TEXT_MAGIC = (b"EC-Lab ASCII FILE", b"BT-Lab ASCII FILE")
_LOG_MAGIC = (b"EC-Lab LOG FILE", b"BT-Lab LOG FILE")
# EC-Lab column names (case ignored) per kind, most wanted first, with the scale to SI.
_COLUMNS: dict[str, list[tuple[str, float]]] = {
    "time": [("time/s", 1.0)],
    "voltage": [("ecell/v", 1.0), ("<ecell>/v", 1.0), ("ewe/v", 1.0), ("<ewe>/v", 1.0)],
    "current": [("i/ma", 1e-3), ("<i>/ma", 1e-3), ("i/a", 1.0), ("<i>/a", 1.0)],
    "cycle": [("cycle number", 1.0)],
    "step": [("ns", 1.0)],
    "charge": [("q charge/ma.h", 1e-3), ("q charge/a.h", 1.0)],
    "discharge": [("q discharge/ma.h", 1e-3), ("q discharge/a.h", 1.0)],
}
_TEMPERATURE = re.compile(r"^(t|temperature)/.*c$", re.IGNORECASE)  # T/°C, Temperature/°C
_REQUIRED = {
    "time": ("test_time_s", "seconds, or a date in the export's time format"),
    "current": ("current_a", "a number (mA)"),
    "voltage": ("voltage_v", "a number (V)"),
    "cycle": ("cycle", "an integer cycle number >= 0"),
}
_DATE_FORMATS = {"MMDDYYYY": "%m/%d/%Y %H:%M:%S", "DDMMYYYY": "%d/%m/%Y %H:%M:%S"}
# Log and .mpt header lines kept in metadata: their label -> our key.
_SETTINGS = {
    "run on channel": "channel",
    "acquisition started on": "start_time",
    "device": "device",
    "cycle definition": "cycle_definition",
    "time format": "time_format",
    "file": "original_file",
    "comments": "comments",
    "electrode material": "electrode_material",
    "battery capacity": "battery_capacity",
}


# --- detection ----------------------------------------------------------------------------------


def _names(line: str) -> set[str]:
    return {name.strip().lower() for name in re.split(r"[;\t]", line)}


def _is_text(path: Path, head: bytes) -> bool:
    """An EC-Lab text export: an ``.mpt`` header, or EC-Lab column names on the first line."""
    if head.startswith(_TEXT_MAGIC):
        return True
    first = head.decode("latin-1").lstrip("\ufeff").lstrip("ï»¿").split("\n", 1)[0]
    names = _names(first)
    return all(names & {name for name, _ in _COLUMNS[kind]} for kind, _ in _REQUIRED.items())


def _is_mpr(path: Path, head: bytes) -> bool:
    return head.startswith(MPR_MAGIC)


def _is_log(path: Path, head: bytes) -> bool:
    """An EC-Lab log (``.mpl``): the settings of a run whose data is exported beside it."""
    return head.startswith(_LOG_MAGIC)


# --- .mpr ---------------------------------------------------------------------------------------


def read_mpr(path: Path) -> NoReturn:
    """Refuse an EC-Lab binary ``.mpr``: no reader here may decode its data module.

    Raises:
        batteryops.ingest.files.UnusableFile: Always, naming the modules found and what to do.
    """
    data = path.read_bytes()
    modules = []
    for match in re.finditer(rb"MODULE(.{10})", data, re.DOTALL):
        name = match.group(1).decode("latin-1").strip()
        if name.isprintable() and name and name not in modules:
            modules.append(name)
    raise UnusableFile(
        f"EC-Lab binary .mpr (modules: {', '.join(modules) or 'none found'}): the layout of its "
        "data module is not publicly documented and the only open readers (galvani and those "
        "built on it) are GPL-3.0, which this project cannot depend on",
        line=1,
        expected="the same run exported as text from EC-Lab (File > Export as Text: an .mpt, "
        "with time/s, Ecell/V or Ewe/V, I/mA, Q charge/mA.h, Q discharge/mA.h, cycle number)",
    )


# --- settings (log file, .mpt header) -----------------------------------------------------------


def _settings(lines: list[str]) -> dict[str, Any]:
    """What an EC-Lab log or ``.mpt`` header says: channel, device, start, time format, ...

    ``nominal_capacity_ah`` only when "Battery capacity" states one above 0.
    """
    found: dict[str, Any] = {}
    for line in lines[1:6]:
        if line.strip() and ":" not in line and "technique" not in found:
            found["technique"] = line.strip()  # "Modulo Bat", "Galvanostatic Cycling ..."
    for line in lines:
        label, colon, value = line.partition(" : ")
        key = _SETTINGS.get(label.strip().lower())
        if colon and key and key not in found and value.strip():
            found[key] = value.strip()
    capacity = re.match(r"([\d.]+)\s*(m?)A\.h", str(found.get("battery_capacity", "")))
    if capacity and float(capacity.group(1)) > 0:
        scale = 1e-3 if capacity.group(2) else 1.0
        found["nominal_capacity_ah"] = float(capacity.group(1)) * scale
    return found


def _log_settings(path: Path) -> dict[str, Any]:
    """The settings in the ``.mpl`` log beside a plain text export (empty if there is none)."""
    log = path.with_suffix(".mpl")
    if not log.is_file():
        return {}
    with open(log, "rb") as handle:
        if not _is_log(log, handle.read(64)):
            return {}
    text = log.read_bytes().decode("latin-1")  # EC-Lab writes its logs in Windows-1252
    return {**_settings(text.splitlines()), "log_file": log.name}


# --- text rows ----------------------------------------------------------------------------------


def _text_table(path: Path) -> tuple[list[str], list[list[str]], list[int], dict[str, Any]]:
    """Header, rows (as text) and their lines of an EC-Lab text export, and its settings.

    Raises:
        batteryops.ingest.files.UnusableFile: If the ``.mpt`` header block is malformed.
    """
    text = files.read_text(path, files.sniff(path))
    lines = [line.rstrip("\r") for line in text.split("\n")]  # lines as the file counts them
    start, settings = 0, {}
    if lines and lines[0].startswith(tuple(m.decode() for m in _TEXT_MAGIC)):
        count = re.match(r"\s*Nb header lines\s*:\s*(\d+)", lines[1] if len(lines) > 1 else "")
        if count is None or int(count.group(1)) > len(lines):
            raise UnusableFile(
                "an EC-Lab ASCII header without a usable 'Nb header lines'",
                line=2,
                expected="'Nb header lines : N' on line 2, the column header on line N",
            )
        start = int(count.group(1)) - 1
        settings = _settings(lines[:start])
    header_line = lines[start] if len(lines) > start else ""
    delimiter = "\t" if header_line.count("\t") > header_line.count(";") else ";"
    header = [name.strip() for name in header_line.split(delimiter)]
    while header and not header[-1]:
        header.pop()
    rows, numbers = [], []
    for number, line in enumerate(lines[start + 1 :], start=start + 2):
        if line.strip():
            rows.append(line.split(delimiter))
            numbers.append(number)
    settings["delimiter"] = delimiter
    return header, rows, numbers, settings


def _pick(header: list[str]) -> dict[str, tuple[int, float]]:
    """Column index and scale to SI of each kind EC-Lab names (the first name listed wins).

    Raises:
        batteryops.ingest.files.UnusableFile: If time, current, voltage or cycle is missing.
    """
    where = {name.lower(): i for i, name in reversed(list(enumerate(header)))}
    picked: dict[str, tuple[int, float]] = {}
    for kind, names in _COLUMNS.items():
        hit = next(((where[name], scale) for name, scale in names if name in where), None)
        if hit is not None:
            picked[kind] = hit
    missing = [kind for kind in _REQUIRED if kind not in picked]
    if missing:
        raise UnusableFile(
            f"no {', '.join(_REQUIRED[kind][0] for kind in missing)} column among {header[:30]}",
            line=1,
            expected="EC-Lab columns time/s, Ecell/V or Ewe/V, I/mA and cycle number",
        )
    return picked


def _times(
    texts: pd.Series, decimal_comma: bool, time_format: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``time/s`` in seconds from the first record: seconds, or dates (absolute time format)."""
    values, missing, bad = text_numbers(texts, decimal_comma)
    if (~missing & ~bad).any() or not bad.any():
        return values, missing, bad
    pattern = next((f for key, f in _DATE_FORMATS.items() if key in time_format.upper()), None)
    pattern = pattern or _DATE_FORMATS["MMDDYYYY"]  # EC-Lab's default absolute format
    text = texts.str.strip().str.replace(",", ".", regex=False)
    stamps = pd.to_datetime(text, format=pattern + ".%f", errors="coerce")
    stamps = stamps.fillna(pd.to_datetime(text, format=pattern, errors="coerce"))
    bad = ~missing & stamps.isna().to_numpy()
    first = stamps.dropna().iloc[0] if stamps.notna().any() else pd.NaT
    return (stamps - first).dt.total_seconds().to_numpy(dtype=np.float64), missing, bad


def _check(
    kind: str,
    label: str,
    text: pd.Series,
    values: np.ndarray,
    missing: np.ndarray,
    bad: np.ndarray,
    problems: dict[int, list[str]],
) -> None:
    """Note, per row, a missing or unreadable time, current, voltage or cycle."""
    expected = _REQUIRED[kind][1]
    what = {"time": "is not a time", "cycle": "is not an integer >= 0"}.get(kind, "is not a number")
    if kind == "cycle":
        with np.errstate(invalid="ignore"):
            bad = bad | (np.isfinite(values) & ((values != np.round(values)) | (values < 0)))
    for row in np.flatnonzero(missing | bad):
        shown = "missing" if missing[row] else f"{text.iloc[row].strip()!r} {what}"
        problems.setdefault(int(row), []).append(f"{label}: {shown} (expected {expected})")


def _values(
    header: list[str],
    rows: list[list[str]],
    picked: dict[str, tuple[int, float]],
    settings: dict[str, Any],
) -> tuple[dict[str, np.ndarray], dict[int, list[str]]]:
    """Each picked column in SI units, and per row what is wrong with it."""
    texts = {
        kind: pd.Series([row[i] for row in rows], dtype=str) for kind, (i, _) in picked.items()
    }
    sample = texts["voltage"].head(200).str.strip()
    decimal_comma = bool(sample.str.fullmatch(r"-?\d+,\d+([eE][-+]?\d+)?").any())
    settings["decimal_comma"] = decimal_comma
    values: dict[str, np.ndarray] = {}
    problems: dict[int, list[str]] = {}
    for kind, text in texts.items():
        index, scale = picked[kind]
        if kind == "time":
            numbers, missing, bad = _times(text, decimal_comma, settings.get("time_format", ""))
        else:
            numbers, missing, bad = text_numbers(text, decimal_comma)
        values[kind] = numbers * scale
        if kind in _REQUIRED:
            label = f"{_REQUIRED[kind][0]} (column '{header[index]}')"
            _check(kind, label, text, numbers, missing, bad, problems)
    values["temperature"], settings["temperature"] = _temperature(header, rows, decimal_comma)
    return values, problems


def _temperature(
    header: list[str], rows: list[list[str]], decimal_comma: bool
) -> tuple[np.ndarray, str]:
    """The first temperature column that holds values (°C), and which one it was."""
    empty = []
    for index, name in enumerate(header):
        if not _TEMPERATURE.match(name):
            continue
        values, _, _ = text_numbers(
            pd.Series([row[index] for row in rows], dtype=str), decimal_comma
        )
        if np.isfinite(values).any():
            return values, f"column '{name}' (°C)"
        empty.append(name)
    note = f"columns {empty} hold no values" if empty else "no temperature column"
    return np.full(len(rows), np.nan), note


def _half_cycle_counter(cycle: np.ndarray, counter: np.ndarray, side: float) -> np.ndarray:
    """A half-cycle counter (``Q charge``) as charge since the start of the cycle.

    A run of the counter ends where it falls below half its previous value (EC-Lab sets it to 0
    when the other direction starts); the runs of one cycle add up.
    """
    counter = np.nan_to_num(counter)
    drop = np.zeros(len(counter), dtype=bool)
    drop[1:] = counter[1:] < 0.5 * counter[:-1]
    charge, discharge = per_cycle_from_steps(
        cycle, np.cumsum(drop), counter, np.full(len(counter), side)
    )
    return discharge if side > 0 else charge


def _fit(row: list[str], width: int) -> list[str]:
    """A row without the empty fields past the header's width (a trailing delimiter)."""
    while len(row) > width and not row[-1].strip():
        row = row[:-1]
    return row


def read_text(path: Path) -> Records:
    """Read an EC-Lab text export (``.mpt``, or plain CSV/semicolon text with its ``.mpl``).

    Raises:
        batteryops.ingest.files.UnusableFile: If time, current, voltage or cycle is missing.
    """
    header, raw_rows, raw_lines, settings = _text_table(path)
    settings = {**_log_settings(path), **settings}
    picked = _pick(header)
    settings["columns"] = {kind: header[index] for kind, (index, _) in picked.items()}
    width = len(header)
    rows, lines, set_aside = [], [], []
    for line, row in zip(raw_lines, raw_rows, strict=True):
        row = _fit(row, width)
        if len(row) == width:
            rows.append(row)
            lines.append(line)
            continue
        reason = f"line {line}: row has {len(row)} fields, the header has {width} (expected one "
        reason += "value per column)"
        shown = dict(zip(header, (row + [""] * width)[:width], strict=True))
        set_aside.append({"line": line, "reason": reason, **shown})
    if not rows and not set_aside:
        raise UnusableFile("no data rows", expected="data rows below the column header")
    values, problems = _values(header, rows, picked, settings)
    return _records(
        path, header, rows, np.asarray(lines, dtype=np.int64), values, problems, set_aside, settings
    )


def _records(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    lines: np.ndarray,
    values: dict[str, np.ndarray],
    problems: dict[int, list[str]],
    set_aside: list[dict[str, Any]],
    settings: dict[str, Any],
) -> Records:
    """Records of the rows without problems; the others quarantined with their reasons."""
    keep = np.ones(len(rows), dtype=bool)
    keep[list(problems)] = False
    kept = {kind: series[keep] for kind, series in values.items()}
    cycle = kept["cycle"].astype(np.int64)
    current = -kept["current"] + 0.0  # EC-Lab: + on charge; + 0.0 turns -0.0 into 0.0
    if "charge" in kept and "discharge" in kept:
        charge = _half_cycle_counter(cycle, kept["charge"], -1.0)
        discharge = _half_cycle_counter(cycle, kept["discharge"], 1.0)
    else:
        charge, discharge = coulomb_count(kept["time"], current, cycle)
        settings["capacity"] = "no Q charge/Q discharge columns: charge counted from the current"
    frame = records_frame(
        record=np.flatnonzero(keep),
        line=lines[keep],
        test_time_s=kept["time"],
        cycle=cycle,
        step=np.nan_to_num(kept.get("step", np.full(len(cycle), -1.0)), nan=-1.0),
        current_a=current,
        voltage_v=kept["voltage"],
        charge_capacity_ah=charge,
        discharge_capacity_ah=discharge,
        temperature_c=kept["temperature"],
    )
    quarantined = pd.DataFrame(
        set_aside
        + [
            {
                "line": int(lines[row]),
                "reason": f"line {lines[row]}: " + "; ".join(reasons),
                **dict(zip(header, rows[row], strict=True)),
            }
            for row, reasons in sorted(problems.items())
        ],
        columns=[*QUARANTINE_COLUMNS, *header],
    ).sort_values("line", kind="stable", ignore_index=True)
    settings["current_sign"] = "EC-Lab's + charge turned to + discharge"
    return Records(path.stem, frame, "biologic_text", quarantined, settings)


READERS: list[Reader] = [
    Reader("biologic_mpr", _is_mpr, read_mpr),
    Reader("biologic_text", _is_text, read_text),
]
SIDECARS: list[Callable[[Path, bytes], bool]] = [_is_log]
