"""Where the cycler reader tests find the real data sets (read in place) and their excerpts."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
REALDATA = ROOT.parent / "shared" / "realdata"  # ../shared/realdata from the project root
FORMATS = REALDATA / "formats"


def real(path: Path | str, under: Path = REALDATA) -> Path:
    """``path`` (under ``under`` when relative), or skip the test, naming it, when it is absent."""
    found = under / path
    if not found.exists():
        pytest.skip(f"real data not found: {found}")
    return found
