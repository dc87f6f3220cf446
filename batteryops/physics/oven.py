"""Single-cell oven test: an 18650 cell with the Kim 2007 kinetics in a hot oven.

Heat-loss terms (documented because the critical oven temperature depends on them by ~10 C,
see ``shared/reference/thermal-abuse.md``): one lumped node, radius 9 mm, length 65 mm,
rho*cp = 2.14e6 J/(m3 K), natural convection h = 7.17 W/(m2 K) over the side and both ends
(hA/V = 1816 W/(m3 K)), and radiation to the oven walls with emissivity 0.8. The cell starts at
25 C. The point of no return (PNR) is where dT/dt first reaches 1 C/s.

Expected (reference check of the same model): 155 C oven -> runaway at about 25 min,
150 C -> about 36 min, 145 C and 130 C -> no runaway (130 C settles near 135 C).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from batteryops.physics.kinetics import RHO_CP_J_PER_M3_K, ZERO_C_IN_K, ReactionState, react

STEFAN_BOLTZMANN_W_PER_M2_K4 = 5.670374419e-8


@dataclass(frozen=True)
class OvenCell:
    """Geometry and heat-loss terms of the oven cell (18650 defaults of Kim 2007)."""

    radius_m: float = 0.009
    length_m: float = 0.065
    h_w_per_m2_k: float = 7.17
    emissivity: float = 0.8
    start_temp_c: float = 25.0

    @property
    def volume_m3(self) -> float:
        """Cell volume."""
        return math.pi * self.radius_m**2 * self.length_m

    @property
    def area_m2(self) -> float:
        """Side plus both ends."""
        return 2 * math.pi * self.radius_m * self.length_m + 2 * math.pi * self.radius_m**2


@dataclass(frozen=True)
class OvenResult:
    """Outcome of one oven run."""

    runaway: bool
    time_to_runaway_min: float | None
    peak_temp_c: float

    def as_dict(self) -> dict[str, object]:
        """JSON-ready mapping."""
        return {
            "runaway": self.runaway,
            "time_to_runaway_min": (
                None if self.time_to_runaway_min is None else round(self.time_to_runaway_min, 2)
            ),
            "peak_temp_c": round(self.peak_temp_c, 2),
        }


def simulate_oven(
    oven_c: float,
    hours: float = 3.0,
    dt_s: float = 0.5,
    pnr_rate_c_per_s: float = 1.0,
    cell: OvenCell | None = None,
) -> OvenResult:
    """Heat one cell in an oven at a fixed temperature.

    Args:
        oven_c: Oven (air and wall) temperature in C.
        hours: Longest time simulated.
        dt_s: Time step in seconds.
        pnr_rate_c_per_s: dT/dt that defines the point of no return.
        cell: Geometry and heat-loss terms; 18650 defaults when omitted.

    Returns:
        Whether the cell ran away, when (minutes from the start), and its peak temperature.
    """
    cell = cell or OvenCell()
    heat_capacity_j_per_k = RHO_CP_J_PER_M3_K * cell.volume_m3
    oven_k = oven_c + ZERO_C_IN_K
    state = ReactionState.fresh(1)
    temp_c = np.array([cell.start_temp_c])
    peak_c = float(temp_c[0])
    steps = int(hours * 3600 / dt_s)
    for step in range(steps):
        reaction_w = react(state, temp_c, dt_s) * cell.volume_m3
        temp_k = temp_c + ZERO_C_IN_K
        loss_w = cell.area_m2 * (
            cell.h_w_per_m2_k * (temp_k - oven_k)
            + cell.emissivity * STEFAN_BOLTZMANN_W_PER_M2_K4 * (temp_k**4 - oven_k**4)
        )
        rate_c_per_s = (reaction_w - loss_w) / heat_capacity_j_per_k
        temp_c = temp_c + rate_c_per_s * dt_s
        peak_c = max(peak_c, float(temp_c[0]))
        if rate_c_per_s[0] >= pnr_rate_c_per_s:
            return OvenResult(True, (step + 1) * dt_s / 60.0, peak_c)
    return OvenResult(False, None, peak_c)
