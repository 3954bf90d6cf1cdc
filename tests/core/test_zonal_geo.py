"""Polygon zones in map coordinates (issue 17): the raster's own CRS through its GeoTIFF
transform, and RFC 7946 lon/lat reprojected with pyproj; pixel coordinates need none.

rasterio's ``geometry_mask`` (pixel centres) is the oracle of which pixels a map polygon
selects, and ``compute(geometry=..., crs=...)`` of each zone's values.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from rasterio.features import geometry_mask
from rasterio.transform import Affine, from_origin

import imgstats
from imgstats.cli import main
from imgstats.errors import InvalidOption

from .test_meaning_geo import H, W, _write

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")
FUNCS = ["min", "max", "mean", "median", "p90"]
# vertices off the pixel grid: no pixel centre on an edge, where a round trip could move it
UTM = [
    [(500103.3, 3999107.7), (501501.9, 3999303.1), (501207.2, 3999893.4)],
    [(500400.1, 3998903.3), (501900.7, 3998903.3), (501900.7, 3999504.9), (500400.1, 3999504.9)],
    [(400000.3, 3000000.1), (400100.3, 3000000.1), (400050.3, 3000100.1)],  # off the image
]


def _layer(rings):
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": f"z{i}"},
                "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in r + r[:1]]]},
            }
            for i, r in enumerate(rings)
        ],
    }


def _check(frame, data, rings, transform):
    for i, ring in enumerate(rings):
        shape = {"type": "Polygon", "coordinates": [ring + ring[:1]]}
        inside = ~geometry_mask([shape], (H, W), transform)
        v = data[inside]
        assert frame.loc[i, "count"] == v.size
        if v.size:
            assert frame.loc[i, "median"] == np.median(v)
            assert frame.loc[i, "p90"] == np.percentile(v, 90)
            assert frame.loc[i, "max"] == v.max()


@pytest.mark.parametrize("chunks", [None, {0: 37, 1: 51}])
@pytest.mark.parametrize(
    "transform",
    [
        Affine(10.0, 0.0, 500000, 0.0, -10.0, 4000000),
        Affine(10.0, 2.0, 500000, 1.5, -10.0, 4000000),
    ],
    ids=["utm", "rotated"],
)
def test_polygons_in_the_rasters_crs(tmp_path, transform, chunks):
    path, data = _write(tmp_path / "g.tif", transform)
    opts = {} if chunks is None else {"chunks": chunks}
    frame = imgstats.zonal(str(path), _layer(UTM), FUNCS, crs="raster", **opts)
    _check(frame, data, UTM, transform)
    # the same as naming the raster's CRS, and as compute's geometry= zone by zone
    named = imgstats.zonal(str(path), _layer(UTM), FUNCS, crs="EPSG:32633", **opts)
    assert named.equals(frame)
    for i, ring in enumerate(UTM[:2]):
        shape = {"type": "Polygon", "coordinates": [ring + ring[:1]]}
        want = imgstats.compute(str(path), FUNCS, geometry=shape)
        assert frame.loc[i, FUNCS].to_dict() == want


def test_lon_lat_is_reprojected(tmp_path):
    from pyproj import Transformer

    t = from_origin(500000, 4000000, 10, 10)
    path, data = _write(tmp_path / "g.tif", t)
    to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    lonlat = [[to_lonlat.transform(x, y) for x, y in r] for r in UTM]
    frame = imgstats.zonal(str(path), _layer(lonlat), FUNCS, crs="OGC:CRS84")
    _check(frame, data, UTM, t)
    assert frame.loc[2, "count"] == 0  # the polygon off the image is an empty zone


def _named(layer, name):
    """``layer`` with GeoJSON 2008's ``crs`` member naming ``name``, as GDAL and QGIS write it."""
    return {**layer, "crs": {"type": "name", "properties": {"name": name}}}


@pytest.mark.parametrize("chunks", [None, {0: 37, 1: 51}])
def test_a_layer_that_names_its_crs_is_in_that_crs(tmp_path, chunks):
    # before: a FeatureCollection exported by GDAL or QGIS, with its crs member, was read as
    # pixel coordinates: every zone empty, or, where its numbers fell on the image (lon/lat
    # degrees on a fine grid), the statistics of other pixels
    from pyproj import Transformer

    t = from_origin(500000, 4000000, 10, 10)
    path, data = _write(tmp_path / "g.tif", t)
    opts = {} if chunks is None else {"chunks": chunks}
    utm = _named(_layer(UTM), "urn:ogc:def:crs:EPSG::32633")
    frame = imgstats.zonal(str(path), utm, FUNCS, **opts)
    _check(frame, data, UTM, t)
    to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    lonlat = [[to_lonlat.transform(x, y) for x, y in r] for r in UTM]
    named = _named(_layer(lonlat), "urn:ogc:def:crs:OGC:1.3:CRS84")
    assert imgstats.zonal(str(path), named, FUNCS, **opts).equals(frame)
    zones = tmp_path / "z.geojson"  # a file as ogr2ogr writes one
    zones.write_text(json.dumps(named))
    assert imgstats.zonal(str(path), str(zones), FUNCS, **opts).equals(frame)
    # crs= is said in place of the member
    misnamed = _named(_layer(UTM), "OGC:CRS84")
    assert imgstats.zonal(str(path), misnamed, FUNCS, crs="raster", **opts).equals(frame)


