"""Many chunks: the work of a dask question grows linearly in its chunks.

A tree of ``dask.delayed`` merges over ``to_delayed()`` blocks merged the whole graph again
at each call: a 1000 x 1000 float32 array in 10 x 10 chunks spent 37 s of CPU in
``compute`` and ``zonal`` with dask labels took time quadratic in the chunks. The work is
counted here as the Python calls made (deterministic, not timed): four times the chunks
made 5.7x (``compute``) and 7.3x (``zonal``) the calls; now about 4x. ``dim=`` over
cells too large to keep their samples' keys and the exact quantiles of the accessor built
the same trees: 4x the chunks made 5.3x and 13.4x the calls.
"""

from __future__ import annotations

import sys

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import imgstats

from .oracle import check_all

FUNCS = ["median", "p99", "mean"]


def _calls(fn, of=None):
    """``(fn(), the Python calls it made)``: of the function ``of`` alone, when given."""
    n = [0]
    code = None if of is None else of.__code__

    def count(frame, event, arg):
        if event == "call" and (code is None or frame.f_code is code):
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


def _dims_per_step(blocks: int):
    """``dim=("y", "x")`` of a stack: a cell of 82,944 samples (more than the grouped core
    keeps keys of) is summarized block by block, ``blocks`` x ``blocks`` of them."""
    side = 288  # 18 * 16 = 9 * 32
    stack = np.random.default_rng(blocks).normal(size=(2, side, side)).astype(np.float32)
    x = xr.DataArray(
        da.from_array(stack, chunks=(1, side // blocks, side // blocks)), dims=("t", "y", "x")
    )
    lazy = imgstats.compute(x, FUNCS, dim=("y", "x"))
    got, calls = _calls(lambda: lazy.compute(scheduler="sync"))
    for t in range(2):
        check_all(dict(zip(FUNCS, got.values[t].tolist(), strict=True)), stack[t], FUNCS)
    return calls


def _dims_per_pixel(blocks: int):
    """``dim="t"`` of a stack: one task per block of the kept ``(y, x)``, ``blocks`` x
    ``blocks`` of them, each with its own part of the graph (each task built the whole
    graph again: 4x the blocks took 5.4x the CPU)."""
    side = 4 * blocks
    stack = np.random.default_rng(blocks).normal(size=(3, side, side)).astype(np.float32)
    x = xr.DataArray(da.from_array(stack, chunks=(1, 4, 4)), dims=("t", "y", "x"))
    got, calls = _calls(lambda: imgstats.compute(x, FUNCS, dim="t").compute(scheduler="sync"))
    np.testing.assert_array_equal(got.values[..., 0], np.median(stack, axis=0))
    np.testing.assert_array_equal(got.values[..., 1], np.percentile(stack, 99, axis=0))
    return calls


def _quantile(blocks: int):
    values, _, x, _ = _arrays(blocks)
    arr = xr.DataArray(x, dims=("y", "x"))
    got, calls = _calls(lambda: arr.imgstats.quantile([0.5, 0.99]).compute(scheduler="sync"))
    # numpy interpolates a float32 quantile in float32 for a number q, as the accessor does
    np.testing.assert_array_equal(got.values, [np.nanquantile(values, q) for q in (0.5, 0.99)])
    return calls


@pytest.mark.parametrize("question", [_compute, _zonal, _dims_per_step, _dims_per_pixel, _quantile])
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
    got, made = _calls(lambda: imgstats.compute(tiny, FUNCS, scheduler="sync"), summarize_block)
    check_all(got, values, FUNCS)
    assert made <= 4, f"{made} summaries of {tiny.npartitions} chunks"


@pytest.mark.parametrize("kind", ["labels", "polygons"])
def test_tiny_chunks_are_walked_together_by_zonal(kind):
    """4096 chunks of 16 pixels: each was a block of zonal's walk, with its task and groups
    (10,000 chunks of 10 x 10 took 18.4 s of CPU, 2.8 s gathered); a few blocks now."""
    from imgstats import _jit, zones

    values, labels, tiny, lab = _arrays(64)
    if kind == "polygons":
        lab = [
            {"type": "Polygon", "coordinates": [[[0, 0], [200, 10], [90, 250], [0, 0]]]},
            {"type": "Polygon", "coordinates": [[[30, 30], [250, 40], [240, 240], [30, 30]]]},
        ]
    _jit.load()  # numba's loading, and a first call's imports, outside the count
    imgstats.zonal(tiny[:8, :8], lab if kind == "polygons" else lab[:8, :8], FUNCS)
    frame, made = _calls(
        lambda: imgstats.zonal(tiny, lab, FUNCS, scheduler="sync"), zones._group_block
    )
    assert made <= 4, f"{made} blocks walked of {tiny.npartitions} chunks"
    zones_ = range(1, 6) if kind == "labels" else range(len(lab))
    for z in zones_:
        if kind == "labels":
            check_all(frame.loc[z, FUNCS].to_dict(), values[labels == z], FUNCS)
        else:
            assert frame.loc[z, FUNCS].to_dict() == imgstats.compute(values, FUNCS, polygon=lab[z])


def test_a_clusters_chunks_stay_as_they_are_for_zonal():
    """On a dask.distributed cluster every chunk is walked where it is read."""
    from imgstats import zones

    from .cluster import local_cluster

    values, labels, x, lab = _arrays(4)  # 16 chunks
    layout = zones._zones(lab, 16, 16, 0, None, 10, {}, None)
    assert zones._Walk(x, layout, 1, "sync")._dask_values().npartitions == 1
    with local_cluster(n_workers=1) as client:
        assert zones._Walk(x, layout, 1, client)._dask_values().npartitions == 16
        frame = imgstats.zonal(x, lab, FUNCS, scheduler=client)
    for z in range(1, 6):
        check_all(frame.loc[z, FUNCS].to_dict(), values[labels == z], FUNCS)


def test_tiny_chunks_along_dims_are_summarized_together(monkeypatch):
    """``dim=("y", "x")`` of a stack in (1, 10, 10) chunks: each chunk was a task and a
    65,536-bin summary per cell (a (2, 400, 400) stack in (1, 10, 10) chunks took 4.4 s of
    CPU, 1.5 s gathered); a few summaries per time step now. NaN, nodata and a mask leave
    the same samples out as numpy's oracle, whatever the gathering."""
    from imgstats import _blocks

    made = [0]
    summarize = _blocks.summarize_block

    def counted(*args, **kw):
        made[0] += 1
        return summarize(*args, **kw)

    monkeypatch.setattr(_blocks, "summarize_block", counted)
    rng = np.random.default_rng(7)
    stack = rng.normal(size=(2, 260, 260)).astype(np.float32)  # cells beyond SMALL_GROUP
    stack[0, :5, :] = np.nan
    stack[1, 100:120, 30:90] = -9999.0
    mask = np.ones((260, 260), bool)
    mask[200:, 200:] = False
    x = xr.DataArray(
        da.from_array(stack, chunks=(1, 10, 10)), dims=("t", "y", "x"), attrs={"nodata": -9999.0}
    )
    got = imgstats.compute(x, FUNCS, dim=("y", "x"), mask=mask).compute(scheduler="sync")
    assert made[0] <= 8, f"{made[0]} summaries of {x.data.npartitions} chunks"
    for t in range(2):
        valid = stack[t][mask & (stack[t] != -9999.0)]
        check_all(dict(zip(FUNCS, got.values[t].tolist(), strict=True)), valid, FUNCS)
