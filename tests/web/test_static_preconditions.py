"""Static files (the gallery's script and style, Swagger UI's) answer ``If-Match`` as every
other answer does: ``*`` and their own ``ETag`` pass, another tag is the service's 412 error.
werkzeug refused ``If-Match: *`` and sent a failed one's 412 with the file as its body."""

from __future__ import annotations

import pytest

STATIC = [
    "/assets/gallery/gallery.css",
    "/assets/gallery/gallery.js",
    "/docs/static/swagger-ui.css",
]


def _get(client, url, **headers):
    """The answer to GET ``url``, read and closed (a file's answer holds the file open)."""
    with client.get(url, headers={k.replace("_", "-"): v for k, v in headers.items()}) as got:
        got.get_data()
        return got


@pytest.mark.parametrize("url", STATIC)
def test_if_match_star_or_the_etag_is_the_file(client, url):
    whole = _get(client, url)
    etag = whole.headers["ETag"]
    for tags in ("*", etag, f'"other", {etag}'):
        got = _get(client, url, If_Match=tags)
        assert got.status_code == 200 and got.data == whole.data, tags
    part = _get(client, url, If_Match="*", Range="bytes=0-9")
    assert part.status_code == 206 and part.data == whole.data[:10]


@pytest.mark.parametrize("url", STATIC)
@pytest.mark.parametrize("extra", [{}, {"Range": "bytes=0-9"}, {"If_None_Match": "*"}])
def test_a_failed_if_match_is_the_service_s_412(client, url, extra):
    etag = _get(client, url).headers["ETag"]
    for tags in ('"other"', f"W/{etag}"):  # If-Match compares strongly
        got = _get(client, url, If_Match=tags, Accept="application/json", **extra)
        assert got.status_code == 412 and got.mimetype == "application/json", got.data[:100]
        assert "If-Match" in got.get_json()["error"]


@pytest.mark.parametrize("url", STATIC)
def test_if_none_match_and_ranges_are_still_werkzeug_s(client, url):
    whole = _get(client, url)
    assert _get(client, url, If_None_Match=whole.headers["ETag"]).status_code == 304
    beyond = _get(client, url, Range=f"bytes={len(whole.data) + 10}-")
    # a 416 says how long the file is (RFC 9110, 15.5.17): the error page dropped it
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(whole.data)}"


@pytest.mark.parametrize("url", STATIC)
@pytest.mark.parametrize("ranges", ["items=0-5", "Lines=1-2", "bytes=0-0,-1", "bytes=0-9, 20-29"])
def test_a_range_werkzeug_cannot_send_is_ignored(client, url, ranges):
    # a unit other than bytes must be ignored (RFC 9110, 14.2), and several byte ranges,
    # which werkzeug does not send as one answer, may be: both were a 416 "cannot provide
    # the requested range", though the ranges fit in the file
    whole = _get(client, url)
    got = _get(client, url, Range=ranges)
    assert got.status_code == 200 and got.data == whole.data
    assert "Content-Range" not in got.headers
