"""The gallery's errors are its HTML page to a browser, and the API's JSON error to a client
that asks for JSON (``Accept: application/json``); they were HTML to every client."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "url",
    [
        "/gallery/IMG_1.jpg/value_counts",
        "/gallery/IMG_1.jpg/nope",
        "/gallery/missing.jpg",
        "/gallery/IMG_1.jpg/median/extra",
        "/nowhere",
    ],
)
def test_gallery_errors_are_html_to_browsers_and_json_to_json_clients(client, url):
    page = client.get(url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 404 and page.mimetype == "text/html"
    # a 404 is cacheable by default: a proxy kept the page and served it to a JSON client
    assert page.headers["Cache-Control"] == "no-store" and "Accept" in page.headers["Vary"]
    assert "Traceback" not in page.get_data(as_text=True)
    for accept in ("application/json", "application/json, text/html;q=0.5"):
        got = client.get(url, headers={"Accept": accept})
        assert got.status_code == 404 and got.mimetype == "application/json"
        assert got.get_json()["status"] == 404 and got.get_json()["error"]
    assert client.get(url).mimetype == "text/html"  # no Accept: the page, as before
