"""std, majority, minority and unique: numpy and rio-tiler's definitions, from the summary.

``std`` is the population standard deviation, the square root of the exact variance
correctly rounded (checked against a Fraction oracle, and close to ``numpy.std``); the
categorical statistics are ``numpy.unique``'s, ties to the smallest value (rio-tiler's
``argmax``/``argmin``). All four are read from the histogram of 8- and 16-bit integers
(``test_values_wide.py`` tests the wider types); floats have no categories.
"""

from __future__ import annotations

import math
from fractions import Fraction

import dask.array as da
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import imgstats
from imgstats import InvalidOption, NoValidSamples
from imgstats.summary import _sqrt

from .test_exact import CORE, uneven_chunks

SMALL = ["uint8", "int8", "uint16", "int16", "bool"]
CATEGORICAL = ["std", "majority", "minority", "unique"]


def _exact_std(values: np.ndarray) -> float:
    v = [int(x) for x in values.ravel().tolist()]
    n = len(v)
    mean = Fraction(sum(v), n)
    variance = sum((Fraction(x) - mean) ** 2 for x in v) / n
    return _sqrt(variance)


def _oracle(values: np.ndarray) -> dict:
    uniq, counts = np.unique(values, return_counts=True)
    return {
        "std": _exact_std(values),
        "majority": int(uniq[np.argmax(counts)]),
        "minority": int(uniq[np.argmin(counts)]),
        "unique": int(uniq.size),
    }


@pytest.mark.parametrize("dtype", SMALL)
@CORE
@given(data=st.data())
def test_equal_numpy_and_rio_tiler_whatever_the_chunking(dtype, data):
    dt = np.dtype(dtype)
    elements = (
        None
        if dt.kind == "b"
        else st.integers(-3, 5).map(lambda x: x % 256 if dt.kind == "u" else x)
    )
    arr = data.draw(
        hnp.arrays(dt, hnp.array_shapes(min_dims=2, max_dims=3, max_side=9)), label="arr"
    )
    if elements is not None and data.draw(st.booleans(), label="ties"):
        arr = data.draw(hnp.arrays(dt, arr.shape, elements=elements), label="tied")
    chunks = data.draw(uneven_chunks(arr.shape), label="chunks")
    want = _oracle(arr)
    for source in (arr, da.from_array(arr, chunks=chunks)):
        got = imgstats.compute(source, CATEGORICAL)
        assert got == want
        assert type(got["majority"]) is int and type(got["std"]) is float
    assert math.isclose(
        want["std"], float(np.std(arr.astype(np.float64))), rel_tol=1e-12, abs_tol=1e-12
    )


def test_std_is_correctly_rounded_where_numpy_std_is_not_always():
    # the exact variance of [0, 1, 1] is 2/9: its root rounds once
    arr = np.array([0, 1, 1], np.uint8)
    assert imgstats.compute(arr, "std") == _sqrt(Fraction(2, 9))
    assert _sqrt(Fraction(4, 9)) == 2 / 3
    assert _sqrt(Fraction(2)) == math.sqrt(2)  # sqrt of a double is correctly rounded
    for x in (1e-300, 3.0, 7e200, 0.1):
        assert _sqrt(Fraction(x)) == math.sqrt(x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_std_of_a_large_block_takes_a_few_chunks_of_memory(dtype, monkeypatch):
    # the exact squares took about ten temporaries of a whole block: std of an in-memory
    # float64 image (one block up to 2**27 samples) peaked at 10x its size, 10 GB for 1 GB
    import tracemalloc

    from imgstats import _blocks

    monkeypatch.setattr(_blocks, "SQUARES_CHUNK", 1 << 16, raising=False)
    rng = np.random.default_rng(8)
    arr = (rng.normal(size=(512, 4096)) * 1000).astype(dtype)  # 2**21 samples
    arr[3, :7] = np.nan if arr.dtype.kind == "f" else 5
    imgstats.compute(arr[:2], "std")  # numba's first compilation is not the block's
    tracemalloc.start()
    got = imgstats.compute(arr, "std")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # exactness is the other tests' (a Fraction oracle): here, the same number as before
    assert math.isclose(got, float(np.nanstd(arr.astype(np.float64))), rel_tol=1e-12)
    assert peak < 4 * arr.nbytes, peak / arr.nbytes  # was 10x for float64, 5x for the others


def test_std_of_a_constant_band_is_zero_and_bands_are_separate():
    arr = np.zeros((4, 5, 3), np.uint16)
    arr[..., 1] = 7
    assert imgstats.compute(arr, "std", band=0) == 0.0
    assert imgstats.compute(arr, "std", band=1) == 0.0
    assert imgstats.compute(arr, "std") == float(np.std(arr.astype(np.float64)))


def test_majority_ties_go_to_the_smallest_value():
    arr = np.array([5, 3, 5, 3, 9], np.int16)
    assert imgstats.compute(arr, ["majority", "minority", "unique"]) == {
        "majority": 3,
        "minority": 9,
        "unique": 3,
    }


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("func", ["majority", "minority", "unique"])
def test_categorical_statistics_of_floats_are_refused(dtype, func):
    with pytest.raises(InvalidOption, match="integer images"):
        imgstats.compute(np.arange(4, dtype=dtype), func)


def test_no_valid_sample_has_no_std():
    summary = imgstats.summarize(np.zeros((0, 3), np.uint8))
    for func in CATEGORICAL:
        with pytest.raises(NoValidSamples):
            summary.compute(func)
