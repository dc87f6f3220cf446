"""Simulators: the storage fleet's telemetry and ground truth, and cells ageing in chambers.

:mod:`~batteryops.sim.simulate` runs the fleet (thermal-abuse kinetics from
:mod:`batteryops.physics`), :mod:`~batteryops.sim.fleet_writer` writes it as Parquet or logger
exports, :mod:`~batteryops.sim.ageing` ages cells by degradation modes into cycle data.
"""
