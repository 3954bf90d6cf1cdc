"""A real dask.distributed cluster for the core tests: worker processes, not threads."""

from __future__ import annotations

import contextlib

import pytest


@contextlib.contextmanager
def local_cluster(n_workers: int = 2):
    """Yield the client of a LocalCluster of ``n_workers`` single-threaded worker processes.

    The client is the default one only inside the block, so the tests around it keep
    counting on threads (imgstats sends work to a default distributed client when one is set).
    """
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=n_workers,
            processes=True,
            threads_per_worker=1,
            dashboard_address=":0",
            silence_logs=50,  # logging.CRITICAL: no "connection closed" chatter at shutdown
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
