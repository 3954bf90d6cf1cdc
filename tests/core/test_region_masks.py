"""Regions of files whose dataset mask is tiled unlike the image (issue 18, round 3).

The mask is read block by block (:class:`imgstats.io._mask.MaskArray`), beside the pixels,
in the tasks that pick a region's samples: numpy is the oracle on ``values[inside & valid]``
for polygons (hypothesis over the vertices), masks and windows, over internal masks and
``.msk`` sidecars in tiles and strips of other sizes than the image's, and uneven chunkings.
The files are written with tifffile (GDAL writes an internal mask tiled as its image; the
other layouts are valid TIFF that GDAL reads too).
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import tifffile
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

import imgstats
import imgstats.io
from benchmarks.masked_tiff import MSK_TAGS
from imgstats.errors import ImgStatsError, InvalidOption, NoValidSamples
from imgstats.io._mask import MaskArray, open_mask
from imgstats.io._tiff import TiffStream
from imgstats.regions import polygon_rings

from .oracle import check_all, valid_samples
from .test_exact import CORE, uneven_chunks
from .test_regions import _brute_force

FUNCS = ["min", "max", "mean", "median", "p1", "p99"]
H, W = 45, 58
RNG = np.random.default_rng(18)

#: (image layout, mask layout): a layout is ("tile", rows, cols) or ("strip", rows).
LAYOUTS = {
    "tiles-vs-tiles": (("tile", 16, 32), ("tile", 32, 16)),
    "tiles-vs-strips": (("tile", 16, 16), ("strip", 7)),
    "strips-vs-tiles": (("strip", 5), ("tile", 16, 48)),
    "strips-vs-strips": (("strip", 11), ("strip", 4)),
}
KINDS = ["internal", "sidecar", "nodata"]


def _layout(spec) -> dict:
    if spec[0] == "tile":
        return {"tile": spec[1:]}
    return {"rowsperstrip": spec[1]}


def _values(dtype, bands=1):
    shape = (H, W) if bands == 1 else (H, W, bands)
    if np.dtype(dtype).kind == "f":
        arr = RNG.normal(100, 30, shape).astype(dtype)
        arr[RNG.random(shape) < 0.03] = np.nan
        return arr
    return RNG.integers(0, 200, shape).astype(dtype)


def _mask():
    mask = RNG.random((H, W)) > 0.25
    mask[10:20, 5:40] = False  # a masked rectangle across tiles
    return mask


def write_masked(path, values, mask, kind, layouts):
    """A TIFF of ``values`` whose validity is ``kind``: an internal mask page, a ``.msk``
    sidecar (each in its own layout) or a nodata value (7); returns the valid ``(y, x)``."""
    image, masked = layouts
    extratags = [(42113, "s", 0, "7", True)] if kind == "nodata" else []
    photometric = "rgb" if values.ndim == 3 and values.shape[2] == 3 else "minisblack"
    with tifffile.TiffWriter(path) as tw:
        tw.write(
            values,
            photometric=photometric,
            compression="zlib",
            extratags=extratags,
            **_layout(image),
        )
        if kind == "internal":
            tw.write(mask, subfiletype=4, compression="zlib", **_layout(masked))
    if kind == "sidecar":
        tifffile.imwrite(
            f"{path}.msk", mask, compression="zlib", extratags=MSK_TAGS, **_layout(masked)
        )
    return mask if kind != "nodata" else np.ones(mask.shape, bool)


def _file(tmp_path, kind, layout, dtype="uint16", bands=1):
    """``(path, values, valid pixels by the mask, nodata or None)``."""
    values = _values(dtype, bands)
    mask = _mask()
    if kind == "nodata":
        values[~mask] = 7
    path = tmp_path / "img.tif"
    pixels = write_masked(path, values, mask, kind, LAYOUTS[layout])
    return str(path), values, pixels, 7 if kind == "nodata" else None


def _oracle(values, selected, pixels, nodata):
    """``(the samples of the selected pixels that validity keeps, masked_pixels)``."""
    v = values[selected & pixels].reshape(-1)
    if nodata is not None:
        v = v[v != nodata]
    # masked_pixels: every sample seen but not valid (NaN, nodata, masked)
    return v, values[selected].size - valid_samples(v).size


def _ok(result_fn, values):
    if valid_samples(values).size == 0:
        with pytest.raises(NoValidSamples):
            result_fn()
        return None
    return result_fn()


# -- the mask, block by block ------------------------------------------------------------------
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("kind", ["internal", "sidecar"])
@CORE
@given(data=st.data())
def test_any_block_of_a_lazy_mask_is_that_block_of_the_mask(tmp_path_factory, kind, layout, data):
    tmp = tmp_path_factory.mktemp("m")
    path, _, mask, _ = _file(tmp, kind, layout)
    facts = TiffStream.open(path).facts
    lazy = open_mask(path, facts)
    assert isinstance(lazy, MaskArray) and lazy.shape == (H, W)
    y0 = data.draw(st.integers(0, H - 1))
    y1 = data.draw(st.integers(y0, H))
    x0 = data.draw(st.integers(0, W - 1))
    x1 = data.draw(st.integers(x0, W))
    np.testing.assert_array_equal(lazy[y0:y1, x0:x1], mask[y0:y1, x0:x1])
    # a crop reads nothing, and then reads as the same block, again (from the cache)
    crop = lazy.crop(y0, y1, x0, x1)
    np.testing.assert_array_equal(np.asarray(crop), mask[y0:y1, x0:x1])
    np.testing.assert_array_equal(crop[1:, 2:], mask[y0:y1, x0:x1][1:, 2:])
    np.testing.assert_array_equal(lazy[y0:y1, x0:x1], mask[y0:y1, x0:x1])
    # to a dask worker: the address and the window, never the cache or the parsed header
    again = pickle.loads(pickle.dumps(crop))
    np.testing.assert_array_equal(np.asarray(again), mask[y0:y1, x0:x1])


def test_a_mask_of_another_size_is_refused_before_any_pixel(tmp_path):
    path = tmp_path / "bad.tif"
    tifffile.imwrite(path, np.zeros((H, W), np.uint8), tile=(16, 16))
    tifffile.imwrite(f"{path}.msk", np.ones((H - 1, W), bool), rowsperstrip=8, extratags=MSK_TAGS)
    with pytest.raises(ImgStatsError, match="mask"):
        imgstats.compute(str(path), "max", polygon=[[0, 0], [W, 0], [0, H]])


# -- regions of masked files equal numpy -------------------------------------------------------
COORD_X = st.integers(-5, W + 5).map(float) | st.floats(-5, W + 5, allow_nan=False)
COORD_Y = st.integers(-5, H + 5).map(float) | st.floats(-5, H + 5, allow_nan=False)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32"])
@CORE
@given(
    data=st.data(),
    vertices=st.lists(st.tuples(COORD_X, COORD_Y), min_size=3, max_size=7),
)
def test_a_polygon_of_a_masked_file_equals_numpy(
    tmp_path_factory, kind, layout, dtype, data, vertices
):
    try:
        rings = polygon_rings(vertices)
    except InvalidOption:
        return
    inside = _brute_force(rings, H, W)
    path, values, pixels, nodata = _file(tmp_path_factory.mktemp("p"), kind, layout, dtype)
    chunks = data.draw(st.none() | uneven_chunks((H, W)), label="chunks")
    if not inside.any():
        with pytest.raises(NoValidSamples):
            imgstats.compute(path, FUNCS, polygon=vertices, chunks=chunks)
        return
    want, removed = _oracle(values, inside, pixels, nodata)
    got = _ok(
        lambda: imgstats.compute(
            path, [*FUNCS, "count", "masked_pixels"], polygon=vertices, chunks=chunks
        ),
        want,
    )
    if got is not None:
        check_all(got, want, FUNCS)
        assert got["count"] == valid_samples(want).size
        assert got["masked_pixels"] == removed


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bands", [1, 3])
@pytest.mark.parametrize("chunks", [None, {0: 13, 1: 21}, {0: 7, 1: 58}])
def test_mask_and_window_regions_of_a_masked_file_equal_numpy(
    tmp_path, kind, layout, bands, chunks
):
    dtype = "uint8" if bands == 3 else "float32"
    path, values, valid, nodata = _file(tmp_path, kind, layout, dtype, bands)
    pixels = RNG.random((H, W)) < 0.6
    got = imgstats.compute(path, [*FUNCS, "masked_pixels"], mask=pixels, chunks=chunks)
    want, removed = _oracle(values, pixels, valid, nodata)
    check_all(got, want, FUNCS)
    assert got["masked_pixels"] == removed
    win = np.zeros((H, W), bool)
    win[3:40, 9:51] = True
    got = imgstats.compute(path, FUNCS, window=(9, 3, 51, 40), chunks=chunks)
    check_all(got, _oracle(values, win, valid, nodata)[0], FUNCS)
    # a window and a polygon and a mask together
    ring = [[2, 1], [55, 8], [20, 44]]
    inside = _brute_force(polygon_rings(ring), H, W)
    got = imgstats.compute(path, FUNCS, window=(9, 3, 51, 40), mask=pixels, polygon=ring)
    check_all(got, _oracle(values, win & pixels & inside, valid, nodata)[0], FUNCS)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("kind", ["internal", "sidecar"])
def test_the_stream_reads_a_mask_tiled_otherwise_tile_by_tile(tmp_path, kind, layout, monkeypatch):
    """The whole image through the tile stream: each tile's mask cut from the lazy mask."""
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)
    path, values, valid, _ = _file(tmp_path, kind, layout, "int16")
    plan = imgstats.io._plan.open_plan(path)
    assert plan.kind == "stream"
    check_all(imgstats.compute(path, FUNCS), values[valid], FUNCS)
    # the plan's dataset mask is lazy, and is the mask
    assert not isinstance(plan.dataset_mask(), np.ndarray)
    np.testing.assert_array_equal(np.asarray(plan.dataset_mask()), valid)


