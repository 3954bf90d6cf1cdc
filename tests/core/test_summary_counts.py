"""The counts of a summary: valid samples, samples seen but not valid, their share, the sum.

``count`` is numpy's ``count_nonzero(~isnan(values))``, ``masked_pixels`` the rest of the samples
seen, ``sum`` the exact sum (a Python int for integers, ``math.fsum`` for floats). The
``masked`` field of :class:`BandStats` (nodata, mask, alpha 0) merges like the other counts and
survives the byte format, whose version-1 bytes still read.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import replace
from fractions import Fraction

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import imgstats
from imgstats import BandStats, NoValidSamples, Summary
from imgstats._codec import MAGIC, CorruptSummary

from .oracle import ALL_DTYPES

CORE = settings.get_profile("imgstats-core")
COUNTS = ["count", "masked_pixels", "valid_percent", "sum"]

dumps, loads = Summary.to_bytes, Summary.from_bytes  # the codec's two directions


def _expected(values) -> dict:
    v = np.asarray(values).ravel()
    nan = int(np.isnan(v).sum()) if v.dtype.kind == "f" else 0
    valid = v[~np.isnan(v)] if v.dtype.kind == "f" else v
    if v.dtype.kind in "uib":
        total = sum(int(x) for x in valid.tolist())
    else:
        total = _fsum(valid)
    return {
        "count": int(valid.size),
        "masked_pixels": nan,
        "valid_percent": 100 * valid.size / v.size,
        "sum": total,
    }


def _fsum(valid: np.ndarray) -> float:
    """The correctly rounded sum, with numpy's rules for infinities."""
    pos, neg = bool(np.isposinf(valid).any()), bool(np.isneginf(valid).any())
    if pos or neg:
        return math.nan if pos and neg else (math.inf if pos else -math.inf)
    exact = sum((Fraction(float(x)) for x in valid), Fraction(0))
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


def _same(got, want) -> bool:
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    return got == want and type(got) is type(want)


@st.composite
def _arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(ALL_DTYPES)))
    elements = None
    if dtype.kind == "f":
        elements = st.floats(width=dtype.itemsize * 8, allow_nan=True, allow_infinity=True)
    shape = draw(st.tuples(st.integers(1, 9), st.integers(1, 9)))
    return draw(hnp.arrays(dtype, shape, elements=elements))


@settings(CORE)
@given(arr=_arrays(), data=st.data())
def test_counts_and_sum_equal_the_oracle_whatever_the_chunking(arr, data):
    want = _expected(arr)
    if want["count"] == 0:
        return  # sum has no value then: see test_all_nan_counts_but_has_no_sum
    rows = data.draw(st.integers(1, arr.shape[0]))
    cols = data.draw(st.integers(1, arr.shape[1]))
    for source in (arr, da.from_array(arr, chunks=(rows, cols))):
        got = imgstats.compute(source, COUNTS)
        for name in COUNTS:
            assert _same(got[name], want[name]), (name, got[name], want[name], arr)


def test_integer_sums_are_exact_python_ints_where_numpy_wraps_around():
    arr = np.array([2**63 - 1, 2**63 - 1, 5], dtype=np.int64)
    assert imgstats.compute(arr, "sum") == 2 * (2**63 - 1) + 5
    assert imgstats.compute(np.full(1000, 255, np.uint8), "sum") == 255_000


def test_a_float_sum_is_correctly_rounded_and_overflows_to_inf():
    arr = np.array([1e308, 1e308, -1e308], dtype=np.float64)
    assert imgstats.compute(arr, "sum") == 1e308  # exact: no intermediate overflow
    assert imgstats.compute(np.array([1e308, 1e308]), "sum") == math.inf
    arr = np.array([1.0, 1e-16, 1e-16], dtype=np.float64)
    assert imgstats.compute(arr, "sum") == math.fsum(arr.tolist()) != float(np.sum(arr))


def test_all_nan_counts_but_has_no_sum():
    arr = np.full((3, 4), np.nan, np.float32)
    got = imgstats.compute(arr, ["count", "masked_pixels", "valid_percent"])
    assert got == {"count": 0, "masked_pixels": 12, "valid_percent": 0.0}
    with pytest.raises(NoValidSamples):
        imgstats.compute(arr, "sum")


def test_an_empty_selection_has_no_valid_percent():
    summary = imgstats.summarize(np.zeros((0, 3), np.uint8))
    assert summary.compute(["count", "masked_pixels"]) == {"count": 0, "masked_pixels": 0}
    with pytest.raises(NoValidSamples):
        summary.compute("valid_percent")


def _with_masked(summary: Summary, masked) -> Summary:
    bands = tuple(replace(b, masked=m) for b, m in zip(summary.bands, masked, strict=True))
    return replace(summary, bands=bands)


