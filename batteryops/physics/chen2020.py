"""Reference runs of PyBaMM's SPMe with the Chen2020 (LG M50) parameters, and the ECM fit to them.

PyBaMM is a development dependency only (the ``dev`` extra): the simulator ships what it needs
from here as data (:data:`batteryops.physics.cell.OCV_TABLE`) and as fitted defaults in
``params.yaml``. This module regenerates both::

    python -m batteryops.physics.chen2020            # print the fit, compare with params.yaml
    python -m batteryops.physics.chen2020 --write    # also rewrite the shipped OCV table

Sources: Chen et al. 2020, J. Electrochem. Soc. 167, 080534 (the LG M50 parameter set);
Marquis et al. 2019 (SPMe); PyBaMM's lumped thermal model (one node, heat capacity averaged over
the electrode layers, Newton cooling with the total heat transfer coefficient and the cell's
cooling surface area). Chen2020 gives no entropic coefficients (0 V/K), so the reversible heat is
zero in both models.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass, replace

import numpy as np

from batteryops.physics.cell import OCV_TABLE_PATH, CellModel, CellThermal

FARADAY_C_PER_MOL = 96485.33212


def _pybamm():
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    try:
        import pybamm
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "PyBaMM is needed for the Chen2020 reference runs: install the dev extra "
            '(uv pip install -e ".[dev]")'
        ) from error
    return pybamm


def parameter_values():
    """PyBaMM's Chen2020 parameter set (a fresh copy)."""
    return _pybamm().ParameterValues("Chen2020")


def stoichiometry_window() -> tuple[float, float, float, float]:
    """Electrode stoichiometries (x_0, x_100, y_100, y_0) at 0 % and 100 % SoC."""
    pybamm = _pybamm()
    x0, x100, y100, y0 = pybamm.lithium_ion.get_min_max_stoichiometries(parameter_values())
    return float(x0), float(x100), float(y100), float(y0)


def capacity_ah() -> float:
    """Charge between the cut-off voltages, from the negative electrode's lithium window."""
    values = parameter_values()
    x0, x100, _, _ = stoichiometry_window()
    per_unit = (
        FARADAY_C_PER_MOL
        * values["Negative electrode active material volume fraction"]
        * values["Maximum concentration in negative electrode [mol.m-3]"]
        * values["Negative electrode thickness [m]"]
        * values["Electrode width [m]"]
        * values["Electrode height [m]"]
        / 3600.0
    )
    return float(per_unit * (x100 - x0))


def ocv_curve(points: int = 201) -> tuple[np.ndarray, np.ndarray]:
    """Open-circuit voltage against SoC: U_p(y(SoC)) - U_n(x(SoC)) from the half-cell curves."""
    pybamm = _pybamm()
    values = parameter_values()
    x0, x100, y100, y0 = stoichiometry_window()
    soc = np.linspace(0.0, 1.0, points)
    u_n, u_p = values["Negative electrode OCP [V]"], values["Positive electrode OCP [V]"]
    ocv = [
        float(
            (
                u_p(pybamm.Scalar(y100 + (1 - s) * (y0 - y100)))
                - u_n(pybamm.Scalar(x0 + s * (x100 - x0)))
            ).evaluate()
        )
        for s in soc
    ]
    return soc, np.array(ocv)


@dataclass(frozen=True)
class ReferenceRun:
    """One SPMe run: voltage, temperature and heat each second, and its thermal terms."""

    voltage_v: np.ndarray
    temperature_c: np.ndarray
    heat_w: np.ndarray
    thermal: CellThermal


def spme(current_a: np.ndarray, initial_soc: float, ambient_c: float) -> ReferenceRun:
    """Run PyBaMM's SPMe with lumped thermal on a 1 Hz current profile (+ = discharge).

    The run stops early if a voltage cut-off is reached; the arrays are then shorter.
    """
    pybamm = _pybamm()
    values = parameter_values()
    seconds = np.arange(len(current_a), dtype=float)
    values["Current function [A]"] = pybamm.Interpolant(seconds, current_a, pybamm.t)
    values["Ambient temperature [K]"] = ambient_c + 273.15
    values["Initial temperature [K]"] = ambient_c + 273.15
    model = pybamm.lithium_ion.SPMe(options={"thermal": "lumped"})
    simulation = pybamm.Simulation(model, parameter_values=values, solver=pybamm.IDAKLUSolver())
    solution = simulation.solve(
        t_eval=[0.0, seconds[-1]], t_interp=seconds, initial_soc=initial_soc
    )
    rho_cp = float(solution["Volume-averaged effective heat capacity [J.K-1.m-3]"].entries[0])
    thermal = CellThermal(
        heat_capacity_j_per_k=rho_cp * values["Cell volume [m3]"],
        to_ambient_w_per_k=values["Total heat transfer coefficient [W.m-2.K-1]"]
        * values["Cell cooling surface area [m2]"],
    )
    return ReferenceRun(
        voltage_v=solution["Terminal voltage [V]"].entries,
        temperature_c=solution["X-averaged cell temperature [K]"].entries - 273.15,
        heat_w=solution["Total heating [W]"].entries,
        thermal=thermal,
    )


