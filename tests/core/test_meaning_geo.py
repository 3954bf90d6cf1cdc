"""Map coordinates (issue 16, item 5): a GeoTIFF's georeferencing read with tifffile, and
windows and polygons given in map coordinates. rasterio is the oracle of the georeferencing
and of which pixels a bbox or a geometry selects (its ``geometry_mask``, pixel centres)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import rasterio
from rasterio.features import geometry_mask
from rasterio.transform import Affine, from_origin

import imgstats
from imgstats.errors import InvalidOption, NoValidSamples
from imgstats.io import read_header

from .oracle import check_all

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")
FUNCS = ["min", "max", "mean", "median"]
H, W = 120, 200
RNG = np.random.default_rng(5)


def _write(path, transform, crs="EPSG:32633", data=None, **kw):
    data = RNG.integers(0, 1000, (1, H, W)).astype(np.uint16) if data is None else data
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=W,
        height=H,
        count=1,
        dtype=data.dtype.name,
        crs=crs,
        transform=transform,
        tiled=True,
        blockxsize=64,
        blockysize=64,
        **kw,
    ) as dst:
        dst.write(data)
    return path, data[0]


@pytest.mark.parametrize(
    "transform",
    [
        Affine(10.0, 0.0, 500000, 0.0, -10.0, 4000000),  # from_origin warns at import
        Affine(0.5, 0.0, 12.25, 0.0, -0.25, 47.5),
        Affine(10.0, 2.0, 500000, 1.5, -10.0, 4000000),  # rotated: a model transformation
    ],
    ids=["utm", "degrees", "rotated"],
)
def test_header_has_crs_transform_and_bounds(tmp_path, transform):
    crs = "EPSG:4326" if transform.a == 0.5 else "EPSG:32633"
    path, _ = _write(tmp_path / "g.tif", transform, crs)
    with open(path, "rb") as fh:
        header = read_header(fh, str(path))
    with rasterio.open(path) as src:
        assert header["crs"] == f"EPSG:{src.crs.to_epsg()}"
        assert header["transform"] == pytest.approx(list(src.transform)[:6], abs=1e-9)
        assert header["bounds"] == pytest.approx(list(src.bounds), abs=1e-6)


def test_no_georeferencing_says_none(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((4, 4), np.uint8))
    with open(tmp_path / "plain.tif", "rb") as fh:
        header = read_header(fh, "plain.tif")
    assert (header["crs"], header["transform"], header["bounds"]) == (None, None, None)
    with pytest.raises(InvalidOption, match="no georeferencing"):
        imgstats.compute(tmp_path / "plain.tif", "mean", bbox=(0, 0, 1, 1))


@pytest.mark.parametrize("chunks", [None, {0: 33, 1: 47}])
def test_bbox_selects_the_pixel_centres_inside(tmp_path, chunks):
    t = from_origin(500000, 4000000, 10, 10)
    path, data = _write(tmp_path / "g.tif", t)
    bbox = (500123.0, 3999222.0, 501007.0, 3999801.0)
    shape = {
        "type": "Polygon",
        "coordinates": [
            [
                (bbox[0], bbox[1]),
                (bbox[2], bbox[1]),
                (bbox[2], bbox[3]),
                (bbox[0], bbox[3]),
                (bbox[0], bbox[1]),
            ]
        ],
    }
    inside = ~geometry_mask([shape], (H, W), t)
    want = data[inside]
    check_all(imgstats.compute(path, FUNCS, bbox=bbox, chunks=chunks), want, FUNCS)
    check_all(imgstats.compute(path, FUNCS, bbox=",".join(map(str, bbox))), want, FUNCS)
    check_all(imgstats.compute(path, FUNCS, geometry=shape, chunks=chunks), want, FUNCS)


def test_geojson_in_lon_lat_is_reprojected(tmp_path):
    from pyproj import Transformer

    t = from_origin(500000, 4000000, 10, 10)
    path, data = _write(tmp_path / "g.tif", t)
    # vertices off the pixel grid: no pixel centre lies on an edge, where a rounding of the
    # round trip through lon/lat could move it
    ring_utm = [(500103.3, 3999107.7), (501501.9, 3999303.1), (501207.2, 3999893.4)]
    to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    ring = [to_lonlat.transform(x, y) for x, y in ring_utm]
    geojson = {"type": "Polygon", "coordinates": [ring + ring[:1]]}
    got = imgstats.compute(path, FUNCS, geometry=geojson, crs="OGC:CRS84")
    utm = {"type": "Polygon", "coordinates": [ring_utm + ring_utm[:1]]}
    inside = ~geometry_mask([utm], (H, W), t)
    check_all(got, data[inside], FUNCS)


def test_reprojection_without_pyproj_names_the_extra(tmp_path, monkeypatch):
    path, _ = _write(tmp_path / "g.tif", from_origin(500000, 4000000, 10, 10))
    # pyproj is installed here: hide it, as on an install without the geo extra
    monkeypatch.setitem(sys.modules, "pyproj", None)
    with pytest.raises(InvalidOption, match=r"imgstats\[geo\]"):
        imgstats.compute(path, "mean", bbox=(15, 36, 15.1, 36.1), crs="EPSG:4326")


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"bbox": (501000, 3999000, 500000, 3999900)}, InvalidOption, "inverted"),
        ({"bbox": (1, 2, 3)}, InvalidOption, "four"),
        ({"bbox": "a,b,c,d"}, InvalidOption, "four numbers"),
        ({"bbox": (0, 0, 10, 10)}, NoValidSamples, "no pixel centre"),
        (
            {"bbox": (500000, 3999000, 501000, 3999900), "crs": "EPSG:999999"},
            InvalidOption,
            "unknown CRS",
        ),
        ({"crs": "EPSG:4326"}, InvalidOption, "bbox or geometry"),
        (  # a CRS of the Moon: pyproj's ProjError, a 500 over HTTP
            {"bbox": (0, 0, 1, 1), "crs": "IAU_2015:30100"},
            InvalidOption,
            "celestial body",
        ),
        ({"geometry": {"type": "Point", "coordinates": [1, 2]}}, InvalidOption, "Polygon"),
        (
            {"bbox": (500000, 3999000, 501000, 3999900), "window": (0, 0, 5, 5)},
            InvalidOption,
            "not both",
        ),
    ],
)
def test_bad_map_regions_are_refused(tmp_path, options, error, match):
    path, _ = _write(tmp_path / "g.tif", from_origin(500000, 4000000, 10, 10))
    with pytest.raises(error, match=match):
        imgstats.compute(path, "mean", **options)


def test_unknown_crs_of_the_image_is_refused_for_reprojection(tmp_path):
    path, _ = _write(tmp_path / "g.tif", from_origin(0, 100, 1, 1), crs=None)
    with pytest.raises(InvalidOption, match="no known CRS"):
        imgstats.compute(path, "mean", bbox=(0, 0, 1, 1), crs="EPSG:4326")


@pytest.mark.parametrize(
    ("bbox", "crs"),
    [
        ((-180, -90, 180, 90), "EPSG:4326"),  # the world, on a UTM raster
        ((-1e300, -1e300, 1e300, 1e300), "EPSG:3857"),
        ((15.0042, 20.0, 170.0, 36.1373), "OGC:CRS84"),  # far beyond on two sides, cut on two
    ],
    ids=["world", "huge", "cut"],
)
def test_a_bbox_far_larger_than_the_raster_keeps_the_pixels_inside(tmp_path, bbox, crs):
    """A bbox in another CRS reaching far past the raster: its corners are not taken into the
    raster's CRS as they are (a UTM projection far off its meridian lands anywhere, and the
    ring held no pixel: a 422), yet every pixel whose centre lies in it counts. The oracle:
    each pixel centre taken to the bbox's CRS with pyproj."""
    from pyproj import Transformer

    t = Affine(10.0, 0.0, 500000, 0.0, -10.0, 4000000)
    path, data = _write(tmp_path / "g.tif", t)
    cols, rows = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    xs, ys = t * (cols, rows)
    lon, lat = Transformer.from_crs("EPSG:32633", crs, always_xy=True).transform(xs, ys)
    inside = (lon >= bbox[0]) & (lon <= bbox[2]) & (lat >= bbox[1]) & (lat <= bbox[3])
    assert 0 < inside.sum()
    check_all(imgstats.compute(path, FUNCS, bbox=bbox, crs=crs), data[inside], FUNCS)
    assert imgstats.compute(path, "count", bbox=bbox, crs=crs) == inside.sum()


def test_a_bbox_beside_the_raster_in_another_crs_holds_no_pixel(tmp_path):
    path, _ = _write(tmp_path / "g.tif", Affine(10.0, 0.0, 500000, 0.0, -10.0, 4000000))
    with pytest.raises(NoValidSamples, match="no pixel centre"):
        imgstats.compute(path, "mean", bbox=(-170, -80, -160, -70), crs="EPSG:4326")
