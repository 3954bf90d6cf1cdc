"""CF's ``_Unsigned``: a netCDF-3 file stores a uint8 band as int8 with ``_Unsigned="true"``.

Opened undecoded (``decode_cf=False``, ``mask_and_scale=False``) its DataArray holds the
signed bytes and the attr; xarray's decoding reads them as uint8. imgstats read the signed
bytes: the median of 0..255 came out as -0.5, its min -128, its max 127.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import imgstats

xr = pytest.importorskip("xarray")

FUNCS = ["min", "max", "median", "p99", "mean", "count"]


def _stored(values: np.ndarray, fill=None, chunked=False):
    data = values.view(np.int8)
    arr = xr.DataArray(da.from_array(data, chunks=(5, 7)) if chunked else data, dims=("y", "x"))
    arr.attrs["_Unsigned"] = "true"
    if fill is not None:
        arr.attrs["_FillValue"] = np.int8(np.array(fill, np.uint8).view(np.int8))
    return arr


def _want(values: np.ndarray) -> dict:
    return {
        "min": int(values.min()),
        "max": int(values.max()),
        "median": float(np.median(values)),
        "p99": float(np.percentile(values, 99)),
        "mean": float(values.astype(np.float64).mean()),
        "count": int(values.size),
    }


@pytest.mark.parametrize("chunked", [False, True])
def test_unsigned_bytes_are_read_as_xarray_decodes_them(chunked):
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert imgstats.compute(_stored(values, chunked=chunked), FUNCS) == _want(values)


def test_the_fill_value_is_turned_with_the_samples():
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    got = imgstats.compute(_stored(values, fill=255), FUNCS)
    assert got == _want(values.ravel()[:-1])


def test_dim_accessor_and_zonal_read_them_alike():
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    arr = _stored(values, fill=200)
    kept = np.where(values == 200, np.nan, values.astype(np.float64))
    rows = imgstats.compute(arr, "median", dim="x").values
    assert rows.tolist() == np.nanmedian(kept, axis=1).tolist()
    assert arr.imgstats.median(dim="x").values.tolist() == rows.tolist()
    labels = np.repeat([1, 2], 128).reshape(16, 16)
    table = imgstats.zonal(arr, labels, ["max", "median"])
    top = values[8:].ravel()
    top = top[top != 200]
    assert table.loc[2, "max"] == 255 and table.loc[2, "median"] == np.median(top)
    assert table.loc[2, "count"] == top.size
    scene = xr.Dataset({"v": arr})
    assert scene.imgstats.median(dim="x")["v"].values.tolist() == rows.tolist()
    assert scene.imgstats.compute("median", dim="x")["v"].values.tolist() == rows.tolist()


def test_a_file_opened_undecoded_answers_as_decoded(tmp_path):
    pytest.importorskip("scipy")  # netCDF-3 writer
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    path = tmp_path / "bytes.nc"
    xr.Dataset({"v": _stored(values, fill=7)}).to_netcdf(path, engine="scipy")
    kept = values.ravel()[values.ravel() != 7]
    with xr.open_dataset(path, decode_cf=False, engine="scipy") as raw:
        assert imgstats.compute(raw["v"], FUNCS) == _want(kept)
    with xr.open_dataset(path, engine="scipy") as decoded:  # float32, NaN for the fill
        got = imgstats.compute(decoded["v"], ["min", "max", "median", "count"])
        assert got == {"min": 0.0, "max": 255.0, "median": np.median(kept), "count": kept.size}
