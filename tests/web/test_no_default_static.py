"""Flask's default ``/static/`` route is not served: the gallery's files are under
``/assets/gallery/`` only, and every ``/static/...`` URL is a 404 of one JSON shape."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "path",
    [
        "/static/gallery.css",
        "/static/gallery.js",
        "/static/../x",
        "/static/%2e%2e/",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2fapi.py",
        "/static/..%5capi.py",
        "/static/",
        "/static",
    ],
)
def test_every_static_url_is_a_json_404(client, path):
    with client.get(path, headers={"Accept": "application/json"}) as r:
        assert r.status_code == 404, r.data[:200]
        assert r.get_json()["status"] == 404


def test_the_gallery_files_are_served_where_the_pages_link_them(client):
    page = client.get("/gallery").get_data(as_text=True)
    assert "/assets/gallery/gallery.css" in page
    with client.get("/assets/gallery/gallery.css") as r:
        assert r.status_code == 200 and r.mimetype == "text/css"


def test_the_app_has_no_default_static_route(app):
    assert "static" not in app.view_functions
