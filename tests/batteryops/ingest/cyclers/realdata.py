"""Where the cycler reader tests find the real data sets (read in place) and their excerpts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
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


def assert_counters_and_signs(frame: pd.DataFrame) -> None:
    """Counters never fall within a cycle; current is - where charge grows, + where discharge.

    Never the opposite sign (a step's last record may read 0 A: Maccor's S/O end states).
    """
    same_cycle = frame["cycle"].diff().eq(0)
    for counter in ("charge_capacity_ah", "discharge_capacity_ah"):
        assert (frame[counter].diff()[same_cycle] >= -1e-12).all(), counter
    charging = same_cycle & frame["charge_capacity_ah"].diff().gt(1e-9)  # not float rounding
    discharging = same_cycle & frame["discharge_capacity_ah"].diff().gt(1e-9)
    assert (frame.loc[charging, "current_a"] <= 0).all()
    assert (frame.loc[discharging, "current_a"] >= 0).all()