@pytest.mark.parametrize(
    ("member", "match"),
    [
        ({"type": "link", "properties": {"href": "x.prj"}}, "names no CRS"),
        ({"type": "name", "properties": {}}, "names no CRS"),
        ("", "names no CRS"),
        ("EPSG:nope", "unknown CRS"),
    ],
)
def test_a_crs_member_that_names_no_crs_is_refused(tmp_path, member, match):
    path, _ = _write(tmp_path / "g.tif", from_origin(500000, 4000000, 10, 10))
    with pytest.raises(InvalidOption, match=match):
        imgstats.zonal(str(path), {**_layer(UTM), "crs": member}, ["max"])
    img = np.zeros((10, 10), np.uint8)  # and on an image without georeferencing
    with pytest.raises(InvalidOption, match="names no CRS|no georeferencing"):
        imgstats.zonal(img, _named(_layer(UTM), "EPSG:32633") | {"crs": member}, ["max"])


def test_pixel_coordinates_need_no_georeferencing_and_map_ones_do(tmp_path):
    img = np.arange(100, dtype=np.uint8).reshape(10, 10)
    tri = [[0, 0], [10, 0], [0, 10]]
    assert imgstats.zonal(img, [tri], ["max"]).loc[0, "count"] == 55  # the diagonal's too
    with pytest.raises(InvalidOption, match="no georeferencing"):
        imgstats.zonal(img, [tri], ["max"], crs="raster")
    with pytest.raises(InvalidOption, match="label images"):
        imgstats.zonal(img, np.ones((10, 10), int), ["max"], crs="raster")
    path, _ = _write(tmp_path / "g.tif", from_origin(500000, 4000000, 10, 10))
    with pytest.raises(InvalidOption, match="unknown CRS"):
        imgstats.zonal(str(path), _layer(UTM), ["max"], crs="EPSG:nope")
    with pytest.raises(InvalidOption, match="feature 0"):  # far outside the CRS's area
        imgstats.zonal(str(path), [[[1e300, 0], [0, 1e300], [1e300, 1e300]]], ["max"], crs="raster")


def test_without_pyproj_the_extra_is_named(tmp_path, monkeypatch):
    path, _ = _write(tmp_path / "g.tif", from_origin(500000, 4000000, 10, 10))
    monkeypatch.setitem(sys.modules, "pyproj", None)
    with pytest.raises(InvalidOption, match=r"imgstats\[geo\]"):
        imgstats.zonal(str(path), _layer(UTM), ["max"], crs="EPSG:4326")


def test_cli_crs(tmp_path, capsys):
    t = from_origin(500000, 4000000, 10, 10)
    path, data = _write(tmp_path / "g.tif", t)
    zones = tmp_path / "z.geojson"
    zones.write_text(json.dumps(_layer(UTM)))
    assert (
        main(["zonal", str(path), str(zones), "median", "--crs", "raster", "--format", "json"]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    ring = UTM[0] + UTM[0][:1]
    inside = ~geometry_mask([{"type": "Polygon", "coordinates": [ring]}], (H, W), t)
    assert rows[0]["median"] == np.median(data[inside])
    assert main(["zonal", str(path), str(zones), "median", "--crs", "EPSG:nope"]) == 2
    assert "unknown CRS" in capsys.readouterr().err


@pytest.mark.parametrize("degrees", [30, -30, 45])
def test_a_rotated_raster_s_polygons_cover_the_pixels_geometry_mask_gives(tmp_path, degrees):
    # a raster rotated by 30 degrees, polygons whose vertices sit on pixel centres, on
    # their edges and between: every centre on an edge goes where GDAL's rasterizer (through
    # its inverse geotransform) puts it (an earlier round's notes had 29 pixels for
    # rasterio's 31 on such a raster)
    transform = Affine.translation(500000, 4000000) * Affine.rotation(degrees)
    transform = transform * Affine.scale(10, -10)
    path, data = _write(tmp_path / "r.tif", transform)
    rng = np.random.default_rng(degrees + 360)
    rings = []
    for k in range(24):
        x0, y0 = int(rng.integers(5, W - 15)), int(rng.integers(5, H - 15))
        w, h = int(rng.integers(2, 12)), int(rng.integers(2, 12))
        off = (0.0, 0.5, 0.25)[k % 3]
        corners = [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)][: 3 + k % 2]
        rings.append([tuple(map(float, transform * (x + off, y + off))) for x, y in corners])
    frame = imgstats.zonal(str(path), _layer(rings), FUNCS, crs="raster")
    _check(frame, data, rings, transform)
    assert (frame["count"] > 0).sum() >= 20  # a thin triangle may hold no centre
