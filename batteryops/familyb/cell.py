"""Family B's cell and module: a 40 Ah prismatic NMC cell, 14 in series behind a converter.

Values are typical of large-format prismatic NMC cells (datasheet-like figures, not fitted to one
product). The self-heating model is an ARC-style three-stage lumped model: each stage a single
Arrhenius reaction with its own adiabatic temperature rise, calibrated so that the SEI stage
self-heats at 0.02 C/min near 95 C (ARC onset) and the main stage near 140 C; the separator
collapses between 160 and 175 C and shorts the cell (Feng et al. 2014/2015 characteristic
temperatures T1/T2/T3 for NMC).
"""

from __future__ import annotations

import numpy as np

CAPACITY_AH = 40.0
CELLS = 14  # per module, in series
HEAT_CAPACITY_J_PER_K = 900.0  # 0.9 kg x 1000 J/(kg K)
R0_OHM = 1.2e-3  # ohmic, at 25 C
R1_OHM = 0.6e-3  # one polarisation branch ...
TAU1_S = 60.0  # ... and its time constant
RESISTANCE_EA_J_PER_MOL = 25_000.0
GAS_J_PER_MOL_K = 8.314
# Conductances (W/K): cell to cell through the spacer pads, cell to the module's air stream,
# a module's end cells to its end plates (then to air), and end cell to the next module's.
CELL_TO_CELL_W_PER_K = 1.5
CELL_TO_AIR_W_PER_K = 0.35
END_PLATE_W_PER_K = 0.15
MODULE_TO_MODULE_W_PER_K = 0.3
# Air rising through a rack: mass flow x heat capacity.
RACK_AIR_W_PER_K = 150.0
# SoC -> open-circuit voltage (V) of an NMC/graphite cell; above 100 % it rises steeply.
OCV_SOC = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.3])
OCV_V = np.array([3.0, 3.35, 3.47, 3.58, 3.64, 3.69, 3.74, 3.81, 3.9, 3.99, 4.08, 4.13, 4.19, 4.9])
# Entropic coefficient dU/dT (V/K) against SoC: the reversible heat -I T dU/dT.
ENTROPY_SOC = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
ENTROPY_V_PER_K = np.array([-0.2e-3, -0.1e-3, -0.02e-3, 0.05e-3, 0.08e-3, 0.02e-3])
# Self-heating stages: pre-exponential (1/s), activation energy (J/mol), adiabatic rise (K).
STAGES = np.array(
    [
        [3.8e13, 1.30e5, 25.0],  # SEI decomposition: 0.02 C/min near 95 C
        [2.3e14, 1.60e5, 250.0],  # anode/cathode-electrolyte: 0.02 C/min near 140 C
        [1.2e21, 2.00e5, 300.0],  # cathode oxygen release + electrolyte combustion
    ]
)
SEPARATOR_C = (160.0, 175.0)  # collapse: the cell shorts through ~5 mOhm
SEPARATOR_SHORT_OHM = 0.005
VENT_C = (120.0, 140.0)  # the safety vent opens somewhere in here
