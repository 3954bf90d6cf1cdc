"""CF's ``missing_value`` counts beside ``_FillValue``, as xarray's decoding masks both.

A dataset opened with ``decode_cf=False`` whose variable has ``_FillValue=-999`` and
``missing_value=-998`` (or a list, ``[-998, -997]``) had only its -999 samples left out:
``compute``, ``summarize``, ``zonal``, ``dim=`` and the accessors counted every -998 as a
value (1,080 samples of a band where ``xarray.decode_cf`` leaves 920). ``xarray.decode_cf``'s
result is the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import imgstats

pytestmark = [
    pytest.mark.filterwarnings("ignore::xarray.SerializationWarning"),  # several fill values
    pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning"),  # the oracle's
]

RNG = np.random.default_rng(61)
MISSING = {
    "both": (-999, -998),
    "list": (-999, [-998, -997]),
    "list-only": (None, [-998, -997]),
}


def _dataset(dtype, missing, chunks) -> xr.Dataset:
    fill, other = MISSING[missing]
    values = RNG.integers(-5, 50, (3, 30, 40)).astype(dtype)
    values[:, :3] = -999
    values[:, 5:9] = -998
    values[0, 10:12] = -997
    attrs = {"missing_value": np.asarray(other, dtype)}
    if fill is not None:
        attrs["_FillValue"] = dtype(fill)
    ds = xr.Dataset({"v": (("t", "y", "x"), values, attrs)})
    return ds.chunk({"t": 1, "y": 7, "x": 11}) if chunks else ds


def _oracle(ds) -> np.ndarray:
    """The samples xarray's decoding keeps, as float64 (NaN where it masked one)."""
    return xr.decode_cf(ds)["v"].values.astype(np.float64)


CASES = [
    (dtype, missing, chunks)
    for dtype in (np.int16, np.float32)
    for missing in MISSING
    for chunks in (False, True)
]


@pytest.mark.parametrize(("dtype", "missing", "chunks"), CASES)
def test_compute_summarize_zonal_and_the_accessor(dtype, missing, chunks):
    ds = _dataset(dtype, missing, chunks)
    band = ds["v"].isel(t=0)
    want = _oracle(ds)[0]
    valid = want[~np.isnan(want)]
    expected = {
        "count": valid.size,
        "min": valid.min(),
        "max": valid.max(),
        "median": float(np.median(valid)),
        "mean": float(valid.mean()),
    }
    funcs = list(expected)
    assert imgstats.compute(band, funcs) == pytest.approx(expected, rel=0, abs=0)
    summary = imgstats.summarize(band)
    assert summary.compute("count") == valid.size
    assert (summary.compute("min"), summary.compute("max")) == (valid.min(), valid.max())
    assert band.imgstats.compute(funcs) == pytest.approx(expected, rel=0, abs=0)
    table = imgstats.zonal(band, np.ones(band.shape, np.uint8), ["count", "median"])
    assert table.loc[1, "count"] == valid.size and table.loc[1, "median"] == np.median(valid)


@pytest.mark.parametrize(("dtype", "missing", "chunks"), CASES)
def test_dim_and_the_dataset_accessor(dtype, missing, chunks):
    ds = _dataset(dtype, missing, chunks)
    decoded = xr.decode_cf(ds)["v"].astype(np.float64)
    np.testing.assert_array_equal(
        imgstats.compute(ds["v"], "median", dim="t").values, decoded.median("t").values
    )
    np.testing.assert_array_equal(
        ds["v"].imgstats.median(dim=["y", "x"]).values, decoded.median(["y", "x"]).values
    )
    np.testing.assert_array_equal(
        ds.imgstats.quantile(0.3, dim=["y", "x"])["v"].values,
        decoded.quantile(0.3, dim=["y", "x"]).values,
    )
    np.testing.assert_array_equal(
        ds.imgstats.compute("count", dim="t")["v"].values, decoded.count("t").values
    )