# -- dim= with polygon= ------------------------------------------------------------------------
def _nan_oracle(arr, inside):
    """numpy's nan-reductions over (y, x) of ``arr`` (time, y, x) where ``inside``."""
    cut = np.where(inside[None], arr, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN cell: NaN, as ours
        return {
            "min": np.nanmin(cut, axis=(1, 2)),
            "max": np.nanmax(cut, axis=(1, 2)),
            "median": np.nanmedian(cut, axis=(1, 2)),
            "p99": np.nanpercentile(cut, 99, axis=(1, 2)),
        }


@CORE
@given(
    data=st.data(),
    vertices=st.lists(st.tuples(COORD_X, COORD_Y), min_size=3, max_size=7),
)
def test_dim_with_a_polygon_equals_numpy_cell_by_cell(data, vertices):
    try:
        rings = polygon_rings(vertices)
    except InvalidOption:
        return
    inside = _brute_force(rings, H, W)
    if not inside.any():
        return
    arr = RNG.normal(size=(3, H, W)).astype(np.float32)
    arr[1, ::4] = np.nan
    chunks = data.draw(uneven_chunks(arr.shape), label="chunks")
    names = ["min", "max", "median", "p99"]
    want = _nan_oracle(arr, inside)  # in float32, as numpy on the array
    for xarr in (
        xr.DataArray(arr, dims=("time", "y", "x")),
        xr.DataArray(arr, dims=("time", "y", "x")).chunk(
            dict(zip(("time", "y", "x"), chunks, strict=True))
        ),
    ):
        got = imgstats.compute(xarr, names, dim=("y", "x"), polygon=vertices)
        assert hasattr(got.data, "dask") == hasattr(xarr.data, "dask")
        for j, name in enumerate(names):
            np.testing.assert_array_equal(np.asarray(got)[:, j], want[name], err_msg=name)
    # per pixel along time: NaN outside the polygon
    lazy = xr.DataArray(arr, dims=("time", "y", "x")).chunk(
        dict(zip(("time", "y", "x"), chunks, strict=True))
    )
    got = imgstats.compute(lazy, "max", dim="time", polygon=vertices).values
    want = np.where(inside, np.nanmax(arr, axis=0), np.nan)
    np.testing.assert_array_equal(got, want)
