"""End to end: home -> gallery -> an image -> each statistic, in headless Chromium."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

FUNCTIONS = ("min", "max", "mean", "median")


def _value(page) -> str:
    """The exact value of a result view (the large number is rounded for reading)."""
    return page.locator("#exact-value").inner_text().strip()


def test_home_gallery_image_and_each_function_match_the_api(server, page, readme_screenshot):
    page.goto(server.url + "/")
    page.get_by_role("link", name="Open the gallery").click()
    expect(page).to_have_url(server.url + "/gallery")
    expect(page.get_by_role("heading", level=1)).to_have_text("Gallery")
    thumbs = page.locator(".cards img")
    expect(thumbs).to_have_count(14)
    page.wait_for_function(
        "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
    )
    readme_screenshot(page, "gallery")

    page.get_by_role("link", name="IMG_1.jpg").click()
    expect(page).to_have_url(server.url + "/gallery/IMG_1.jpg")
    expect(page.locator("svg.hist-wide")).to_have_count(4)  # luma, R, G, B
    page.wait_for_function("() => document.querySelector('.preview img').naturalWidth > 0")
    readme_screenshot(page, "image", full_page=True)

    for func in FUNCTIONS:
        page.get_by_role("button", name=func, exact=True).click()
        expect(page).to_have_url(f"{server.url}/gallery/IMG_1.jpg/{func}")
        api = server.get_json(f"/stats/IMG_1.jpg/{func}")
        assert float(_value(page)) == api["value"]
        link = page.get_by_role("link", name=f"/stats/IMG_1.jpg/{func}")
        assert link.get_attribute("href") == f"/stats/IMG_1.jpg/{func}"
        assert page.request.get(server.url + link.get_attribute("href")).json() == api


@pytest.mark.parametrize("image", ["IMG_8.jpg", "IMG_12_uint16.tif", "IMG_13_float32.tif"])
def test_percentile_form_gives_the_api_value_and_refuses_101(
    server, page, image, readme_screenshot
):
    page.goto(f"{server.url}/gallery/{image}")
    field = page.get_by_label("Percentile, from 0 to 100")
    field.fill("99.5")
    field.press("Enter")
    expect(page).to_have_url(f"{server.url}/gallery/{image}/p99.5")
    assert float(_value(page)) == server.get_json(f"/stats/{image}/p99.5")["value"]
    if image == "IMG_8.jpg":
        readme_screenshot(page, "result")

    # the browser refuses 101 itself (min/max on the input) and says why...
    field = page.get_by_label("Percentile, from 0 to 100")
    field.fill("101")
    page.get_by_role("button", name="Compute percentile").click()
    expect(page).to_have_url(f"{server.url}/gallery/{image}/p99.5")
    assert field.evaluate("e => e.validity.rangeOverflow")
    assert field.evaluate("e => e.validationMessage")

    # ...and so does the server, when the browser's check is skipped
    page.errors.allow(r"status of 404")
    page.locator("form.percentile").evaluate("f => { f.noValidate = true; }")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Compute percentile").click()
    assert navigation.value.status == 404
    expect(page.get_by_role("alert")).to_have_text(
        "101 is outside 0 to 100. Enter a percentile from 0 to 100, such as 99.5."
    )
    expect(page.get_by_label("Percentile, from 0 to 100")).to_have_value("101")


def test_health_button_shows_ok(server, page, readme_screenshot):
    page.goto(server.url + "/")
    status = page.get_by_role("status")
    expect(status).to_have_text("")
    page.get_by_role("button", name="Health check").click()
    expect(status).to_have_text("OK")
    expect(page).to_have_url(server.url + "/")
    readme_screenshot(page, "home")


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/gallery/no-such-image.jpg", "Unknown image"),
        ("/gallery/IMG_1.jpg/average", "Unsupported function"),
    ],
)
def test_unknown_image_or_function_gives_the_404_page(
    server, page, path, heading, readme_screenshot
):
    page.errors.allow(r"status of 404")
    response = page.goto(server.url + path)
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    if heading == "Unknown image":
        readme_screenshot(page, "404")
    page.get_by_role("link", name="Back to the gallery").click()
    expect(page).to_have_url(server.url + "/gallery")


def test_keyboard_skip_link_focus_ring_and_buttons(server, page):
    page.goto(server.url + "/gallery/IMG_8.jpg")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "min":
            break
    button = page.get_by_role("button", name="min", exact=True)
    expect(button).to_be_focused()
    assert button.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url + "/gallery/IMG_8.jpg/min")


def test_every_image_has_alt_text_and_every_field_a_label(server, page):
    for path in ("/", "/gallery", "/gallery/IMG_11.png", "/gallery/IMG_11.png/p10"):
        page.goto(server.url + path)
        assert page.evaluate("[...document.images].filter(i => !i.alt).length") == 0
        assert (
            page.evaluate(
                "[...document.querySelectorAll('input')].filter(i => !i.labels.length).length"
            )
            == 0
        )


_WEIGHT = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const out = {html: nav.encodedBodySize, css: 0, js: 0, images: 0, requests: 1};
  for (const r of performance.getEntriesByType('resource')) {
    const kind = r.initiatorType === 'link' ? 'css' : r.initiatorType === 'script' ? 'js'
      : r.initiatorType === 'img' ? 'images' : 'other';
    out[kind] = (out[kind] || 0) + r.encodedBodySize;
    out.requests += 1;
  }
  return out;
}"""


