"""Telemetry posted to the service: parsed, checked whole, then accepted whole or refused.

A batch is JSON (a list of rows, or ``{"rows": [...]}``, canonical names), canonical CSV, or a
logger/BMS export of any layout the ingest stage reads
(:func:`batteryops.ingest.telemetry_files.ingest`:
aliases, units, time formats). Every check runs before anything is stored, so a refused batch
leaves no trace; the :class:`BatchError` names the row (or line) and column and what was
expected, and carries the HTTP status the service answers with.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import IngestParams, ServeParams
from batteryops.ingest.columns import mask_outside_limits

ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}"  # module and rack ids (shown on the page)
FLOAT32_MAX = float(np.finfo(np.float32).max)
EPOCH_LIMIT_S = 9.2e9  # |epoch seconds| pandas datetimes hold (about 1678 to 2262)
ALLOWED = set(schema.CANONICAL_COLUMNS)


class BatchError(ValueError):
    """A refused batch: the HTTP status and what was wrong, where."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def parse(body: bytes, content_type: str, ingest_params: IngestParams) -> pd.DataFrame:
    """Canonical rows (keys + every signal, float32; NaN where not sent) from a request body."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("application/json", "", "text/json") or (
        kind in ("text/plain", "application/octet-stream") and _looks_like_json(body)
    ):
        return mask_limits(_from_json(body), ingest_params.limits)
    if kind in ("text/csv", "text/plain", "application/octet-stream", "text/tab-separated-values"):
        return _from_export(body, ingest_params)
    raise BatchError(415, f"unsupported content type {kind!r}: send application/json or text/csv")


def _looks_like_json(body: bytes) -> bool:
    """A body sent as plain text or bytes that is a JSON list or object (no export starts so)."""
    return body.lstrip()[:1] in (b"[", b"{")


def _from_json(body: bytes) -> pd.DataFrame:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BatchError(400, f"malformed JSON: {error}") from None
    except RecursionError:
        raise BatchError(400, "malformed JSON: nested too deeply (rows are flat objects)") from None
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise BatchError(422, 'expected a JSON list of rows or {"rows": [...]}')
    if not rows:
        raise BatchError(422, "the batch holds no rows")
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise BatchError(422, f"row {index}: expected an object, got {type(row).__name__}")
        unknown = set(row) - ALLOWED
        if unknown:
            raise BatchError(
                422,
                f"row {index}: unknown column {sorted(unknown)[0]!r} "
                f"(canonical columns: {', '.join(schema.CANONICAL_COLUMNS)})",
            )
        for column in (schema.TIMESTAMP, schema.MODULE_ID):
            if row.get(column) in (None, ""):
                raise BatchError(422, f"row {index}: missing {column!r}")
        for column in schema.SIGNALS:
            value = row.get(column)
            if value is not None and not _finite_number(value):
                raise BatchError(
                    422, f"row {index}, column {column!r}: expected a finite number, got {value!r}"
                )
        for column in (schema.MODULE_ID, schema.RACK_ID):
            if column in row and row[column] is not None and not isinstance(row[column], str):
                raise BatchError(422, f"row {index}, column {column!r}: expected text")
        if isinstance(row[schema.TIMESTAMP], bool):
            raise BatchError(422, f"row {index}, column 'timestamp': expected a time, got a bool")
    frame = pd.DataFrame.from_records(rows)
    frame[schema.TIMESTAMP] = _timestamps(frame[schema.TIMESTAMP], "row")
    return _canonical(frame)


def mask_limits(frame: pd.DataFrame, limits: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Values outside ``ingest.limits`` (physically impossible) become missing, as in ingest."""
    for column, limit in limits.items():
        if column in frame:
            frame[column], _ = mask_outside_limits(frame[column].to_numpy(), limit)
    return frame


