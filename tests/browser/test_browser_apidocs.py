"""``/docs`` in Chromium: Swagger UI renders every operation of the OpenAPI document, offline."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_api_reference_renders_offline_from_the_services_document(server, page):
    host = urlsplit(server.url).netloc
    elsewhere = []

    def only_the_service(route):  # any request leaving the service is recorded and refused
        if urlsplit(route.request.url).netloc == host or route.request.url.startswith("data:"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_service)
    page.goto(server.url + "/")
    page.get_by_role("link", name="API", exact=True).click()
    page.wait_for_url(server.url + "/docs")

    doc = page.request.get(server.url + "/api/openapi.json").json()
    operations = [(m.upper(), p) for p, ops in doc["paths"].items() for m in ops]
    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(len(operations), timeout=30_000)
    for method, path in operations:
        expect(
            page.locator(f".opblock-{method.lower()} .opblock-summary-path", has_text=path).first
        ).to_be_visible()
    expect(page.locator(".information-container .title")).to_contain_text(doc["info"]["title"])

    # "Try it out" on /health answers from the service itself
    health = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/health"))
    health.locator(".opblock-summary").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    expect(
        health.locator(".live-responses-table tbody .response-col_status").first
    ).to_contain_text("200")
    assert elsewhere == []


def test_api_reference_has_no_wcag_violations(server, page, axe):
    page.goto(server.url + "/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    # Swagger UI nests each operation's expand button in a focusable summary: an upstream
    # issue (swagger-api/swagger-ui#9576), not a page of ours
    violations = [v for v in axe(page) if not v.startswith("nested-interactive ")]
    assert violations == [], "\n".join(violations)
