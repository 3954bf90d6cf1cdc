"""Query parameters of the probes, the API reference and the gallery's forms.

``/health`` and ``/ready`` ignore any query parameter, on purpose: a load balancer or a
monitor that adds one (a cache-buster) must not see a live server as failing. ``/docs`` and
``/api/openapi.json`` ignored them too, where every other route answers 400: they now
refuse them as the others do. The gallery's forms answered their HTML page (400) even to a
client that asks for JSON."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("query", ["?x=", "?x=1", "?_=1700000000", "?x=1&x=2", "?band"])
def test_the_probes_ignore_query_parameters(client, query):
    health = client.get("/health" + query)
    assert health.status_code == 200 and health.data == b"OK"
    ready = client.get("/ready" + query)  # 503 here: the app is not warmed up
    assert (ready.status_code, ready.get_json()) == (503, client.get("/ready").get_json())


@pytest.mark.parametrize("path", ["/docs", "/api/openapi.json"])
@pytest.mark.parametrize("query", ["?x=", "?x=1", "?url=http://example.com/api.json"])
def test_the_api_reference_refuses_query_parameters_as_every_route(client, path, query):
    r = client.get(path + query)
    assert r.status_code == 400, r.data[:200]
    body = r.get_json()
    assert body["type"] == "InvalidOption"
    assert "unknown query parameter(s)" in body["error"] and "takes none" in body["error"]
    assert client.get(path).status_code == 200
