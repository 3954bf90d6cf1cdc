"""The image viewer (zoom, pan, the window drag at any zoom), the band and luma choice, the
natural order and the histograms' labels, in Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from imgstats.web.gallery import natural_key

pytestmark = pytest.mark.browser


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => document.querySelector('.viewer img').naturalWidth > 0")


def _screen_point(page, fx: float, fy: float) -> tuple[float, float]:
    """Where the point at fractions (fx, fy) of the image is on the screen now."""
    box = page.locator(".viewer img").bounding_box()
    return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy


def _drag(page, a, b) -> None:
    page.mouse.move(*a)
    page.mouse.down()
    page.mouse.move((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, steps=4)
    page.mouse.move(*b, steps=4)


def test_zoom_buttons_and_wheel_change_the_view(server, page):
    _open(page, server.url + "/gallery/IMG_1.jpg")
    viewer = page.locator(".viewer").bounding_box()
    before = page.locator(".viewer img").bounding_box()
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    zoomed = page.locator(".viewer img").bounding_box()
    assert zoomed["width"] == pytest.approx(before["width"] * 2.25, rel=0.01)
    expect(page.locator("[data-zoom-level]")).to_have_text("225%")
    # the viewer's frame keeps its size: the image is cut, not the page grown
    assert page.locator(".viewer").bounding_box() == viewer
    # the wheel zooms about the pointer: the image point under it stays under it
    x, y = _screen_point(page, 0.3, 0.6)
    page.mouse.move(x, y)
    page.mouse.wheel(0, -200)
    page.wait_for_timeout(100)
    box = page.locator(".viewer img").bounding_box()
    assert box["width"] > zoomed["width"] * 1.3
    assert (x - box["x"]) / box["width"] == pytest.approx(0.3, abs=0.01)
    assert (y - box["y"]) / box["height"] == pytest.approx(0.6, abs=0.01)
    page.get_by_role("button", name="Fit").click()
    assert page.locator(".viewer img").bounding_box() == before


def test_keyboard_zooms_and_pans(server, page):
    _open(page, server.url + "/gallery/IMG_1.jpg")
    before = page.locator(".viewer img").bounding_box()
    page.locator(".viewer").focus()
    page.keyboard.press("+")
    zoomed = page.locator(".viewer img").bounding_box()
    assert zoomed["width"] == pytest.approx(before["width"] * 1.5, rel=0.01)
    page.keyboard.press("ArrowLeft")  # shows more of the left: the image moves right
    moved = page.locator(".viewer img").bounding_box()
    assert moved["x"] > zoomed["x"]
    page.keyboard.press("0")
    assert page.locator(".viewer img").bounding_box() == before


def test_the_window_drag_on_a_zoomed_and_panned_view_gives_that_window(server, page):
    """The drag maps through the zoom and pan: the window is the image pixels under it."""
    _open(page, server.url + "/gallery/IMG_1.jpg")  # 512 x 512
    for _ in range(3):
        page.get_by_role("button", name="Zoom in").click()  # 337.5%
    # pan by a drag in the "Pans" mode: the image moves with the pointer, no page is loaded
    page.get_by_role("button", name="Pans").click()
    start = page.locator(".viewer img").bounding_box()
    viewer = page.locator(".viewer").bounding_box()
    centre = (viewer["x"] + viewer["width"] / 2, viewer["y"] + viewer["height"] / 2)
    _drag(page, centre, (centre[0] - 60, centre[1] - 40))
    page.mouse.up()
    moved = page.locator(".viewer img").bounding_box()
    assert moved["x"] == pytest.approx(start["x"] - 60, abs=1)
    assert moved["y"] == pytest.approx(start["y"] - 40, abs=1)
    assert page.url.endswith("/gallery/IMG_1.jpg")
    page.get_by_role("button", name="Draws a window").click()
    # image pixels 230..300 x 220..290 (in the part shown), on the screen where they are now
    a = _screen_point(page, 230 / 512, 220 / 512)
    b = _screen_point(page, 300 / 512, 290 / 512)
    _drag(page, a, b)
    with page.expect_navigation():
        page.mouse.up()
    x0, y0, x1, y1 = map(int, re.search(r"window=([\d,]+)", page.url).group(1).split(","))
    for got, want in zip((x0, y0, x1, y1), (230, 220, 300, 290), strict=True):
        assert abs(got - want) <= 1, (x0, y0, x1, y1)
    api = server.get_json(f"/stats/IMG_1.jpg/median?window={x0},{y0},{x1},{y1}")
    median = page.locator("table.stats tr", has=page.locator("th", has_text="median"))
    assert float(median.locator("data").first.get_attribute("value")) == api["value"]
    # the view is kept for the new page: still zoomed, the window drawn where it was
    page.wait_for_function("() => document.querySelector('.viewer img').naturalWidth > 0")
    expect(page.locator("[data-zoom-level]")).to_have_text("338%")
    drawn = page.locator(".selection").bounding_box()
    corner = _screen_point(page, x0 / 512, y0 / 512)
    assert drawn["x"] == pytest.approx(corner[0], abs=3)
    assert drawn["y"] == pytest.approx(corner[1], abs=3)


def test_shift_drag_pans_without_choosing_a_window(server, page):
    _open(page, server.url + "/gallery/IMG_1.jpg")
    page.get_by_role("button", name="Zoom in").click()
    start = page.locator(".viewer img").bounding_box()
    page.keyboard.down("Shift")
    a = _screen_point(page, 0.5, 0.5)
    _drag(page, a, (a[0] + 30, a[1] + 30))
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_timeout(300)
    assert page.url.endswith("/gallery/IMG_1.jpg")
    assert page.locator(".viewer img").bounding_box()["x"] == pytest.approx(start["x"] + 30, abs=1)


def test_the_gallery_is_in_natural_order(server, page):
    page.goto(server.url + "/gallery")
    names = page.locator(".cards .name").all_inner_texts()
    assert names == sorted(names, key=natural_key)
    assert names.index("IMG_2.jpg") < names.index("IMG_10.jpg")


def test_the_luma_is_chosen_and_its_median_is_the_apis(server, page):
    page.goto(server.url + "/gallery/IMG_1.jpg")
    page.get_by_role("navigation", name="Samples").get_by_role("link", name="Luma").click()
    expect(page).to_have_url(server.url + "/gallery/IMG_1.jpg?band=luma")
    page.get_by_role("button", name="median", exact=True).click()
    expect(page).to_have_url(server.url + "/gallery/IMG_1.jpg/median?band=luma")
    api = server.get_json("/stats/IMG_1.jpg/median?band=luma")["value"]
    assert float(page.locator("#exact-value").inner_text()) == api
    assert api != server.get_json("/stats/IMG_1.jpg/median")["value"]
    expect(page.locator("table.stats")).to_have_count(0)  # no table again on a result
    field = page.get_by_label("Percentile, from 0 to 100")
    field.fill("12.5")
    field.press("Enter")
    expect(page).to_have_url(server.url + "/gallery/IMG_1.jpg/p12.5?band=luma")
    api = server.get_json("/stats/IMG_1.jpg/p12.5?band=luma")["value"]
    assert float(page.locator("#exact-value").inner_text()) == api


#: The pairs of texts of a shown histogram whose rendered boxes overlap, and texts that stick
#: out of their drawing.
OVERLAPS = """() => {
  const out = [];
  for (const svg of document.querySelectorAll('svg.hist')) {
    if (!svg.getBoundingClientRect().width) continue;  // the other layout, not shown
    const boxes = [...svg.querySelectorAll('text')]
      .map(t => [t.textContent, t.getBoundingClientRect()]);
    boxes.forEach(([a, p], i) => boxes.slice(i + 1).forEach(([b, q]) => {
      const apart = p.right <= q.left || q.right <= p.left || p.bottom <= q.top
        || q.bottom <= p.top;
      if (!apart) out.push([a, b]);
    }));
    const frame = svg.getBoundingClientRect();
    for (const [a, p] of boxes) {
      if (p.left < frame.left - 1 || p.right > frame.right + 1) out.push([a, 'outside']);
    }
  }
  return out;
}"""


@pytest.mark.parametrize("width", [1280, 390, 320])
@pytest.mark.parametrize(
    "path", ["/gallery/IMG_1.jpg", "/gallery/IMG_13_float32.tif", "/gallery/IMG_12_uint16.tif"]
)
def test_no_histogram_text_overlaps_another(server, browser, path, width):
    """Rendered boxes of every label, tick and title of each shown histogram: none overlap."""
    context = browser.new_context(viewport={"width": width, "height": 800})
    try:
        page = context.new_page()
        page.goto(server.url + path)
        overlaps = page.evaluate(OVERLAPS)
        assert overlaps == []
        shown = page.evaluate(
            "() => [...document.querySelectorAll('svg.hist')]"
            ".filter(s => s.getBoundingClientRect().width).length"
        )
        assert shown >= 1
    finally:
        context.close()
