"""DVC stage ``health_features``: SOH and RUL labels, features and the temperature holdout."""

from __future__ import annotations

import logging

import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params
from batteryops.core.io import read_json, require, write_json, write_parquet
from batteryops.health import dataset
from batteryops.health.model import featurize
from stages._common import StageFailure, run

log = logging.getLogger("stages.health_features")


def main(params: Params) -> None:
    """Featurize every (cell, cycle) row, label it, and split cells by chamber temperature."""
    paths, section = params.paths, params.health
    require(paths.cycles, paths.curves, paths.cycle_truth, paths.metrics.cycle_validation)
    if not read_json(paths.metrics.cycle_validation).get("success", False):
        raise StageFailure(f"{paths.metrics.cycle_validation}: cycle data did not validate")
    cycles = pd.read_parquet(paths.cycles).sort_values(schema.CYCLE_KEYS, ignore_index=True)
    curves = pd.read_parquet(paths.curves)
    truth = pd.read_parquet(paths.cycle_truth)
    frame = featurize(cycles, curves, section)
    soh = dataset.soh_labels(cycles, section.reference_cycles, truth if len(truth) else None)
    frame[dataset.SOH] = soh.to_numpy()
    frame[dataset.RUL] = dataset.rul_labels(cycles, soh, section.eol_soh).to_numpy()
    cells = frame.groupby(schema.CELL_ID, as_index=False)["temperature_c"].last()
    split = dataset.temperature_holdout(
        cells, section.train_temperatures_c, section.test_temperatures_c
    )
    train = [c for c, s in split.items() if s == "train"]
    test = [c for c, s in split.items() if s == "test"]
    dataset.assert_no_leak(train, test)
    if not train or not test:
        raise StageFailure(
            f"temperature holdout is empty: {len(train)} training and {len(test)} test cells "
            f"(train near {section.train_temperatures_c} C, test near "
            f"{section.test_temperatures_c} C)"
        )
    frame[schema.SPLIT] = frame[schema.CELL_ID].map(split)
    labels = {*schema.CYCLE_KEYS, dataset.SOH, dataset.RUL, schema.SPLIT}
    features = [c for c in frame.columns if c not in labels]
    write_parquet(frame, paths.health_features)
    counts = {"train": len(train), "test": len(test)}
    write_json({"cells": split, "features": features, "counts": counts}, paths.health_split)
    log.info(
        "%d rows, %d features; %d training cells, %d test cells",
        len(frame),
        len(features),
        len(train),
        len(test),
    )


if __name__ == "__main__":
    run("health_features", main)
