"""A window of a local TIFF is streamed: only the tiles or strips it touches are decoded.

``imgstats.compute(path, funcs, window=...)`` on a local TIFF (a window alone, counted in this
process) reads the window through :class:`imgstats.io._tiff.TiffStream`, cut to the window:
it decodes the segments under the window on every core, crops each to the window, and the
read plan's ``transform`` (the page's meaning) turns stored samples into values. numpy on
``values[y0:y1, x0:x1]`` is the oracle, where ``values`` is the image as its tags describe it
(built here by hand: MINISWHITE inverted, palette indices as their colours).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imgstats
import imgstats.io._tiff
from imgstats.io._plan import window_plan

from .oracle import check_all, valid_samples

FUNCS = ["min", "max", "mean", "median", "p1", "p99"]


def _palette():
    """A 256-entry TIFF colormap (16-bit values, 257 * an 8-bit colour) and its 8-bit colours."""
    rng = np.random.default_rng(11)
    colours = rng.integers(0, 256, (256, 3), dtype=np.uint16)
    return (colours.T * 257).astype(np.uint16), colours.astype(np.uint8)


def _case(name):
    """``(stored array, tifffile.imwrite keywords, values as the tags describe them)``."""
    rng = np.random.default_rng(len(name))
    if name.startswith("u8-rgb"):
        arr = rng.integers(0, 256, (45, 70, 3), dtype=np.uint8)
        layout = {"tile": (16, 16)} if "tiled" in name else {"rowsperstrip": 7}
        return arr, {"photometric": "rgb", "compression": "zlib", **layout}, arr
    if name.startswith("u16"):
        arr = rng.integers(0, 65536, (50, 37), dtype=np.uint16)
        layout = {"tile": (16, 32)} if "tiled" in name else {"rowsperstrip": 6}
        return arr, {"photometric": "minisblack", **layout}, arr
    if name.startswith("f32"):
        arr = rng.normal(10, 3, (47, 53)).astype(np.float32)
        arr[::5, ::7] = np.nan
        arr[3, 4] = -np.inf
        layout = {"tile": (16, 16)} if "tiled" in name else {"rowsperstrip": 5}
        kw = {"photometric": "minisblack", "compression": "zlib", "predictor": True, **layout}
        return arr, kw, arr
    if name.startswith("miniswhite"):
        arr = rng.integers(0, 256, (40, 33), dtype=np.uint8)
        layout = {"tile": (16, 16)} if "tiled" in name else {"rowsperstrip": 9}
        return arr, {"photometric": "miniswhite", **layout}, 255 - arr
    if name.startswith("bilevel"):  # 1-bit MINISWHITE: a set bit is black, 0
        arr = rng.integers(0, 2, (37, 45)).astype(bool)
        layout = {"tile": (16, 16)} if "tiled" in name else {"rowsperstrip": 5}
        values = np.where(arr, 0, 255).astype(np.uint8)
        return arr, {"photometric": "miniswhite", **layout}, values
    if name.startswith("palette"):
        cmap, colours = _palette()
        arr = rng.integers(0, 256, (41, 38), dtype=np.uint8)
        layout = {"tile": (16, 16)} if "tiled" in name else {"rowsperstrip": 4}
        return arr, {"photometric": "palette", "colormap": cmap, **layout}, colours[arr]
    raise KeyError(name)


CASES = [
    f"{kind}-{layout}"
    for kind in ("u8-rgb", "u16", "f32", "miniswhite", "bilevel", "palette")
    for layout in ("tiled", "striped")
]


def _write(tmp_path, name):
    arr, kw, values = _case(name)
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, arr, **kw)
    np.testing.assert_array_equal(tifffile.imread(path), arr)  # stored as written
    return path, values


@pytest.fixture
def streamed(monkeypatch):
    """The windows of every TiffStream.map_reduce call (``None`` for a whole page)."""
    calls = []
    original = imgstats.io._tiff.TiffStream.map_reduce

    def spy(self, *args, **kwargs):
        calls.append(self.window)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(imgstats.io._tiff.TiffStream, "map_reduce", spy)
    return calls


@pytest.fixture
def decoded(monkeypatch):
    """The index of every segment tifffile decodes, in the order decoded."""
    seen = []
    original = tifffile.TiffPage.decode  # a cached_property: the decoder closure of a page

    def counting_decoder(page):
        decode = original.func(page)

        def counted(data, index, *args, **kwargs):
            seen.append(index)
            return decode(data, index, *args, **kwargs)

        return counted

    monkeypatch.setattr(tifffile.TiffPage, "decode", property(counting_decoder))
    return seen


def _check_window(path, values, window, bands=True):
    x0, y0, x1, y1 = window
    h, w = values.shape[:2]
    cut = values[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
    if valid_samples(cut).size == 0:  # e.g. one NaN pixel
        with pytest.raises(imgstats.NoValidSamples):
            imgstats.compute(path, FUNCS, window=window)
        return
    check_all(imgstats.compute(path, FUNCS, window=window), cut, FUNCS)
    if bands and cut.ndim == 3:
        out = imgstats.compute(path, FUNCS, list(range(cut.shape[2])), window=window)
        for i, got in out.items():
            check_all(got, cut[..., i], FUNCS)


def _windows(h, w):
    return [
        (0, 0, w, h),  # the whole image, as a window
        (0, 0, 1, 1),  # 1 pixel, corner
        (w - 1, h - 1, w, h),  # 1 pixel, the other corner: in the last partial tile or strip
        (w // 2, h // 3, w // 2 + 1, h // 3 + 1),  # 1 pixel inside
        (3, 5, w - 2, h - 4),  # crosses tiles and strips, not aligned
        (16, 16, 32, 32),  # exactly one tile of 16 x 16
        (w - 9, h - 7, w + 30, h + 30),  # over the edge: clipped, partial last tiles
        (-5, -5, 4, h + 100),  # a full-height column, clipped on three sides
        (0, h - 1, w, h),  # the last row
    ]


@pytest.mark.parametrize("name", CASES)
def test_windows_equal_numpy_on_the_slice(tmp_path, streamed, name):
    path, values = _write(tmp_path, name)
    h, w = values.shape[:2]
    for window in _windows(h, w):
        streamed.clear()
        _check_window(path, values, window, bands=window == (3, 5, w - 2, h - 4))
        clipped = (max(window[0], 0), max(window[1], 0), min(window[2], w), min(window[3], h))
        assert streamed and set(streamed) == {clipped}, "the window was not streamed"


@pytest.mark.parametrize("name", ["u8-rgb-tiled", "palette-striped"])
def test_luma_of_a_streamed_window(tmp_path, streamed, name):
    from PIL import Image

    path, values = _write(tmp_path, name)
    cut = np.ascontiguousarray(values[4:30, 5:33])
    luma = np.asarray(Image.fromarray(cut).convert("L"))
    check_all(imgstats.compute(path, FUNCS, "luma", window=(5, 4, 33, 30)), luma, FUNCS)
    assert streamed == [(5, 4, 33, 30)]


@pytest.fixture(scope="module")
def hypo_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("windows")
    return {name: _write(root, name) for name in ("f32-tiled", "u16-striped", "palette-tiled")}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_windows_equal_numpy(hypo_files, data):
    name = data.draw(st.sampled_from(sorted(hypo_files)), label="file")
    path, values = hypo_files[name]
    h, w = values.shape[:2]
    x0 = data.draw(st.integers(-3, w - 1), label="x0")
    y0 = data.draw(st.integers(-3, h - 1), label="y0")
    x1 = data.draw(st.integers(max(x0, 0) + 1, w + 3), label="x1")
    y1 = data.draw(st.integers(max(y0, 0) + 1, h + 3), label="y1")
    _check_window(path, values, (x0, y0, x1, y1), bands=False)


@pytest.mark.parametrize(
    ("layout", "window", "touched"),
    [
        # 256 x 192 in 32 x 32 tiles: 6 tile columns; x 40..89, y 70..99 -> rows 2-3, cols 1-2
        ("tiles", (40, 70, 90, 100), {13, 14, 19, 20}),
        # the last partial tile row and column (y 224..249 of 250, x 160..191 of 190)
        ("tiles", (170, 240, 190, 250), {7 * 6 + 5}),
        # strips of 16 rows: y 70..99 -> strips 4, 5, 6
        ("strips", (40, 70, 90, 100), {4, 5, 6}),
        # the last, partial strip (rows 240..249 of 250)
        ("strips", (0, 245, 3, 250), {15}),
    ],
)
def test_a_window_decodes_only_the_segments_it_touches(
    tmp_path, streamed, decoded, layout, window, touched
):
    rng = np.random.default_rng(6)
    arr = rng.normal(size=(250, 190)).astype(np.float32)
    path = tmp_path / f"{layout}.tif"
    if layout == "tiles":
        tifffile.imwrite(path, arr, tile=(32, 32), compression="zlib")
    else:
        tifffile.imwrite(path, arr, rowsperstrip=16, compression="zlib")
    decoded.clear()
    x0, y0, x1, y1 = window
    check_all(imgstats.compute(path, FUNCS, window=window), arr[y0:y1, x0:x1], FUNCS)
    # a float32 percentile: the summarizing pass and one refinement, the same window each
    assert streamed == [window, window]
    assert sorted(decoded) == sorted(list(touched) * 2)


def test_the_whole_page_stream_still_decodes_each_segment_once(
    tmp_path, monkeypatch, streamed, decoded
):
    import imgstats.io

    arr = np.random.default_rng(2).integers(0, 65536, (70, 50), dtype=np.uint16)
    path = tmp_path / "whole.tif"
    tifffile.imwrite(path, arr, tile=(32, 32))  # 3 x 2 tiles, partial on both edges
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)  # streamed whole
    decoded.clear()
    check_all(imgstats.compute(path, FUNCS), arr, FUNCS)
    assert streamed == [None]
    assert sorted(decoded) == list(range(6))


def test_a_window_of_another_page(tmp_path, streamed):
    first = np.zeros((40, 30), np.uint16)
    second = np.random.default_rng(3).integers(0, 65536, (40, 30), dtype=np.uint16)
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(first, tile=(16, 16))
        tw.write(second, tile=(16, 16))
    got = imgstats.compute(path, FUNCS, window=(5, 6, 27, 33), page=1)
    check_all(got, second[6:33, 5:27], FUNCS)
    assert streamed == [(5, 6, 27, 33)]


@pytest.mark.parametrize("name", ["palette-striped", "miniswhite-tiled", "f32-tiled"])
def test_summarize_then_refine_read_the_same_window(tmp_path, streamed, name):
    path, values = _write(tmp_path, name)
    window = (2, 3, 25, 31)
    cut = values[3:31, 2:25]
    summary = imgstats.summarize(path, window=window)
    refined = imgstats.refine(summary, path, FUNCS, window=window)
    check_all(refined.compute(FUNCS), cut, FUNCS)
    assert streamed and set(streamed) == {window}


@pytest.mark.parametrize("name", ["palette-tiled", "miniswhite-striped", "u8-rgb-tiled"])
def test_the_meaning_is_applied_once(tmp_path, monkeypatch, name):
    import imgstats.io

    path, values = _write(tmp_path, name)
    plan = window_plan(path, (4, 2, 30, 35))
    assert plan.kind == "stream" and plan.transform is not None
    want = values[2:35, 4:30]
    assert plan.shape == want.shape and plan.dtype == want.dtype
    np.testing.assert_array_equal(np.asarray(plan.array()), want)
    total = plan.map_reduce(lambda b: np.int64(b.astype(np.int64).sum()), sum)
    assert total == want.astype(np.int64).sum()
    # the whole page's stream plan: the same one transform, applied once
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)
    whole = imgstats.io.open_plan(path)
    assert whole.kind == "stream"
    np.testing.assert_array_equal(np.asarray(whole.array()), values)
    total = whole.map_reduce(lambda b: np.int64(b.astype(np.int64).sum()), sum)
    assert total == values.astype(np.int64).sum()


def test_other_routes_are_kept(tmp_path, streamed):
    path, values = _write(tmp_path, "u16-tiled")
    window = (3, 4, 20, 30)
    cut = values[4:30, 3:20]
    mask = np.zeros(values.shape, bool)
    mask[10:20, 5:15] = True
    # a mask with the window, a dask scheduler, chunks=: the lazy route, not the stream
    check_all(imgstats.compute(path, FUNCS, window=window, mask=mask), values[10:20, 5:15], FUNCS)
    check_all(imgstats.compute(path, FUNCS, window=window, scheduler="sync"), cut, FUNCS)
    check_all(imgstats.compute(path, FUNCS, window=window, chunks=16), cut, FUNCS)
    assert streamed == []
    assert window_plan(np.zeros((5, 5)), window) is None
    assert window_plan(path, window, chunks="auto") is None


@pytest.mark.parametrize(
    ("window", "error"),
    [
        ((5, 5, 5, 9), imgstats.InvalidOption),  # empty
        ((9, 5, 2, 9), imgstats.InvalidOption),  # inverted
        ((100, 100, 120, 120), imgstats.InvalidOption),  # outside the image
        ("1,2,3", imgstats.InvalidOption),  # three numbers
    ],
)
def test_bad_windows_of_a_streamed_tiff_are_refused(tmp_path, streamed, window, error):
    path, _ = _write(tmp_path, "u16-tiled")
    with pytest.raises(error):
        imgstats.compute(path, "min", window=window)
    assert streamed == []


def test_a_streamed_window_over_the_pixel_limit_is_refused(tmp_path, streamed):
    path, _ = _write(tmp_path, "u16-tiled")
    with pytest.raises(imgstats.ImageTooLarge):
        imgstats.compute(path, "min", window=(0, 0, 2, 2), pixel_limit=100)
    assert streamed == []


def test_a_window_of_jpeg_tiles(tmp_path, streamed):
    # JPEG tiles are decoded with the page's JPEG tables and header, as tifffile decodes them
    # (greyscale: tifffile writes RGB as subsampled YCbCr, which is not streamed)
    arr = np.random.default_rng(8).integers(0, 256, (70, 90), dtype=np.uint8)
    path = tmp_path / "jpeg.tif"
    try:
        tifffile.imwrite(path, arr, tile=(32, 32), photometric="minisblack", compression="jpeg")
    except (ValueError, KeyError, NotImplementedError):  # imagecodecs without JPEG
        pytest.skip("no JPEG codec")
    values = tifffile.imread(path)  # lossy: the decoded samples are the values
    _check_window(path, values, (10, 20, 75, 66))
    assert streamed and set(streamed) == {(10, 20, 75, 66)}


def test_a_collection_of_windows_streams_only_when_counted_here(tmp_path, streamed):
    a_path, a = _write(tmp_path, "u16-tiled")
    b_path, b = _write(tmp_path, "u16-striped")
    window = (2, 3, 30, 33)
    both = np.concatenate([a[3:33, 2:30].ravel(), b[3:33, 2:30].ravel()])
    check_all(imgstats.compute([a_path, b_path], FUNCS, window=window), both, FUNCS)
    assert sorted(streamed) == [window, window]
    streamed.clear()
    got = imgstats.compute([a_path, b_path], FUNCS, window=window, scheduler="sync")
    check_all(got, both, FUNCS)
    assert streamed == []  # a dask scheduler: each window is read lazily, not streamed
