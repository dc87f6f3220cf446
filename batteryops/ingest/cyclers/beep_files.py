"""Files of TRI's beep tool (TRI-AMDD/beep, Apache-2.0): its structured JSON, and Indigo HDF5.

**beep structured JSON** (:func:`read_beep_structured`, a :class:`CycleSummary`): what beep writes
after structuring a run (``ProcessedCyclerRun`` or ``*Datapath``; ``"@module": "beep.structure"``).
Its ``summary`` holds one list per quantity, one value per cycle: ``cycle_index``,
``discharge_capacity`` and ``charge_capacity`` (Ah), ``dc_internal_resistance`` (Ω; 0 where
the cycler measured none), ``temperature_average``/``_maximum``/``_minimum`` (°C),
``date_time_iso`` (the cycle's first record), ``charge_throughput`` (Ah), energies (Wh) and
more. ``diagnostic_summary`` holds the diagnostic cycles (reset, HPPC, RPT at 0.2C/1C/2C) with
their ``cycle_type``: older beep versions list them in ``summary`` too, newer ones only there.
Both go into the frame (one row per cycle index), and ``metadata["diagnostic_cycles"]`` says which
rows are diagnostic and of what type. ``resistance_ohm`` is missing where the file says 0;
throughputs are summed over the rows kept; ``time_s`` is the start of the next cycle index,
when the file has it. Python's ``json`` reads it and the checks are written here: beep itself
(2026.2.7, Apache-2.0) resolves with the project's pins but brings 12 more packages (boto3,
botocore, watchtower, lmfit, monty, ...) to load a JSON file into its own classes.

**Indigo HDF5** (:func:`read_indigo`, :class:`Records`): an Indigo cycler export as beep tests
it, a pandas "fixed" frame under ``time_series_data`` (``axis0`` the column names, ``axis1`` the
row index, ``blockN_items``/``blockN_values`` the columns by dtype). Read with h5py (a
BSD-licensed binding that needs only numpy; PyTables, which pandas would need, brings
five more packages). Columns: ``cell_id``, ``cycle_count`` (the cycle), ``half_cycle_count``
(the step: odd a discharge, even a charge, by the voltage; beep's reader has them the other way
round), ``time_s``, ``cell_current_a`` (**+ while charging**: flipped here), ``cell_voltage_v``,
``cell_temperature_c`` and
``cell_coulomb_count_c``: the net charge (C, + in) since the half cycle started, which also
restarts at 0 after a rest inside one. The counters are built from its increments
(:func:`counters_from_net_count`); the file's rows may be a sample of the export (its index
jumps), so integrating the current would not do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.ingest import records as rec
from batteryops.ingest.cyclers import Reader
from batteryops.ingest.files import UnusableFile
from batteryops.ingest.records import CycleSummary, Records

# --- beep structured JSON -----------------------------------------------------------------------

BEEP_MODULE = b'"@module": "beep.structure'
SECTIONS = ("summary", "diagnostic_summary")
# beep summary key -> canonical column; the other keys go to metadata["cycle_extras"].
SUMMARY_COLUMNS = {
    "discharge_capacity": "capacity_ah",
    "charge_capacity": schema.CHARGE_CAPACITY,
    "temperature_average": "temperature_c",
    "dc_internal_resistance": "resistance_ohm",
    "temperature_maximum": "temperature_max_c",
    "charge_duration": "charge_time_s",  # s
}
_KEYS = ("cycle_index", "discharge_capacity")  # every section needs both
_SUMMARY_EXPECTED = (
    "a beep structured JSON: an object with 'summary' holding equal-length lists "
    "'cycle_index' and 'discharge_capacity'"
)
_QUARANTINE = [*rec.QUARANTINE_COLUMNS, "section", "cycle_index", "discharge_capacity"]


def detect_beep_structured(path: Path, head: bytes) -> bool:
    """A JSON object written by beep's structuring (``"@module": "beep.structure..."``)."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    return text.startswith(b"{") and BEEP_MODULE in text


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        line = getattr(error, "lineno", None)
        raise UnusableFile(f"not JSON: {error}", line=line, expected=_SUMMARY_EXPECTED) from error
    if not isinstance(data, dict) or not isinstance(data.get("summary"), dict):
        found = sorted(data)[:20] if isinstance(data, dict) else type(data).__name__
        raise UnusableFile(
            f"no 'summary' object (found {found}); an unstructured run has none",
            expected=_SUMMARY_EXPECTED,
        )
    return data


