"""``dim=[]`` reduces over no dim, as xarray's reductions do: each element its own sample.

It was refused ("name at least one of ('y', 'x')"), where ``da.median(dim=[])`` and
``da.quantile(q, dim=[])`` give every element as a float, NaN where it is no sample, and
``ds.imgstats.median(dim=...)`` already reduced a variable with none of the dims that way.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import imgstats

A = np.arange(12, dtype=np.int16).reshape(3, 4)
A[0, 0] = -1  # the nodata value
ARR = xr.DataArray(A, dims=("y", "x"), coords={"x": [10, 20, 30, 40]}, attrs={"nodata": -1})
WANT = np.where(A == -1, np.nan, A.astype(np.float64))


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("dim", [[], (), set()])
def test_no_dim_gives_each_element_as_xarray_does(dim, chunked):
    arr = ARR.copy(data=da.from_array(A, chunks=((1, 2), (3, 1)))) if chunked else ARR
    median = arr.imgstats.median(dim=dim)
    quantile = arr.imgstats.quantile(0.5, dim=dim)
    theirs = ARR.where(ARR != -1).quantile(0.5, dim=[])
    for ours in (median, quantile):
        assert ours.dims == ("y", "x") and ours.dtype == np.float64
        np.testing.assert_array_equal(np.asarray(ours), WANT)
    assert set(quantile.coords) == set(theirs.coords)  # a scalar quantile coordinate
    both = imgstats.compute(arr, ["min", "count"], dim=dim)
    np.testing.assert_array_equal(np.asarray(both.sel(func="count")), (A != -1).astype(float))
    np.testing.assert_array_equal(np.asarray(both.sel(func="min")), WANT)
