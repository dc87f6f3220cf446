"""batteryops.hazard.partitions with batteryops.core.compute: the same files wherever racks run.

The tiny fleet's racks are featurized one after another in this process, then on a 2-worker
Dask ``LocalCluster`` of threads and of worker processes (the functions and frames pickled to
them): every features and logger-copy file must be byte-identical.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from batteryops.core.compute import partitions_runner
from batteryops.core.config import ComputeParams, Params
from batteryops.hazard import split
from batteryops.hazard.partitions import PartitionCounts, featurize_partition
from batteryops.sim import simulate
from tests.batteryops.conftest import TinyFleet


@pytest.fixture(scope="module")
def racks(tiny_fleet: TinyFleet, tiny_params: Params, tmp_path_factory) -> tuple[list[Path], dict]:
    folder = tmp_path_factory.mktemp("telemetry")
    files = []
    for rack, frame in tiny_fleet.frames.items():
        frame.to_parquet(folder / f"{rack}.parquet", index=False)
        files.append(folder / f"{rack}.parquet")
    truth = simulate.truth_with_times(tiny_params.simulate, tiny_fleet.truth)
    shared = {
        "truth": truth,
        "assignment": split.assign_splits(truth, tiny_params.featurize.split),
        "featurize": tiny_params.featurize,
        "label": tiny_params.label,
    }
    return sorted(files), shared


def _run(compute: ComputeParams, racks: tuple[list[Path], dict], out: Path) -> dict[str, str]:
    files, shared = racks
    (out / "features").mkdir(parents=True)
    (out / "copies").mkdir()
    with partitions_runner(compute) as map_partitions:
        counts = map_partitions(
            featurize_partition,
            files,
            **shared,
            features_dir=out / "features",
            copies_dir=out / "copies",
        )
    assert [type(c) for c in counts] == [PartitionCounts] * len(files)
    assert all(c.rows > 0 for c in counts)
    return {
        str(path.relative_to(out)): hashlib.md5(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def in_process(racks, tmp_path_factory) -> dict[str, str]:
    return _run(ComputeParams(), racks, tmp_path_factory.mktemp("one"))


def test_each_rack_writes_whole_files_only(in_process: dict[str, str], racks) -> None:
    files, _ = racks
    assert {f"features/{f.name}" for f in files} <= set(in_process)
    assert any(name.startswith("copies/") for name in in_process)
    assert not any(".partial" in name for name in in_process)


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_a_two_worker_dask_cluster_writes_the_same_bytes(
    in_process: dict[str, str], racks, tmp_path: Path, processes: bool
) -> None:
    compute = ComputeParams(cluster="local", workers=2, processes=processes)
    assert _run(compute, racks, tmp_path) == in_process


def test_a_partition_run_again_replaces_its_files_whole(
    in_process: dict[str, str], racks, tmp_path: Path
) -> None:
    # A lost Dask worker's task runs again: the second run leaves the same, whole files.
    files, shared = racks
    (tmp_path / "features").mkdir()
    (tmp_path / "copies").mkdir()
    for _ in range(2):
        featurize_partition(
            files[0], **shared, features_dir=tmp_path / "features", copies_dir=tmp_path / "copies"
        )
    written = pd.read_parquet(tmp_path / "features" / files[0].name)
    assert len(written) and not list(tmp_path.rglob(".*.partial"))
    digest = hashlib.md5((tmp_path / "features" / files[0].name).read_bytes()).hexdigest()
    assert digest == in_process[f"features/{files[0].name}"]
