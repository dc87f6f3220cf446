"""Compile the feature kernels into numba's cache before ``featurize`` needs them.

    python -m batteryops.hazard.warm

numba (``cache=True``) keeps each kernel's machine code in ``__pycache__`` beside its source,
and every later process loads it; a clean clone has none, and its first ``featurize`` spent
~17 s of one core compiling while the other waited. ``make run`` starts this beside its first
stages instead (sharing the cores with them) and waits for it before ``featurize``. It
featurizes a synthetic rack (two healthy modules, two hours of 1 Hz readings) with the stage's
own code (:func:`partitions.featurize_partition`: labels, features, logger copies) into a
temporary folder, so that exactly the signatures the stage uses are compiled (a test checks
that a simulated rack, featurized in a later process, misses the cache for none). Nothing is
kept but the cache; if it fails, ``make run`` says so and ``featurize`` compiles what is
missing itself, as without it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from batteryops.core import schema
from batteryops.core.config import Params, load_params
from batteryops.hazard.partitions import featurize_partition, rack_spans

SECONDS = 7200
MODULES = ("W01-M01", "W01-M02")


def synthetic_rack(seconds: int = SECONDS, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A rack of two healthy modules in the canonical telemetry contract, and its truth table."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    stamps = start + pd.to_timedelta(np.arange(seconds), unit="s")
    frames = []
    for module in MODULES:
        wander = np.cumsum(rng.normal(0.0, 0.01, seconds))
        signals = {
            "voltage_v": 50.0 + wander,
            "current_a": 20.0 * np.sin(np.arange(seconds) / 600.0),
            "soc_pct": 60.0 + wander,
            "temp_avg_c": 25.0 + wander,
            "temp_max_c": 26.0 + wander,
            "temp_min_c": 24.0 + wander,
            "ambient_c": np.full(seconds, 22.0),
            "coolant_c": np.full(seconds, 20.0),
            "cell_v_max": 3.72 + wander / 100.0,
            "cell_v_min": 3.70 + wander / 100.0,
            "gas_co_ppm": np.zeros(seconds),
            "gas_h2_ppm": np.zeros(seconds),
            "gas_voc_ppm": np.zeros(seconds),
        }
        frame = pd.DataFrame({k: np.asarray(v, dtype=np.float32) for k, v in signals.items()})
        frame.insert(0, schema.MODULE_ID, module)
        frame.insert(0, schema.RACK_ID, module.split("-")[0])
        frame.insert(0, schema.TIMESTAMP, stamps)
        frames.append(frame)
    never = pd.Series(pd.NaT, index=range(len(MODULES)), dtype="datetime64[ns, UTC]")
    truth = pd.DataFrame(
        {
            schema.RACK_ID: [m.split("-")[0] for m in MODULES],
            schema.MODULE_ID: list(MODULES),
            "position": range(len(MODULES)),
            "fault_type": "none",
            "fault_start": never,
            "nuisance_type": "none",
            "nuisance_start": never,
            "vent_time": never,
            "pnr_time": never,
        }
    )
    return pd.concat(frames, ignore_index=True)[schema.CANONICAL_COLUMNS], truth


def warm(params: Params) -> None:
    """Featurize :func:`synthetic_rack` as the ``featurize`` stage would, and drop the result."""
    telemetry, truth = synthetic_rack()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "W01.parquet"
        telemetry.to_parquet(path, index=False)
        (root / "features").mkdir()
        (root / "copies").mkdir()
        carried = None
        for span in rack_spans(path, params.compute.partition_s):
            _, carried = featurize_partition(
                span,
                carried,
                truth,
                {module: "train" for module in MODULES},
                params.featurize,
                params.label,
                root / "features",
                root / "copies",
            )


if __name__ == "__main__":
    warm(load_params())
