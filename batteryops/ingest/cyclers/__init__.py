"""Readers of cycler exports: one module per cycler family.

Each turns a file into :class:`batteryops.ingest.records.Records` (per-record time series) or, for
exports that hold one row per cycle, :class:`batteryops.ingest.records.CycleSummary`.

Each module exposes ``READERS``: a list of :class:`Reader` (a name, a ``detect`` that looks at
the file's name and first bytes and says whether the reader is for it, and ``read``), and
``SIDECARS``: detectors of files that only accompany a data file (an Arbin or Novonix metadata
CSV, a BioLogic log), which its reader consumes and ingest passes over. Detection is tried in
order; the first reader that claims a file reads it. A file a reader claims but cannot use raises
:class:`batteryops.ingest.files.UnusableFile` naming what is missing.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from batteryops.ingest.records import CycleSummary, Records

HEAD_BYTES = 8192  # what ``detect`` sees of a file


@dataclass(frozen=True)
class Reader:
    """One format: its name, how to recognise a file of it, how to read one."""

    name: str
    detect: Callable[[Path, bytes], bool]  # (path, its first HEAD_BYTES bytes) -> is it mine
    read: Callable[[Path], Records | CycleSummary]


def head(path: Path) -> bytes:
    """The first :data:`HEAD_BYTES` of a file."""
    with open(path, "rb") as handle:
        return handle.read(HEAD_BYTES)


# The families, most specific detectors first (each module's READERS and SIDECARS).
MODULES = ("arbin", "maccor", "novonix_pec", "neware", "biologic", "nasa", "beep_files")


@functools.cache
def registry() -> tuple[tuple[Reader, ...], tuple[Callable[[Path, bytes], bool], ...]]:
    """Every reader and sidecar detector, in :data:`MODULES` order."""
    readers: list[Reader] = []
    sidecars: list[Callable[[Path, bytes], bool]] = []
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        readers += module.READERS
        sidecars += module.SIDECARS
    return tuple(readers), tuple(sidecars)


def identify(path: Path) -> Reader | str | None:
    """The reader that claims ``path``, ``"sidecar"`` or None.

    ``"sidecar"``: a file that only accompanies another (its reader reads it). None: a file no
    cycler reader knows (a per-cycle CSV or Parquet, for the generic cycle ingest).
    """
    start = head(path)
    readers, sidecars = registry()
    if any(claims(path, start) for claims in sidecars):
        return "sidecar"
    return next((reader for reader in readers if reader.detect(path, start)), None)
