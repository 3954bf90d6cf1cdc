"""Pillow's decoded memory counted in place (issue 9, the JPEG target): a one-block decode, a
numpy view of it through the Arrow C Data Interface, and the kernels on that view.

Pillow is the oracle: ``img.histogram()`` and ``img.convert("L").histogram()`` of the same
image, and numpy on ``numpy.asarray(img)`` for the statistics.
"""

from __future__ import annotations

import gc
import mmap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import imgstats
import imgstats._passes
from imgstats import _kernels
from imgstats._passes import _count_in_place
from imgstats.io import _pillow_memory as memory
from imgstats.io import open_plan
from imgstats.io._pillow_memory import load_single_block, pixel_view

from .oracle import check_all, colour_bands

CORE = settings.get_profile("imgstats-core")
FUNCS = ["min", "max", "mean", "p1", "median", "p99"]
NEEDS_ARROW = pytest.mark.skipif(
    not (hasattr(Image.core, "new_block") and hasattr(Image.Image, "__arrow_c_array__")),
    reason="this Pillow has no one-block images or Arrow export",
)
pytestmark = NEEDS_ARROW
#: Pillow's image memory comes in blocks of this many bytes (16 MB unless configured).
BLOCK = Image.core.get_block_size() if hasattr(Image.core, "get_block_size") else 1 << 24


