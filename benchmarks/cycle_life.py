"""Cycle life of the MIT/Stanford/TRI LFP cells predicted from their first 100 cycles.

    .venv/bin/python benchmarks/cycle_life.py [--data FILE] [--out reports/cycle_life.json]
        [--drop charge_time_2_6,temperature_max]   # the same without some features

The batch 2017-05-12 summary (Severson et al. 2019, data.matr.io, CC BY 4.0; 46 A123 APR18650M1A
cells, 1.1 Ah, fast-charged at 30 C) is read in place from ``../shared/realdata/cycling/
severson_mit_lfp/batch_values.csv`` through the cycle ingest (the MATR layout), so the features
come from canonical cycle data. End of life is 80 % of 1.1 Ah (0.88 Ah); cells that stopped
before it are censored and left out (printed). Each cell's life is predicted with that cell left
out (:func:`batteryops.health.early_life.cross_validated`); the printed MAPE carries a 95 %
bootstrap interval over cells. Published anchors: Severson et al. report 9.1 % test error with
voltage-curve features (their summary-feature model is weaker); Microsoft BatteryML's table on
the MIT data gives RMSE 398 cycles for a dummy predictor and 90 for its best model (all batches,
their split, not this one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from batteryops.core.config import load_params  # noqa: E402
from batteryops.core.io import write_json  # noqa: E402
from batteryops.health import early_life  # noqa: E402
from batteryops.ingest.cycle_files import read_cycle_file  # noqa: E402

DATA = ROOT.parent / "shared" / "realdata" / "cycling" / "severson_mit_lfp" / "batch_values.csv"
NOMINAL_AH = 1.1
END_OF_LIFE_AH = 0.8 * NOMINAL_AH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", default="reports/cycle_life.json")
    parser.add_argument("--drop", default="", help="features to leave out, comma-separated")
    args = parser.parse_args()
    if not args.data.is_file():
        sys.exit(f"{args.data} not found: the real data sets live in ../shared/realdata")
    cycles = read_cycle_file(args.data, load_params(ROOT / "params.yaml").cycle_ingest).frame
    life = early_life.cycle_life(cycles, END_OF_LIFE_AH)
    features = early_life.summary_features(cycles)
    dropped = [name for name in args.drop.split(",") if name]
    unknown = sorted(set(dropped) - set(early_life.FEATURES))
    if unknown:
        sys.exit(f"--drop: {unknown} are not features; they are {early_life.FEATURES}")
    features[dropped] = float("nan")  # imputed by the training median: carries nothing
    reached = life.dropna().index.intersection(features.index)
    censored = sorted(set(life.index) - set(reached))
    features, actual = features.loc[reached], life.loc[reached].to_numpy()
    predictions = early_life.cross_validated(features, life)
    predictions["linear_fade_extrapolation"] = early_life.linear_extrapolation(
        features, END_OF_LIFE_AH
    )
    print(
        f"{len(reached)} cells reach {END_OF_LIFE_AH:.2f} Ah (cycle life {actual.min():.0f}-"
        f"{actual.max():.0f}, median {np.median(actual):.0f}); {len(censored)} stopped before "
        f"it and are left out: {', '.join(censored)}"
    )
    results = {}
    for name, predicted in predictions.items():
        results[name] = early_life.errors(predicted, actual)
        low, high = results[name]["mape_pct_95"]
        print(
            f"{name:28} MAPE {results[name]['mape_pct']:5.1f} % (95 % {low:4.1f}-{high:4.1f}), "
            f"RMSE {results[name]['rmse_cycles']:5.0f} cycles"
        )
    write_json(
        {
            "cells": len(reached),
            "censored": censored,
            "end_of_life_ah": END_OF_LIFE_AH,
            "early_cycles": early_life.EARLY_CYCLES,
            "features": [name for name in early_life.FEATURES if name not in dropped],
            "results": results,
        },
        ROOT / args.out,
    )


if __name__ == "__main__":
    main()