def _section(data: dict[str, Any], name: str, first_line: int = 1) -> pd.DataFrame:
    """One section's lists as a table, with ``section``, ``row`` (1-based within it) and ``line``.

    ``line`` numbers the rows of every section in turn (the summary's, then the diagnostic
    summary's), so that it names one row of the file.

    Raises:
        batteryops.ingest.files.UnusableFile: If a list is missing or the lengths differ.
    """
    section = data.get(name)
    if not isinstance(section, dict):  # _load_json made sure the summary is one
        return pd.DataFrame(columns=["line", "row", "section", *_KEYS])
    lists = {key: value for key, value in section.items() if isinstance(value, list)}
    missing = [key for key in _KEYS if key not in lists]
    if missing:
        raise UnusableFile(
            f"'{name}' has no list {missing} (it has {sorted(lists)[:20]})",
            column=missing[0],
            expected=_SUMMARY_EXPECTED,
        )
    lengths = {key: len(value) for key, value in lists.items()}
    if len(set(lengths.values())) > 1:
        raise UnusableFile(
            f"the lists of '{name}' differ in length ({lengths})",
            expected="one value per cycle in every list of a section",
        )
    table = pd.DataFrame({key: pd.Series(value, dtype=object) for key, value in lists.items()})
    table.insert(0, "section", name)
    table.insert(0, "row", np.arange(1, len(table) + 1))
    table.insert(0, "line", np.arange(first_line, first_line + len(table)))
    return table


def _numbers(values: pd.Series) -> np.ndarray:
    """JSON values as floats: NaN where missing or not a finite number."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    numbers[~np.isfinite(numbers)] = np.nan
    return numbers


def _row_problems(rows: pd.DataFrame) -> dict[int, list[str]]:
    """Per row position, what makes it unusable: no integer cycle >= 0, no capacity > 0."""
    cycles = _numbers(rows["cycle_index"])
    capacities = _numbers(rows["discharge_capacity"])
    problems: dict[int, list[str]] = {}
    with np.errstate(invalid="ignore"):
        bad_cycle = ~np.isfinite(cycles) | (cycles != np.round(cycles)) | (cycles < 0)
        bad_capacity = ~(capacities > 0)
    for row in np.flatnonzero(bad_cycle):
        value = rows["cycle_index"].iloc[row]
        problems.setdefault(int(row), []).append(
            f"cycle_index {value!r} is not an integer >= 0 (expected the cycle's index)"
        )
    for row in np.flatnonzero(bad_capacity):
        value = rows["discharge_capacity"].iloc[row]
        what = "is not a number" if np.isnan(capacities[row]) else "is not > 0"
        problems.setdefault(int(row), []).append(
            f"discharge_capacity {value!r} {what} (expected a discharge capacity in Ah)"
        )
    return problems


def _duplicate_problems(rows: pd.DataFrame, problems: dict[int, list[str]]) -> None:
    """Rows that share a cycle index with another usable row: all set aside."""
    usable = np.ones(len(rows), dtype=bool)
    usable[list(problems)] = False
    cycles = pd.Series(_numbers(rows["cycle_index"])).where(usable)
    repeated = cycles.duplicated(keep=False) & cycles.notna()
    for row in np.flatnonzero(repeated.to_numpy()):
        problems.setdefault(int(row), []).append(
            f"cycle_index {int(cycles.iloc[row])} appears in more than one row "
            "(expected one row per cycle)"
        )


def _rows(data: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every cycle row: the summary's, then the diagnostic cycles it lacks; and all diagnostics."""
    summary = _section(data, "summary")
    diagnostic = _section(data, "diagnostic_summary", first_line=len(summary) + 1)
    listed = _numbers(summary["cycle_index"])
    only_diagnostic = ~np.isin(_numbers(diagnostic["cycle_index"]), listed[np.isfinite(listed)])
    rows = pd.concat([summary, diagnostic[only_diagnostic]], ignore_index=True)
    return rows, diagnostic


