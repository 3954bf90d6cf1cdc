"""The summary codec: every summary the core makes survives bytes, and no bytes run code.

The original summary's answers are the oracle of the decoded one (numpy is theirs, in
test_exact.py): same values, same refinement needs, same errors, for every function and
selection.
"""

from __future__ import annotations

import json
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import imgstats
from imgstats import Summary
from imgstats._codec import FORMAT_VERSION, MAGIC, CorruptSummary
from imgstats.data import gallery_path
from imgstats.summary import NeedsRefinement

from .oracle import ALL_DTYPES

CORE = settings.get_profile("imgstats-core")
FUNCS = ["min", "max", "mean", "median", "p0", "p1", "p37.5", "p99.9", "p100"]

dumps, loads = Summary.to_bytes, Summary.from_bytes  # the codec's two directions


def _answers(summary: Summary):
    """Every function for every selection: a value, or the error (with refinement needs)."""
    out = {}
    selections = [None, *range(len(summary.bands))] + (["luma"] if summary.luma else [])
    for band in selections:
        for func in FUNCS:
            try:
                value = summary.compute(func, band)
                out[band, func] = "nan" if isinstance(value, float) and math.isnan(value) else value
            except NeedsRefinement as exc:
                out[band, func] = ("refine", exc.nodes)
            except imgstats.ImgStatsError as exc:
                out[band, func] = type(exc).__name__
    return out


def _assert_same(back: Summary, summary: Summary) -> None:
    assert back == summary  # bands, names, luma, shape
    assert back.refined.keys() == summary.refined.keys()
    for node, (kind, data) in summary.refined.items():
        assert back.refined[node][0] == kind
        np.testing.assert_array_equal(back.refined[node][1], data)
    assert _answers(back) == _answers(summary)
    assert dumps(back) == dumps(summary)  # one summary, one encoding


@st.composite
def _images(draw):
    dtype = np.dtype(draw(st.sampled_from(ALL_DTYPES)))
    shape = draw(
        st.sampled_from(
            [
                (draw(st.integers(0, 30)),),
                (draw(st.integers(1, 12)), draw(st.integers(1, 12))),
                (draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 4))),
            ]
        )
    )
    elements = None
    if dtype.kind == "f":  # NaN and infinities included
        elements = st.floats(width=dtype.itemsize * 8, allow_nan=True, allow_infinity=True)
    arr = draw(hnp.arrays(dtype, shape, elements=elements))
    funcs = draw(st.lists(st.sampled_from(FUNCS), max_size=4))
    bands = draw(st.lists(st.sampled_from([None, 0, -1]), max_size=2))
    return arr, funcs, bands


@CORE
@given(_images())
def test_every_summary_survives_its_bytes(case):
    arr, funcs, bands = case
    summary = imgstats.summarize(arr)
    for band in bands:  # refinements of several selections
        if summary.stats(band).count:
            summary = imgstats.refine(summary, arr, funcs, band)
    back = loads(dumps(summary))
    _assert_same(back, summary)
    assert Summary.from_bytes(summary.to_bytes()) == summary


def test_histogram_refinements_and_collected_keys_survive():
    rng = np.random.default_rng(3)
    # over 2**16 samples in one float32 bin: refined by a histogram, then by collected keys
    arr = (1 + rng.random((300, 300)) * 1e-4).astype(np.float32)
    summary = imgstats.refine(imgstats.summarize(arr), arr, ["median", "p1", "p99"])
    assert {kind for kind, _ in summary.refined.values()} == {"hist"}
    wide = rng.normal(0, 1, (200, 100))
    wide = imgstats.refine(imgstats.summarize(wide), wide, ["median", "p1"], 0)
    assert {kind for kind, _ in wide.refined.values()} == {"keys"}
    for s in (summary, wide):
        _assert_same(loads(dumps(s)), s)


@pytest.mark.parametrize(
    "name",
    ["IMG_1.jpg", "IMG_11.png", "IMG_12_uint16.tif", "IMG_13_float32.tif", "IMG_14_int16.tif"],
)
def test_gallery_summaries_survive_with_their_luma(name):
    path = str(gallery_path() / name)
    summary = imgstats.summarize(path)
    if summary.dtype.itemsize > 2:
        summary = imgstats.refine(summary, path, FUNCS)
    back = loads(dumps(summary))
    _assert_same(back, summary)
    if name == "IMG_1.jpg":
        assert back.luma is not None and back.compute("median", "luma") == imgstats.compute(
            path, "median", band="luma"
        )


def test_sparse_histograms_keep_small_summaries_small():
    arr = np.random.default_rng(0).integers(0, 65535, (16, 16, 64), dtype=np.uint16)
    summary = imgstats.summarize(arr)
    assert summary.nbytes == 64 * (1 << 16) * 8  # 32 MB in memory...
    assert len(dumps(summary)) < 64 * 256 * 12 + 20_000  # ...256 (index, count) pairs per band


