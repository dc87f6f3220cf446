"""batteryops.core.compute: one map over partitions, in process or on Dask, results in order."""

from __future__ import annotations

import pytest

from batteryops.core.compute import partitions_runner
from batteryops.core.config import ComputeParams


def _square_plus(item: int, offset: int) -> int:
    return item * item + offset


def test_in_process_maps_in_order() -> None:
    with partitions_runner(ComputeParams()) as map_partitions:
        assert map_partitions(_square_plus, [3, 1, 2], offset=1) == [10, 2, 5]


def test_a_local_cluster_maps_in_order() -> None:
    compute = ComputeParams(cluster="local", workers=2, processes=False)
    with partitions_runner(compute) as map_partitions:
        assert map_partitions(_square_plus, list(range(10)), offset=0) == [i * i for i in range(10)]


def test_a_scheduler_address_uses_that_cluster() -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        compute = ComputeParams(cluster=cluster.scheduler_address)
        with partitions_runner(compute) as map_partitions:
            assert map_partitions(_square_plus, [2], offset=3) == [7]
        assert len(cluster.workers) == 1  # ours to keep: the runner closes its client only


def test_a_failing_partition_fails_the_map() -> None:
    with partitions_runner(ComputeParams()) as map_partitions, pytest.raises(ZeroDivisionError):
        map_partitions(lambda item: 1 / item, [1, 0])
