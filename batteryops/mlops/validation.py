"""Data validation with Great Expectations 1.x suites stored as JSON under ``expectations/``.

A suite is a JSON file ``{"name": ..., "expectations": [{"type", "kwargs", "meta"}]}``; an
expectation whose ``meta.critical`` is true stops the pipeline when it fails, the others are
reported as warnings. A range expectation whose ``meta.bounds_from`` names a limits table (e.g.
``"ingest.limits"``) carries no numbers of its own: :func:`with_limits` fills them from the table
ingest masks with, so a physical limit is written once. :func:`run_suites` runs suites over
batches and writes the report and the metrics. Great Expectations is imported inside the
functions that use it (its import costs several seconds).
"""

from __future__ import annotations

import copy
import html
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batteryops.core.io import atomic_path, write_json

logger = logging.getLogger(__name__)
RANGE = "expect_column_values_to_be_between"


@dataclass
class Finding:
    """The outcome of one expectation on one batch."""

    batch: str
    expectation: str
    column: str
    critical: bool
    success: bool
    unexpected_count: int | None
    unexpected_percent: float | None
    examples: list[Any] = field(default_factory=list)

    def describe(self) -> str:
        """One line naming the expectation, the column and example values."""
        examples = ", ".join(repr(value) for value in self.examples[:5]) or "none"
        count = "" if self.unexpected_count is None else f" ({self.unexpected_count} rows)"
        return (
            f"{self.batch}: {self.expectation} failed on column '{self.column}'{count}; "
            f"example values: {examples}"
        )


def load_suite(path: str | Path) -> dict[str, Any]:
    """Read a suite JSON, checking its shape.

    Raises:
        ValueError: If the file is not a suite.
    """
    path = Path(path)
    suite = json.loads(path.read_text())
    if not isinstance(suite, dict) or "expectations" not in suite or "name" not in suite:
        raise ValueError(f"{path}: not an expectation suite (needs 'name' and 'expectations')")
    return suite


def with_limits(
    suite: dict[str, Any], limits: dict[str, tuple[float, float]], source: str
) -> dict[str, Any]:
    """A copy of ``suite`` whose range expectations take their bounds from a limits table.

    Args:
        suite: A suite as read by :func:`load_suite`.
        limits: ``{column: (low, high)}``, the physical limits ingest masks values outside of.
        source: The table's name in params (e.g. ``"ingest.limits"``); an expectation whose
            ``meta.bounds_from`` names it gets ``min_value`` and ``max_value`` from ``limits``.

    Returns:
        The suite with those bounds filled in.

    Raises:
        ValueError: If such an expectation names a column without a limit or carries numbers of
            its own, or another range expectation on a limited column writes its own bounds.
    """
    filled = copy.deepcopy(suite)
    for expectation in filled["expectations"]:
        kwargs, meta = expectation.get("kwargs", {}), expectation.get("meta") or {}
        column = kwargs.get("column")
        own = [key for key in ("min_value", "max_value") if key in kwargs]
        if meta.get("bounds_from") == source:
            if column not in limits:
                raise ValueError(f"suite {suite['name']}: {column!r} has no limit in {source}")
            if own:
                raise ValueError(
                    f"suite {suite['name']}: {column!r} takes its bounds from {source}; "
                    f"remove its own {' and '.join(own)}"
                )
            kwargs["min_value"], kwargs["max_value"] = limits[column]
        elif expectation.get("type") == RANGE and column in limits and own:
            raise ValueError(
                f"suite {suite['name']}: the range of {column!r} is written in {source}; "
                f'replace its {" and ".join(own)} by "meta": {{"bounds_from": "{source}"}}'
            )
    return filled


def _column_of(kwargs: dict[str, Any]) -> str:
    for key in ("column", "column_A", "column_list", "column_set"):
        if key in kwargs:
            value = kwargs[key]
            return ",".join(value) if isinstance(value, list) else str(value)
    return "(table)"


