"""Print the cell model's fidelity against PyBaMM's SPMe (the README's simulator figures).

    .venv/bin/python benchmarks/cell_fidelity.py

On the storage hour the ECM fit never saw (:func:`batteryops.physics.chen2020.fidelity_profile`),
at 25 C from 60 % SoC, at 10 C from 60 % and at 40 C from 30 %: terminal-voltage and temperature
RMSE of ``simulate.cell`` (params.yaml) against SPMe with lumped thermal and Chen2020. PyBaMM is a
dev dependency (installed by `make install`); each case takes a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from batteryops.core.config import load_params
from batteryops.physics import chen2020
from batteryops.sim.simulate import cell_model

ROOT = Path(__file__).resolve().parent.parent
CASES = [(25.0, 0.6), (10.0, 0.6), (40.0, 0.3)]  # (ambient C, initial SoC)


def main() -> None:
    params = load_params(ROOT / "params.yaml")
    current = chen2020.fidelity_profile()
    model = cell_model(params.simulate)
    print("ambient  SoC0   voltage RMSE   temperature RMSE   (ECM vs PyBaMM SPMe, storage hour)")
    for ambient_c, initial_soc in CASES:
        reference = chen2020.spme(current, initial_soc, ambient_c)
        steps = len(reference.voltage_v)
        voltage, temperature = model.simulate(
            reference.thermal, current[:steps], initial_soc, ambient_c
        )
        v_rmse = float(np.sqrt(np.mean((voltage - reference.voltage_v) ** 2)))
        t_rmse = float(np.sqrt(np.mean((temperature - reference.temperature_c) ** 2)))
        note = "" if steps == len(current) else f"  (SPMe hit a cut-off after {steps} s)"
        print(
            f"{ambient_c:5.0f} C  {initial_soc:4.0%}   {1000 * v_rmse:8.1f} mV   "
            f"{t_rmse:10.2f} C{note}"
        )


if __name__ == "__main__":
    main()