def _finite_number(value: Any) -> bool:
    """A JSON number that float32 holds (not a bool, not NaN or inf, not 1e39)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        number = float(value)
    except OverflowError:
        return False
    return math.isfinite(number) and abs(number) <= FLOAT32_MAX


def _timestamps(values: pd.Series, unit: str) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        seconds = numeric.astype(float)
        # Epoch seconds pandas can hold (years 1677-2262); beyond, NaT and the message below.
        # Only those reach pandas: its conversion multiplies under np.errstate(over="raise"),
        # and a huge epoch (1e300) raised FloatingPointError there instead of our 422.
        held = (seconds.abs() < EPOCH_LIMIT_S).to_numpy()
        parsed = pd.Series(pd.NaT, index=seconds.index, dtype="datetime64[ns, UTC]")
        parsed[held] = pd.to_datetime(seconds[held], unit="s", utc=True, errors="coerce")
    else:
        parsed = pd.to_datetime(values.astype(str), utc=True, errors="coerce", format="ISO8601")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        where = int(bad[0])
        raise BatchError(
            422,
            f"{unit} {where}, column 'timestamp': expected ISO 8601 or epoch seconds, "
            f"got {values.iloc[where]!r}",
        )
    return parsed.dt.floor("s")


def _from_export(body: bytes, params: IngestParams) -> pd.DataFrame:
    """A logger/BMS export (or canonical CSV) through the ingest stage's code."""
    from batteryops.ingest import telemetry_files

    with tempfile.TemporaryDirectory(prefix="batteryops-post-") as tmp:
        path = Path(tmp) / "posted.csv"
        path.write_bytes(body)
        telemetry, summary = telemetry_files.ingest([path], params, Path(tmp) / "quarantine")
        rejected = summary.get("files_rejected") or 0
        if rejected or telemetry.empty:
            reason = _quarantine_reason(Path(tmp) / "quarantine")
            raise BatchError(422, f"export refused: {reason or 'no usable rows'}")
    return _canonical(telemetry)


def _quarantine_reason(folder: Path) -> str:
    """The first quarantined file's reason, with its line, column and what was expected."""
    for reason in sorted(folder.rglob("*.reason.json")):
        data = json.loads(reason.read_text())
        where = [f"{k} {data[k]}" for k in ("line", "column") if data.get(k) not in (None, "")]
        if data.get("expected"):
            where.append(f"expected {data['expected']}")
        return str(data.get("reason", "")) + (f" ({', '.join(where)})" if where else "")
    return ""


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            schema.TIMESTAMP: frame[schema.TIMESTAMP],
            schema.MODULE_ID: frame[schema.MODULE_ID].astype(str),
        }
    )
    # The rack defaults to the part of the module id before its first "-", row by row.
    default_rack = out[schema.MODULE_ID].str.split("-", n=1).str[0]
    if schema.RACK_ID in frame:
        given = frame[schema.RACK_ID]
        out[schema.RACK_ID] = given.where(given.notna(), default_rack).astype(str).to_numpy()
    else:
        out[schema.RACK_ID] = default_rack
    for column in schema.SIGNALS:
        values = pd.to_numeric(frame[column], errors="coerce") if column in frame else np.nan
        out[column] = values
        out[column] = out[column].astype(np.float32)
    return out[schema.CANONICAL_COLUMNS]


RECENT_STEPS = 10  # reading steps per module the logger-period check looks at


