"""Reading third-party exports, shared by telemetry and cycle ingest.

Which files to read (:func:`discover`), how (:func:`sniff`: format, compression, encoding,
``sep=`` line, delimiter, decimal mark), reading them (:func:`read_text_table` with Arrow,
:func:`read_text` as one string, :func:`read_parquet`), and setting an unusable one aside
(:class:`UnusableFile`, :func:`quarantine`).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from batteryops.ingest.columns import unique_names

SUFFIXES = (".csv", ".tsv", ".txt", ".dat", ".gz", ".parquet", ".pq")
SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")


class UnusableFile(Exception):  # noqa: N818 - a verdict on the file, raised and caught by ingest
    """A file that cannot be ingested; carries where and what was expected."""

    def __init__(
        self, reason: str, line: int | None = None, column: str | None = None, expected: str = ""
    ):
        super().__init__(reason)
        self.reason, self.line, self.column, self.expected = reason, line, column, expected

    def as_reason(self, path: Path) -> dict[str, Any]:
        """The ``.reason.json`` content: the file, line, column, reason and what was expected."""
        return {
            "file": str(path),
            "line": self.line,
            "column": self.column,
            "reason": self.reason,
            "expected": self.expected,
        }


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


def safe_name(name: str) -> str:
    """A file name with anything but letters, digits and ``._-`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def quarantine(path: Path, reason: dict[str, Any], directory: Path, index: int) -> Path:
    """Copy an unusable file into ``directory`` with a ``.reason.json`` beside it; the copy."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{index:03d}_{safe_name(path.name)[:120] or 'file'}"
    shutil.copyfile(path, target)
    reason_file = target.with_name(target.name + ".reason.json")
    reason_file.write_text(json.dumps(reason, indent=2) + "\n")
    return target


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` at ``target`` (no second copy of the bytes), or copy it if it cannot."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


# --- sniffing -----------------------------------------------------------------------------------


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
    """Format, compression, encoding, ``sep=`` line, delimiter and decimal mark of a file.

    Raises:
        UnusableFile: If the file is unreadable, empty, binary or has no header line.
    """
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == b"PAR1":
        return Sniffed(kind="parquet")
    compression = "gzip" if magic[:2] == b"\x1f\x8b" else None
    sample = _sample(path, compression)
    encoding = _encoding(sample)
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
    delimiter = delimiter or _delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delimiter))
    first_row = next(csv.reader(lines[skip + 1 : skip + 2], delimiter=delimiter), [])
    return Sniffed(
        kind="csv",
        compression=compression,
        encoding=encoding,
        delimiter=delimiter,
        skip_rows=skip,
        decimal_comma=_decimal_comma("\n".join(lines[skip + 1 : skip + 200]), delimiter),
        header=tuple(h.strip() for h in header),
        first_row=tuple(first_row),
    )


def _sample(path: Path, compression: str | None) -> bytes:
    """The first bytes of a text file (decompressed); refuses empty and binary files."""
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
    return sample


def _encoding(sample: bytes) -> str:
    """``utf8`` unless the sample holds a byte sequence UTF-8 cannot decode, then ``latin1``."""
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:  # not just a character cut by the sample's end
            return "latin1"
    return "utf8"


def _delimiter(header_line: str) -> str:
    """The delimiter found most often in the header outside quotes (``,`` when none is)."""
    counts = {d: _count_outside_quotes(header_line, d) for d in DELIMITERS}
    return max(counts, key=counts.get) if max(counts.values()) > 0 else ","


def _count_outside_quotes(line: str, char: str) -> int:
    return sum(part.count(char) for i, part in enumerate(line.split('"')) if i % 2 == 0)


def _decimal_comma(body: str, delimiter: str) -> bool:
    """Whether fields like ``3,72`` appear (only possible when the delimiter is not a comma)."""
    if delimiter == ",":
        return False
    field = re.escape(delimiter)
    return bool(
        re.search(r"(^|[" + field + r"\"])\s*-?\d+,\d+\s*(?=[" + field + r"\"]|$)", body, re.M)
    )


# --- reading ------------------------------------------------------------------------------------


def read_parquet(path: Path) -> pa.Table:
    """A Parquet file as an Arrow table.

    Raises:
        UnusableFile: If the file is not readable Parquet.
    """
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise UnusableFile(f"unreadable Parquet: {error}", expected="a Parquet file") from error


def read_text(path: Path, sniffed: Sniffed) -> str:
    """A whole text export as one string, decoded as sniffed (latin-1 when UTF-8 fails).

    Raises:
        UnusableFile: If the file cannot be read.
    """
    try:
        opener = gzip.open if sniffed.compression == "gzip" else open
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise UnusableFile(f"cannot read: {error}", expected="a readable file") from error
    try:
        return data.decode("utf-8-sig" if sniffed.encoding == "utf8" else "latin-1")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # latin-1 decodes any byte: a mislabelled export


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

    Raises:
        UnusableFile: If a line is longer than ``block_size`` or (without ``typed``) the text
            cannot be parsed.
        pyarrow.ArrowInvalid: With ``typed``, if a value does not fit its type.
    """
    names = unique_names(list(sniffed.header))
    malformed: list[str] = []

    def skip_row(row: Any) -> str:
        malformed.append(str(row.text)[:200])
        return "skip"

    def read(encoding: str) -> pa.Table:
        return pa_csv.read_csv(
            pa.input_stream(str(path), compression=sniffed.compression),
            read_options=pa_csv.ReadOptions(
                encoding=encoding,
                skip_rows=sniffed.skip_rows + 1,
                column_names=names,
                block_size=block_size,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=sniffed.delimiter, invalid_row_handler=skip_row
            ),
            convert_options=_convert_options(names, sniffed, typed),
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
        _raise_unusable(error, block_size, typed is not None)
    return table, malformed


def _convert_options(
    names: list[str], sniffed: Sniffed, typed: dict[str, pa.DataType] | None
) -> pa_csv.ConvertOptions:
    if typed is None:
        return pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
    return pa_csv.ConvertOptions(
        column_types=typed,
        include_columns=list(typed),
        decimal_point="," if sniffed.decimal_comma else ".",
        timestamp_parsers=[pa_csv.ISO8601],
    )


def _raise_unusable(error: pa.ArrowInvalid, block_size: int, typed: bool) -> NoReturn:
    """Turn Arrow's error into an UnusableFile (a typed read's value error is re-raised)."""
    message = str(error)
    if "straddling" in message or "block" in message:
        raise UnusableFile(
            f"a line longer than the read block ({block_size} bytes)",
            expected="lines shorter than ingest.block_size_mb",
        ) from error
    if typed:
        raise error
    raise UnusableFile(f"cannot parse as delimited text: {message}") from error