def validate_frames(suite: dict[str, Any], batches: dict[str, pd.DataFrame]) -> list[Finding]:
    """Run a suite on each named batch with Great Expectations.

    Args:
        suite: A suite as read by :func:`load_suite`.
        batches: Data frames to validate, by batch name (e.g. a file name).

    Returns:
        One finding per expectation and batch.
    """
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("batteryops").add_dataframe_asset(suite["name"])
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    gx_suite = context.suites.add(
        ExpectationSuite(name=suite["name"], expectations=suite["expectations"])
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(data=batch_definition, suite=gx_suite, name=suite["name"])
    )
    findings: list[Finding] = []
    for batch_name, frame in batches.items():
        result = definition.run(
            batch_parameters={"dataframe": _widened(frame)},
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
        )
        for item in result.results:
            config = item.expectation_config
            details = item.result or {}
            findings.append(
                Finding(
                    batch=batch_name,
                    expectation=config.type,
                    column=_column_of(config.kwargs),
                    critical=bool((config.meta or {}).get("critical", False)),
                    success=bool(item.success),
                    unexpected_count=details.get("unexpected_count"),
                    unexpected_percent=details.get("unexpected_percent"),
                    examples=_plain(details.get("partial_unexpected_list") or []),
                )
            )
    return findings


def _plain(values: list[Any]) -> list[Any]:
    """Example values as JSON can hold them; floats to 7 significant digits (float32's)."""
    plain = []
    for value in values:
        if isinstance(value, dict | list):
            plain.append(json.loads(json.dumps(value, default=str)))
        elif isinstance(value, float | np.floating):
            plain.append(_short(value))
        elif isinstance(value, int | str | bool) or value is None:
            plain.append(value)
        elif isinstance(value, tuple):  # a column pair's values
            plain.append("(" + ", ".join(str(_short(v)) for v in value) + ")")
        else:
            plain.append(str(value))
    return plain


def _short(value: Any) -> Any:
    """A float to 7 significant digits (the telemetry is float32, widened for the checks)."""
    if isinstance(value, float | np.floating):
        return float(f"{float(value):.7g}")
    return value


def summarise(suite_name: str, findings: list[Finding]) -> dict[str, Any]:
    """The ``metrics/validation.json`` content: success and the failures, critical first."""
    failed = [f for f in findings if not f.success]
    return {
        "suite": suite_name,
        "success": not any(f.critical for f in failed),
        "evaluated_expectations": len(findings),
        "successful_expectations": len(findings) - len(failed),
        "success_percent": round(100.0 * (len(findings) - len(failed)) / max(len(findings), 1), 3),
        "critical_failures": [f.describe() for f in failed if f.critical],
        "warnings": [f.describe() for f in failed if not f.critical],
    }


def render_html(suite_name: str, findings: list[Finding]) -> str:
    """A self-contained HTML validation report, one row per expectation and batch."""
    rows = []
    for f in sorted(findings, key=lambda f: (f.success, not f.critical, f.batch)):
        verdict = "pass" if f.success else ("FAIL" if f.critical else "warn")
        rows.append(
            "<tr class='{}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td></tr>".format(
                verdict.lower(),
                verdict,
                html.escape(f.batch),
                html.escape(f.expectation),
                html.escape(f.column),
                "critical" if f.critical else "warning",
                "" if f.unexpected_count is None else f.unexpected_count,
                html.escape(", ".join(repr(v) for v in f.examples[:5])),
            )
        )
    summary = summarise(suite_name, findings)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Validation: {name}</title>"
        "<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}"
        "td,th{{border:1px solid #ccc;padding:3px 6px}}.fail{{background:#f8c0c0}}"
        ".warn{{background:#fbe6a8}}.pass{{background:#e3f4e0}}</style></head><body>"
        "<h1>Validation report: {name}</h1><p>Great Expectations suite <code>{name}</code>: "
        "{ok} of {n} expectation runs passed; overall <b>{verdict}</b>.</p>"
        "<table><tr><th>verdict</th><th>batch</th><th>expectation</th><th>column</th>"
        "<th>severity</th><th>unexpected rows</th><th>example values</th></tr>{rows}</table>"
        "</body></html>"
    ).format(
        name=html.escape(suite_name),
        ok=summary["successful_expectations"],
        n=summary["evaluated_expectations"],
        verdict="passed" if summary["success"] else "FAILED",
        rows="".join(rows),
    )


