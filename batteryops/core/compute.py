"""Where the heavy per-partition work runs: here, one partition after another, or on Dask.

``params.yaml`` ``compute.cluster`` chooses: ``null`` (the default) runs every partition in this
process, as a stage always did; ``local`` starts a ``distributed.LocalCluster`` of
``compute.workers`` worker processes (one thread each, ``compute.memory_per_worker`` each); any
other value is the address of a running Dask scheduler (``tcp://host:8786``), whose workers must
see the project's files at the same paths (a shared filesystem). :func:`partitions_runner`
yields a :class:`Runner`: ``map`` runs independent partitions, ``chain`` runs chains of them
(each partition after the one before it, which hands it what it carries on); functions that
write files must write each partition whole (a temporary name, then a rename),
since a lost worker's tasks run again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from batteryops.core.config import ComputeParams
from batteryops.core.io import share_one_heap

log = logging.getLogger(__name__)


class Runner:
    """Maps over partitions in this process; :func:`partitions_runner` gives one for Dask.

    ``threads``: how many partitions :meth:`imap`, and how many chains :meth:`chain`, work on at
    once, on threads of this process (reading, writing, models and the compiled kernels release
    the GIL; each thread holds one item: a partition, or in ``generalize`` a whole fleet).
    """

    client: Any = None  # the Dask client, for work that has its own Dask interface (XGBoost)

    def __init__(self, threads: int = 1):
        self.threads = threads
        if threads > 1:
            share_one_heap()

    def map(self, function: Callable[..., Any], items: Sequence[Any], **shared: Any) -> list[Any]:
        """``function(item, **shared)`` of every item, in the order of ``items``."""
        return [function(item, **shared) for item in items]

    def imap(
        self, function: Callable[..., Any], items: Sequence[Any], **shared: Any
    ) -> Iterator[Any]:
        """As :meth:`map`, one result at a time in the order of ``items``.

        The caller can keep what it needs of each result and drop the rest before the next.
        With one thread the next item is not even started until then; with more, at most
        ``threads`` items are in hand (running, or done and not yet taken).
        """
        if self.threads <= 1 or len(items) < 2:
            for item in items:
                yield function(item, **shared)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.threads) as pool:
            pending: deque[Any] = deque()
            for item in items:
                if len(pending) == self.threads:
                    yield pending.popleft().result()
                pending.append(pool.submit(function, item, **shared))
            while pending:
                yield pending.popleft().result()

    def chain(
        self, function: Callable[..., Any], chains: Sequence[Sequence[Any]], **shared: Any
    ) -> list[Any]:
        """Run chains of partitions: each item after the one before it, the chains side by side.

        ``function(item, carried, **shared)`` returns ``(result, carried)``; ``carried`` is None
        for a chain's first item and what the item before returned otherwise. The results come
        back chain after chain, item after item. With more than one thread, that many chains
        run at once, each on a thread of its own.
        """

        def run(items: Sequence[Any]) -> list[Any]:
            results, carried = [], None
            for item in items:
                result, carried = function(item, carried, **shared)
                results.append(result)
            return results

        if self.threads <= 1 or len(chains) < 2:
            return [result for items in chains for result in run(items)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.threads) as pool:
            return [result for results in pool.map(run, chains) for result in results]


class DaskRunner(Runner):
    """The same maps, each partition a task on a Dask client's workers."""

    def __init__(self, client: Any):
        super().__init__()
        self.client = client

    def map(self, function: Callable[..., Any], items: Sequence[Any], **shared: Any) -> list[Any]:
        """As :meth:`Runner.map`, one task per item."""
        task = partial(function, **shared)
        return self.client.gather(self.client.map(task, list(items), pure=False))

    def imap(
        self, function: Callable[..., Any], items: Sequence[Any], **shared: Any
    ) -> Iterator[Any]:
        """As :meth:`Runner.imap`: every item a task at once, results handed back in order.

        Each result is released on the cluster once handed back; tasks not yet handed back are
        cancelled if the caller stops early.
        """
        futures = self.client.map(partial(function, **shared), list(items), pure=False)
        try:
            for future in futures:
                yield future.result()
                future.release()
        finally:
            self.client.cancel(futures)

    def chain(
        self, function: Callable[..., Any], chains: Sequence[Sequence[Any]], **shared: Any
    ) -> list[Any]:
        """As :meth:`Runner.chain`: a task per item, each waiting for the one before it."""
        task = partial(_link, partial(function, **shared))
        futures = []
        for items in chains:
            previous = None
            for item in items:
                previous = self.client.submit(task, item, previous, pure=False)
                futures.append(previous)
        return [result for result, _ in self.client.gather(futures)]


def _link(function: Callable[..., Any], item: Any, previous: tuple[Any, Any] | None) -> Any:
    return function(item, None if previous is None else previous[1])


@contextmanager
def partitions_runner(compute: ComputeParams) -> Iterator[Runner]:
    """Yield a runner of partitions: in this process, or on the configured Dask cluster."""
    if compute.cluster is None:
        yield Runner(compute.threads)
        return
    from distributed import Client, LocalCluster

    if compute.cluster == "local":
        cluster = LocalCluster(
            n_workers=compute.workers,
            threads_per_worker=1,
            processes=compute.processes,
            memory_limit=compute.memory_per_worker,
            dashboard_address=None,
        )
        client = Client(cluster)
    else:
        cluster, client = None, Client(compute.cluster)
    log.info("partitions on Dask: %s", client)
    try:
        yield DaskRunner(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