_SERVER_TIMES = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const images = performance.getEntriesByType('resource')
    .filter(r => r.initiatorType === 'img');
  const thumbs = images.map(r => r.responseEnd - r.requestStart).sort((a, b) => a - b);
  return {"HTML response (ms)": Math.round(nav.responseEnd - nav.requestStart),
          "HTML (bytes)": nav.encodedBodySize,
          "thumbnails": thumbs.length,
          "thumbnails (bytes)": images.reduce((sum, r) => sum + r.encodedBodySize, 0),
          "thumbnail response, median (ms)": Math.round(thumbs[thumbs.length >> 1]),
          "thumbnail response, max (ms)": Math.round(thumbs[thumbs.length - 1])};
}"""


def _load_all_images(page) -> None:
    """Scroll to the end so lazy thumbnails load, then wait until every image is decoded."""
    page.evaluate("""async () => {
      const frame = () => new Promise(resolve => requestAnimationFrame(resolve));
      for (let y = 0; y < document.body.scrollHeight; y += innerHeight / 2) {
        scrollTo(0, y);
        await frame();
      }
    }""")
    page.wait_for_function(
        "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)",
        timeout=120_000,
    )


def test_page_weights(server, fresh_page, tmp_path, record_property):
    """What each page weighs on a first visit (HTML + CSS + JS + images, bytes)."""
    weights = {}
    for name, path in [
        ("home", "/"),
        ("gallery (14 images)", "/gallery"),
        ("image IMG_1.jpg", "/gallery/IMG_1.jpg"),
        ("result IMG_1.jpg/p99.5", "/gallery/IMG_1.jpg/p99.5"),
        ("image IMG_7.jpg (1411 px)", "/gallery/IMG_7.jpg"),
    ]:
        page = fresh_page()  # an empty browser cache each time
        page.goto(server.url + path)
        _load_all_images(page)
        weights[name] = page.evaluate(_WEIGHT)
    (tmp_path / "page-weights.json").write_text(json.dumps(weights, indent=1))
    record_property("page_weights", weights)
    print(json.dumps(weights, indent=1))
    for name, w in weights.items():
        assert w["html"] + w["css"] + w["js"] < 150_000 or "image" in name, (name, w)
        assert w["css"] < 16_000  # one hand-written stylesheet (viewer and zones included)


def test_gallery_with_200_images_cold_and_warm(big_server, fresh_page, tmp_path, record_property):
    """Time to a loaded gallery (every thumbnail decoded): server caches cold, then warm.

    Each run starts with an empty browser cache, so "warm" is the server's thumbnail cache.
    """
    assert len(big_server.get_json("/api/images")["images"]) == 200
    timings = {}
    for run in ("cold", "warm"):
        page = fresh_page()
        start = time.perf_counter()
        page.goto(big_server.url + "/gallery", wait_until="domcontentloaded")
        html = time.perf_counter() - start
        _load_all_images(page)
        first = time.perf_counter() - start
        server = page.evaluate(_SERVER_TIMES)
        # then every other page of the gallery, so all 200 thumbnails were shown once
        total = first
        while (next_link := page.locator("a[rel=next]")).count():
            start = time.perf_counter()
            next_link.click()
            page.wait_for_load_state()
            _load_all_images(page)
            total += time.perf_counter() - start
        timings[run] = {
            **server,
            "first page, HTML parsed (s)": round(html, 3),
            "first page, all thumbnails (s)": round(first, 3),
            "all pages, all 200 thumbnails (s)": round(total, 3),
        }
    (tmp_path / "gallery-timing.json").write_text(json.dumps(timings, indent=1))
    record_property("gallery_200", timings)
    print(json.dumps(timings, indent=1))
    # The times are for reading (a busy CI machine makes any bound flaky); what must hold is
    # that both runs showed the same, full first page of thumbnails.
    assert timings["cold"]["thumbnails"] == timings["warm"]["thumbnails"] > 0
