"""A label DataArray whose coordinates hold the image's in another order is aligned by them.

A label grid from a netCDF (``lat`` ascending, row 0 the southern one) beside a GeoTIFF
read by xarray (``y`` descending) was matched pixel by pixel when neither names a CRS: every
zone answered for the mirrored rows, silently (with a CRS on both, it was refused as off the
grid). xarray aligns two arrays by their coordinates; so does ``zonal`` now, when a label
coordinate holds exactly the image's values in another order. Labels whose coordinates are
pixel indices (``0 .. n - 1`` beside metres) are still matched pixel by pixel; a coordinate
of other values than the image's (one repeated, or shifted past the tolerance) is refused,
as ``xarray.align(join="exact")`` refuses it.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import imgstats

RNG = np.random.default_rng(3)
IMG = RNG.integers(0, 5000, size=(40, 50)).astype(np.uint16)
LAB = RNG.integers(1, 6, size=(40, 50)).astype(np.int32)
Y = 395 - np.arange(40) * 10.0  # north to south, as a GeoTIFF's rows
X = np.arange(50) * 10 + 5.0
IMAGE = xr.DataArray(IMG, dims=("y", "x"), coords={"y": Y, "x": X})


def _check(table, labels=LAB):
    zones = np.unique(labels)
    assert table.index.tolist() == zones.tolist()
    for z in zones:
        v = IMG[labels == z]
        assert table.loc[z, "count"] == v.size
        assert table.loc[z, "median"] == np.median(v) and table.loc[z, "max"] == v.max()


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("dims", [("lat", "lon"), ("y", "x")])
def test_labels_south_up_are_aligned_to_the_image(dims, chunked):
    data = LAB[::-1, ::-1]  # rows south to north, columns east to west
    data = da.from_array(data, chunks=(13, 17)) if chunked else data
    labels = xr.DataArray(data, dims=dims, coords={dims[0]: Y[::-1], dims[1]: X[::-1]})
    _check(imgstats.zonal(IMAGE, labels, ["median", "max"]))
    _check(IMAGE.imgstats.zonal(labels, ["median", "max"]))


def test_labels_in_the_image_crs_south_up_are_aligned():
    rioxarray = pytest.importorskip("rioxarray")
    assert rioxarray
    image = IMAGE.rio.write_crs("EPSG:32633")
    labels = xr.DataArray(LAB[::-1], dims=("y", "x"), coords={"y": Y[::-1], "x": X})
    # before: refused, "the label raster does not lie on the image's pixel grid"
    _check(imgstats.zonal(image, labels.rio.write_crs("EPSG:32633"), ["median", "max"]))


def test_labels_of_other_coordinates_are_matched_pixel_by_pixel():
    by_index = xr.DataArray(LAB, dims=("y", "x"), coords={"y": np.arange(40), "x": np.arange(50)})
    _check(imgstats.zonal(IMAGE, by_index, ["median", "max"]))
    shuffled = RNG.permutation(40)
    part = xr.DataArray(LAB[shuffled], dims=("y", "x"), coords={"y": Y[shuffled], "x": X})
    _check(imgstats.zonal(IMAGE, part, ["median", "max"]))  # any order of the same rows


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_labels_whose_coordinates_differ_in_the_last_bits_are_aligned(dtype):
    """A netCDF's ``np.linspace`` latitudes beside a GeoTIFF's ``f + e (row + 0.5)`` rows
    differ in the last bits: exact equality missed them, and every zone answered for the
    mirrored rows, silently."""
    y = 45.7 - 0.1 * (np.arange(40) + 0.5)
    x = 12.05 + 0.1 * np.arange(50)
    image = xr.DataArray(IMG, dims=("y", "x"), coords={"y": y, "x": x})
    lat = np.linspace(y[-1], y[0], 40).astype(dtype)
    assert not np.array_equal(lat[::-1], y)
    labels = xr.DataArray(LAB[::-1], dims=("lat", "lon"), coords={"lat": lat, "lon": x})
    _check(imgstats.zonal(image, labels, ["count", "median", "max"]))


def test_unsigned_coordinates_in_another_order_are_aligned():
    rows = np.arange(40, dtype=np.uint32)
    image = xr.DataArray(IMG, dims=("y", "x"), coords={"y": rows[::-1].copy()})
    labels = xr.DataArray(LAB[::-1], dims=("y", "x"), coords={"y": rows})
    _check(imgstats.zonal(image, labels, ["count", "median", "max"]))


def _refused(labels):
    with pytest.raises(imgstats.InvalidOption) as info:
        imgstats.zonal(IMAGE, labels, ["median"])
    return str(info.value)


def test_labels_with_a_repeated_coordinate_are_refused_naming_it():
    """x = 5, 15, 25, 25, 45...: matched by position, column 3's labels answered for the
    image's x = 35, silently; xarray's exact alignment refuses such a coordinate."""
    x = X.copy()
    x[3] = x[2]
    message = _refused(xr.DataArray(LAB, dims=("y", "x"), coords={"y": Y, "x": x}))
    assert "x coordinate" in message and "25.0 twice, at positions 2 and 3" in message
    with pytest.raises(ValueError, match="exact"):  # the model
        xr.align(IMAGE, xr.DataArray(LAB, dims=("y", "x"), coords={"y": Y, "x": x}), join="exact")


@pytest.mark.parametrize(("shift", "position", "value"), [(5.0, 0, 10.0), (20.0, 48, 505.0)])
def test_labels_shifted_off_the_image_s_coordinates_are_refused(shift, position, value):
    """Half a pixel or two pixels east: matched by position, every zone answered for its
    neighbours' pixels."""
    labels = xr.DataArray(LAB, dims=("y", "x"), coords={"y": Y, "x": X + shift})
    message = _refused(labels)
    assert "the labels' x coordinate" in message
    assert f"its value {value!r} at position {position}" in message


def test_a_renamed_dim_off_by_more_than_the_tolerance_is_refused_naming_both():
    labels = xr.DataArray(LAB, dims=("lat", "lon"), coords={"lat": Y + 0.02, "lon": X})
    message = _refused(labels)  # 0.002 pixels: past COORD_TOLERANCE (1e-3)
    assert "lat (the image's y) coordinate" in message and "395.02 at position 0" in message
    within = xr.DataArray(LAB, dims=("lat", "lon"), coords={"lat": Y + 0.005, "lon": X})
    _check(imgstats.zonal(IMAGE, within, ["median", "max"]))  # 0.0005 pixels: the same
