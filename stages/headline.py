"""DVC stage ``headline``: the few figures ``dvc metrics show`` prints (``metrics/headline.json``).

The work is :func:`batteryops.mlops.headline.headline`: a handful of numbers per task from the
detailed metrics files, which stay versioned beside it.
"""

from __future__ import annotations

from batteryops.core.config import Params
from batteryops.core.io import read_json, require, write_json
from batteryops.mlops import headline
from stages._common import run


def main(params: Params) -> None:
    """Write the headline of this run's detailed metrics."""
    paths = params.paths.metrics
    sources = {
        "hazard": paths.hazard,
        "generalization": paths.generalization,
        "drift": paths.drift,
        "registry": paths.registry,
        "soh": paths.soh,
        "soh_registry": paths.soh_registry,
    }
    require(*sources.values())
    write_json(
        headline.headline({name: read_json(path) for name, path in sources.items()}),
        paths.headline,
    )


if __name__ == "__main__":
    run("headline", main)