def fidelity_profile() -> np.ndarray:
    """The 1 h, 1 Hz current profile (+ = discharge, A) the fidelity test and benchmark use.

    A storage cell's hour: 1 C discharge, rest, a 2 C and a -1.5 C pulse of 30 s, a C/2 charge,
    then a C/2 discharge with frequency-regulation swings of +-0.3 C.
    """
    seconds = np.arange(3601.0)
    current = np.zeros_like(seconds)
    current[seconds < 600] = 5.0
    current[(seconds >= 900) & (seconds < 930)] = 10.0
    current[(seconds >= 1200) & (seconds < 1230)] = -7.5
    current[(seconds >= 1500) & (seconds < 2400)] = -2.5
    late = (seconds >= 2400) & (seconds < 3000)
    current[late] = 2.5 + 1.5 * np.sin(seconds[late] / 20.0)
    return current


def training_profiles(seed: int = 1) -> list[tuple[np.ndarray, float, float]]:
    """Random 1 h step profiles (rest, charge, discharge up to 1.5 C) at 10, 25 and 40 C.

    Kept apart from the fidelity test's profile so that the test judges the fit, not memory.
    Low-SoC runs only discharge gently, to reach the steep end of the curve without cut-off.
    """
    rng = np.random.default_rng(seed)
    cases = [(0.5, 25.0), (0.8, 10.0), (0.3, 40.0), (0.6, 25.0), (0.2, 25.0), (0.15, 10.0)]
    profiles = []
    for initial_soc, ambient_c in cases:
        current = np.zeros(3601)
        k = 0
        while k < len(current):
            length = int(rng.integers(10, 400))
            current[k : k + length] = rng.choice([0.0, 1.0, -1.0]) * rng.uniform(0.5, 7.5)
            k += length
        if initial_soc < 0.25:
            current = 0.4 * np.abs(current)
        profiles.append((current, initial_soc, ambient_c))
    return profiles


def fit_ecm(seed: int = 1) -> tuple[CellModel, float]:
    """Fit R0, two RC pairs, the Arrhenius and the low-SoC terms to SPMe runs, then the heat share.

    The ECM is driven by the reference's own temperature, so the fit sees the electrical model
    alone; the heat share is then the least-squares ratio of PyBaMM's total heating to the fast
    polarisation heat. Returns the fitted model and the voltage RMSE over the training runs, in V.
    """
    from scipy.optimize import least_squares

    runs = []
    for current, initial_soc, ambient_c in training_profiles(seed):
        reference = spme(current, initial_soc, ambient_c)
        n = len(reference.voltage_v)
        runs.append((current[:n], initial_soc, reference))
    capacity = capacity_ah()

    def model_of(x: np.ndarray) -> CellModel:
        return CellModel(
            capacity_ah=capacity,
            r0_ohm=x[0],
            r1_ohm=x[1],
            tau1_s=x[2],
            r2_ohm=x[3],
            tau2_s=x[4],
            activation_k=x[5],
            low_soc_factor=x[6],
        )

    def residuals(x: np.ndarray) -> np.ndarray:
        cell = model_of(x)
        return np.concatenate(
            [
                cell.voltage_with_temperature(current, soc, ref.temperature_c)[0] - ref.voltage_v
                for current, soc, ref in runs
            ]
        )

    fit = least_squares(
        residuals,
        x0=[0.02, 0.01, 30.0, 0.01, 300.0, 1000.0, 1.0],
        bounds=([0, 0, 1, 0, 50, 0, 0], [0.2, 0.2, 200, 0.2, 5000, 10000, 50]),
    )
    cell = model_of(fit.x)
    ours = np.concatenate(
        [cell.voltage_with_temperature(c, soc, ref.temperature_c)[1] for c, soc, ref in runs]
    )
    theirs = np.concatenate([ref.heat_w for _, _, ref in runs])
    share = float(ours @ theirs / (ours @ ours))
    return replace(cell, heat_share=share), float(np.sqrt(np.mean(fit.fun**2)))


def main(argv: list[str] | None = None) -> int:
    """Print the ECM fit (and with ``--write`` rewrite the shipped OCV table)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the shipped OCV table")
    args = parser.parse_args(argv)
    soc, ocv = ocv_curve()
    if args.write:
        lines = ["soc,ocv_v"] + [f"{s:.4f},{v:.6f}" for s, v in zip(soc, ocv, strict=True)]
        OCV_TABLE_PATH.write_text("\n".join(lines) + "\n")
        print(f"wrote {OCV_TABLE_PATH}")
    cell, rmse = fit_ecm()
    print("simulate.cell (params.yaml):")
    for name, value in asdict(cell).items():
        print(f"  {name}: {value:.6g}")
    print(f"training RMSE: {1000 * rmse:.1f} mV")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
