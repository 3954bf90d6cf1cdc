"""A geographic grid's DataArray, dims ``(time, lat, lon)`` as NetCDF and CF write it, is
read by its dim names as ``(y, x)`` pixels with ``time`` bands, as rioxarray reads it.

It was read by position: ``y`` = time, ``x`` = lat and 50 ``lon`` bands, so ``band=0`` was
a longitude and a window cut time steps. numpy is the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import imgstats

V = np.random.default_rng(1313).random((4, 30, 50))
LAT = 50 - 0.1 * np.arange(30) - 0.05
LON = 10 + 0.1 * np.arange(50) + 0.05


@pytest.mark.parametrize("names", [("lat", "lon"), ("latitude", "longitude")])
def test_lat_lon_are_rows_and_columns(names):
    arr = xr.DataArray(V, dims=("time", *names))
    assert imgstats.compute(arr, "max", band=2) == V[2].max()
    assert imgstats.compute(arr, "count", window=(0, 0, 10, 2)) == 2 * 10 * 4
    assert imgstats.compute(arr.transpose(names[1], "time", names[0]), "max", band=1) == V[1].max()
    flat = xr.DataArray(V[0], dims=names)
    got = imgstats.compute(flat.T, ["count", "max"], window=(0, 0, 10, 2))
    assert got == {"count": 20, "max": V[0, :2, :10].max()}


def test_zonal_over_a_lat_lon_grid():
    arr = xr.DataArray(V, dims=("time", "lat", "lon"))
    labels = xr.DataArray((np.arange(1500).reshape(30, 50) // 500).astype(int), dims=("lat", "lon"))
    frame = imgstats.zonal(arr.transpose("lon", "time", "lat"), labels.T, ["count", "max"])
    for z in (1, 2):
        assert frame.loc[z, "count"] == 500 * 4
        assert frame.loc[z, "max"] == V[:, labels.values == z].max()


def test_lat_lon_coordinates_place_a_lon_lat_geometry():
    arr = xr.DataArray(
        V, dims=("time", "lat", "lon"), coords={"lat": LAT, "lon": LON}, attrs={"crs": "EPSG:4326"}
    )
    ring = [[10.0, 50.0], [11.0, 50.0], [11.0, 49.0], [10.0, 49.0], [10.0, 50.0]]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    got = imgstats.compute(arr, ["count", "median"], geometry=geometry)
    inside = V[:, :10, :10]
    assert got == {"count": inside.size, "median": np.median(inside)}
    assert imgstats.compute(arr, "count", bbox=(10.0, 49.0, 11.0, 50.0)) == inside.size
