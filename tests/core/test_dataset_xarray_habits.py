"""``ds.imgstats`` keeps xarray's habits: ``dim`` as a set of names, and complex and timedelta
variables reduced (xarray counts them as numbers) rather than dropped.

xarray's own ``ds.median`` / ``ds.quantile`` are the oracle, compared with
``xarray.testing.assert_identical`` (variables, dims, coordinates, attrs and values).
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from imgstats.errors import InvalidOption


def _dataset(lazy: bool = False) -> xr.Dataset:
    rng = np.random.default_rng(1414)
    red = rng.standard_normal((3, 4, 6))
    wave = rng.standard_normal((3, 6)) + 1j * rng.standard_normal((3, 6))
    wave[1, 2] = complex(wave[1, 3].real, -7.0)  # a tie of real parts: the imaginary decides
    lag = rng.integers(0, 10**6, 6).astype("timedelta64[ms]")
    if lazy:
        red = da.from_array(red, chunks=(2, 3, 4))
        wave = da.from_array(wave, chunks=(2, 4))
    return xr.Dataset(
        {
            "red": (("time", "y", "x"), red, {"units": "1"}),
            "wave": (("time", "x"), wave),
            "lag": ("x", lag),
            "label": ("x", np.array(list("abcdef"))),
            "when": ("time", np.array(["2020-01-01", "2021-01-01", "2022-06-01"], "M8[ns]")),
        },
        coords={"time": [10, 20, 30], "x": np.arange(6.0)},
        attrs={"title": "scene"},
    )


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("dim", [{"x"}, frozenset({"y", "x"}), {"time", "x"}, "x", ["time"]])
def test_median_keeps_what_xarrays_keeps(dim, lazy):
    ds = _dataset(lazy)
    got = ds.imgstats.median(dim=dim)
    assert "wave" in got and "lag" in got  # were dropped
    want = _dataset()  # xarray's dask median refuses every dim of a variable at once
    if "time" in dim:  # xarray's median of dates fails (numpy adds them); imgstats drops them
        assert "when" not in got
        want = want.drop_vars("when")
    xr.testing.assert_identical(got.compute(), want.median(dim=dim))


def test_a_set_of_dims_is_a_list_of_them_for_a_dataarray():
    red = _dataset()["red"]
    want = red.median(dim=["y", "x"])
    xr.testing.assert_identical(red.imgstats.median(dim={"x", "y"}), want)
    got = red.imgstats.quantile([0.2, 0.7], dim={"x", "time"})
    xr.testing.assert_identical(got, red.quantile([0.2, 0.7], dim=["time", "x"]))
    by_compute = red.imgstats.compute("median", dim={"y", "x"})
    np.testing.assert_array_equal(by_compute.values, want.values)
    with pytest.raises(InvalidOption, match="not found in array dimensions"):
        red.imgstats.median(dim={"x", "band"})


def test_quantile_reduces_timedeltas_and_refuses_complex_by_name():
    ds = _dataset()
    with pytest.raises(InvalidOption, match="variable 'wave': quantiles of complex numbers"):
        ds.imgstats.quantile(0.3, dim="x")
    real = ds[["red", "lag"]]  # xarray's quantile fails on strings: imgstats drops them
    for dim in ({"x"}, ["y", "x"]):
        got = real.imgstats.quantile([0.25, 0.5], dim=dim)
        xr.testing.assert_identical(got, real.quantile([0.25, 0.5], dim=dim))


@pytest.mark.parametrize("dim", [{"time"}, "time", ["time", "y"]])
def test_quantile_keeps_a_variable_without_the_dims_as_xarray(dim):
    # ds.quantile keeps a variable with none of the reduced dims as it is: imgstats gave it a
    # quantile dim, each of its elements repeated once per quantile
    real = _dataset()[["red", "lag"]]  # lag has x only
    got = real.imgstats.quantile([0.25, 0.5], dim=dim)
    assert got["lag"].dims == ("x",)
    xr.testing.assert_identical(got, real.quantile([0.25, 0.5], dim=dim))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16, np.uint8])
@pytest.mark.parametrize("lazy", [False, True])
def test_median_is_numpys_median_to_the_last_bit(dtype, lazy):
    # it was the 0.5 quantile (numpy's lerp), which differs from numpy's median (the mean of
    # the two middle samples) in the last bit: neither xarray's median nor compute's
    rng = np.random.default_rng(7)
    values = (rng.standard_normal((5, 8, 10)) * 100).astype(dtype)
    arr = xr.DataArray(values, dims=("time", "y", "x"))
    if dtype in (np.float64, np.float32):
        arr[1, 2, 3] = np.nan
    if lazy:
        arr = arr.chunk({"time": 2, "y": 3, "x": 4})
    for dim in ("x", {"y", "x"}, None):
        got = arr.imgstats.median(dim=dim).compute()
        xr.testing.assert_identical(got, arr.compute().median(dim=dim))
