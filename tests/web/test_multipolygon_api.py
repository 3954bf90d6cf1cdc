"""A GeoJSON MultiPolygon over HTTP: ``POST /stats/<image>`` takes one wherever it takes a
Polygon, the union of its parts as ``imgstats.compute(polygon=...)`` counts it. The oracle is
numpy on the pixels ``rasterio.features.geometry_mask`` covers (centres inside)."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from rasterio.features import geometry_mask
from test_regions_api import assert_equal, oracle

import imgstats

FUNCS = ["min", "max", "mean", "median", "p2.5", "p99.9"]

# two parts with a hole in the first; the second overlaps the first part and its hole
OUTER = [[20.3, 20.2], [200.3, 20.2], [200.3, 160.2], [20.3, 160.2], [20.3, 20.2]]
HOLE = [[60.3, 50.2], [140.3, 50.2], [140.3, 120.2], [60.3, 120.2], [60.3, 50.2]]
OVERLAP = [[120.3, 100.2], [280.3, 130.2], [150.3, 230.2], [120.3, 100.2]]
MULTI = {"type": "MultiPolygon", "coordinates": [[OUTER, HOLE], [OVERLAP]]}


def covered(shape, geometry) -> np.ndarray:
    """The pixels whose centre GDAL's rasterizer puts inside ``geometry`` (pixel coordinates)."""
    return geometry_mask([geometry], out_shape=shape[:2], transform=Affine.identity(), invert=True)


@pytest.mark.parametrize("name", ["IMG_12_uint16.tif", "IMG_13_float32.tif", "IMG_14_int16.tif"])
def test_a_multipolygon_with_a_hole_and_overlapping_parts_is_numpy(client, images, name):
    arr = np.asarray(imgstats.open_image(images / name))
    inside = covered(arr.shape, MULTI)
    r = client.post(f"/stats/{name}", json={"funcs": FUNCS, "polygon": MULTI})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["pixels"] == inside.sum()
    for func in FUNCS:
        assert_equal(body["values"][func], oracle(arr[inside], func), func)
    # the library gives the same answer
    assert body["values"]["median"] == imgstats.compute(images / name, "median", polygon=MULTI)


def test_a_multipolygon_on_a_colour_image_answers_each_band(client, images):
    arr = np.asarray(imgstats.open_image(images / "IMG_1.jpg"))
    inside = covered(arr.shape, MULTI)
    body = client.post("/stats/IMG_1.jpg", json={"funcs": ["median"], "polygon": MULTI}).get_json()
    assert body["values"]["median"] == np.median(arr[inside]).item()
    for i, band in enumerate("RGB"):
        assert body["bands"][band]["median"] == np.median(arr[inside][:, i]).item()


def test_a_multipolygon_is_not_served_the_answer_of_a_polygon_of_the_same_rings(client, images):
    arr = np.asarray(imgstats.open_image(images / "IMG_12_uint16.tif"))
    with_hole = {"type": "Polygon", "coordinates": [OUTER, HOLE]}
    # the same rings as two parts: the hole is a part of its own, inside the first
    two_parts = {"type": "MultiPolygon", "coordinates": [[OUTER], [HOLE]]}
    one_part = {"type": "MultiPolygon", "coordinates": [[OUTER, HOLE]]}
    answers = [
        client.post("/stats/IMG_12_uint16.tif", json={"funcs": ["count"], "polygon": p}).get_json()
        for p in (with_hole, two_parts, one_part)
    ]
    assert answers[0]["pixels"] == covered(arr.shape, with_hole).sum()
    assert answers[1]["pixels"] == covered(arr.shape, two_parts).sum() > answers[0]["pixels"]
    assert answers[2]["pixels"] == answers[0]["pixels"]


def test_a_multipolygon_as_a_feature_and_with_a_window(client, images):
    arr = np.asarray(imgstats.open_image(images / "IMG_14_int16.tif"))
    feature = {"type": "Feature", "properties": {}, "geometry": MULTI}
    body = client.post(
        "/stats/IMG_14_int16.tif",
        json={"funcs": ["max"], "polygon": feature, "window": [0, 0, 150, 140]},
    ).get_json()
    inside = covered(arr.shape, MULTI)
    inside[140:] = False
    inside[:, 150:] = False
    assert body["pixels"] == inside.sum()
    assert body["values"]["max"] == arr[inside].max().item()


