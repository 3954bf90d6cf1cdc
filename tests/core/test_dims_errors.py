"""Dims to reduce that the array lacks are refused in xarray's words, by every reduction of
the accessor; a dim named by a non-string hashable (an integer) is a name, as in xarray."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import imgstats  # noqa: F401  (the accessor)
from imgstats.errors import InvalidOption

ARR = xr.DataArray(np.arange(24.0).reshape(2, 3, 4), dims=("time", "y", "x"))
CALLS = {
    "quantile": lambda a, dim: a.imgstats.quantile(0.5, dim=dim),
    "median": lambda a, dim: a.imgstats.median(dim=dim),
    "compute": lambda a, dim: a.imgstats.compute("median", dim=dim),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS)
def test_a_missing_dim_is_named_as_xarray_names_it(call):
    want = "'z' not found in array dimensions ('time', 'y', 'x')"
    with pytest.raises(InvalidOption, match=want.replace("(", r"\(").replace(")", r"\)")):
        call(ARR, "z")
    with pytest.raises(ValueError, match=r"\('z', 'w'\) not found"):
        call(ARR, ["y", "z", "w"])
    with pytest.raises(InvalidOption, match="named twice"):
        call(ARR, ("x", "x"))


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS)
def test_an_integer_dim_name(call):
    arr = xr.DataArray(np.arange(12.0).reshape(3, 4), dims=(0, 1))
    got = call(arr, 1)
    np.testing.assert_array_equal(np.asarray(got), np.median(arr.values, axis=1))
    with pytest.raises(InvalidOption, match="2 not found"):
        call(arr, 2)


def test_dim_of_a_numpy_array_says_how_to_name_its_axes():
    """``compute(ndarray, "median", dim="time")`` said only that it needs a DataArray."""
    with pytest.raises(InvalidOption, match=r"name its axes, as in .*xarray\.DataArray\(a, dims="):
        imgstats.compute(ARR.values, "median", dim="time")
