"""DVC stage ``health_features``: SOH and RUL labels, features and the temperature holdout."""

from __future__ import annotations

import logging

import pandas as pd

from batteryops.core.compute import partitions_runner
from batteryops.core.config import Params
from batteryops.core.io import read_json, require, write_json, write_parquet
from batteryops.health.table import EmptyHoldoutError, build_table
from stages._common import StageFailure, run

log = logging.getLogger("stages.health_features")


def main(params: Params) -> None:
    """Featurize every (cell, cycle) row, label it, and split cells by chamber temperature."""
    paths = params.paths
    require(paths.cycles, paths.curves, paths.cycle_truth, paths.metrics.cycle_validation)
    if not read_json(paths.metrics.cycle_validation).get("success", False):
        raise StageFailure(f"{paths.metrics.cycle_validation}: cycle data did not validate")
    cycles = pd.read_parquet(paths.cycles)
    curves = pd.read_parquet(paths.curves)
    truth = pd.read_parquet(paths.cycle_truth)
    try:
        with partitions_runner(params.compute) as runner:  # compute.cluster: cells on Dask
            table = build_table(cycles, curves, truth, params.health, runner)
    except EmptyHoldoutError as error:
        raise StageFailure(str(error)) from None
    write_parquet(table.frame, paths.health_features)
    write_json(table.split_info(), paths.health_split)
    log.info(
        "%d rows, %d features; %d training cells, %d test cells (%d of %d cells placed by their "
        "chamber's ambient_c, the others by their mean measured temperature)",
        len(table.frame),
        len(table.features),
        len(table.cells("train")),
        len(table.cells("test")),
        sum(by == "ambient_c" for by in table.placed_by.values()),
        len(table.placed_by),
    )


if __name__ == "__main__":
    run("health_features", main)
