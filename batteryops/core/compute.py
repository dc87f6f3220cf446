"""Where the heavy per-partition work runs: here, one partition after another, or on Dask.

``params.yaml`` ``compute.cluster`` chooses: ``null`` (the default) runs every partition in this
process, as a stage always did; ``local`` starts a ``distributed.LocalCluster`` of
``compute.workers`` worker processes (one thread each, ``compute.memory_per_worker`` each); any
other value is the address of a running Dask scheduler (``tcp://host:8786``), whose workers must
see the project's files at the same paths (a shared filesystem). :func:`partitions_runner`
yields a ``map(function, items, **shared)`` that returns the results in the order of ``items``;
functions that write files must write each partition whole (a temporary name, then a rename),
since a lost worker's tasks run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from batteryops.core.config import ComputeParams

log = logging.getLogger(__name__)

PartitionMap = Callable[..., list[Any]]


def _in_process(function: Callable[..., Any], items: list[Any], **shared: Any) -> list[Any]:
    return [function(item, **shared) for item in items]


@contextmanager
def partitions_runner(compute: ComputeParams) -> Iterator[PartitionMap]:
    """Yield a map over partitions: in this process, or on the configured Dask cluster."""
    if compute.cluster is None:
        yield _in_process
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

        def on_cluster(function: Callable[..., Any], items: list[Any], **shared: Any) -> list[Any]:
            task = partial(function, **shared)
            return client.gather(client.map(task, items, pure=False))

        yield on_cluster
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
