"""``ds.imgstats``: exact reductions of each data variable, laid out as xarray's own.

xarray's ``ds.median`` / ``ds.quantile`` are the oracle of the layout (which variables, dims,
coordinates, attrs), numpy and the DataArray accessor of the numbers.
"""

from __future__ import annotations

import subprocess
import sys

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import imgstats
from imgstats import errors
from imgstats.errors import InvalidOption


def _dataset(lazy: bool = False) -> xr.Dataset:
    rng = np.random.default_rng(1313)
    red = rng.standard_normal((3, 20, 30))
    red[0, 2, 3] = np.nan
    nir = rng.integers(0, 4000, (3, 20, 30), dtype=np.uint16)
    if lazy:
        red = da.from_array(red, chunks=(1, 7, 11))  # chunked along every reduced dim
        nir = da.from_array(nir, chunks=(2, 20, 13))
    return xr.Dataset(
        {
            "red": (("time", "y", "x"), red, {"units": "1"}),
            "nir": (("time", "y", "x"), nir),
            "dem": (("y", "x"), np.arange(600, dtype=np.int16).reshape(20, 30)),
            "label": ("time", np.array(["a", "b", "c"])),
            "scale": ((), 2.5),
        },
        coords={"time": [10, 20, 30], "y": np.arange(20.0), "spatial_ref": 0},
        attrs={"title": "scene"},
    )


@pytest.mark.parametrize("lazy", [False, True])
def test_median_along_a_dim_is_xarrays_layout_with_exact_numbers(lazy):
    ds = _dataset(lazy)
    got = ds.imgstats.median(dim="time")
    want = _dataset().median(dim="time")
    assert set(got.data_vars) == set(want.data_vars) == {"red", "nir", "dem", "scale"}
    assert got.attrs == {"title": "scene"} and got["red"].attrs == {"units": "1"}
    assert "spatial_ref" in got.coords and "y" in got.coords and "time" not in got.coords
    got = got.compute()
    for name in ("red", "nir"):
        assert got[name].dims == want[name].dims
        expected = ds[name].imgstats.median(dim="time").compute()
        np.testing.assert_array_equal(got[name].values, expected.values)
    values = _dataset()["nir"].values
    np.testing.assert_array_equal(got["nir"].values, np.quantile(values, 0.5, axis=0))
    # a variable without the dim: each element is its own sample (xarray keeps it as is)
    np.testing.assert_array_equal(got["dem"].values, want["dem"].values)
    assert float(got["scale"]) == 2.5


@pytest.mark.parametrize("lazy", [False, True])
def test_quantile_over_several_dims(lazy):
    ds = _dataset(lazy)
    q = [0.05, 0.5, 0.99]
    got = ds.imgstats.quantile(q, dim=("y", "x"))
    assert lazy == hasattr(got["red"].data, "dask")
    got = got.compute()
    want = _dataset().quantile(q, dim=("y", "x"))
    assert set(got.data_vars) == set(want.data_vars)  # "label" (time only) kept as is
    assert (got["label"] == want["label"]).all()
    red = _dataset()["red"].values
    for t in range(3):
        np.testing.assert_array_equal(got["red"].values[:, t], np.nanquantile(red[t], q))
    np.testing.assert_array_equal(got["dem"].values, want["dem"].values)
    assert got["red"].dims == want["red"].dims == ("quantile", "time")
    np.testing.assert_array_equal(got["quantile"].values, q)
    assert float(got["scale"].sel(quantile=0.5)) == 2.5


def test_every_dim_by_default_and_skipna():
    ds = _dataset()
    got = ds.imgstats.median()
    assert all(got[name].dims == () for name in got.data_vars)
    assert set(got.data_vars) == set(ds.median().data_vars)
    assert float(got["red"]) == np.nanquantile(ds["red"].values, 0.5)
    assert np.isnan(float(ds.imgstats.median(skipna=False)["red"]))


def test_compute_per_variable():
    ds = _dataset()
    got = ds.imgstats.compute(["count", "max", "p90"], dim="time")
    for name in ("red", "nir"):
        want = imgstats.compute(ds[name], ["count", "max", "p90"], dim="time")
        xr.testing.assert_equal(got[name], want.rename(name))
    assert got["dem"].sel(func="count").values.tolist() == np.ones((20, 30)).tolist()
    assert "label" not in got


def test_a_dim_no_variable_has_is_refused_in_xarrays_words():
    ds = _dataset()
    with pytest.raises(InvalidOption, match=r"'z' not found in array dimensions"):
        ds.imgstats.median(dim="z")
    with pytest.raises(InvalidOption, match=r"variable 'red': band= and dim="):
        ds.imgstats.compute("max", dim="time", band=0)


def _error_classes():
    return [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.ImgStatsError)
    ]


def _an_error(cls):
    if cls is errors.NeedsRefinement:
        return cls([(8, 3, 5)])
    if issubclass(cls, errors.Busy):
        return cls("the service is busy", retry_after=7)
    return cls("the reduction failed")


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_a_variables_error_is_named_and_keeps_its_class_and_attributes(cls):
    # type(exc)(message) re-worded it: NeedsRefinement takes nodes, so a NeedsRefinement
    # raised for a variable became a TypeError, and a Busy lost its retry_after
    from imgstats._dataset import reduce_dataset

    error = _an_error(cls)

    def failing(var, dims):
        raise error

    with pytest.raises(cls) as caught:
        reduce_dataset(_dataset(), failing, "time")
    assert type(caught.value) is cls
    assert str(caught.value) == f"variable 'red': {error}"
    assert vars(caught.value) == vars(error)


def test_compute_and_zonal_on_a_dataset_name_its_variables():
    ds = _dataset()
    with pytest.raises(InvalidOption, match=r"cannot be a Dataset: pick one.*'red'"):
        imgstats.compute(ds, "max")
    with pytest.raises(InvalidOption, match=r"cannot be a Dataset: pick one.*'red'"):
        imgstats.zonal(ds, np.ones((20, 30), np.uint8), ["max"])


@pytest.mark.parametrize("first", ["imgstats", "xarray"])
def test_the_dataset_accessor_is_there_whatever_the_import_order(first):
    second = "xarray" if first == "imgstats" else "imgstats"
    code = (
        f"import {first}, {second}, numpy as np\n"
        "ds = xarray.Dataset({'a': (('y', 'x'), np.arange(6.0).reshape(2, 3))})\n"
        "print(float(ds.imgstats.median()['a']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2.5"