def ingest_files_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per input file from the ingest summary, for the ``raw_telemetry`` suite."""
    rows = []
    for item in summary.get("files", []):
        rows_in = max(int(item.get("rows_in", 0)), 1)
        masked = sum(int(v) for v in item.get("values_masked", {}).values())
        rows.append(
            {
                "file": item["path"],
                "accepted": bool(item["accepted"]),
                "rows_in": int(item.get("rows_in", 0)),
                "rows_valid": int(item.get("rows_out", 0)),
                "dropped_share": sum(item.get("rows_dropped", {}).values()) / rows_in,
                "masked_share": masked / (rows_in * max(len(item.get("columns", {})), 1)),
            }
        )
    columns = ["file", "accepted", "rows_in", "rows_valid", "dropped_share", "masked_share"]
    return pd.DataFrame(rows, columns=columns)


def _widened(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with narrower floats and integers as float64 and int64, for Great Expectations.

    Its pandas range check is vectorised only for those two dtypes (``column.dtype in [int,
    float]``); a float32 column fell to a Python call per value (41 % of the validate stage).
    The values, hence the findings, are the same.
    """
    narrow = {
        name: np.float64 if pd.api.types.is_float_dtype(dtype) else np.int64
        for name, dtype in frame.dtypes.items()
        if (pd.api.types.is_float_dtype(dtype) and dtype != np.float64)
        or (pd.api.types.is_signed_integer_dtype(dtype) and dtype != np.int64)
    }
    return frame.astype(narrow) if narrow else frame


def sample_rows(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """At most ``rows`` rows of ``frame``: a fixed random sample, kept in the frame's order."""
    if len(frame) > rows:
        return frame.sample(rows, random_state=0).sort_index()
    return frame


def run_suites(
    runs: Sequence[tuple[dict[str, Any], dict[str, pd.DataFrame]]],
    report_path: str | Path,
    metrics_path: str | Path,
    extra: dict[str, Any] | None = None,
    more_critical: Sequence[str] = (),
) -> dict[str, Any]:
    """Run each suite on its batches; write the HTML report and the metrics JSON.

    Args:
        runs: ``(suite, {batch name: frame})`` pairs, validated in order; their names are
            joined with ``" + "`` as the name of the report.
        report_path: The HTML report (written atomically).
        metrics_path: The metrics JSON: :func:`summarise`'s content plus ``extra``.
        extra: More metrics (e.g. ``rows_validated``).
        more_critical: Critical failures found by checks outside the suites (e.g. cycle order);
            any fails the run. They are listed in the metrics, not in the report.

    Returns:
        The metrics written; ``success`` is False and ``critical_failures`` says why when a
        critical expectation failed. Each warning is logged.
    """
    findings: list[Finding] = []
    for suite, batches in runs:
        findings += validate_frames(suite, batches)
    name = " + ".join(suite["name"] for suite, _ in runs)
    summary = summarise(name, findings)
    if more_critical:
        summary["success"] = False
        summary["critical_failures"] = summary["critical_failures"] + list(more_critical)
    summary |= extra or {}
    with atomic_path(report_path) as tmp:
        tmp.write_text(render_html(name, findings))
    write_json(summary, metrics_path)
    for warning in summary["warnings"]:
        logger.warning("expectation warning: %s", warning)
    return summary


def failure_message(summary: dict[str, Any], subject: str, report_path: str | Path) -> str:
    """``"<subject> failed (see <report>):"`` and one indented line per critical failure."""
    return f"{subject} failed (see {report_path}):\n  " + "\n  ".join(summary["critical_failures"])