def _split(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kept rows (with an int ``cycle``, sorted by it) and quarantined rows with reasons."""
    problems = _row_problems(rows)
    _duplicate_problems(rows, problems)
    bad = sorted(problems)
    flagged = rows.iloc[bad]
    reasons = [
        f"{section} row {number}: " + "; ".join(problems[row])
        for row, section, number in zip(bad, flagged["section"], flagged["row"], strict=True)
    ]
    quarantined = pd.DataFrame(
        {
            "line": flagged["line"].to_numpy(dtype=np.int64),
            "reason": reasons,
            "section": flagged["section"].to_numpy(),
            "cycle_index": flagged["cycle_index"].astype(str).to_numpy(),
            "discharge_capacity": flagged["discharge_capacity"].astype(str).to_numpy(),
        },
        columns=_QUARANTINE,
    )
    kept = rows.drop(index=rows.index[bad])
    kept = kept.assign(**{schema.CYCLE: _numbers(kept["cycle_index"]).astype(np.int64)})
    return kept.sort_values(schema.CYCLE, kind="stable", ignore_index=True), quarantined


def _cycle_starts(data: dict[str, Any]) -> pd.Series:
    """When each cycle index started (UTC), from every section's ``date_time_iso``."""
    parts = []
    for name in SECTIONS:
        section = data.get(name) or {}
        cycles, stamps = section.get("cycle_index"), section.get("date_time_iso")
        if isinstance(cycles, list) and isinstance(stamps, list) and len(cycles) == len(stamps):
            when = pd.to_datetime(pd.Series(stamps, dtype=object), utc=True, errors="coerce")
            parts.append(
                pd.Series(when.to_numpy(), index=_numbers(pd.Series(cycles, dtype=object)))
            )
    if not parts:
        return pd.Series(dtype="datetime64[ns, UTC]")
    starts = pd.concat(parts)
    starts = starts[np.isfinite(starts.index.to_numpy(dtype=float)) & starts.notna().to_numpy()]
    return starts.groupby(level=0).min()


def _summary_frame(
    kept: pd.DataFrame, cell_id: str, nominal_ah: float | None, starts: pd.Series
) -> pd.DataFrame:
    """Canonical cycle rows, ``charge_capacity_ah`` and each row's ``line``, from the kept rows."""
    frame = pd.DataFrame({schema.CELL_ID: cell_id, schema.CYCLE: kept[schema.CYCLE]})
    for key, column in SUMMARY_COLUMNS.items():
        frame[column] = _numbers(kept[key]) if key in kept else np.nan
    # A cycler without a resistance measurement writes 0: not a measurement.
    frame["resistance_ohm"] = frame["resistance_ohm"].where(frame["resistance_ohm"] > 0)
    frame["charge_throughput_ah"] = frame[schema.CHARGE_CAPACITY].fillna(0.0).cumsum()
    frame["discharge_throughput_ah"] = frame["capacity_ah"].cumsum()
    frame["charge_c_rate"] = frame["discharge_c_rate"] = np.nan
    depth = frame["capacity_ah"] / nominal_ah if nominal_ah else np.nan
    frame["depth_of_discharge"] = np.clip(depth, None, 1.0)
    ends = starts.reindex(frame[schema.CYCLE].to_numpy(dtype=float) + 1.0)
    frame["time_s"] = (
        ((ends - starts.min()).dt.total_seconds()).to_numpy() if len(starts) else np.nan
    )
    frame["ambient_c"] = np.nan  # beep's summary states no chamber temperature
    frame["line"] = kept["line"].to_numpy(dtype=np.int64)
    return frame[[*schema.CYCLE_COLUMNS, schema.CHARGE_CAPACITY, "line"]]


def _nominal_capacity(data: dict[str, Any]) -> float | None:
    """The nominal capacity the file states (beep's structuring parameter), if any."""
    params = data.get("structuring_parameters")
    value = params.get("nominal_capacity") if isinstance(params, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _diagnostic_table(diagnostic: pd.DataFrame, summary_cycles: np.ndarray) -> pd.DataFrame:
    cycles = _numbers(diagnostic["cycle_index"])
    kinds = (
        diagnostic["cycle_type"]
        if "cycle_type" in diagnostic
        else pd.Series("", index=diagnostic.index)
    )
    return pd.DataFrame(
        {
            schema.CYCLE: cycles,
            "cycle_type": kinds.astype(str).to_numpy(),
            "in_summary": np.isin(cycles, summary_cycles),
        }
    )


def _beep_notes(frame: pd.DataFrame, kept: pd.DataFrame, diagnostic: pd.DataFrame) -> list[str]:
    notes = []
    zeros = (
        int((_numbers(kept["dc_internal_resistance"]) == 0).sum())
        if "dc_internal_resistance" in kept
        else 0
    )
    if zeros:
        notes.append(f"dc_internal_resistance is 0 in {zeros} rows: read as missing (not measured)")
    if frame["temperature_c"].isna().all():
        notes.append("no temperature: temperature_average is missing in every row")
    added = int((kept["section"] == "diagnostic_summary").sum())
    if len(diagnostic):
        notes.append(
            f"{len(diagnostic)} diagnostic cycles ({added} listed only in diagnostic_summary, "
            "added to the frame); see metadata['diagnostic_cycles']"
        )
    return notes


def _beep_metadata(
    data: dict[str, Any], frame: pd.DataFrame, kept: pd.DataFrame, diagnostic: pd.DataFrame
) -> dict[str, Any]:
    summary_cycles = _numbers(pd.Series(data["summary"]["cycle_index"], dtype=object))
    extras = [key for key in kept.columns if key not in {*SUMMARY_COLUMNS, "row", "cycle_index"}]
    stated = {"barcode": "barcode", "protocol": "protocol", "channel_id": "channel_id"}
    stated["@version"] = "beep_version"
    metadata: dict[str, Any] = {
        name: data[key] for key, name in stated.items() if data.get(key) is not None
    }
    metadata |= {
        "beep_class": f"{data.get('@module')}.{data.get('@class')}",
        "units": {
            "discharge_capacity": "Ah",
            "charge_capacity": "Ah",
            "dc_internal_resistance": "ohm",
            "temperature_average": "°C",
            "discharge_energy": "Wh",
            "charge_energy": "Wh",
            "charge_duration": "s",
        },
        "diagnostic_cycles": _diagnostic_table(diagnostic, summary_cycles),
        "cycle_extras": kept[extras].copy(),
        "notes": _beep_notes(frame, kept, diagnostic),
    }
    if isinstance(data.get("metadata"), dict):
        metadata["cycler_metadata"] = data["metadata"]
    if isinstance(data.get("structuring_parameters"), dict):
        metadata["structuring_parameters"] = data["structuring_parameters"]
    nominal = _nominal_capacity(data)
    if nominal is not None:
        metadata["nominal_capacity_ah"] = nominal
    return metadata


def read_beep_structured(path: str | Path) -> CycleSummary:
    """Read a beep structured JSON into cycle rows (see the module's docstring).

    Raises:
        batteryops.ingest.files.UnusableFile: If it is not JSON, has no ``summary``, or a section
            lacks ``cycle_index``/``discharge_capacity`` or has lists of different lengths.
    """
    path = Path(path)
    data = _load_json(path)
    rows, diagnostic = _rows(data)
    kept, quarantined = _split(rows)
    inner = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    cell_id = str(data.get("barcode") or inner.get("barcode") or path.stem)
    starts = _cycle_starts(data)
    frame = _summary_frame(kept, cell_id, _nominal_capacity(data), starts)
    metadata = _beep_metadata(data, frame, kept, diagnostic)
    if len(starts):
        metadata["start_time"] = starts.min().isoformat()
    return CycleSummary(frame, "beep_structured_json", quarantined, metadata)


# --- Indigo HDF5 --------------------------------------------------------------------------------

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
INDIGO_GROUP = "time_series_data"
# Indigo column -> what a reason says is expected; a row needs every one as a finite number.
INDIGO_REQUIRED = {
    "cycle_count": "an integer cycle count",
    "half_cycle_count": "an integer half-cycle count",
    "time_s": "a test time in s",
    "cell_current_a": "a current in A",
    "cell_voltage_v": "a voltage in V",
}
INDIGO_COUNTER = "cell_coulomb_count_c"
_INDIGO_EXPECTED = (
    f"a pandas HDF5 frame under '{INDIGO_GROUP}' with columns "
    f"{[*INDIGO_REQUIRED, INDIGO_COUNTER, 'cell_id']}"
)


def detect_indigo(path: Path, head: bytes) -> bool:
    """An HDF5 file whose ``time_series_data`` frame has Indigo's coulomb-count column."""
    if not head.startswith(HDF5_MAGIC):
        return False
    import h5py  # only for HDF5 files: h5py takes a while to import

    try:
        with h5py.File(path, "r") as handle:
            group = handle.get(INDIGO_GROUP)
            names = group.get("axis0") if isinstance(group, h5py.Group) else None
            return names is not None and INDIGO_COUNTER.encode() in set(names[()].tolist())
    except (OSError, ValueError, TypeError):
        return False


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _read_frame(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The pandas "fixed" frame under ``time_series_data``: its columns, and its row index.

    Raises:
        batteryops.ingest.files.UnusableFile: If the file holds no such frame.
    """
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            group = handle[INDIGO_GROUP]
            names = [_text(name) for name in group["axis0"][()]]
            index = np.asarray(group["axis1"][()])
            columns: dict[str, np.ndarray] = {}
            for block in range(int(group.attrs.get("nblocks", 0))):
                items = [_text(item) for item in group[f"block{block}_items"][()]]
                values = np.asarray(group[f"block{block}_values"][()])
                if values.shape[0] != len(index):  # stored as (items, rows)
                    values = values.T
                columns.update({item: values[:, i] for i, item in enumerate(items)})
    except (OSError, KeyError, ValueError, TypeError, IndexError) as error:
        raise UnusableFile(
            f"no readable '{INDIGO_GROUP}' frame: {error}", expected=_INDIGO_EXPECTED
        ) from error
    missing = [name for name in [*INDIGO_REQUIRED, INDIGO_COUNTER] if name not in columns]
    if missing:
        raise UnusableFile(
            f"'{INDIGO_GROUP}' has no column {missing} (it has {names})",
            column=missing[0],
            expected=_INDIGO_EXPECTED,
        )
    return pd.DataFrame({name: columns[name] for name in names if name in columns}), index


def counters_from_net_count(
    net_out_ah: np.ndarray, step: np.ndarray, cycle: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Charge and discharge from the start of each cycle, from a signed counter that restarts.

    The counter is the net charge out of the cell (Ah) since it last restarted: at each new step,
    and wherever it reads exactly 0 after a non-zero value (Indigo restarts it after a rest). Each
    increment between two records goes to the discharge side when it takes charge out, to the
    charge side when it puts charge in; both sides restart at every cycle.

    Args:
        net_out_ah: The counter per record (+ out of the cell), in file order.
        step: Step index per record (the counter restarts where it changes).
        cycle: Cycle index per record.

    Returns:
        ``charge_capacity_ah`` and ``discharge_capacity_ah`` per record.
    """
    net = np.nan_to_num(np.asarray(net_out_ah, dtype=float))
    if not len(net):
        return np.zeros(0), np.zeros(0)
    new_step = np.concatenate([[True], np.diff(step) != 0])
    reset = np.concatenate([[False], (net[1:] == 0) & (net[:-1] != 0)])
    increments = np.diff(net, prepend=0.0)
    increments[new_step | reset] = net[new_step | reset]  # counted from 0 again
    starts = np.flatnonzero(np.concatenate([[True], np.diff(cycle) != 0]))
    counts = np.diff(np.append(starts, len(net)))
    sides = []
    for amounts in (-increments, increments):
        total = np.concatenate([[0.0], np.cumsum(np.maximum(amounts, 0.0))])
        sides.append(total[1:] - np.repeat(total[starts], counts))
    return sides[0], sides[1]


def _indigo_problems(frame: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
    """Rows set aside: a required value that is not a finite number, or a fractional count."""
    reasons: dict[int, list[str]] = {}
    for name, expected in INDIGO_REQUIRED.items():
        values = frame[name].to_numpy(dtype=float)
        not_number = ~np.isfinite(values)
        with np.errstate(invalid="ignore"):
            fraction = name.endswith("_count") & ~not_number & (values != np.round(values))
        for row in np.flatnonzero(not_number | fraction):
            what = "is not a number" if not_number[row] else "is not an integer"
            reasons.setdefault(int(row), []).append(
                f"{name} {values[row]:g} {what} (expected {expected})"
            )
    rows = sorted(reasons)
    return pd.DataFrame(
        {
            "line": lines[rows],
            "reason": [f"line {lines[r]}: " + "; ".join(reasons[r]) for r in rows],
            **{name: frame[name].to_numpy()[rows].astype(str) for name in INDIGO_REQUIRED},
        },
        columns=[*rec.QUARANTINE_COLUMNS, *INDIGO_REQUIRED],
    )


def _indigo_metadata(frame: pd.DataFrame, index: np.ndarray) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "units": {
            "time_s": "s",
            "cell_current_a": "A (+ while charging in the file: flipped)",
            "cell_voltage_v": "V",
            "cell_temperature_c": "°C",
            INDIGO_COUNTER: "C, net (+ in), restarts at each half cycle and after a rest",
        },
        "step": "half_cycle_count (odd: discharge, even: charge)",
    }
    if "system_time_us" in frame and len(frame):
        start_us = float(frame["system_time_us"].iloc[0]) - float(frame["time_s"].iloc[0]) * 1e6
        metadata["start_time"] = pd.Timestamp(start_us, unit="us", tz="UTC").isoformat()
    if {"experiment_count", "experiment_type"} <= set(frame.columns):
        experiments = frame.groupby("experiment_count", sort=True).agg(
            experiment_type=("experiment_type", "first"),
            first_cycle=("cycle_count", "min"),
            last_cycle=("cycle_count", "max"),
        )
        metadata["experiments"] = experiments.reset_index()
    if len(index) and np.any(np.diff(index) != 1):
        metadata["source_rows"] = (
            f"{len(index)} rows of the export (index {int(index[0])} to {int(index[-1])} with "
            "gaps): a sample, not every record"
        )
    return metadata


def read_indigo(path: str | Path) -> Records:
    """Read an Indigo HDF5 export into records (see the module's docstring).

    Raises:
        batteryops.ingest.files.UnusableFile: If there is no ``time_series_data`` frame, a column
            is missing, or it holds more than one cell.
    """
    path = Path(path)
    frame, index = _read_frame(path)
    cells = pd.unique(frame["cell_id"]) if "cell_id" in frame else np.array([])
    if len(cells) > 1:
        raise UnusableFile(
            f"more than one cell_id in one file ({sorted(cells.tolist())[:10]})",
            column="cell_id",
            expected="one cell per file",
        )
    lines = np.arange(1, len(frame) + 1, dtype=np.int64)  # the row in the frame, 1-based
    quarantined = _indigo_problems(frame, lines)
    keep = ~np.isin(lines, quarantined["line"].to_numpy())
    rows = frame[keep]
    cycle = rows["cycle_count"].to_numpy(dtype=float).astype(np.int64)
    step = rows["half_cycle_count"].to_numpy(dtype=float).astype(np.int64)
    net_out_ah = -rows[INDIGO_COUNTER].to_numpy(dtype=float) / 3600.0
    charge, discharge = counters_from_net_count(net_out_ah, step, cycle)
    temperature = rows.get("cell_temperature_c", np.nan)
    records = rec.records_frame(
        record=lines[keep] - 1,
        line=lines[keep],
        test_time_s=rows["time_s"].to_numpy(dtype=float),
        cycle=cycle,
        step=step,
        current_a=-rows["cell_current_a"].to_numpy(dtype=float),  # the file: + while charging
        voltage_v=rows["cell_voltage_v"].to_numpy(dtype=float),
        charge_capacity_ah=charge,
        discharge_capacity_ah=discharge,
        temperature_c=np.broadcast_to(np.asarray(temperature, dtype=float), len(rows)),
    )
    return Records(
        _cell_name(cells, path), records, "indigo_hdf5", quarantined, _indigo_metadata(frame, index)
    )


def _cell_name(cells: np.ndarray, path: Path) -> str:
    """The file's cell id as text (``452``), else the file's stem."""
    if not len(cells):
        return path.stem
    value = cells[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float | np.floating) and value == int(value):
        return str(int(value))
    return str(value)


READERS = [
    Reader("beep_structured_json", detect_beep_structured, read_beep_structured),
    Reader("indigo_hdf5", detect_indigo, read_indigo),
]
SIDECARS: list[Callable[[Path, bytes], bool]] = []  # nothing accompanies these files
