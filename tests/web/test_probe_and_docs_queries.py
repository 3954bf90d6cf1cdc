"""Query parameters of the probes, the API reference and the gallery's forms.

``/health`` and ``/ready`` ignore any query parameter, on purpose: a load balancer or a
monitor that adds one (a cache-buster) must not see a live server as failing.
``/api/openapi.json`` ignored them too, where every other JSON route answers 400: it now
refuses them as the others do. ``/docs`` is a page for browsers, as the gallery's: it
ignores a parameter it does not take (a link's tracking tag) and now refuses one given
twice or empty, as they do. The gallery's forms answered their HTML page (400) even to a
client that asks for JSON."""

from __future__ import annotations

import pytest

from imgstats.errors import InvalidOption, NeedsRefinement, UnreadableImage
from imgstats.web.service import _named


@pytest.mark.parametrize("query", ["?x=", "?x=1", "?_=1700000000", "?x=1&x=2", "?band"])
def test_the_probes_ignore_query_parameters(client, query):
    health = client.get("/health" + query)
    assert health.status_code == 200 and health.data == b"OK"
    ready = client.get("/ready" + query)  # 503 here: the app is not warmed up
    assert (ready.status_code, ready.get_json()) == (503, client.get("/ready").get_json())


@pytest.mark.parametrize("query", ["?x=1", "?url=http://example.com/api.json"])
def test_the_api_document_refuses_query_parameters_as_every_route(client, query):
    r = client.get("/api/openapi.json" + query)
    assert r.status_code == 400, r.data[:200]
    body = r.get_json()
    assert body["type"] == "InvalidOption"
    assert "unknown query parameter(s)" in body["error"] and "takes none" in body["error"]
    document = client.get("/api/openapi.json").get_json()  # which says so of itself
    assert "400" in document["paths"]["/api/openapi.json"]["get"]["responses"]


@pytest.mark.parametrize("query", ["?x=", "?x=1&x=2"])
def test_the_api_reference_page_refuses_as_the_gallery_pages_do(client, query):
    """/docs is a page for browsers, as the gallery's: a parameter given empty or twice is
    refused there as on every route (it was ignored)."""
    for path in ("/docs", "/gallery"):
        r = client.get(path + query, headers={"Accept": "application/json"})
        assert r.status_code == 400, (path, r.data[:200])
        assert r.get_json()["type"] == "InvalidOption"


def test_the_api_reference_page_ignores_a_links_tag_as_the_gallery_pages_do(client):
    for path in ("/docs", "/gallery"):
        assert client.get(path + "?utm_source=mail").status_code == 200


@pytest.mark.parametrize(
    "query, words",
    [
        ("?window=abc", "four whole numbers"),
        ("?x0=a&y0=0&x1=9&y1=9", "x0"),
        ("?window=600,600,700,700", "outside the image"),
        ("?p=abc", "abc"),
        ("?p=101", "101"),
    ],
)
def test_the_gallery_forms_answer_json_clients_in_json(client, query, words):
    url = "/gallery/IMG_1.jpg" + query
    got = client.get(url, headers={"Accept": "application/json"})
    assert got.status_code in (400, 404) and got.mimetype == "application/json", got.data[:200]
    body = got.get_json()
    assert body["status"] == got.status_code and words in body["error"]
    page = client.get(url, headers={"Accept": "text/html"})
    assert page.status_code == got.status_code and page.mimetype == "text/html"
    # the page varies by Accept, and is never stored (a proxy served it to a JSON client)
    assert "Accept" in page.headers["Vary"] and page.headers["Cache-Control"] == "no-store"


class _Tagged(UnreadableImage):
    """An error whose class takes more than a message, and keeps an attribute."""

    def __init__(self, message, *, offset):
        super().__init__(message)
        self.offset = offset


@pytest.mark.parametrize(
    "error, kept",
    [
        (_Tagged("truncated", offset=7), {"offset": 7}),
        (NeedsRefinement([(8, 1, 2)]), {"nodes": [(8, 1, 2)]}),
        (InvalidOption("band 4 is out of range"), {}),
    ],
)
def test_an_images_error_is_named_and_keeps_its_class_and_attributes(error, kept):
    """``type(exc)(message)`` re-worded errors: one whose class takes other arguments
    went out without the image's name."""

    def fail(name):
        raise error

    with pytest.raises(type(error)) as raised:
        _named(fail, "IMG_7.png")
    assert type(raised.value) is type(error)
    assert str(raised.value).startswith("IMG_7.png: ")
    assert str(error) in str(raised.value)
    for name, value in kept.items():
        assert getattr(raised.value, name) == value