class Gate:
    """The checks a parsed batch must pass against what the service already holds."""

    def __init__(self, params: ServeParams, clock: Any = time.time, max_period_s: int = 30):
        self.params = params
        self.clock = clock
        self.max_period_s = max_period_s  # alarm.max_logger_period_s
        self.last_ts: dict[str, int] = {}  # newest accepted second per module
        self.rack_of: dict[str, str] = {}
        self.steps: dict[str, list[int]] = {}  # each module's last RECENT_STEPS reading steps

    def check(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The batch sorted by module and time if every row may be accepted; else BatchError."""
        if len(rows) > self.params.max_rows_per_request:
            raise BatchError(
                413, f"{len(rows)} rows in one request; at most {self.params.max_rows_per_request}"
            )
        for column in (schema.MODULE_ID, schema.RACK_ID):
            _refuse_first(
                ~rows[column].astype(str).str.fullmatch(ID_PATTERN),
                lambda where, column=column: (
                    f"row {where}, column {column!r}: expected 1-64 letters, digits or _.:- "
                    f"starting with a letter or digit, got {rows[column].iloc[where]!r}"
                ),
            )
        seconds = rows[schema.TIMESTAMP].astype("int64").to_numpy() // 10**9
        self._check_clock(rows, seconds)
        keyed = rows.assign(_ts=seconds, _row=np.arange(len(rows)))
        _refuse_first(
            keyed.duplicated([schema.MODULE_ID, "_ts"]),
            lambda where: (
                f"row {where}: a second row for module {keyed[schema.MODULE_ID].iloc[where]!r} "
                f"at {rows[schema.TIMESTAMP].iloc[where]} (one row per module and second)"
            ),
        )
        self._check_modules(keyed)
        self._check_period(keyed)
        return (
            keyed.sort_values([schema.MODULE_ID, "_ts"], kind="stable")
            .drop(columns=["_ts", "_row"])
            .reset_index(drop=True)
        )

    def _check_clock(self, rows: pd.DataFrame, seconds: np.ndarray) -> None:
        """Refuse a row older than ``serve.max_age_s`` or ahead of ``serve.max_future_s``."""
        stamps = rows[schema.TIMESTAMP]
        floor = self.clock() - self.params.max_age_s
        _refuse_first(
            seconds < floor,
            lambda where: (
                f"row {where}, column 'timestamp': {stamps.iloc[where]} is more "
                f"than serve.max_age_s ({self.params.max_age_s:g} s) old (is the clock set?)"
            ),
        )
        horizon = self.clock() + self.params.max_future_s
        _refuse_first(
            seconds > horizon,
            lambda where: (
                f"row {where}, column 'timestamp': {stamps.iloc[where]} is more "
                f"than {self.params.max_future_s:g} s ahead of the server's clock"
            ),
        )

    def _check_modules(self, keyed: pd.DataFrame) -> None:
        """Refuse a module that resends old seconds, changes rack, or one module too many."""
        first = keyed.groupby(schema.MODULE_ID, sort=False)["_ts"].min()
        for module_id, ts in first.items():
            last = self.last_ts.get(module_id)
            if last is not None and ts <= last:
                raise BatchError(
                    409,
                    f"module {module_id!r}: {pd.Timestamp(ts, unit='s', tz='UTC')} is not after "
                    f"its last accepted second {pd.Timestamp(last, unit='s', tz='UTC')} "
                    "(out of order or already sent)",
                )
        racks = keyed.groupby(schema.MODULE_ID, sort=False)[schema.RACK_ID].agg(set)
        for module_id, rack_ids in racks.items():
            known = self.rack_of.get(module_id)
            if len(rack_ids) > 1 or (known is not None and known not in rack_ids):
                raise BatchError(
                    422, f"module {module_id!r} sent with rack {sorted(rack_ids)} (it is {known})"
                )
        new = set(first.index) - set(self.last_ts)
        if len(self.last_ts) + len(new) > self.params.max_modules:
            raise BatchError(
                422,
                f"{len(new)} new modules would exceed serve.max_modules "
                f"({self.params.max_modules}); known modules: {len(self.last_ts)}",
            )

    def _recent_steps(self, keyed: pd.DataFrame) -> dict[str, list[int]]:
        """Each batch module's reading steps: its recent ones, then the batch's own."""
        steps = {}
        for module_id, ts in keyed.groupby(schema.MODULE_ID, sort=False)["_ts"]:
            last = self.last_ts.get(module_id)
            times = np.sort(ts.to_numpy()) if last is None else np.r_[last, np.sort(ts.to_numpy())]
            recent = self.steps.get(module_id, []) + np.diff(times).astype(int).tolist()
            steps[module_id] = recent[-RECENT_STEPS:]
        return steps

    def _check_period(self, keyed: pd.DataFrame) -> None:
        """Refuse a module whose logger reads less often than ``alarm.max_logger_period_s``.

        Judged on the median of its last :data:`RECENT_STEPS` steps once it has half of them,
        so one dropout is no slow logger: k-of-n counts seconds, and a reading stands for the
        seconds since the one before only up to the period the model was judged at.
        """
        for module_id, steps in self._recent_steps(keyed).items():
            if len(steps) >= RECENT_STEPS // 2 and np.median(steps) > self.max_period_s:
                raise BatchError(
                    422,
                    f"module {module_id!r}: one reading every {int(np.median(steps))} s; the "
                    f"hazard model is judged at loggers of up to {self.max_period_s} s "
                    "(alarm.max_logger_period_s): log at least that often",
                )

    def accept(self, rows: pd.DataFrame) -> None:
        """Record a checked batch as accepted (its newest second per module)."""
        keyed = rows.assign(_ts=rows[schema.TIMESTAMP].astype("int64") // 10**9)
        self.steps.update(self._recent_steps(keyed))
        seconds = rows[schema.TIMESTAMP].astype("int64") // 10**9
        newest = seconds.groupby(rows[schema.MODULE_ID], sort=False).max()
        self.last_ts.update({k: int(v) for k, v in newest.items()})
        racks = rows.groupby(schema.MODULE_ID, sort=False)[schema.RACK_ID].first()
        self.rack_of.update(racks.to_dict())

    def known(self, module_id: str) -> bool:
        """Whether the module has sent anything."""
        return module_id in self.last_ts


def _refuse_first(bad: pd.Series | np.ndarray, message: Callable[[int], str]) -> None:
    """Raise a 422 BatchError naming the first bad row (``message(row)``), if any is bad."""
    flags = np.asarray(bad)
    if flags.any():
        raise BatchError(422, message(int(np.flatnonzero(flags)[0])))


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """Canonical rows as CSV bytes (clients and tests)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()
