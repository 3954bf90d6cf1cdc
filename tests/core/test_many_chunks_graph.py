"""Many chunks: the work of a dask question grows linearly in its chunks.

A tree of ``dask.delayed`` merges over ``to_delayed()`` blocks merged the whole graph again
at each call: a 1000 x 1000 float32 array in 10 x 10 chunks spent 37 s of CPU in
``compute`` and ``zonal`` with dask labels took time quadratic in the chunks. The work is
counted here as the Python calls made (deterministic, not timed): four times the chunks
made 5.7x (``compute``) and 7.3x (``zonal``) the calls; now about 4x.
"""

from __future__ import annotations

import sys

import dask.array as da
import numpy as np
import pytest

import imgstats

from .oracle import check_all

FUNCS = ["median", "p99", "mean"]


def _calls(fn):
    """``(fn(), the Python calls it made)``."""
    n = [0]

    def count(frame, event, arg):
        if event == "call":
            n[0] += 1

    sys.setprofile(count)
    try:
        out = fn()
    finally:
        sys.setprofile(None)
    return out, n[0]


def _arrays(blocks: int):
    side = 4 * blocks
    values = np.random.default_rng(blocks).normal(size=(side, side)).astype(np.float32)
    labels = (np.arange(side * side).reshape(side, side) % 5 + 1).astype(np.int32)
    return values, labels, da.from_array(values, chunks=4), da.from_array(labels, chunks=4)


def _compute(blocks: int):
    values, _, x, _ = _arrays(blocks)
    got, calls = _calls(lambda: imgstats.compute(x, FUNCS, scheduler="sync"))
    check_all(got, values, FUNCS)
    return calls


def _zonal(blocks: int):
    values, labels, x, lab = _arrays(blocks)
    got, calls = _calls(lambda: imgstats.zonal(x, lab, FUNCS, scheduler="sync"))
    for zone in range(1, 6):
        check_all(got.loc[zone, FUNCS].to_dict(), values[labels == zone], FUNCS)
    return calls


@pytest.mark.parametrize("question", [_compute, _zonal])
def test_four_times_the_chunks_is_about_four_times_the_work(question):
    from imgstats import _jit

    _jit.load()  # numba's loading is no part of the work
    question(4)  # nor a first call's imports
    small, large = question(16), question(32)  # 256 and 1024 chunks
    assert large / small < 5, f"{large / small:.1f}x the calls for 4x the chunks"


def test_tiny_chunks_are_summarized_together():
    """4096 chunks of 16 samples: each made a 65,536-bin summary (512 KB) and a task; they
    are read together now, a few summaries for the whole array."""
    from imgstats._blocks import summarize_block

    values = np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32)
    tiny = da.from_array(values, chunks=4)
    made = [0]

    def count(frame, event, arg):
        if event == "call" and frame.f_code is summarize_block.__code__:
            made[0] += 1

    sys.setprofile(count)
    try:
        got = imgstats.compute(tiny, FUNCS, scheduler="sync")
    finally:
        sys.setprofile(None)
    check_all(got, values, FUNCS)
    assert made[0] <= 4, f"{made[0]} summaries of {tiny.npartitions} chunks"
