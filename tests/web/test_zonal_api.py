"""POST /zonal/<image>: statistics per polygon or per label over HTTP, numpy as the oracle."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

import imgstats

FUNCS = ["min", "max", "mean", "median", "p99"]
TRIANGLE = [[1.5, 2.0], [60.2, 10.7], [20.1, 45.9], [1.5, 2.0]]
SQUARE = [[30, 30], [70, 30], [70, 60], [30, 60], [30, 30]]


def layer(*rings, ids=None, props=None):
    feats = []
    for i, ring in enumerate(rings):
        f = {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": dict(props[i]) if props else {},
        }
        if ids is not None:
            f["id"] = ids[i]
        feats.append(f)
    return {"type": "FeatureCollection", "features": feats}


def _with_properties(props):
    zones = layer(TRIANGLE)
    zones["features"][0]["properties"] = props
    return zones


def post(client, image, body, **kw):
    return client.post(f"/zonal/{image}", data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("image", ["IMG_12_uint16.tif", "IMG_13_float32.tif", "IMG_1.jpg"])
def test_polygons_answer_the_feature_collection(client, images, image):
    zones = layer(TRIANGLE, SQUARE, ids=["t", "s"], props=[{"name": "tri"}, {"name": "sq"}])
    r = post(client, image, {"funcs": FUNCS, "zones": zones})
    assert r.status_code == 200, r.json
    body = r.json
    assert body["type"] == "FeatureCollection"
    assert [f["id"] for f in body["features"]] == ["t", "s"]
    for feature, ring in zip(body["features"], (TRIANGLE, SQUARE), strict=True):
        props = feature["properties"]
        assert props["name"] in ("tri", "sq")  # the feature's own properties are kept
        expected = imgstats.compute(images / image, FUNCS, polygon=ring)
        for f in FUNCS:
            assert props[f] == expected[f], (f, props[f], expected[f])
        assert props["count"] > 0
        assert feature["geometry"]["coordinates"] == [ring]


def test_labels_from_the_store_answer_rows(client, images):
    img = np.asarray(imgstats.open_image(images / "IMG_12_uint16.tif"))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, img.shape[:2]).astype(np.uint16)
    tifffile.imwrite(images / "labels.tif", labels)
    r = post(
        client,
        "IMG_12_uint16.tif",
        {"funcs": ["median", "mean"], "zones": {"labels": "labels.tif"}},
    )
    assert r.status_code == 200, r.json
    rows = r.json["rows"]
    assert [row["zone"] for row in rows] == [1, 2, 3, 4]
    for row in rows:
        mask = labels == row["zone"]
        assert row["median"] == imgstats.compute(img, "median", mask=mask)
        assert row["mean"] == imgstats.compute(img, "mean", mask=mask)
        assert row["count"] == int(mask.sum()) * (img.shape[2] if img.ndim == 3 else 1)


def test_empty_zone_is_null_with_count_zero(client):
    zones = layer([[5000, 5000], [5100, 5000], [5050, 5100]])
    r = post(client, "IMG_13_float32.tif", {"funcs": ["median"], "zones": zones})
    assert r.status_code == 200
    props = r.json["features"][0]["properties"]
    assert props == {"median": None, "count": 0}


def test_answers_are_cached_by_zones_and_version(client, service, monkeypatch):
    import imgstats.zones as zones_module

    calls = []
    real = zones_module.zonal

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(zones_module, "zonal", counting)
    body = {"funcs": ["median"], "zones": layer(TRIANGLE)}
    first = post(client, "IMG_1.jpg", body)
    second = post(client, "IMG_1.jpg", body)
    assert first.data == second.data and len(calls) == 1
    other = post(client, "IMG_1.jpg", {"funcs": ["median"], "zones": layer(SQUARE)})
    assert other.status_code == 200 and len(calls) == 2


BAD = [
    ({"funcs": ["median"]}, 400, "zones"),
    ({"funcs": ["median"], "zones": {"type": "Polygon", "coordinates": [TRIANGLE]}}, 400, "zones"),
    ({"funcs": ["p101"], "zones": layer(TRIANGLE)}, 400, "p101"),
    ({"funcs": [], "zones": layer(TRIANGLE)}, 400, "funcs"),
    ({"funcs": ["median"], "zones": layer(TRIANGLE), "bogus": 1}, 400, "bogus"),
    (
        {"funcs": ["median"], "zones": {"type": "FeatureCollection", "features": "x"}},
        400,
        "features",
    ),
    (
        {
            "funcs": ["median"],
            "zones": {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "geometry": {"type": "Point"}}],
            },
        },
        400,
        "feature 0",
    ),
    (
        {
            "funcs": ["median"],
            "zones": {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "geometry": [1, 2]}],
            },
        },
        400,
        "feature 0",
    ),
    ({"funcs": ["median"], "zones": layer(TRIANGLE, [[0, 0], [1, 1], [2, 2]])}, 400, "feature 1"),
    ({"funcs": ["median"], "zones": layer([[0, 0], [10**400, 0], [0, 5]])}, 400, "feature 0"),
    ({"funcs": ["median"], "zones": layer([["1", "2"], [3, 4], [5, 0]])}, 400, "feature 0"),
    ({"funcs": ["median"], "zones": layer([[0, 0], [1e300, 0], [0, 5]])}, 400, "beyond"),
    ({"funcs": ["median"], "zones": {"labels": "nope.tif"}}, 404, "nope"),
    ({"funcs": ["median"], "zones": {"labels": 3}}, 400, "label raster"),
    (
        {"funcs": ["median"], "zones": {"labels": "IMG_1.jpg"}, "id_property": "x"},
        400,
        "id_property",
    ),
    ({"funcs": ["median"], "zones": layer(TRIANGLE), "band": True}, 400, "band"),
    ({"funcs": ["median"], "zones": layer(TRIANGLE), "band": 7}, 400, "band"),
    ({"funcs": ["median"], "zones": layer(TRIANGLE), "id_property": "name"}, 400, "no property"),
    ([1, 2], 400, "object"),
    # the answer extends each feature's properties: a list or a string would be dropped
    ({"funcs": ["median"], "zones": _with_properties([1, 2])}, 400, "feature 0: 'properties'"),
    ({"funcs": ["median"], "zones": _with_properties("x")}, 400, "feature 0: 'properties'"),
]


@pytest.mark.parametrize(("body", "status", "match"), BAD)
def test_bad_bodies(client, body, status, match):
    r = post(client, "IMG_12_uint16.tif", body)
    assert r.status_code == status, r.json
    assert match in r.json["error"]


@pytest.mark.parametrize("zones", [layer(TRIANGLE), {"labels": "IMG_12_uint16.tif"}])
def test_the_luma_of_an_rgb_image_is_said_to_be_unsupported(client, zones):
    # it said "band='luma' needs an 8-bit image with R, G and B bands; this one has ['R',
    # 'G', 'B']" of an 8-bit RGB image: its probe had no luma to ask for
    r = post(client, "IMG_1.jpg", {"funcs": ["median"], "zones": zones, "band": "luma"})
    assert r.status_code == 400
    assert "luma are not supported" in r.json["error"]


@pytest.mark.parametrize(("text", "band"), [("0", 0), ("-1", "B"), ("2", 2)])
def test_a_band_index_as_text_is_the_index_as_on_stats(client, text, band):
    # it was the band named "0": "unknown band '0': use an index below 3", a 400, where
    # POST /stats read "0" as band 0
    zones = layer(TRIANGLE, SQUARE)
    r = post(client, "IMG_1.jpg", {"funcs": FUNCS, "zones": zones, "band": text})
    assert r.status_code == 200, r.json
    same = post(client, "IMG_1.jpg", {"funcs": FUNCS, "zones": zones, "band": band})
    assert r.json["features"] == same.json["features"]


def test_label_raster_of_another_shape_or_type(client, images):
    tifffile.imwrite(images / "small.tif", np.ones((3, 4), np.uint16))
    tifffile.imwrite(images / "floats.tif", np.full((3, 4), 1.5, np.float32))
    r = post(client, "IMG_12_uint16.tif", {"funcs": ["median"], "zones": {"labels": "small.tif"}})
    assert r.status_code == 400 and "shape" in r.json["error"]
    r = post(client, "small.tif", {"funcs": ["median"], "zones": {"labels": "floats.tif"}})
    assert r.status_code == 400 and "whole numbers" in r.json["error"]


def test_limits(app, client):
    app.config["ZONAL_FEATURES"] = 2
    r = post(client, "IMG_1.jpg", {"funcs": ["median"], "zones": layer(TRIANGLE, SQUARE, TRIANGLE)})
    assert r.status_code == 400 and "ZONAL_FEATURES" in r.json["error"]
    app.config["ZONAL_FEATURES"] = 100
    app.config["ZONAL_VERTICES"] = 6
    r = post(client, "IMG_1.jpg", {"funcs": ["median"], "zones": layer(TRIANGLE, SQUARE)})
    assert r.status_code == 400 and "feature 1" in r.json["error"]


def test_a_bare_geometry_among_the_features_counts_its_vertices(app, client):
    """A Polygon given in place of a Feature is taken as its own geometry; its vertices were
    not counted, so ZONAL_VERTICES let any number through."""
    app.config["ZONAL_VERTICES"] = 6
    bare = {"type": "Polygon", "coordinates": [SQUARE]}
    zones = {"type": "FeatureCollection", "features": [bare, bare]}
    r = post(client, "IMG_1.jpg", {"funcs": ["median"], "zones": zones})
    assert r.status_code == 400 and "feature 1" in r.json["error"]
    app.config["ZONAL_VERTICES"] = 100
    r = post(client, "IMG_1.jpg", {"funcs": ["median"], "zones": zones})
    assert r.status_code == 200 and r.json["features"][0]["properties"]["count"] > 0


@pytest.mark.parametrize(
    "item, kind",
    [
        (TRIANGLE, "an array"),
        ("a", "a string"),
        (7, "a number"),
        (None, "null"),
        (True, "a boolean"),
    ],
)
def test_a_feature_that_is_no_object_is_a_400_naming_it(client, item, kind):
    """A bare ring (a list) among the features was a 500: the answer extends each feature's
    properties, and a list has none. The message says what it is in JSON's words."""
    zones = {"type": "FeatureCollection", "features": [layer(SQUARE)["features"][0], item]}
    r = post(client, "IMG_1.jpg", {"funcs": ["median"], "zones": zones})
    assert r.status_code == 400, r.get_data()
    assert r.json["error"] == f"feature 1: not a GeoJSON object but {kind}"


