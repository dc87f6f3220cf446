"""Column names and units of third-party exports, shared by telemetry and cycle ingest.

A header such as ``'Max Cell Temp (°F)'`` is split into its name and unit (:func:`split_unit`),
the name is matched to a canonical column with case, spaces and punctuation ignored
(:func:`normalise_name`), and the unit picks a ``(scale, offset)`` conversion to the canonical
unit from the tables below. Values outside a column's physical limits are masked
(:func:`mask_outside_limits`), the one rule ingest and the service's intake both apply.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np

from batteryops.core import schema

Conversion = tuple[float, float]  # (scale, offset): canonical = value * scale + offset
UnitTable = dict[str, Conversion]  # lower-case header unit -> conversion to the canonical unit

NO_CONVERSION: Conversion = (1.0, 0.0)
VOLTS: UnitTable = {"v": (1.0, 0.0), "mv": (1e-3, 0.0), "kv": (1e3, 0.0)}
AMPS: UnitTable = {"a": (1.0, 0.0), "ma": (1e-3, 0.0), "ka": (1e3, 0.0)}
CELSIUS: UnitTable = {
    "c": (1.0, 0.0),
    "degc": (1.0, 0.0),
    "°c": (1.0, 0.0),
    "celsius": (1.0, 0.0),
    "f": (5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "degf": (5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "°f": (5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "k": (1.0, -273.15),
    "kelvin": (1.0, -273.15),
}
PERCENT: UnitTable = {"%": (1.0, 0.0), "pct": (1.0, 0.0), "percent": (1.0, 0.0)}
PPM: UnitTable = {"ppm": (1.0, 0.0)}
AMP_HOURS: UnitTable = {"ah": (1.0, 0.0), "mah": (1e-3, 0.0), "kah": (1e3, 0.0)}
OHMS: UnitTable = {
    unit: (scale, 0.0)
    for scale, units in (
        (1.0, ("ohm", "ohms", "ω")),
        (1e-3, ("mohm", "mohms", "mω")),
        (1e-6, ("uohm", "µohm", "μohm", "uω", "µω", "μω")),
    )
    for unit in units
}
SECONDS: UnitTable = {
    unit: (scale, 0.0)
    for scale, units in (
        (1.0, ("s", "sec", "secs", "second", "seconds")),
        (60.0, ("min", "mins", "minute", "minutes")),
        (3600.0, ("h", "hr", "hrs", "hour", "hours")),
        (86400.0, ("d", "day", "days")),
    )
    for unit in units
}
FRACTION: UnitTable = {
    "%": (0.01, 0.0),
    "pct": (0.01, 0.0),
    "percent": (0.01, 0.0),
    "fraction": (1.0, 0.0),
}
C_RATE: UnitTable = {"c": (1.0, 0.0), "1/h": (1.0, 0.0)}

# Header units accepted per canonical telemetry signal.
TELEMETRY_UNITS: dict[str, UnitTable] = {
    "voltage_v": VOLTS,
    "cell_v_max": VOLTS,
    "cell_v_min": VOLTS,
    "current_a": AMPS,
    "soc_pct": PERCENT,
    "temp_avg_c": CELSIUS,
    "temp_max_c": CELSIUS,
    "temp_min_c": CELSIUS,
    "ambient_c": CELSIUS,
    "coolant_c": CELSIUS,
    "gas_co_ppm": PPM,
    "gas_h2_ppm": PPM,
    "gas_voc_ppm": PPM,
}
# Header units accepted per cycle column (canonical or helper). Cycler currents come in A or mA.
_CYCLER_AMPS: UnitTable = {unit: AMPS[unit] for unit in ("a", "ma")}
CYCLE_UNITS: dict[str, UnitTable] = {
    "capacity_ah": AMP_HOURS,
    "charge_throughput_ah": AMP_HOURS,
    "discharge_throughput_ah": AMP_HOURS,
    schema.CHARGE_CAPACITY: AMP_HOURS,
    "resistance_ohm": OHMS,
    "temperature_c": CELSIUS,
    "ambient_c": CELSIUS,
    "time_s": SECONDS,
    "depth_of_discharge": FRACTION,
    "charge_c_rate": C_RATE,
    "discharge_c_rate": C_RATE,
    schema.CHARGE_CURRENT: _CYCLER_AMPS,
    schema.DISCHARGE_CURRENT: _CYCLER_AMPS,
}


def known_units(tables: Iterable[UnitTable]) -> set[str]:
    """Every unit the given tables accept (what a ``Name_unit`` header may end with)."""
    return {unit for table in tables for unit in table}


def normalise_name(name: str) -> str:
    """Lower case, letters and digits only: ``'Temp. Max'`` -> ``'tempmax'``."""
    return re.sub(r"[^0-9a-z]", "", name.lower().replace("µ", "u"))


def split_unit(header: str, units: set[str]) -> tuple[str, str | None]:
    """``'Voltage (mV)'``, ``'Voltage [mV]'`` or ``'voltage_mv'`` -> ``('Voltage', 'mv')``.

    Args:
        header: A column header.
        units: The units a ``Name_unit`` header may end with (any unit in brackets is read).

    Returns:
        The name and the lower-case unit (None when the header names none).
    """
    text = header.strip()
    bracket = re.match(r"^(.*?)[\s_]*[\(\[]\s*([^\)\]]*?)\s*[\)\]]\s*$", text)
    if bracket:
        unit = bracket.group(2).lower().replace(" ", "")
        return bracket.group(1), unit.replace("º", "°") or None  # ordinal sign typed for degree
    parts = re.split(r"[_\s]+", text)
    if len(parts) > 1 and parts[-1].lower() in units:
        return " ".join(parts[:-1]), parts[-1].lower()
    return text, None


def unique_names(names: list[str]) -> list[str]:
    """Headers made unique as pandas does: a repeated ``x`` becomes ``x.1``, ``x.2``, ..."""
    seen: Counter = Counter()
    out = []
    for name in names:
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name}.{seen[name] - 1}")
    return out


def outside_limits(values: np.ndarray, limit: tuple[float, float] | None) -> np.ndarray:
    """True where a value lies outside ``[low, high]`` (missing values are not outside)."""
    if limit is None:
        return np.zeros(len(values), dtype=bool)
    low, high = limit
    with np.errstate(invalid="ignore"):
        return (values < low) | (values > high)


def mask_outside_limits(
    values: np.ndarray, limit: tuple[float, float] | None
) -> tuple[np.ndarray, int]:
    """Values outside a physical limit become missing (NaN), never used as measurements.

    Args:
        values: One signal's values in its canonical unit.
        limit: ``(low, high)`` from the limits table, or None for a signal without one.

    Returns:
        The values (the same array when nothing was masked) and how many were masked.
    """
    impossible = outside_limits(values, limit)
    count = int(impossible.sum())
    if count:
        values = np.where(impossible, np.nan, values)
    return values, count