def _parts(n: int, start: int = 0) -> list:
    return [[[[i, 0], [i + 1, 0], [i, 1], [i, 0]]] for i in range(start, start + n)]


BAD = [
    ({"type": "MultiPolygon", "coordinates": []}, 400, "non-empty"),  # empty: the library's rule
    ({"type": "MultiPolygon"}, 400, "non-empty"),
    ({"type": "MultiPolygon", "coordinates": "0,0,1,1"}, 400, "MultiPolygon"),
    ({"type": "MultiPolygon", "coordinates": [[]]}, 400, "part 0"),
    ({"type": "MultiPolygon", "coordinates": [[OUTER], 7]}, 400, "part 1"),
    ({"type": "MultiPolygon", "coordinates": [[OUTER], [[["a", 0], [5, 5], [0, 9]]]]}, 400, "1"),
    ({"type": "MultiPolygon", "coordinates": [[[[0, 0], [1e300, 5], [0, 9]]]]}, 400, "2**31"),
    ({"type": "MultiPolygon", "coordinates": [[OUTER], [[[0, 0], [5, 5]]]]}, 400, "part 1"),
    ({"type": "MultiPolygon", "coordinates": [[[[[[[[0, 0]]]]]]]]}, 400, "part 0"),  # too deep
    ({"type": "MultiPolygon", "coordinates": _parts(3400)}, 400, "10000 vertices"),
    ({"type": "MultiPolygon", "coordinates": [[[[0.1, 0.1], [0.3, 0.1], [0.2, 0.4]]]]}, 422, ""),
    ({"type": "MultiPolygon", "coordinates": [[[[-9, -9], [-1, -9], [-1, -1]]]]}, 422, ""),
]


@pytest.mark.parametrize(("polygon", "status", "says"), BAD, ids=[str(b)[:60] for b in BAD])
def test_a_bad_multipolygon_is_a_4xx_with_a_reason_and_the_service_keeps_serving(
    client, polygon, status, says
):
    r = client.post("/stats/IMG_1.jpg", json={"funcs": ["min"], "polygon": polygon})
    assert r.status_code == status, r.get_data(as_text=True)[:300]
    error = r.get_json()
    assert error["status"] == status and says in error["error"]
    assert "Traceback" not in error["error"]
    assert client.post("/stats/IMG_1.jpg", json={"funcs": ["max"]}).get_json()["values"] == {
        "max": 255
    }


def test_a_million_parts_is_a_413_and_the_service_keeps_serving(client):
    body = (
        b'{"funcs": ["min"], "polygon": {"type": "MultiPolygon", "coordinates": ['
        + b"[[[0, 0], [1, 0], [0, 1]]]," * 999_999
        + b"[[[0, 0], [1, 0], [0, 1]]]]}}"
    )
    r = client.post("/stats/IMG_1.jpg", data=body, content_type="application/json")
    assert r.status_code == 413 and r.get_json()["error"]
    assert client.get("/health").status_code == 200


WRONG_TYPES = [
    {"type": "FeatureCollection", "features": []},
    {"type": "GeometryCollection", "geometries": []},
    {"type": "Point", "coordinates": [1, 2]},
    {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [5, 5]]}},
    {"coordinates": [OUTER]},  # no type
]


@pytest.mark.parametrize("polygon", WRONG_TYPES, ids=[str(p)[:40] for p in WRONG_TYPES])
def test_a_geometry_of_another_type_is_a_400_naming_polygon_and_multipolygon(client, polygon):
    # it said "must be {'type': 'Polygon', ...}", though a MultiPolygon is taken too
    r = client.post("/stats/IMG_1.jpg", json={"funcs": ["min"], "polygon": polygon})
    assert r.status_code == 400
    error = r.get_json()["error"]
    kind = polygon.get("geometry", polygon).get("type")  # a Feature's geometry's type
    assert "Polygon" in error and "MultiPolygon" in error and repr(kind) in error


def test_a_feature_collection_is_pointed_at_zonal_statistics(client):
    polygon = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": MULTI}]}
    r = client.post("/stats/IMG_1.jpg", json={"funcs": ["min"], "polygon": polygon})
    assert r.status_code == 400 and "/zonal" in r.get_json()["error"]
