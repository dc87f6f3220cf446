"""Ingest: third-party files to canonical data, with every unusable row or file quarantined.

:mod:`~batteryops.ingest.telemetry_files` reads logger/BMS exports into canonical telemetry,
:mod:`~batteryops.ingest.cycle_files` reads cycler exports into canonical cycle data.
"""
