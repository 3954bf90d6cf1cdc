"""Every function's answer against the service's own OpenAPI document (the fuzz test's
generated requests rarely reach the categorical functions with a 200)."""

from __future__ import annotations

import numpy as np
import pytest

from imgstats.functions import NAMED_FUNCTIONS

jsonschema = pytest.importorskip("jsonschema")

FUNCS = sorted(NAMED_FUNCTIONS) + ["p99.5", "histogram"]


def _validator(document: dict, name: str):
    """A validator of components/schemas/``name`` (its ``$ref``s resolved in ``document``)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("func", FUNCS)
@pytest.mark.parametrize("image", ["IMG_1.jpg", "IMG_12_uint16.tif"])
def test_every_get_answer_matches_the_document(client, image, func):
    """``value_counts`` (a ``{value: count}`` object) broke the document's ``value``, which
    allowed a number or a histogram only (schemathesis found it against gunicorn)."""
    document = client.get("/api/openapi.json").get_json()
    response = client.get(f"/stats/{image}/{func}")
    assert response.status_code == 200, response.get_json()
    _validator(document, "Stats").validate(response.get_json())


@pytest.mark.parametrize("image", ["IMG_1.jpg", "IMG_12_uint16.tif"])
def test_a_post_answer_of_every_function_matches_the_document(client, image):
    document = client.get("/api/openapi.json").get_json()
    funcs = [f for f in FUNCS if f != "histogram"]
    response = client.post(f"/stats/{image}", json={"funcs": funcs})
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert isinstance(answer["values"]["value_counts"], dict)
    _validator(document, "StatsMany").validate(answer)


def test_every_operation_documents_the_server_s_own_refusals(client):
    """A request line over 4094 bytes is a 414, too large a head a 431, and a head or body
    that came too slowly a 408 on every route (the worker's, before any route):
    schemathesis got an undocumented 414, and on a loaded machine an undocumented 408."""
    document = client.get("/api/openapi.json").get_json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert {"408", "414", "431"} <= set(operation["responses"]), (method, path)


#: Questions whose answers echo every option they were asked with.
ECHOING_GETS = [
    "/stats/IMG_1.jpg/p90?method=nearest&window=0,0,64,32&raw=1&page=0",
    "/stats/IMG_1.jpg/median?scaled=1&scale=2&offset=1",
    "/stats/IMG_11.png/median?nodata=0&band=R",
    "/stats/IMG_1*.jpg/max",
]
ECHOING_POSTS = [
    ("IMG_1.jpg", {"funcs": ["p90"], "method": "nearest", "polygon": [[0, 0], [9, 0], [0, 9]]}),
    ("IMG_1.jpg", {"funcs": ["median"], "scaled": True, "scale": 2, "offset": 1}),
    ("IMG_11.png", {"funcs": ["count"], "raw": True, "window": [0, 0, 8, 8]}),
]


def _undeclared(document: dict, name: str, answer: dict) -> set:
    """The keys of ``answer`` that components/schemas/``name`` does not name."""
    return set(answer) - set(document["components"]["schemas"][name]["properties"])


@pytest.mark.parametrize("url", ECHOING_GETS)
def test_every_key_of_a_get_answer_is_in_the_document(client, url):
    """The document allows other keys, so a key the service adds goes unnoticed by the
    validator: ``scaled``, ``scale`` and ``offset`` were answered but not described."""
    document = client.get("/api/openapi.json").get_json()
    response = client.get(url)
    assert response.status_code == 200, response.get_json()
    assert _undeclared(document, "Stats", response.get_json()) == set()


@pytest.mark.parametrize(("image", "body"), ECHOING_POSTS)
def test_every_key_of_a_post_answer_is_in_the_document(client, image, body):
    """``method`` (and ``scaled``, ``scale``, ``offset``) of a POST answer were undescribed."""
    document = client.get("/api/openapi.json").get_json()
    response = client.post(f"/stats/{image}", json=body)
    assert response.status_code == 200, response.get_json()
    assert _undeclared(document, "StatsMany", response.get_json()) == set()


def _zonal_schemas(document: dict) -> list[dict]:
    """The alternatives of ``POST /zonal``'s 200 answer."""
    operation = document["paths"]["/zonal/{image}"]["post"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    return schema.get("oneOf", [schema])


def test_a_zonal_answer_of_either_kind_matches_one_described_shape(client, images):
    """The document said only that POST /zonal answers an object: neither the
    FeatureCollection of polygons nor the rows of a label raster were described."""
    tifffile = pytest.importorskip("tifffile")
    labels = (np.arange(427 * 640) // 40000 + 1).reshape(427, 640).astype(np.uint16)
    tifffile.imwrite(images / "labels.tif", labels)
    ring = [[1.5, 2], [60.2, 10.7], [20.1, 45.9], [1.5, 2]]
    layer = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": "tri"}, "geometry": None},
            {
                "type": "Feature",
                "id": 7,
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            },
        ],
    }
    document = client.get("/api/openapi.json").get_json()
    for zones in ({"labels": "labels.tif"}, layer):
        response = client.post(
            "/zonal/IMG_12_uint16.tif", json={"funcs": ["min", "median", "p99"], "zones": zones}
        )
        assert response.status_code == 200, response.get_json()
        answer = response.get_json()
        fitting = [
            schema
            for schema in _zonal_schemas(document)
            if set(answer) <= set(schema.get("properties", {}))
            and jsonschema.Draft202012Validator(schema).is_valid(answer)
        ]
        assert len(fitting) == 1, (zones, answer)