class _Touch:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(CorruptSummary):
        loads(pickle.dumps(_Touch(marker)))
    assert not marker.exists()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"IMGSTSUM",
        42,
        None,
        "text",
        b"\x80\x04K*.",
        MAGIC + struct.pack("<HI", FORMAT_VERSION + 1, 2) + b"{}",
        MAGIC + struct.pack("<HI", FORMAT_VERSION, 2) + b"[]",
        MAGIC + struct.pack("<HI", FORMAT_VERSION, 99) + b"{}",
    ],
)
def test_other_data_is_refused(data):
    with pytest.raises(CorruptSummary):
        loads(data)


def _with_header(blob: bytes, change) -> bytes:
    size = struct.unpack_from("<8sHI", blob)[2]
    header = json.loads(blob[14 : 14 + size])
    change(header)
    raw = json.dumps(header).encode()
    return MAGIC + struct.pack("<HI", FORMAT_VERSION, len(raw)) + raw + blob[14 + size :]


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h["refined"][0].__setitem__(0, ["all"]),  # an unhashable selection
        lambda h: h["refined"][0].__setitem__(0, "b7"),  # a band the image does not have
        lambda h: h["bands"][0].__setitem__("hist", ["sparse", 0, 1 << 40, 0]),  # 8 TB of zeros
        lambda h: h["bands"][0].__setitem__("count", h["bands"][0]["count"] + 1),
        lambda h: h["bands"][0].__setitem__("kmin", h["bands"][0]["kmax"] + 1),
        lambda h: h["bands"][0].__setitem__("dtype", "O"),
        lambda h: h["bands"][0].__setitem__("total", ["0x1", "0x0"]),
        lambda h: h.__setitem__("band_names", ["a", "b"]),
    ],
    ids=[
        "unhashable",
        "no-such-band",
        "huge-sparse",
        "count",
        "kmin",
        "object",
        "zero-den",
        "names",
    ],
)
def test_inconsistent_headers_are_refused(change):
    arr = np.random.default_rng(2).normal(0, 1, (30, 20)).astype(np.float32)
    blob = dumps(imgstats.refine(imgstats.summarize(arr), arr, ["median"]))
    assert loads(_with_header(blob, lambda h: None)) is not None
    with pytest.raises(CorruptSummary):
        loads(_with_header(blob, change))


def test_every_truncation_is_refused():
    arr = np.random.default_rng(1).normal(0, 1, (30, 20)).astype(np.float32)
    blob = dumps(imgstats.refine(imgstats.summarize(arr), arr, ["median", "p10"]))
    for end in range(len(blob)):
        with pytest.raises(CorruptSummary):
            loads(blob[:end])
    with pytest.raises(CorruptSummary):
        loads(blob + b"\0")


def test_a_summary_over_max_nbytes_is_refused():
    blob = dumps(imgstats.summarize(np.zeros((4, 4, 8), np.uint16)))  # 8 x 512 KB, ~1 KB
    assert len(blob) < 4096
    assert loads(blob, max_nbytes=8 << 20).nbytes == 8 * (1 << 19)
    with pytest.raises(CorruptSummary, match="larger"):
        loads(blob, max_nbytes=1 << 20)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint32", "float32", "float64"])
@CORE
@given(data=st.data())
def test_damaged_bytes_are_refused_or_still_answer(dtype, data):
    """A changed byte is refused, or gives a summary that answers without crashing: wrong
    numbers are what signing is for (the web cache's CACHE_KEY), crashes must never be."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    arr = (
        rng.normal(0, 1000, (20, 30, 2)) if dtype[0] == "f" else rng.integers(0, 100, (20, 30, 2))
    ).astype(dtype)
    summary = imgstats.summarize(arr)
    if summary.dtype.itemsize > 2:
        summary = imgstats.refine(summary, arr, ["median", "p1"], 0)
    blob = bytearray(dumps(summary))
    for _ in range(data.draw(st.integers(1, 3))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    try:
        back = loads(bytes(blob))
    except CorruptSummary:
        return
    _answers(back)  # raises nothing but domain errors and NeedsRefinement


@pytest.mark.parametrize("dtype", ["uint64", "int64"])
def test_a_refinement_below_levels_the_keys_agree_on_survives_its_bytes(dtype):
    """64-bit samples that agree on their top bits are refined below the levels they agree
    on, with no node for those levels (the reader skips them): the bytes keep such a
    node, and a node of no parent that does not hold every key is still refused."""
    arr = np.array([[0], [1], [70000], [5]], dtype)
    summary = imgstats.refine(imgstats.summarize(arr), arr, ["median"])
    assert all(shift < 48 for _, shift, _ in summary.refined)  # no node at the top level
    back = Summary.from_bytes(summary.to_bytes())
    assert back == summary and back.compute("median") == np.median(arr)
    (sel, shift, prefix), node = next(iter(summary.refined.items()))
    forged = summary.with_refinements({(sel, shift, prefix + 1): node})
    with pytest.raises(CorruptSummary, match="parent bin"):
        Summary.from_bytes(forged.to_bytes())