def test_masked_samples_count_per_band_and_merge_like_the_other_counts():
    arr = np.arange(24, dtype=np.uint16).reshape(2, 4, 3)
    a = _with_masked(imgstats.summarize(arr[:1]), [1, 0, 2])
    b = _with_masked(imgstats.summarize(arr[1:]), [3, 4, 0])
    merged = a + b
    assert [band.masked for band in merged.bands] == [4, 4, 2]
    assert merged.compute("masked_pixels", band=0) == 4
    assert merged.compute("masked_pixels") == 10
    assert merged.compute("count") == 24
    assert merged.compute("valid_percent", band="2") == 100 * 8 / 10
    assert merged.compute("valid_percent") == 100 * 24 / 34
    assert merged != imgstats.summarize(arr)  # masked samples make another summary


def test_nan_and_masked_samples_both_count_as_masked_pixels():
    arr = np.array([[1.0, np.nan], [np.nan, 4.0]], np.float64)
    summary = _with_masked(imgstats.summarize(arr), [5])
    assert summary.compute(["count", "masked_pixels", "valid_percent"]) == {
        "count": 2,
        "masked_pixels": 7,
        "valid_percent": 100 * 2 / 9,
    }


def test_a_band_with_only_masked_samples_has_no_statistic_but_its_counts():
    empty = replace(BandStats.empty(np.uint8), masked=9)
    summary = Summary((empty,), ("L",))
    assert summary.compute(["count", "masked_pixels", "valid_percent"]) == {
        "count": 0,
        "masked_pixels": 9,
        "valid_percent": 0.0,
    }
    for func in ("min", "mean", "median", "sum"):
        with pytest.raises(NoValidSamples, match="masked"):
            summary.compute(func)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_masked_counts_survive_the_byte_format(dtype):
    arr = (np.arange(60) % 7).astype(dtype).reshape(5, 4, 3)
    summary = _with_masked(imgstats.summarize(arr), [0, 7, 2**40])
    back = loads(dumps(summary))
    assert back == summary
    assert [b.masked for b in back.bands] == [0, 7, 2**40]


def _as_version_1(blob: bytes) -> bytes:
    """The bytes format 1 wrote for the same summary: no ``masked`` field in the bands."""
    _, _, size = struct.unpack_from("<8sHI", blob)
    header = json.loads(blob[14 : 14 + size])
    for band in [*header["bands"], *([header["luma"]] if header["luma"] else [])]:
        del band["masked"]
    raw = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<HI", 1, len(raw)) + raw + blob[14 + size :]


@pytest.mark.parametrize("name", ["rgb", "float"])
def test_bytes_of_format_1_still_read_with_no_masked_samples(name):
    if name == "rgb":
        arr = np.random.default_rng(1).integers(0, 256, (6, 7, 3), dtype=np.uint8)
        summary = imgstats.summarize(arr)
        assert summary.luma is not None
    else:
        arr = np.array([[1.5, np.nan], [np.inf, -2.0]], np.float32)
        summary = imgstats.summarize(arr)
    back = loads(_as_version_1(dumps(summary)))
    assert back == summary
    assert all(b.masked == 0 for b in back.bands)
    assert back.compute(COUNTS) == summary.compute(COUNTS)


@pytest.mark.parametrize("masked", [-1, "3", None, 1.5, True])
def test_a_bad_masked_count_is_refused(masked):
    blob = dumps(imgstats.summarize(np.arange(4, dtype=np.uint8)))
    _, _, size = struct.unpack_from("<8sHI", blob)
    header = json.loads(blob[14 : 14 + size])
    header["bands"][0]["masked"] = masked
    raw = json.dumps(header, separators=(",", ":")).encode()
    forged = MAGIC + struct.pack("<HI", 2, len(raw)) + raw + blob[14 + size :]
    with pytest.raises(CorruptSummary):
        loads(forged)


@pytest.mark.parametrize("data", [b"", b"not a summary", MAGIC + b"\xff" * 40])
def test_bytes_that_are_no_summary_raise_a_domain_error(data):
    # before: CorruptSummary was a ValueError only, which no `except ImgStatsError` catches
    with pytest.raises(imgstats.ImgStatsError) as caught:
        imgstats.Summary.from_bytes(data)
    assert isinstance(caught.value, CorruptSummary)


def test_an_unknown_format_version_is_refused():
    blob = dumps(imgstats.summarize(np.arange(4, dtype=np.uint8)))
    with pytest.raises(CorruptSummary, match="format 5"):  # 4 (valid) is read since it came
        loads(blob[:8] + struct.pack("<H", 5) + blob[10:])
