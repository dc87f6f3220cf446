"""batteryops.core.compute: maps and chains of partitions, in process or on Dask, in order."""

from __future__ import annotations

import pytest

from batteryops.core.compute import partitions_runner
from batteryops.core.config import ComputeParams


def _square_plus(item: int, offset: int) -> int:
    return item * item + offset


def test_in_process_maps_in_order() -> None:
    with partitions_runner(ComputeParams()) as runner:
        assert runner.map(_square_plus, [3, 1, 2], offset=1) == [10, 2, 5]


def test_a_local_cluster_maps_in_order() -> None:
    compute = ComputeParams(cluster="local", workers=2, processes=False)
    with partitions_runner(compute) as runner:
        assert runner.map(_square_plus, list(range(10)), offset=0) == [i * i for i in range(10)]


def test_a_scheduler_address_uses_that_cluster() -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        compute = ComputeParams(cluster=cluster.scheduler_address)
        with partitions_runner(compute) as runner:
            assert runner.map(_square_plus, [2], offset=3) == [7]
        assert len(cluster.workers) == 1  # ours to keep: the runner closes its client only


def test_a_failing_partition_fails_the_map() -> None:
    with partitions_runner(ComputeParams()) as runner, pytest.raises(ZeroDivisionError):
        runner.map(lambda item: 1 / item, [1, 0])


def _running_sum(item: int, carried: int | None, scale: int) -> tuple[str, int]:
    total = (carried or 0) + item * scale
    return f"{item}:{total}", total


@pytest.mark.parametrize(
    "compute",
    [
        ComputeParams(threads=1),
        ComputeParams(threads=2),
        ComputeParams(cluster="local", workers=2, processes=False),
    ],
    ids=["in-process", "in-process-threads", "local-cluster"],
)
def test_chains_carry_from_item_to_item_and_come_back_in_order(compute: ComputeParams) -> None:
    chains = [[1, 2, 3], [10], [5, 5]]
    with partitions_runner(compute) as runner:
        assert runner.chain(_running_sum, chains, scale=2) == [
            "1:2", "2:6", "3:12", "10:20", "5:10", "5:20"
        ]  # fmt: skip


@pytest.mark.parametrize(
    "compute",
    [
        ComputeParams(threads=1),
        ComputeParams(threads=2),
        ComputeParams(cluster="local", workers=2, processes=False),
    ],
    ids=["in-process", "in-process-threads", "local-cluster"],
)
def test_imap_hands_results_back_one_at_a_time_in_order(compute: ComputeParams) -> None:
    with partitions_runner(compute) as runner:
        results = runner.imap(_square_plus, [4, 2, 3, 1], offset=1)
        assert next(results) == 17
        assert list(results) == [5, 10, 2]


def test_in_process_imap_starts_an_item_only_when_asked() -> None:
    started = []

    def record(item: int) -> int:
        started.append(item)
        return item

    with partitions_runner(ComputeParams(threads=1)) as runner:
        results = runner.imap(record, [1, 2, 3])
        assert next(results) == 1 and started == [1]
        results.close()
    assert started == [1]


def test_in_process_imap_on_threads_holds_at_most_that_many_items() -> None:
    import threading

    started, release = [], threading.Event()

    def record(item: int) -> int:
        started.append(item)
        release.wait(10)
        return item

    with partitions_runner(ComputeParams(threads=2)) as runner:
        results = runner.imap(record, [1, 2, 3, 4])
        threading.Timer(0.2, release.set).start()  # both threads wait until then
        assert next(results) == 1
        assert sorted(started) == [1, 2]  # the third starts when the caller asks for the next
        assert list(results) == [2, 3, 4]
        assert sorted(started) == [1, 2, 3, 4]


def test_a_failing_item_fails_the_threaded_imap() -> None:
    with partitions_runner(ComputeParams(threads=2)) as runner, pytest.raises(ZeroDivisionError):
        list(runner.imap(lambda item: 1 / item, [1, 0, 2]))
