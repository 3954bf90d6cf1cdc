"""Conditional requests (RFC 9110, section 13): a failed ``If-Match`` is a 412 on every route
that has an ETag (it was ignored by ``/stats``, and ``*`` failed elsewhere); a POST answer has
no ETag, so ``If-Match`` naming tags is a 412 there too; the date preconditions are ignored
(no answer has a modification date)."""

from __future__ import annotations

import pytest

ROUTES = [
    "/stats/IMG_1.jpg/median",
    "/stats/IMG_1.jpg/histogram?bins=2&range=0,256",
    "/stats/IMG_1*.jpg/max",
    "/api/images",
    "/api/images/IMG_1.jpg",
    "/api/openapi.json",
]
SQUARE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [9, 0], [9, 9], [0, 0]]]},
        }
    ],
}


@pytest.mark.parametrize("url", ROUTES)
def test_if_match_of_another_version_is_412_and_of_this_one_or_star_200(client, url):
    first = client.get(url)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    for method in (client.get, client.head):
        failed = method(url, headers={"If-Match": '"another"'})
        assert failed.status_code == 412
        assert "ETag" not in failed.headers  # not the answer's headers: an error's
        for tag in (etag, "*", f'"another", {etag}'):
            assert method(url, headers={"If-Match": tag}).status_code == 200
        # If-Match compares strongly: a weak tag never matches
        assert method(url, headers={"If-Match": f"W/{etag}"}).status_code == 412
    body = client.get(url, headers={"If-Match": '"another"'}).get_json()
    assert body["status"] == 412 and "If-Match" in body["error"]


@pytest.mark.parametrize("url", ROUTES)
def test_if_none_match_is_still_a_304_and_if_match_is_checked_first(client, url):
    etag = client.get(url).headers["ETag"]
    for tag in (etag, f"W/{etag}", "*"):
        got = client.get(url, headers={"If-None-Match": tag})
        assert got.status_code == 304 and got.headers["ETag"] == etag and not got.data
    both = client.get(url, headers={"If-Match": '"another"', "If-None-Match": etag})
    assert both.status_code == 412


def test_preconditions_do_not_hide_a_404(client):
    got = client.get("/stats/missing.jpg/median", headers={"If-Match": '"x"'})
    assert got.status_code == 404


@pytest.mark.parametrize(
    "url, body",
    [
        ("/stats/IMG_1.jpg", {"funcs": ["min"]}),
        ("/zonal/IMG_1.jpg", {"funcs": ["min"], "zones": SQUARE}),
    ],
)
def test_a_post_answer_has_no_etag_to_match(client, url, body):
    assert client.post(url, json=body, headers={"If-Match": '"x"'}).status_code == 412
    assert client.post(url, json=body, headers={"If-Match": "*"}).status_code == 200
    assert client.post(url, json=body, headers={"If-None-Match": '"x"'}).status_code == 200
    # "*": the image exists, so the condition fails (a 412, not a 304, to a POST)
    assert client.post(url, json=body, headers={"If-None-Match": "*"}).status_code == 412


def test_date_preconditions_are_ignored(client):
    old = "Mon, 01 Jan 1990 00:00:00 GMT"
    for header in ("If-Unmodified-Since", "If-Modified-Since"):
        assert client.get("/stats/IMG_1.jpg/median", headers={header: old}).status_code == 200


def test_a_gallery_picture_with_a_failed_if_match_is_412(client):
    thumb = client.get("/thumbs/IMG_1.jpg")
    assert thumb.status_code == 200
    assert client.get("/thumbs/IMG_1.jpg", headers={"If-Match": '"x"'}).status_code == 412
    tag = thumb.headers["ETag"]
    assert client.get("/thumbs/IMG_1.jpg", headers={"If-Match": tag}).status_code == 200
    assert client.get("/thumbs/IMG_1.jpg", headers={"If-None-Match": tag}).status_code == 304


@pytest.mark.parametrize("path", ["/stats/IMG_1.jpg/median", "/api/images/IMG_1.jpg"])
def test_other_code_answers_with_another_etag(app, client, monkeypatch, path):
    # the ETag was of the image's version and the question alone: after an upgrade whose
    # answer differs (other samples counted, a header field more), a client revalidating
    # its copy got a 304 and kept the release before's answer
    from imgstats.web import api

    first = client.get(path)
    app.extensions["imgstats"].cache_clear()  # the finished bodies this process keeps
    monkeypatch.setattr(api, "fingerprint", lambda: "0.1.0+another")
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and again.headers["ETag"] != first.headers["ETag"]
