"""Family B: a second, independently written fleet simulator, used only to judge the models.

Written without the first simulator's code or physics (:mod:`batteryops.sim`,
:mod:`batteryops.physics`; an import contract in ``pyproject.toml`` keeps it so): prismatic NMC
cells of 40 Ah, 1P14S modules behind module-level converters, a distributed thermal model (one
node per cell, conduction along the stack, air heated as it rises through the rack), a
containerised room with a thermostat-driven HVAC, a three-stage self-heating model fitted to
ARC-like onsets with separator collapse, its own duty cycles, faults, nuisances and logger.
"""
