"""A worker process of a real LocalCluster dies in the middle of a question.

dask reruns the dead worker's tasks on the others: the answer is numpy's, bit for bit. A
task that kills every worker that runs it ends in dask's ``KilledWorker``, naming the task,
once the scheduler's ``allowed-failures`` are spent: imgstats raises it as its own
``WorkersDied`` (an ``ImgStatsError``, dask's error its cause), never a hang.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

import imgstats
from imgstats.errors import WorkersDied

from .cluster import local_cluster
from .oracle import check_all

distributed = pytest.importorskip("distributed")

FUNCS = ["min", "max", "mean", "median", "p1", "p99", "count"]


def _blocks(i: int, j: int) -> np.ndarray:
    return np.random.default_rng(i * 10 + j).normal(size=(50, 40)).astype(np.float32)


def _image(flag, always: bool):
    """A 3 x 3 grid of chunks whose middle one kills its worker (once, or every time)."""
    path = str(flag)

    def chunk(i, j):  # pickled by value: the workers need not import this module
        import os

        if (i, j) == (1, 1) and (always or not os.path.exists(path)):
            open(path, "w").close()
            os._exit(1)
        return np.random.default_rng(i * 10 + j).normal(size=(50, 40)).astype(np.float32)

    rows = [
        [da.from_delayed(dask.delayed(chunk)(i, j), (50, 40), np.float32) for j in range(3)]
        for i in range(3)
    ]
    return da.block(rows)


@pytest.mark.slow
def test_a_worker_that_dies_mid_compute_leaves_the_answer_exact(tmp_path):
    want = np.block([[_blocks(i, j) for j in range(3)] for i in range(3)])
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), local_cluster():
        flag = tmp_path / "killed"
        got = imgstats.compute(_image(flag, always=False), FUNCS)
        assert flag.exists()  # a worker did die
        assert got.pop("count") == want.size
        check_all(got, want, FUNCS[:-1])
        # before: dask's KilledWorker, no ImgStatsError, from every entry point
        with pytest.raises(WorkersDied, match="workers died") as caught:
            imgstats.compute(_image(tmp_path / "again", always=True), ["median"])
        assert isinstance(caught.value.__cause__, distributed.KilledWorker)
        with pytest.raises(WorkersDied, match="workers died"):
            imgstats.zonal(_image(tmp_path / "zones", always=True), np.ones((150, 120), int), "max")
