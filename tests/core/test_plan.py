"""Read plans (issue 9, item 1): how each source's pixels arrive, its header facts, and the
one map-reduce over its blocks with a per-block transform slotted in."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile
import xarray as xr
from PIL import Image

import imgstats
from imgstats.io import ReadPlan, open_plan

from .oracle import check_all

FUNCS = ["min", "max", "mean", "p1", "median", "p99"]


def _u8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def big_tiffs_are_lazy(monkeypatch):
    import imgstats.io

    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)


def test_a_jpeg_is_kept_in_pillows_memory(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(_u8((40, 30, 3))).save(path, quality=90)
    plan = open_plan(path)
    assert plan.kind == "pillow" and isinstance(plan.pixels, Image.Image)
    assert (plan.shape, plan.dtype, plan.band_names) == ((40, 30, 3), np.uint8, ("R", "G", "B"))
    assert plan.format == "JPEG" and plan.pages == 1 and plan.has_luma
    want = np.asarray(Image.open(path))
    np.testing.assert_array_equal(plan.array(), want)
    check_all(imgstats.compute(plan, FUNCS), want, FUNCS)


def test_a_16_bit_png_is_an_array(tmp_path):
    path = tmp_path / "deep.png"
    arr = np.random.default_rng(1).integers(0, 60000, (20, 25)).astype(np.uint16)
    Image.fromarray(arr).save(path)
    plan = open_plan(path)
    assert plan.kind == "array" and isinstance(plan.pixels, np.ndarray)
    assert plan.shape == (20, 25) and plan.format == "PNG" and not plan.has_luma
    check_all(imgstats.compute(plan, FUNCS), np.asarray(Image.open(path)), FUNCS)


def test_a_large_local_tiff_is_streamed_here_and_read_by_dask_elsewhere(
    tmp_path, big_tiffs_are_lazy
):
    arr = np.random.default_rng(2).normal(size=(50, 40, 3)).astype(np.float32)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, arr, tile=(16, 16), photometric="rgb")
    plan = open_plan(path)
    assert plan.kind == "stream" and plan.format == "TIFF"
    assert (plan.shape, plan.dtype, plan.band_names) == ((50, 40, 3), np.float32, ("R", "G", "B"))
    elsewhere = open_plan(path, local=False)
    assert elsewhere.kind == "array" and isinstance(elsewhere.pixels, da.Array)
    assert not elsewhere.local and plan.local
    for p in (plan, elsewhere):
        check_all(imgstats.compute(p, FUNCS), arr, FUNCS)
        np.testing.assert_array_equal(np.asarray(p.array()), arr)


@pytest.mark.parametrize("data", ["numpy", "dask", "xarray", "pil"])
def test_in_memory_inputs_are_array_plans(data):
    arr = _u8((12, 10, 3), seed=3)
    obj = {
        "numpy": arr,
        "dask": da.from_array(arr, chunks=5),
        "xarray": xr.DataArray(
            np.moveaxis(arr, -1, 0), dims=("band", "y", "x"), coords={"band": ["R", "G", "B"]}
        ),
        "pil": Image.fromarray(arr),
    }[data]
    plan = open_plan(obj)
    assert plan.kind == "array" and plan.shape == (12, 10, 3)
    assert plan.band_names == (("R", "G", "B") if data in ("xarray", "pil") else ("0", "1", "2"))
    assert open_plan(plan) is plan
    np.testing.assert_array_equal(np.asarray(plan.array()), arr)


@pytest.mark.parametrize("obj", [np.array(["a"]), object(), np.zeros(3, complex)])
def test_unsupported_inputs_are_invalid_options(obj):
    with pytest.raises(imgstats.InvalidOption):
        open_plan(obj)


def test_an_image_without_bands_has_no_valid_samples():
    with pytest.raises(imgstats.NoValidSamples):
        open_plan(np.zeros((3, 4, 0), np.uint8))


# -- the transform slot ------------------------------------------------------------------------
def _invert(block):
    return 255 - block


@pytest.mark.parametrize("kind", ["numpy", "large-numpy", "dask", "stream", "pillow"])
def test_a_transform_applies_to_every_block_of_every_kind(tmp_path, big_tiffs_are_lazy, kind):
    arr = _u8((1200, 900, 3) if kind == "large-numpy" else (70, 50, 3), seed=4)
    if kind == "stream":
        path = tmp_path / "rgb.tif"
        tifffile.imwrite(path, arr, tile=(32, 32), photometric="rgb")
        plan = open_plan(path)
    elif kind == "pillow":
        path = tmp_path / "rgb.png"
        Image.fromarray(arr).save(path)
        plan = open_plan(path)
    else:
        plan = open_plan(da.from_array(arr, chunks=(33, 17, 3)) if kind == "dask" else arr)
    assert plan.kind == {"stream": "stream", "pillow": "pillow"}.get(kind, "array")
    inverted = ReadPlan(**{**plan.__dict__, "transform": _invert})
    want = 255 - arr
    check_all(imgstats.compute(inverted, FUNCS), want, FUNCS)
    check_all(imgstats.compute(inverted, FUNCS, band=1), want[..., 1], FUNCS)
    luma = np.asarray(Image.fromarray(want).convert("L"))
    check_all(imgstats.compute(inverted, FUNCS, band="luma"), luma, FUNCS)
    np.testing.assert_array_equal(np.asarray(inverted.array()), want)


def test_map_reduce_sees_every_pixel_once_whatever_the_kind(tmp_path, big_tiffs_are_lazy):
    arr = _u8((65, 47), seed=5)
    path = tmp_path / "grey.tif"
    tifffile.imwrite(path, arr, rowsperstrip=6)
    for plan in (open_plan(path), open_plan(path, local=False), open_plan(arr)):
        total = plan.map_reduce(lambda b: np.int64(b.astype(np.int64).sum()), sum)
        count = plan.map_reduce(lambda b: b.size, sum)
        assert (total, count) == (arr.astype(np.int64).sum(), arr.size)


def test_a_streamed_tiff_over_the_pixel_limit_is_refused(tmp_path, monkeypatch):
    # the stream's plan is built from the header: the bomb check must still run there
    import tifffile

    import imgstats.io

    path = tmp_path / "big.tif"
    tifffile.imwrite(path, np.zeros((256, 256), np.uint16), tile=(64, 64))
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 1000)
    assert imgstats.io.open_plan(str(path)).kind == "stream"
    with pytest.raises(imgstats.ImageTooLarge):
        imgstats.compute(str(path), "max", pixel_limit=256 * 255)


@pytest.mark.parametrize("funcs", [["mean", "median"], ["min", "p1", "p99"]])
@pytest.mark.parametrize("view", ["transposed", "flipped", "big-endian", "int32 transposed"])
def test_an_array_copied_to_be_counted_is_copied_a_slice_at_a_time(funcs, view, monkeypatch):
    """A transpose, a strided view or a big-endian array is copied to be counted: slice by
    slice of COPY_BYTES, the summaries merged as they come, never the whole image (the
    issue-20 bound: no copy of the image in memory, whatever its size)."""
    import tracemalloc

    from imgstats.io import _plan

    monkeypatch.setattr(_plan, "COPY_BYTES", 1 << 20)
    a = np.random.default_rng(15).normal(size=(3000, 3000)).astype(np.float32)  # 36 MB
    a[::7, ::5] = np.nan
    v = {
        "transposed": a.T,
        "flipped": a[:, ::-1],
        "big-endian": a.astype(">f4"),
        "int32 transposed": np.nan_to_num(a * 1000).astype(np.int32).T,
    }[view]
    imgstats.compute(v, funcs)  # numba and the pool ready: only the question is traced
    tracemalloc.start()
    try:
        got = imgstats.compute(v, funcs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the same answers as the array's contiguous copy, and numpy's percentiles
    assert got == imgstats.compute(np.ascontiguousarray(v).astype(v.dtype.newbyteorder("=")), funcs)
    valid = v[~np.isnan(v)] if v.dtype.kind == "f" else v.ravel()
    for f in funcs:
        if f in ("median", "p1", "p99"):
            assert got[f] == np.percentile(valid, 50 if f == "median" else float(f[1:])), f
    assert peak < v.nbytes / 2, (peak, v.nbytes)
