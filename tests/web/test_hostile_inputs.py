"""Hostile bodies, headers and query strings: each a clear 4xx JSON error, never a 500.

The fast tier, through Flask's test client; ``test_hostile.py`` sends the same attacks to a
real ``imgstats serve`` on 127.0.0.1.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from imgstats.web.service import MAX_PATTERN_LENGTH, MAX_WILDCARDS

HUGE = int("9" * 400)  # a 400-digit coordinate: float() of it overflows
TRIANGLE = [[0, 0], [9, 0], [0, 9]]

BAD_BODIES = [
    ({"funcs": ["min"], "polygon": [[HUGE, 0], [9, 0], [0, 9]]}, 400),
    (
        {
            "funcs": ["min"],
            "polygon": {"type": "Polygon", "coordinates": [[[0, 0], [9, HUGE], [0, 9]]]},
        },
        400,
    ),
    ({"funcs": ["min"], "polygon": {"type": "Feature", "geometry": [1, 2]}}, 400),
    ({"funcs": ["min"], "polygon": {"type": "Feature", "geometry": "x"}}, 400),
    ({"funcs": ["min"], "polygon": {"type": "Feature", "geometry": {"type": "Point"}}}, 400),
    ({"funcs": ["min"], "polygon": [["1", "2"], ["9", "0"], ["0", "9"]]}, 400),
    ({"funcs": ["min"], "polygon": [[1, 2], [9, 0], [0, True]]}, 400),
    ({"funcs": ["min"], "polygon": [[1, 2], [9, 0], None]}, 400),
    ({"funcs": ["min"], "polygon": [[1, 2], [9, 0], {"x": 1}]}, 400),
    (
        {
            "funcs": ["min"],
            "polygon": {"type": "Polygon", "coordinates": [[["0", 0], [9, 0], [0, 9]]]},
        },
        400,
    ),
    ({"funcs": ["min"], "window": [0, 0, HUGE, 9]}, 400),
    ({"funcs": ["min"], "window": ["0", "0", "9", "9"]}, 400),
]


@pytest.mark.parametrize(("body", "status"), BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_hostile_bodies_are_a_400(client, body, status):
    r = client.post("/stats/IMG_1.jpg", data=json.dumps(body), content_type="application/json")
    assert r.status_code == status, r.get_data(as_text=True)[:300]
    error = r.get_json()
    assert error["status"] == status and "Traceback" not in error["error"]


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_post_body_must_be_declared_json(client, content_type):
    body = json.dumps({"funcs": ["min"], "polygon": TRIANGLE})
    r = client.post("/stats/IMG_1.jpg", data=body, content_type=content_type)
    assert r.status_code == 415
    assert "application/json" in r.get_json()["error"]
    ok = client.post("/stats/IMG_1.jpg", data=body, content_type="application/json; charset=utf-8")
    assert ok.status_code == 200


def test_a_chunked_body_over_the_limit_is_a_413_not_a_400(client):
    """No Content-Length (chunked): read one byte past the limit, then 413."""
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    body = b'{"funcs": ["min"], "polygon": [' + b"[1, 2]," * (limit // 7 + 10) + b"[1, 2]]}"
    r = client.post(
        "/stats/IMG_1.jpg",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
        headers={"Transfer-Encoding": "chunked"},
    )
    assert r.status_code == 413, r.get_data(as_text=True)[:200]
    assert "MAX_CONTENT_LENGTH" in r.get_json()["error"]
    small = json.dumps({"funcs": ["max"]}).encode()
    r = client.post(
        "/stats/IMG_1.jpg",
        input_stream=io.BytesIO(small),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
        headers={"Transfer-Encoding": "chunked"},
    )
    assert r.status_code == 200 and r.get_json()["values"] == {"max": 255}


#: (query, the parameter the 400 names): unknown ones, and ones given twice -- of
#: ?band=0&band=1 only the first counted: band 0 was answered, silently.
BAD_QUERIES = [
    ("/stats/IMG_1.jpg/median?bands=R", "'bands'"),
    ("/stats/IMG_1.jpg/median?band=R&windw=0,0,9,9", "'windw'"),
    ("/stats/IMG_1*/median?pages=0", "'pages'"),
    ("/stats/IMG_1.jpg/median?band=0&band=1", "'band' given more than once"),
    ("/stats/IMG_1.jpg/median?window=0,0,9,9&band=R&window=0,0,5,5", "'window' given more"),
    ("/stats/IMG_1.jpg/p50?method=lower&method=higher", "'method' given more"),
    ("/stats/IMG_1.jpg/histogram?bins=4&bins=8", "'bins' given more"),
    ("/stats/IMG_1*/max?page=0&page=0", "'page' given more"),
    # the first page's facts were the answer to ?page=1, and ?x= was ignored
    ("/api/images/IMG_1.jpg?page=1", "'page'"),
    ("/api/images/IMG_1.jpg?band=R", "'band'"),
    ("/api/images?prefix=IMG", "'prefix'"),
]


@pytest.mark.parametrize(("path", "named"), BAD_QUERIES)
def test_unknown_or_repeated_query_parameters_are_a_400_naming_them(client, path, named):
    r = client.get(path)
    assert r.status_code == 400
    assert named in r.get_json()["error"]


def test_known_query_parameters_still_work(client):
    r = client.get("/stats/IMG_1.jpg/median?band=R&window=0,0,9,9&page=0")
    assert r.status_code == 200, r.get_json()


def test_a_post_takes_its_options_in_the_body_only(client):
    r = client.post("/stats/IMG_1.jpg?band=R", json={"funcs": ["min"]})
    assert r.status_code == 400 and "'band'" in r.get_json()["error"]


@pytest.mark.parametrize(
    "pattern",
    [
        "*a" * (MAX_WILDCARDS + 1),
        "IMG_" + "x" * MAX_PATTERN_LENGTH + "*",
        "?" * (MAX_WILDCARDS + 1),
        "*" + "[a]" * MAX_WILDCARDS,
    ],
)
def test_patterns_are_bounded_in_length_and_wildcards(client, pattern):
    r = client.get(f"/stats/{pattern.replace('?', '%3F')}/median")
    assert r.status_code == 400
    assert "at most" in r.get_json()["error"]


def test_a_pattern_within_the_bounds_still_matches(client):
    r = client.get("/stats/" + "*" * MAX_WILDCARDS + "IMG_1.jpg/max")
    assert r.status_code == 200 and r.get_json()["value"] == 255


def test_patterns_do_not_grow_fnmatchs_cache(client):
    import fnmatch

    before = fnmatch._compile_pattern.cache_info().currsize
    for i in range(20):
        client.get(f"/stats/*{i}*x/median")
    assert fnmatch._compile_pattern.cache_info().currsize == before


def test_a_gif_without_a_palette_is_a_clean_answer_or_a_4xx(client, images):
    """A 'P' image saved without a palette: it was a 500 ("seek of closed file")."""
    img = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), mode="L")
    buf = io.BytesIO()
    img.save(buf, format="GIF")
    data = bytearray(buf.getvalue())
    assert data[10] & 0x80  # a global colour table: drop it, and its flag
    table = 3 << ((data[10] & 7) + 1)
    data[10] &= 0x78
    (images / "nopalette.gif").write_bytes(bytes(data[:13] + data[13 + table :]))
    for path in ["/stats/nopalette.gif/median", "/stats/nopalette.gif/max?band=0"]:
        r = client.get(path)
        assert r.status_code == 200 or 400 <= r.status_code < 500, r.get_data(as_text=True)
        assert r.is_json
    r = client.post("/stats/nopalette.gif", json={"funcs": ["min"], "polygon": TRIANGLE})
    assert r.status_code == 200 or 400 <= r.status_code < 500


@pytest.mark.parametrize("path", ["/stats/IMG_1.jpg", "/zonal/IMG_1.jpg"])
def test_every_post_route_needs_json_and_bounds_a_chunked_body(client, path):
    body = {"funcs": ["min"], "polygon": TRIANGLE}
    r = client.post(path, data=json.dumps(body), content_type="text/plain")
    assert r.status_code == 415
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    r = client.post(
        path,
        input_stream=io.BytesIO(b'{"funcs": ["min"], "x": "' + b"a" * limit + b'"}'),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
        headers={"Transfer-Encoding": "chunked"},
    )
    assert r.status_code == 413, r.get_data(as_text=True)[:200]


def test_a_post_to_a_get_route_is_still_a_405(client):
    r = client.post("/health", data="x", content_type="text/plain")
    assert r.status_code == 405


@pytest.mark.parametrize(
    "path", ["/stats/IMG_1.jpg/median", "/stats/IMG_1.jpg/histogram", "/stats/IMG_1*/max"]
)
@pytest.mark.parametrize("spell", ["{}", "W/{}", '"x", W/{}', "*"])
def test_if_none_match_compares_weakly_as_on_every_route(client, path, spell):
    """W/"<etag>" (what nginx's gzip hands clients) was a full 200 on /stats, while
    /api/images and /thumbs answered it 304."""
    etag = client.get(path).headers["ETag"]
    r = client.get(path, headers={"If-None-Match": spell.format(etag)})
    assert r.status_code == 304 and r.headers["ETag"] == etag
    assert client.get(path, headers={"If-None-Match": 'W/"other"'}).status_code == 200


#: (route, raw body): a key twice in one object. Only the last counted, silently: the first
#: answered the 3 x 3 window, the second 'max' alone, the third the second polygon.
TWICE = [
    ("/stats/IMG_1.jpg", b'{"funcs": ["min"], "window": "0,0,9,9", "window": "0,0,3,3"}'),
    ("/stats/IMG_1.jpg", b'{"funcs": ["min"], "funcs": ["max"]}'),
    (
        "/zonal/IMG_1.jpg",
        b'{"funcs": ["min"], "zones": {"type": "FeatureCollection", "features": [{"type": '
        b'"Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": '
        b'[[[0, 0], [9, 0], [0, 9], [0, 0]]], "coordinates": [[[0, 0], [3, 0], [0, 3], '
        b"[0, 0]]]}}]}}",
    ),
]


@pytest.mark.parametrize(("path", "body"), TWICE, ids=range(len(TWICE)))
def test_a_json_key_given_twice_is_a_400_naming_it(client, path, body):
    r = client.post(path, data=body, content_type="application/json")
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert "appears twice" in r.get_json()["error"]


@pytest.mark.parametrize("path", ["/", "/gallery", "/gallery/IMG_1.jpg", "/thumbs/IMG_1.jpg"])
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_a_gallery_405_says_which_methods_the_url_takes(client, path, method):
    """The gallery's HTML 405 page had no Allow header (the API's JSON 405 has one)."""
    r = client.open(path, method=method)
    assert r.status_code == 405 and r.mimetype == "text/html"
    assert "GET" in r.headers["Allow"]