def _u8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _photo(shape, seed=0):
    """Smooth values with noise, so that a JPEG of it is not all one colour."""
    h, w = shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    base = (x * 200 // max(w, 1) + y * 50 // max(h, 1))[..., None]
    noise = np.random.default_rng(seed).integers(0, 40, shape if len(shape) == 3 else (h, w, 1))
    arr = np.clip(base + noise, 0, 255).astype(np.uint8)
    return arr if len(shape) == 3 else arr[..., 0]


CASES = {
    "rgb.jpg": (lambda: _photo((61, 47, 3)), {"quality": 90}),
    "grey.jpg": (lambda: _photo((33, 70)), {"quality": 90}),
    "rgb.png": (lambda: _u8((37, 53, 3), 1), {}),
    "rgba.png": (lambda: _u8((29, 31, 4), 2), {}),
    "grey.png": (lambda: _u8((41, 23), 3), {}),
    "row.png": (lambda: _u8((1, 999, 3), 4), {}),  # 1 x N
    "column.png": (lambda: _u8((777, 1, 4), 5), {}),  # N x 1
    "one.jpg": (lambda: _u8((1, 1, 3), 6), {}),
    "odd.png": (lambda: _u8((3, 5), 7), {}),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zero_copy")
    for name, (make, kw) in CASES.items():
        Image.fromarray(make()).save(folder / name, **kw)
    return folder


@pytest.fixture(scope="module")
def big_png(tmp_path_factory):
    """An RGB PNG whose RGBX memory spans several of Pillow's default blocks."""
    side = int((3 * BLOCK / 4) ** 0.5) + 8  # about 3 blocks of RGBX
    path = tmp_path_factory.mktemp("zero_copy_big") / "big.png"
    Image.fromarray(_photo((side, side + 3, 3), 8)).save(path, compress_level=1)
    return path


def _loaded(path, one_block=True):
    img = Image.open(path)
    if one_block:
        load_single_block(img)
    else:
        img.load()
    return img


def _pillow_counts(img):
    counts = np.asarray(img.histogram(), np.int64).reshape(-1, 256)
    luma = np.asarray(img.convert("L").histogram(), np.int64)
    return counts, luma


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_view_is_the_image_numpy_sees(files, name):
    img = _loaded(files / name)
    view = pixel_view(img)
    want = np.asarray(img)
    assert view is not None and not view.flags.writeable
    bands = 1 if want.ndim == 2 else want.shape[2]
    step = 1 if bands == 1 else 4
    assert view.shape == (img.height, img.width * step)
    pixels = view.reshape(img.height, img.width, step)[..., :bands]
    np.testing.assert_array_equal(pixels.reshape(want.shape), want)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("luma", [False, True])
def test_counts_in_place_equal_pillows_histogram(files, name, luma):
    img = _loaded(files / name)
    got = _count_in_place(img, luma)
    assert got is not None
    counts, lhist = _pillow_counts(img)
    np.testing.assert_array_equal(got[0], counts)
    if luma:
        np.testing.assert_array_equal(got[1], lhist)
    else:
        assert got[1] is None


@pytest.mark.slow
def test_a_large_image_is_decoded_into_one_block_and_counted_on_every_core(big_png, monkeypatch):
    img = _loaded(big_png, one_block=False)
    assert img.width * img.height * 4 > 2 * BLOCK
    assert pixel_view(img) is None  # Pillow's default memory: several blocks, export refused
    one = _loaded(big_png)
    counts, lhist = _pillow_counts(one)
    np.testing.assert_array_equal(counts, _pillow_counts(img)[0])
    monkeypatch.setattr("imgstats.io._plan.workers", lambda: 3)  # three row slices
    got = _count_in_place(one, luma=True)
    assert got is not None
    np.testing.assert_array_equal(got[0], counts)
    np.testing.assert_array_equal(got[1], lhist)


def test_the_view_keeps_pillows_memory_alive(files):
    img = _loaded(files / "rgb.png")
    want = np.asarray(img).copy()
    view = pixel_view(img)
    del img
    gc.collect()
    Image.fromarray(_u8(want.shape, 99)).tobytes()  # allocate over freed memory, if it were
    np.testing.assert_array_equal(view.reshape(*want.shape[:2], 4)[..., :3], want)


def test_other_modes_and_several_blocks_give_no_view(big_png):
    assert pixel_view(Image.new("LA", (4, 3))) is None
    assert pixel_view(Image.new("I;16", (4, 3))) is None
    assert pixel_view(Image.new("P", (4, 3))) is None
    assert pixel_view(_loaded(big_png, one_block=False)) is None


class _Mislabelled:
    """An image that says RGB and exports an L image's memory: the schema does not fit."""

    mode = "RGB"
    size = (4, 3)

    def __arrow_c_array__(self):
        return Image.new("L", self.size).__arrow_c_array__()


class _Refusing:
    mode = "RGBA"
    size = (4, 3)

    def __arrow_c_array__(self):
        raise ValueError("Image rows are not contiguous in memory")


def test_an_unexpected_export_gives_no_view():
    assert pixel_view(_Mislabelled()) is None
    assert pixel_view(_Refusing()) is None


@pytest.mark.skipif(not hasattr(mmap, "MADV_HUGEPAGE"), reason="no transparent huge pages")
def test_a_large_block_is_advised_for_huge_pages_before_the_decode(tmp_path, monkeypatch):
    path = tmp_path / "photo.jpg"
    Image.fromarray(_photo((1100, 1200, 3), 9)).save(path, quality=90)  # 5 MB of RGBX
    calls = []
    monkeypatch.setattr(memory, "_madvise", lambda: lambda *args: calls.append(args))
    img = Image.open(path)
    load_single_block(img)
    view = pixel_view(img)
    np.testing.assert_array_equal(
        view.reshape(1100, 1200, 4)[..., :3], np.asarray(Image.open(path))
    )
    [(start, length, advice)] = calls
    huge = 2 << 20
    assert advice == mmap.MADV_HUGEPAGE and start % huge == 0 and length % huge == 0
    first = view.__array_interface__["data"][0]
    assert first <= start and start + length <= first + view.nbytes and length >= huge


def test_a_small_block_is_not_advised(files, monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "_madvise", lambda: lambda *args: calls.append(args))
    load_single_block(Image.open(files / "rgb.png"))
    assert calls == []


def test_load_single_block_leaves_a_loaded_image_alone(files):
    img = Image.open(files / "rgb.png")
    img.load()
    want = np.asarray(img).copy()
    load_single_block(img)  # nothing left to decode: keeps the pixels
    np.testing.assert_array_equal(np.asarray(img), want)


# -- through compute -------------------------------------------------------------------------
@pytest.fixture
def spy(monkeypatch):
    """Which counting path ``_pillow_summary`` took: ``calls`` lists "kernels"/"pillow"."""
    calls = []
    in_place, with_pillow = imgstats._passes._count_in_place, imgstats._passes._count_with_pillow

    def spy_in_place(img, luma):
        got = in_place(img, luma)
        calls.append("kernels" if got is not None else "no view")
        return got

    def spy_pillow(plan, img, luma):
        calls.append("pillow")
        return with_pillow(plan, img, luma)

    monkeypatch.setattr(imgstats._passes, "_count_in_place", spy_in_place)
    monkeypatch.setattr(imgstats._passes, "_count_with_pillow", spy_pillow)
    return calls


@pytest.mark.parametrize("name", sorted(CASES))
def test_compute_counts_in_place_and_equals_numpy(files, name, spy):
    path = files / name
    want = np.asarray(Image.open(path))
    # raw=True: every sample, counted in Pillow's memory (with alpha, the transparent pixels
    # are left out by default, on a numpy copy: issue 16)
    with Image.open(path) as img:
        pooled = colour_bands(want, img.getbands())  # alpha is never pooled
    check_all(imgstats.compute(path, FUNCS, raw=True), pooled, FUNCS)
    assert spy == ["kernels"]
    if want.ndim == 3:
        luma = np.asarray(Image.open(path).convert("L"))
        check_all(imgstats.compute(path, FUNCS, band="luma", raw=True), luma, FUNCS)
        for b in range(want.shape[2]):
            check_all(imgstats.compute(path, FUNCS, band=b, raw=True), want[..., b], FUNCS)


def test_a_summary_in_place_equals_pillows(files, spy, monkeypatch):
    path = files / "rgba.png"
    ours = imgstats.summarize(path, raw=True)
    monkeypatch.setattr("imgstats.io._pillow_memory.pixel_view", lambda img: None)
    pillows = imgstats.summarize(path, raw=True)
    assert spy == ["kernels", "no view", "pillow"]
    for a, b in zip(ours.bands + (ours.luma,), pillows.bands + (pillows.luma,), strict=True):
        np.testing.assert_array_equal(a.hist, b.hist)
        assert (a.count, a.kmin, a.kmax, a.total) == (b.count, b.kmin, b.kmax, b.total)


def test_without_the_kernels_loaded_pillow_counts(files, spy, monkeypatch):
    from imgstats import _jit

    monkeypatch.setattr(_jit, "_loaded", False)  # a cold process: numba not loaded
    path = files / "rgb.jpg"
    want = np.asarray(Image.open(path))
    check_all(imgstats.compute(path, FUNCS), want, FUNCS)
    assert spy == ["pillow"]


@pytest.mark.slow
def test_several_blocks_fall_back_to_pillows_histogram(big_png, spy, monkeypatch):
    monkeypatch.delattr(Image.core, "new_block")  # an older Pillow: Pillow's blocks
    plan = open_plan(big_png)
    assert pixel_view(plan.pixels) is None
    want = np.asarray(plan.pixels)
    check_all(imgstats.compute(plan, FUNCS), want, FUNCS)
    assert spy == ["no view", "pillow"]


# -- the kernel ------------------------------------------------------------------------------
@settings(CORE)
@given(
    n=st.integers(0, 300),
    nb=st.sampled_from([3, 4]),
    luma=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_hist8_px4_equals_bincount(n, nb, luma, seed):
    px = np.random.default_rng(seed).integers(0, 256, (n, 4), dtype=np.uint8)
    out = np.zeros((nb, 256), np.int64)
    lhist = np.zeros(256, np.int64)
    _kernels.hist8_px4(px.reshape(-1), nb, out, lhist, luma)
    for c in range(nb):
        np.testing.assert_array_equal(out[c], np.bincount(px[:, c], minlength=256))
    y = np.asarray(Image.fromarray(px[None, :, :3].copy()).convert("L")).ravel() if n else []
    np.testing.assert_array_equal(lhist, np.bincount(y, minlength=256) if luma else 0)
