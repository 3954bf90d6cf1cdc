"""One pass answers the whole question (issue 9, item 3).

Whatever the functions and the band selections, a summarizing pass is followed by at most one
refinement pass over the pixels, which refines every needed bin of every selection at once.
Passes are counted at the single map-reduce every read goes through, and at the blocks each
pass reads; every answer is compared with numpy.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile

import imgstats
import imgstats.io._plan
import imgstats.io._tiff

from .oracle import check_all

FUNCS = ["p1", "median", "p99"]
ALL_FUNCS = ["min", "max", "mean", "p1", "median", "p99"]
SELECTIONS = [None, 0, 1, 2]


@pytest.fixture
def passes(monkeypatch):
    """Count the map-reduce passes over the pixels, and the blocks that each pass reads.

    The summary's passes are under test: no array takes the predicted-range select, which
    answers a large in-memory array's percentiles, mean and sum without a summary
    (tests/core/test_range_select.py, test_range_select_sums.py)."""
    import imgstats._range_select

    monkeypatch.setattr(imgstats._range_select, "MIN_SAMPLES", 1 << 62)
    calls: list[int] = []
    original = imgstats.io._plan.ReadPlan.map_reduce

    def counted(self, work, merge, **kwargs):
        calls.append(0)

        def counting(block):
            calls[-1] += 1  # the work runs once per block read; += on one int is GIL-atomic
            return work(block)

        return original(self, counting, merge, **kwargs)

    monkeypatch.setattr(imgstats.io._plan.ReadPlan, "map_reduce", counted)
    return calls


def _rgb(dtype, shape=(300, 200, 3), seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.normal(0, 1, shape).astype(dtype)
    arr[..., 1] += 5  # bands with different distributions: different bins per selection
    arr[::7, ::11, 2] = np.nan
    return arr


def _check_each(out, arr, funcs):
    assert list(out) == SELECTIONS
    for band, got in out.items():
        check_all(got, arr if band is None else arr[..., band], funcs)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "uint64"])
def test_numpy_rgb_all_bands_and_each_band_in_two_passes(passes, dtype):
    if np.dtype(dtype).kind == "f":
        arr = _rgb(dtype)
    else:
        info = np.iinfo(dtype)
        arr = (
            np.random.default_rng(1)
            .integers(max(info.min, -1 << 40), 1 << 40, (300, 200, 3))
            .astype(dtype)
        )
    _check_each(imgstats.compute(arr, ALL_FUNCS, band=SELECTIONS), arr, ALL_FUNCS)
    assert len(passes) == 2


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_large_array_counted_on_threads_takes_two_passes(passes, dtype, monkeypatch):
    from imgstats.io import _plan

    monkeypatch.setattr(_plan, "workers", lambda: 2)  # stripes on threads, even on one core
    arr = _rgb(dtype, shape=(1100, 400, 3), seed=2)  # over the threading threshold
    _check_each(imgstats.compute(arr, ALL_FUNCS, band=SELECTIONS), arr, ALL_FUNCS)
    assert len(passes) == 2
    assert passes[0] == passes[1] >= 2  # both passes read the same row slices on threads


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dask_rgb_in_two_passes_at_any_chunking(passes, dtype):
    arr = _rgb(dtype, seed=3)
    data = da.from_array(arr, chunks=(67, 41, 2))  # uneven, and split across the bands
    _check_each(imgstats.compute(data, FUNCS, band=SELECTIONS), arr, FUNCS)
    assert len(passes) == 2


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_streamed_tiff_read_twice(passes, monkeypatch, tmp_path, dtype):
    import imgstats.io

    arr = _rgb(dtype, shape=(90, 70, 3), seed=4)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, arr, tile=(32, 32), photometric="rgb")
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)  # every TIFF is "large": streamed
    reads = []
    original = imgstats.io._tiff.TiffStream.map_reduce

    def spy(self, *args, **kwargs):
        reads.append(self.path)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(imgstats.io._tiff.TiffStream, "map_reduce", spy)
    out = imgstats.compute(path, FUNCS, band=[None, "R", "G", "B"])
    for band, got in out.items():
        want = arr if band is None else arr[..., "RGB".index(band)]
        check_all(got, want, FUNCS)
    assert len(reads) == 2 and len(passes) == 2
    assert passes == [9, 9]  # 3 x 3 tiles, each decoded once per pass


def test_refine_takes_every_selection_in_one_pass(passes):
    arr = _rgb("float32", seed=5)
    summary = imgstats.summarize(arr)
    assert len(passes) == 1
    targets = summary.missing(FUNCS, SELECTIONS)
    assert {sel for sel, *_ in targets} == {"all", "b0", "b1", "b2"}
    refined = imgstats.refine(summary, arr, FUNCS, band=SELECTIONS)
    assert len(passes) == 2
    assert refined.missing(FUNCS, SELECTIONS) == []
    for band in SELECTIONS:
        check_all(refined.compute(FUNCS, band), arr if band is None else arr[..., band], FUNCS)
    # nothing left to do: no pass at all
    assert imgstats.refine(refined, arr, FUNCS, band=SELECTIONS) is refined
    assert len(passes) == 2


def test_a_single_band_image_refines_its_band_and_the_whole_once(passes):
    arr = np.random.default_rng(6).normal(0, 1, (200, 150)).astype(np.float32)
    out = imgstats.compute(arr, FUNCS, band=[None, 0, "0"])
    for got in out.values():
        check_all(got, arr, FUNCS)
    assert len(passes) == 2
    summary = imgstats.refine(imgstats.summarize(arr), arr, FUNCS, band=0)
    assert {sel for sel, _, _ in summary.refined} == {"all"}  # one band is the whole image


def test_8_and_16_bit_images_and_the_luma_need_one_pass(passes):
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (60, 50, 3), dtype=np.uint8)
    out = imgstats.compute(rgb, ALL_FUNCS, band=[None, 0, "luma"])
    check_all(out[None], rgb, ALL_FUNCS)
    check_all(out[0], rgb[..., 0], ALL_FUNCS)
    assert len(passes) == 1
    u16 = rng.integers(0, 60000, (60, 50, 3), dtype=np.uint16)
    check_all(imgstats.compute(u16, ALL_FUNCS, band=[1])[1], u16[..., 1], ALL_FUNCS)
    assert len(passes) == 2


def test_float64_bins_over_the_wide_limit_take_more_passes(passes, monkeypatch):
    # A bin too full to collect gets a histogram of its next 16 bits: float64 keys then
    # descend 16 bits per pass (48, 32, 16), each pass still for every selection at once.
    # Two far values in each band keep its smallest and largest key apart on every level
    # (levels they agree on take no pass: test_exact.test_levels_every_key_shares_take_no_pass).
    monkeypatch.setattr(imgstats.summary, "WIDE_COLLECT_LIMIT", 1000)
    rng = np.random.default_rng(8)
    bits = np.float64(1.0).view(np.uint64) + rng.integers(0, 1 << 16, (100, 60, 3)).astype(
        np.uint64
    )
    arr = bits.view(np.float64)
    arr[0, 0], arr[0, 1] = 0.5, 2.0
    _check_each(imgstats.compute(arr, FUNCS, band=SELECTIONS), arr, FUNCS)
    assert len(passes) == 4


# -- predicted bins refined in the summarizing pass (in-memory float32) -------------------------
def test_a_large_float32_array_is_answered_in_one_pass(passes):
    rng = np.random.default_rng(9)
    arr = rng.normal(100, 20, (700, 500)).astype(np.float32)  # over reduce._PREDICT_SAMPLES
    check_all(imgstats.compute(arr, ALL_FUNCS), arr, ALL_FUNCS)
    assert len(passes) == 1


def _tricky(kind, rng):
    if kind == "nan-inf":
        arr = rng.normal(0, 1, (80, 70)).astype(np.float32)
        arr[::3, ::5] = np.nan
        arr[1, :4] = [np.inf, -np.inf, np.inf, -0.0]
        return arr
    if kind == "ties":
        return rng.integers(-3, 4, (90, 60)).astype(np.float32)
    if kind == "one-bin":  # every key in one bin: the predicted bin holds all, over the cap
        base = np.float32(1.5).view(np.uint32) & np.uint32(0xFFFF0000)
        return (base + rng.integers(0, 1 << 16, (600, 500)).astype(np.uint32)).view(np.float32)
    if kind == "misleading":  # the strided sample sees only zeros
        arr = rng.uniform(1e5, 1e6, (64, 64)).astype(np.float32)
        arr.reshape(-1)[::8] = 0
        return arr
    if kind == "rgb":
        return _rgb("float32", shape=(50, 40, 3), seed=10)
    return rng.lognormal(0, 3, (70, 90)).astype(np.float32)  # "spread": wide windows


@pytest.mark.parametrize("dense", [0.0, 2.0], ids=["without-branch", "with-branch"])
@pytest.mark.parametrize("kind", ["nan-inf", "ties", "one-bin", "misleading", "rgb", "spread"])
def test_predictions_right_or_wrong_give_numpys_answer(passes, monkeypatch, kind, dense):
    import imgstats._blocks
    import imgstats.reduce

    # both ways of collecting a one-band image's candidate keys (see _kernels)
    monkeypatch.setattr(imgstats._blocks, "DENSE_SHARE", dense)
    monkeypatch.setattr(imgstats.reduce, "_PREDICT_SAMPLES", 1)  # predict on small arrays too
    monkeypatch.setattr(imgstats.reduce, "_SAMPLE", 512)
    arr = _tricky(kind, np.random.default_rng(11))
    funcs = [*ALL_FUNCS, "p0", "p0.1", "p37.5", "p99.9", "p100"]
    bands = SELECTIONS if arr.ndim == 3 else [None, 0]
    out = imgstats.compute(arr, funcs, band=bands)
    for band, got in out.items():
        check_all(got, arr if band is None or arr.ndim == 2 else arr[..., band], funcs)
    assert 1 <= len(passes) <= 2
    if kind == "one-bin":
        assert len(passes) == 2  # over the share of samples a prediction may hold


@pytest.mark.parametrize("kind", ["nan-inf", "ties", "one-bin", "spread"])
def test_both_ways_of_collecting_candidates_give_the_same_summary(monkeypatch, kind):
    import imgstats._blocks as blocks

    arr = _tricky(kind, np.random.default_rng(13)).reshape(-1, 1)
    finite = arr[np.isfinite(arr)]
    keys = np.sort(finite).view(np.uint32)
    keys = np.where(finite.view(np.int32)[np.argsort(finite)] < 0, ~keys, keys | 0x80000000)
    bins = tuple(sorted({int(keys[len(keys) // 2]) >> 16, int(keys[-1]) >> 16}))
    out = {}
    for dense in (0.0, 2.0):
        monkeypatch.setattr(blocks, "DENSE_SHARE", dense)
        out[dense] = blocks._scan_float32(arr, (("all", bins),))
    (bands_a, ref_a), (bands_b, ref_b) = out[0.0], out[2.0]
    assert bands_a == bands_b
    assert ref_a.keys() == ref_b.keys()
    for node in ref_a:
        assert np.array_equal(ref_a[node][1], ref_b[node][1])
    if kind != "one-bin":  # there the candidate bin holds more keys than may be collected
        assert ref_a and sum(int(h.sum()) for _, h in ref_a.values()) == int(
            sum(((keys >> 16) == j).sum() for j in bins)
        )


def test_merged_summaries_keep_only_refinements_both_sides_hold():
    rng = np.random.default_rng(12)
    arr = rng.normal(size=(300, 200)).astype(np.float32)
    top, bottom = arr[:150], arr[150:]
    a = imgstats.refine(imgstats.summarize(top), top, ["median"])
    b = imgstats.summarize(bottom)
    assert a.refined and not (a + b).refined  # b's keys in that bin were never looked at
    b = imgstats.refine(b, bottom, ["median"])
    both = a + b
    common = a.refined.keys() & b.refined.keys()
    assert set(both.refined) == common
    whole = imgstats.refine(both, arr, ["median", "p10"])
    check_all(whole.compute(["median", "p10"]), arr, ["median", "p10"])