@pytest.mark.parametrize(
    "props, kind", [([1, 2], "an array"), ("x", "a string"), (3.5, "a number")]
)
def test_properties_that_are_no_object_are_named_in_json_words(client, props, kind):
    feature = {**layer(SQUARE)["features"][0], "properties": props}
    zones = {"type": "FeatureCollection", "features": [feature]}
    r = post(client, "IMG_1.jpg", {"funcs": ["median"], "zones": zones})
    assert r.status_code == 400, r.get_data()
    assert r.json["error"].endswith(f"must be a JSON object or null (GeoJSON), not {kind}")


def test_too_many_labels(app, client, images):
    img = np.zeros((20, 30), np.uint8)
    tifffile.imwrite(images / "z.tif", img)
    tifffile.imwrite(images / "many.tif", np.arange(600, dtype=np.uint16).reshape(20, 30))
    app.config["ZONAL_LABELS"] = 100
    r = post(client, "z.tif", {"funcs": ["median"], "zones": {"labels": "many.tif"}})
    assert r.status_code == 400 and "limit" in r.json["error"]


def test_body_too_large(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    big = layer(*[TRIANGLE] * 40)
    r = post(client, "IMG_1.jpg", {"funcs": ["median"], "zones": big})
    assert r.status_code == 413
    assert "fewer features or vertices" in r.json["error"]  # it said "fewer vertices"


def test_get_is_405_json(client):
    r = client.get("/zonal/IMG_1.jpg")
    assert r.status_code == 405 and "error" in r.json


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-2e308"])
def test_a_property_that_is_not_a_finite_number_is_400_not_500(client, number):
    # Python's json reads NaN, Infinity and 1e400 (as inf); the answer echoes the properties
    # and JSON cannot write them: this was a 500
    body = json.dumps({"funcs": ["mean"], "zones": layer(SQUARE, props=[{"v": 1}])})
    body = body.replace('{"v": 1}', '{"v": ' + number.decode() + "}")
    r = client.post("/zonal/IMG_1.jpg", data=body, content_type="application/json")
    assert r.status_code == 400, r.json
    assert "finite" in r.json["error"] and number.decode().lstrip("-") in r.json["error"]


def test_count_asked_for_is_one_column(client, images):
    # "count" is always answered; asked for too, it was a duplicate column (pandas warned)
    r = post(client, "IMG_1.jpg", {"funcs": ["count", "mean"], "zones": layer(SQUARE)})
    assert r.status_code == 200, r.json
    props = r.json["features"][0]["properties"]
    expected = imgstats.compute(images / "IMG_1.jpg", ["count", "mean"], polygon=SQUARE)
    assert props == expected


@pytest.mark.parametrize("route", ["/zonal/IMG_1.jpg", "/stats/IMG_1.jpg"])
@pytest.mark.parametrize("body", [b"", b" \r\n"])
def test_an_empty_body_is_said_to_be_empty(client, route, body):
    # it was "the body is not valid JSON: Expecting value: line 1 column 1 (char 0)"
    r = client.post(route, data=body, content_type="application/json")
    assert r.status_code == 400
    assert r.json["error"].startswith("the body is empty: send a JSON object {")


@pytest.mark.parametrize(
    "content_type, status",
    [
        ("application/geo+json", 200),  # RFC 7946's type: what GIS clients send GeoJSON as
        ("application/geo+json; charset=utf-8", 200),
        ("application/json", 200),
        ("text/plain", 415),  # a type an HTML form of another site may send
        ("application/x-www-form-urlencoded", 415),
    ],
)
def test_a_geojson_body_may_be_declared_as_geojson(client, content_type, status):
    zones = layer([[0, 0], [40, 0], [40, 30], [0, 30]])
    body = json.dumps({"funcs": ["count"], "zones": zones})
    r = client.post("/zonal/IMG_1.jpg", data=body, content_type=content_type)
    assert r.status_code == status, r.json
    if status == 200:
        assert r.json["features"][0]["properties"]["count"] > 0
    else:
        assert "application/json" in r.json["error"]
