"""``/docs``: Swagger UI over the service's OpenAPI document, served whole by the service."""

from __future__ import annotations

import re

import pytest

from imgstats.web.apidocs import swagger_ui_folder

_LOADS = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)="([^"]*)\"""")


def test_docs_page_loads_only_files_of_the_service(client):
    r = client.get("/docs")
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    loads = _LOADS.findall(r.text)
    assert "/docs/static/swagger-ui-bundle.js" in loads
    assert "/docs/static/swagger-ui.css" in loads
    for url in loads:
        assert url.startswith(("/", "data:")), url  # no CDN: the page works offline
        if url.startswith("/"):
            with client.get(url) as served:  # a file response: closed, or pytest warns
                assert served.status_code == 200, url
                data = served.data
            assert data == (swagger_ui_folder() / url.rsplit("/", 1)[1]).read_bytes()
    # the validator badge would be fetched from validator.swagger.io
    assert "validatorUrl: null" in r.text


def test_docs_page_reads_the_services_openapi_document(client):
    page = client.get("/docs").text
    (spec,) = re.findall(r'data-spec-url="([^"]*)"', page)
    assert spec == "/api/openapi.json"
    doc = client.get(spec).get_json()
    assert doc["openapi"].startswith("3.1")  # Swagger UI 5 reads 3.1 (4 did not)
    version = (swagger_ui_folder() / "swagger-ui-bundle.js").read_text(errors="replace")
    assert re.search(r'PACKAGE_VERSION:"5\.', version)


def test_docs_under_a_prefix_keep_the_prefix(client):
    page = client.get("/docs", base_url="http://localhost/imgstats").text
    assert 'data-spec-url="/imgstats/api/openapi.json"' in page
    assert 'src="/imgstats/docs/static/swagger-ui-bundle.js"' in page


def test_the_gallery_api_link_opens_the_docs(client):
    page = client.get("/").text
    assert re.search(r'<a href="/docs"[^>]*>API</a>', page)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_docs_page_is_get_only(client, method):
    assert client.open("/docs", method=method).status_code == 405


@pytest.mark.parametrize("path", ["/docs/static/../apidocs.py", "/docs/static/nothing.js"])
def test_docs_static_serves_nothing_else(client, path):
    with client.get(path) as r:
        assert r.status_code == 404
