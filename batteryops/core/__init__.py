"""Core: what every room shares and nothing above it owns.

The typed params (:mod:`~batteryops.core.config`), the data contracts' column names
(:mod:`~batteryops.core.schema`), atomic file output and Parquet partitions
(:mod:`~batteryops.core.io`), per-module 1 Hz grids (:mod:`~batteryops.core.timegrid`), report
plots (:mod:`~batteryops.core.plots`) and the working copy's tool environment
(:mod:`~batteryops.core.workspace`). Core imports no other part of batteryops.
"""
