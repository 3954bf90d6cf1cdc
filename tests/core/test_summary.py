"""The Summary: mergeable, picklable, answers 8/16-bit statistics alone; band options."""

from __future__ import annotations

import pickle
from dataclasses import replace

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import imgstats
from imgstats import InvalidOption, Summary
from imgstats.summary import NeedsRefinement

from .oracle import ALL_DTYPES, check_all

CORE = settings.get_profile("imgstats-core")
FUNCS = ["min", "max", "mean", "median", "p1", "p99.9"]


def _array(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.normal(0, 100, shape).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16"])
@pytest.mark.parametrize("shape", [(50,), (13, 7), (9, 8, 3), (5, 6, 4)])
def test_small_types_need_no_second_look_at_the_pixels(dtype, shape):
    arr = _array(dtype, shape)
    summary = imgstats.summarize(arr)
    funcs = [*FUNCS, "p0", "p100", "p33.333"]
    assert summary.missing(funcs) == []
    check_all(summary.compute(funcs), arr, funcs)
    assert summary.nbytes <= 4 * (1 << 16) * 8 + 256 * 8  # a histogram per band, no pixels


@pytest.mark.parametrize("dtype", ["uint32", "int64", "float32", "float64"])
def test_wide_types_say_what_they_miss(dtype):
    arr = _array(dtype, (40, 30))
    summary = imgstats.summarize(arr)
    assert summary.missing(["min", "max", "mean"]) == []  # read from the summary
    check_all(summary.compute(["min", "max", "mean"]), arr, ["min", "max", "mean"])
    assert summary.missing("median")
    with pytest.raises(NeedsRefinement):
        summary.compute("median")
    check_all(imgstats.refine(summary, arr, FUNCS).compute(FUNCS), arr, FUNCS)


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_the_luma_of_a_wide_rgb_image_is_refused_for_its_type(dtype):
    # before: "needs an image with R, G and B bands; this one has ['R', 'G', 'B']"
    rgb = np.zeros((4, 5, 3), dtype)
    with pytest.raises(InvalidOption, match=rf"needs an 8-bit image .* \({dtype} samples\)"):
        imgstats.compute(rgb, "median", band="luma")
    with pytest.raises(InvalidOption, match=r"8-bit image with R, G and B bands; .*\['L'\]$"):
        imgstats.compute(Image.new("L", (3, 2)), "median", band="luma")


@pytest.mark.parametrize("dtype", ["uint32", "int64", "float32", "float64"])
def test_compute_of_a_summary_it_cannot_answer_says_so_as_a_domain_error(dtype):
    # before: imgstats.compute(summary, "median") raised NeedsRefinement, no ImgStatsError,
    # with "2 histogram bins need a refinement pass"
    arr = _array(dtype, (40, 30))
    summary = imgstats.summarize(arr)
    with pytest.raises(InvalidOption, match=r"cannot answer median, std without its pixels"):
        imgstats.compute(summary, ["max", "median", "std"])
    with pytest.raises(InvalidOption, match=r"cannot answer p10 without its pixels"):
        imgstats.compute(summary, "p10", band=[0], method="lower")
    assert imgstats.compute(summary, ["max"]) == {"max": arr.max()}


@pytest.mark.parametrize(
    "other",
    [lambda a: a[::-1] * 2, lambda a: a[:10], lambda a: a.astype(np.float64)],
    ids=["other values", "other shape", "other type"],
)
def test_refining_with_other_pixels_is_refused(other):
    # refine(summary, not_its_image) read past the bins' keys: an IndexError
    arr = _array("float32", (40, 30))
    summary = imgstats.summarize(arr)
    with pytest.raises(imgstats.InvalidOption, match="do not match the summary"):
        imgstats.refine(summary, other(arr), "median")


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@CORE
@given(data=st.data())
def test_summaries_of_two_halves_merge_into_the_summary_of_the_whole(dtype, data):
    rows = data.draw(st.integers(1, 20))
    shape = data.draw(st.sampled_from([(rows, 7), (rows, 5, 3)]))
    arr = _array(dtype, shape, seed=data.draw(st.integers(0, 2**32 - 1)))
    split = data.draw(st.integers(0, rows))
    whole = imgstats.summarize(arr)
    top, bottom = imgstats.summarize(arr[:split]), imgstats.summarize(arr[split:])
    merged = top + bottom
    assert merged.bands == whole.bands  # histograms, counts, extremes, exact sums
    assert merged.luma == whole.luma
    assert merged.band_names == whole.band_names
    assert replace(merged, shape=whole.shape) == whole
    # two separately summarized arrays do not say the whole's shape
    assert merged.shape == (() if top.shape != bottom.shape else top.shape)
    assert (whole + whole).shape == whole.shape
    assert bottom.merge(top).bands == whole.bands  # the merge commutes
    # and the merge of a dask array's chunk summaries is the same summary
    chunked = imgstats.summarize(da.from_array(arr, chunks=(max(1, rows // 3),) + shape[1:]))
    assert chunked == whole


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_summary_pickles(dtype):
    arr = _array(dtype, (20, 10, 3))
    summary = imgstats.summarize(arr)
    again = pickle.loads(pickle.dumps(summary))
    assert again == summary
    assert again.missing(FUNCS) == summary.missing(FUNCS)
    if not again.missing(FUNCS):
        assert again.compute(FUNCS) == summary.compute(FUNCS)


def test_different_summaries_compare_unequal():
    a = imgstats.summarize(np.array([1, 2, 3], np.uint8))
    assert a != imgstats.summarize(np.array([1, 2, 4], np.uint8))
    assert a != imgstats.summarize(np.array([1, 2, 3], np.uint16))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (np.zeros(4, np.uint8), np.zeros(4, np.uint16)),
        (np.zeros(4, np.float32), np.zeros(4, np.float64)),
        (np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8)),
    ],
)
def test_summaries_of_different_images_do_not_merge(first, second):
    with pytest.raises(InvalidOption):
        imgstats.summarize(first) + imgstats.summarize(second)


def test_compute_accepts_a_summary():
    arr = _array("uint16", (30, 20))
    summary = imgstats.summarize(arr)
    assert isinstance(summary, Summary)
    check_all(imgstats.compute(summary, FUNCS), arr, FUNCS)


def test_histogram_lists_the_values_of_small_types():
    arr = np.array([[5, 5, 7], [200, 5, 7]], np.uint8)
    values, counts = imgstats.summarize(arr).histogram()
    assert values.tolist() == [5, 7, 200] and counts.tolist() == [3, 2, 1]


# -- the band option ----------------------------------------------------------------------------
RGB = np.random.default_rng(3).integers(0, 256, (11, 13, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("band", "index"), [(0, 0), (1, 1), (2, 2), (-1, 2), (-3, 0), (np.int64(1), 1)]
)
def test_band_index_selects_that_band(band, index):
    funcs = ["min", "max", "mean", "median", "p90"]
    check_all(imgstats.compute(RGB, funcs, band=band), RGB[..., index], funcs)


@pytest.mark.parametrize(
    "band",
    [3, -4, 99, "R", "luma_", "L", "", 1.0, True, False, b"0", [3], [0, "R"], "all_bands"],
)
def test_invalid_band_raises_invalid_option(band):
    # A plain array's bands are called "0", "1", "2" (no R, G, B): "R" is not one of them.
    with pytest.raises(InvalidOption):
        imgstats.compute(RGB, "min", band=band)
    with pytest.raises(ValueError):  # InvalidOption is a ValueError
        imgstats.summarize(RGB).compute("min", band=band)


def test_a_list_of_bands_answers_each_of_them():
    funcs = ["min", "median", "p90"]
    out = imgstats.compute(RGB, funcs, band=[None, 0, "2", -1])
    assert list(out) == [None, 0, "2", -1]
    check_all(out[None], RGB, funcs)
    for band, index in ((0, 0), ("2", 2), (-1, 2)):
        check_all(out[band], RGB[..., index], funcs)


def test_band_names_of_a_plain_array_are_its_indices():
    assert imgstats.compute(RGB, "max", band="2") == RGB[..., 2].max()


@pytest.mark.parametrize(
    "arr",
    [
        np.zeros((4, 5), np.uint8),
        np.zeros((4, 5, 2), np.uint8),
        np.zeros((4, 5, 3), np.uint16),
        np.zeros((4, 5, 3), np.float32),
        np.zeros((4, 5, 3), np.int8),
    ],
)
def test_luma_needs_8_bit_rgb(arr):
    with pytest.raises(InvalidOption):
        imgstats.compute(arr, "median", band="luma")


@pytest.mark.parametrize(
    "data",
    [np.zeros((2, 2), np.complex64), np.array([["a", "b"]]), object(), {"a": 1}],
)
def test_unsupported_inputs_raise_invalid_option(data):
    with pytest.raises(InvalidOption):
        imgstats.compute(data, "min")


def test_summarize_of_a_summary_is_that_summary():
    # notebooks and plots pass a summary back in: it reads nothing more
    s = imgstats.summarize(np.arange(12, dtype=np.uint8).reshape(3, 4))
    assert imgstats.summarize(s) is s
    assert imgstats.compute(s, "median") == 5.5
    with pytest.raises(InvalidOption, match="window"):
        imgstats.summarize(s, window=(0, 0, 2, 2))


def test_a_summarys_own_compute_says_how_to_refine():
    """Summary.compute of a float percentile it cannot answer raises NeedsRefinement (as
    documented) with a message that says what to call, not only how many bins."""
    from imgstats.summary import NeedsRefinement

    arr = np.random.default_rng(0).normal(size=(300, 300)).astype("float32")
    summary = imgstats.summarize(arr)
    with pytest.raises(NeedsRefinement, match=r"imgstats\.refine\(summary, data, funcs\)"):
        summary.compute("p50")
    refined = imgstats.refine(summary, arr, ["p50"])
    assert refined.compute("p50") == np.percentile(arr, 50)


def test_a_caller_who_catches_imgstats_errors_catches_needs_refinement():
    """NeedsRefinement was a bare Exception: ``except imgstats.ImgStatsError`` around
    Summary.compute missed it. It is one, by the same name in both modules."""
    import imgstats.errors
    import imgstats.summary

    arr = np.random.default_rng(1).normal(size=(300, 300)).astype("float64")
    summary = imgstats.summarize(arr)
    try:
        summary.compute(["min", "p99.9"])
    except imgstats.errors.ImgStatsError as exc:
        caught = exc
    else:
        pytest.fail("a float64 p99.9 before a refinement raised nothing")
    assert type(caught) is imgstats.summary.NeedsRefinement is imgstats.errors.NeedsRefinement
    assert "summary = imgstats.refine(summary, data, funcs)" in str(caught)
    assert "imgstats.compute(data, funcs)" in str(caught)


def test_needs_refinement_survives_a_pickle_with_its_nodes():
    """Pickled (a dask worker's error) or copied, it kept only its message as args and was
    rebuilt with the message's letters as its nodes."""
    import copy
    import pickle

    from imgstats.errors import NeedsRefinement

    exc = NeedsRefinement([(16, 3, 40), (16, 1, 2), (16, 3, 40)])
    for back in (pickle.loads(pickle.dumps(exc)), copy.copy(exc)):
        assert type(back) is NeedsRefinement
        assert back.nodes == [(16, 1, 2), (16, 3, 40)] and str(back) == str(exc)
    with pytest.raises(TypeError):  # a message in place of the nodes: refused, not misread
        NeedsRefinement(f"image 3: {exc}")


@pytest.mark.parametrize(
    "exc",
    [
        imgstats.errors.NeedsRefinement([(16, 3, 40)]),
        imgstats.errors.Busy("too busy", retry_after=7),
        imgstats.errors.RequestTimeout("out of time", retry_after=3),
        imgstats.errors.InvalidOption("band 9 is not in the image"),
        imgstats.errors.ImageNotFound("no such image"),
        imgstats.errors.ImageNotFound(2, "No such file", "a/b.tif"),  # its filename kept
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_reworded_error_survives_a_pickle(exc):
    """A copy in other words (a collection's "image 3: ...") that a dask worker raised came
    back pickled in its original words (``NeedsRefinement``), or lost attributes."""
    import copy
    import pickle

    from imgstats.errors import with_message

    reworded = with_message(exc, f"image 3: {exc}")
    for back in (pickle.loads(pickle.dumps(reworded)), copy.copy(reworded)):
        assert type(back) is type(exc)
        assert str(back) == f"image 3: {exc}"
        assert vars(back) == vars(exc)
    back = pickle.loads(pickle.dumps(exc))  # itself: an OSError's fields are not in its args
    assert str(back) == str(exc)
    assert getattr(back, "filename", None) == getattr(exc, "filename", None)
