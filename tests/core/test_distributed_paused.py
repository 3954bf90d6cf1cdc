"""Every worker of a real LocalCluster is paused for memory: the question ends, never hangs.

A dask.distributed worker whose process memory passes its pause threshold
(``distributed.worker.memory.pause`` of its ``memory_limit``) runs no task until it falls
below it; with every worker paused, ``dask.compute`` waited for ever. imgstats watches the
workers' status and raises ``WorkersPaused`` (a ``WorkersDied``: 503 over HTTP) once all of
them have been paused for ``PAUSED_FOR`` seconds, saying what to do.

The workers are paused for real, by their own memory monitor: a pause threshold of 1% of a
1 GiB limit, which a worker process passes as soon as it starts (about 100 MiB), so the
test neither fills the machine's memory nor depends on how fast it does.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

import imgstats
from imgstats import _cluster
from imgstats.errors import WorkersDied, WorkersPaused

distributed = pytest.importorskip("distributed")

PAUSED = {
    "distributed.worker.memory.pause": 0.01,
    "distributed.worker.memory.target": False,
    "distributed.worker.memory.spill": False,
    "distributed.worker.memory.terminate": False,
    "distributed.worker.memory.monitor-interval": "50ms",
}


@pytest.fixture
def paused_client(monkeypatch):
    monkeypatch.setattr(_cluster, "PAUSED_FOR", 2.0)
    monkeypatch.setattr(_cluster, "_POLL", 0.2)
    with (
        dask.config.set(PAUSED),
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            memory_limit="1GiB",
            dashboard_address=":0",
            silence_logs=50,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.slow
def test_workers_paused_for_memory_end_the_question(paused_client):
    x = da.from_array(np.arange(40_000, dtype=np.float32).reshape(200, 200), chunks=50)
    with pytest.raises(WorkersPaused, match="paused for memory") as caught:
        imgstats.compute(x, ["median"])
    message = str(caught.value)
    assert "smaller chunks" in message and "more memory" in message and "1024 MiB" in message
    assert isinstance(caught.value, WorkersDied)  # what callers catch already (503 over HTTP)
    with pytest.raises(WorkersPaused):
        imgstats.zonal(x, np.ones((200, 200), int), "max")
