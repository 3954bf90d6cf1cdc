"""A raster opened by rioxarray answers as the same file opened by imgstats.

rioxarray keeps where a raster lies in its ``spatial_ref`` coordinate (``crs_wkt``,
``GeoTransform``) and its ``x``/``y`` coordinates, and its nodata in ``attrs["_FillValue"]``
(``masked=True``: NaN). imgstats reads them without importing rioxarray: rioxarray's own
``da.rio.transform()`` and rasterio's ``geometry_mask`` (pixel centres) are the oracles of
which pixels a map polygon or bbox covers, numpy of the numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.features import geometry_mask
from rasterio.transform import Affine, from_origin

import imgstats
from imgstats.errors import InvalidOption
from imgstats.io._xarray_geo import epsg_of

rioxarray = pytest.importorskip("rioxarray")

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

H, W = 60, 80
NODATA = -9999
ORIGIN = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)
# vertices off the pixel grid: no pixel centre on an edge
TRIANGLE = [(500103.3, 4199907.7), (501501.9, 4199303.1), (500207.2, 4198493.4)]
SQUARE = [
    (500400.1, 4198903.3),
    (501900.7, 4198903.3),
    (501900.7, 4199504.9),
    (500400.1, 4199504.9),
]
BBOX = (500311.7, 4198807.1, 501013.3, 4199702.9)


def _polygon(ring):
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring + ring[:1]]]}


def _layer(rings):
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": f"z{i}", "properties": {}, "geometry": _polygon(r)}
            for i, r in enumerate(rings)
        ],
    }


@pytest.fixture(scope="module")
def geotiff(tmp_path_factory):
    """A 2-band int16 UTM GeoTIFF with a nodata value, and its samples (bands last) as
    rasterio reads them (nodata masked)."""
    rng = np.random.default_rng(1313)
    data = rng.integers(-500, 1000, (2, H, W)).astype(np.int16)
    data[:, :5, :7] = NODATA
    data[1, 40:, 60:] = NODATA
    path = tmp_path_factory.mktemp("rio") / "utm.tif"
    profile = dict(driver="GTiff", height=H, width=W, count=2, dtype="int16", crs="EPSG:32633")
    with rasterio.open(path, "w", transform=ORIGIN, nodata=NODATA, **profile) as ds:
        ds.write(data)
    with rasterio.open(path) as ds:
        masked = ds.read(masked=True)
    return path, np.ma.transpose(masked, (1, 2, 0))


def _oracle(masked, shape, transform, band):
    inside = ~geometry_mask([shape], (masked.shape[0], masked.shape[1]), transform)
    values = masked[..., band][inside]
    return values.compressed()


@pytest.mark.parametrize("masked", [False, True])
def test_whole_image_and_bands_as_the_file(geotiff, masked):
    path, samples = geotiff
    arr = rioxarray.open_rasterio(path, masked=masked)
    for label, index in (("1", 0), ("2", 1)):
        got = imgstats.compute(arr, ["count", "min", "median", "max"], band=label)
        assert got == imgstats.compute(path, ["count", "min", "median", "max"], band=index)
        values = samples[..., index].compressed()
        assert got["count"] == values.size and got["median"] == np.median(values)
    assert imgstats.compute(arr, "count") == samples.count()


@pytest.mark.parametrize("masked", [False, True])
def test_bbox_and_geometry_lie_where_the_file_does(geotiff, masked):
    path, samples = geotiff
    arr = rioxarray.open_rasterio(path, masked=masked)
    shape = _polygon(TRIANGLE)
    got = imgstats.compute(arr, ["count", "median"], band="2", geometry=shape)
    assert got == imgstats.compute(path, ["count", "median"], band=1, geometry=shape)
    values = _oracle(samples, shape, ORIGIN, 1)
    assert got == {"count": values.size, "median": np.median(values)}
    box = _polygon([(BBOX[0], BBOX[1]), (BBOX[2], BBOX[1]), (BBOX[2], BBOX[3]), (BBOX[0], BBOX[3])])
    got = imgstats.compute(arr, ["count", "max"], band="1", bbox=BBOX)
    values = _oracle(samples, box, ORIGIN, 0)
    assert got == {"count": values.size, "max": values.max()}


@pytest.mark.parametrize("masked", [False, True])
def test_zonal_polygons_in_the_rasters_crs(geotiff, masked):
    path, samples = geotiff
    arr = rioxarray.open_rasterio(path, masked=masked)
    layer = _layer([TRIANGLE, SQUARE])
    frame = imgstats.zonal(arr, layer, ["count", "median", "p90"], band="1", crs="EPSG:32633")
    same = imgstats.zonal(path, layer, ["count", "median", "p90"], band=0, crs="EPSG:32633")
    if not masked:  # masked=True: float32 samples, whose p90 numpy interpolates in float32
        assert frame.to_dict() == same.to_dict()
    for i, ring in enumerate((TRIANGLE, SQUARE)):
        values = _oracle(samples, _polygon(ring), ORIGIN, 0).astype(arr.dtype)
        assert frame.loc[f"z{i}", "count"] == values.size
        assert frame.loc[f"z{i}", "median"] == np.median(values)
        assert frame.loc[f"z{i}", "p90"] == np.percentile(values, 90)


@pytest.mark.parametrize(
    "sel",
    [
        {"x": slice(10, 70), "y": slice(5, 50)},  # the GeoTransform's origin is stale
        {"x": slice(None, None, 2)},  # so is its pixel size: the coordinates win
        {"y": slice(None, None, -1)},  # south-up
    ],
)
def test_a_sliced_array_lies_where_its_coordinates_say(geotiff, sel):
    path, _ = geotiff
    arr = rioxarray.open_rasterio(path).isel(sel)
    transform = arr.rio.transform(recalc=True)
    masked = np.ma.masked_equal(np.transpose(arr.values, (1, 2, 0)), NODATA)
    shape = _polygon(SQUARE)
    got = imgstats.compute(arr, ["count", "median"], band="1", geometry=shape, crs="EPSG:32633")
    values = _oracle(masked, shape, transform, 0)
    assert got == {"count": values.size, "median": np.median(values)}


def test_a_rotated_geotransform_is_taken_as_it_is():
    rotated = Affine(20.0, 10.0, 1000.0, 10.0, -20.0, 5000.0)
    values = np.arange(H * W, dtype=np.float32).reshape(H, W)
    arr = xr.DataArray(values, dims=("y", "x")).rio.write_transform(rotated)
    arr = arr.rio.write_crs("EPSG:32633")
    shape = _polygon([(1300.7, 4800.3), (1900.1, 4700.9), (1500.2, 4300.4)])
    got = imgstats.compute(arr, ["count", "median"], geometry=shape)
    inside = values[~geometry_mask([shape], (H, W), rotated)]
    assert got == {"count": inside.size, "median": np.median(inside)}


def test_plain_xy_coordinates_place_a_raster_crs_polygon():
    """No CRS, no transform: the x/y coordinates (pixel centres) place ``crs="raster"``."""
    values = np.arange(40 * 50, dtype=np.float64).reshape(40, 50)
    xs = 100.0 + 2.0 * np.arange(50) + 1.0
    ys = 900.0 - 3.0 * np.arange(40) - 1.5
    arr = xr.DataArray(values, dims=("y", "x"), coords={"y": ys, "x": xs})
    ring = [(110.3, 880.1), (180.9, 870.7), (140.2, 800.3)]
    layer = _layer([ring])
    frame = imgstats.zonal(arr, layer, ["count", "median"], crs="raster")
    inside = values[~geometry_mask([_polygon(ring)], (40, 50), from_origin(100.0, 900.0, 2, 3))]
    assert frame.loc["z0", "count"] == inside.size > 0
    assert frame.loc["z0", "median"] == np.median(inside)


def test_uneven_coordinates_are_no_georeferencing():
    values = np.zeros((4, 5), np.uint8)
    arr = xr.DataArray(values, dims=("y", "x"), coords={"y": [0, 1, 2, 4], "x": np.arange(5)})
    with pytest.raises(InvalidOption, match="no georeferencing"):
        imgstats.compute(arr, "count", bbox=(0, 0, 3, 3))


def test_a_rioxarray_label_raster_off_the_images_grid_is_refused(geotiff):
    path, samples = geotiff
    image = rioxarray.open_rasterio(path)
    labels = xr.zeros_like(image.isel(band=0, drop=True), dtype=np.int32) + 1
    assert imgstats.zonal(image, labels, ["count"], band="1").loc[1, "count"] == (
        samples[..., 0].count()
    )
    shifted = labels.assign_coords(x=labels.x + 5 * 30.0)
    with pytest.raises(InvalidOption, match="does not lie on the image's pixel grid"):
        imgstats.zonal(path, shifted, ["count"], band=0)
    with pytest.raises(InvalidOption, match="does not lie on the image's pixel grid"):
        imgstats.zonal(image, shifted, ["count"], band="1")


def test_index_coordinates_of_no_crs_are_no_claim_to_a_place(geotiff):
    """A label DataArray of pixel-index coordinates (no CRS) stays matched pixel by pixel."""
    path, samples = geotiff
    labels = xr.DataArray(
        np.ones((H, W), np.int32), dims=("y", "x"), coords={"y": np.arange(H), "x": np.arange(W)}
    )
    frame = imgstats.zonal(path, labels, ["count"], band=0)
    assert frame.loc[1, "count"] == samples[..., 0].count()


def test_a_band_index_on_bands_labelled_by_other_numbers_is_refused(geotiff):
    """rioxarray labels bands 1, 2: ``band=1`` is the second by position, the first by
    label (``da.sel(band=1)``); either answer would be silently wrong for someone."""
    path, _ = geotiff
    arr = rioxarray.open_rasterio(path)
    for band in (0, 1, -1):
        with pytest.raises(InvalidOption, match=r"band=-?\d is ambiguous.*band='1'"):
            imgstats.compute(arr, "max", band=band)
    with pytest.raises(InvalidOption, match="ambiguous"):
        imgstats.zonal(arr, np.ones((H, W), np.uint8), ["max"], band=1)
    plain = xr.DataArray(np.zeros((3, 4, 2), np.uint8), dims=("y", "x", "band"))
    assert imgstats.compute(plain, "max", band=1) == 0  # no labels: positions


@pytest.mark.parametrize(
    "crs, epsg",
    [
        ("EPSG:32633", 32633),
        ("+init=epsg:4326", 4326),
        ('PROJCS["x",GEOGCS["y",AUTHORITY["EPSG","4326"]],AUTHORITY["EPSG","32633"]]', 32633),
        ('PROJCRS["x",BASEGEOGCRS["y",ID["EPSG",4326]],ID["EPSG",32633]]', 32633),
        ('PROJCS["custom",GEOGCS["y",AUTHORITY["EPSG","4326"]]]', None),
        (None, None),
        (12, None),
    ],
)
def test_epsg_of(crs, epsg):
    assert epsg_of(crs) == epsg


def test_the_wkt_of_every_crs_rioxarray_writes(geotiff):
    from pyproj import CRS

    assert epsg_of(CRS.from_epsg(3857).to_wkt()) == 3857
    assert epsg_of(CRS.from_epsg(3857).to_wkt("WKT1_GDAL")) == 3857
    arr = rioxarray.open_rasterio(geotiff[0])
    assert epsg_of(arr.spatial_ref.attrs["crs_wkt"]) == 32633


def test_a_slice_of_an_open_image_array_is_not_placed_by_the_wholes_attrs(geotiff):
    """open_image's transform and bounds attrs stay as they are on a slice: they placed its
    map regions 40 pixels off (no pixel, or other pixels). rioxarray's coordinates move."""
    path, samples = geotiff
    whole = imgstats.open_image(path)
    shape = _polygon(SQUARE)
    values = _oracle(samples, shape, ORIGIN, 0)
    assert imgstats.compute(whole, "count", band="0", geometry=shape) == values.size
    with pytest.raises(InvalidOption, match="a slice keeps the attrs of the whole"):
        imgstats.compute(whole.isel(x=slice(40, 80)), "count", band="0", geometry=shape)
    cut = rioxarray.open_rasterio(path).isel(x=slice(40, 80))
    inside = _oracle(samples[:, 40:], shape, ORIGIN @ Affine.translation(40, 0), 0)
    assert imgstats.compute(cut, "count", band="1", geometry=shape) == inside.size
