"""Accessibility (axe-core), reflow, the window view and the whole-gallery page in Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

#: Every kind of page: home, gallery, image, result, window view, a refused window,
#: the whole gallery, a refused percentile and a 404.
PAGES = {
    "home": ("/", 200),
    "gallery": ("/gallery", 200),
    "image": ("/gallery/IMG_1.jpg", 200),
    "result": ("/gallery/IMG_8.jpg/p99.5", 200),
    "window": ("/gallery/IMG_1.jpg?window=100,120,300,260", 200),
    "bad window": ("/gallery/IMG_1.jpg?window=300,0,100,10", 400),
    "whole gallery": ("/gallery/all", 200),
    "bad percentile": ("/gallery/IMG_8.jpg?p=101", 404),
    "404": ("/gallery/no-such-image.jpg", 404),
}
#: Widths that WCAG reflow (320 CSS px: 1280 px at 400%) and a phone (390 px) must fit.
NARROW = (320, 390)


def _goto(page, path: str, status: int) -> None:
    if status >= 400:
        page.errors.allow(f"status of {status}")
    response = page.goto(page.url_base + path)
    assert response.status == status, path
    page.wait_for_function(  # lazy thumbnails below the fold load only when scrolled to
        "() => [...document.images].every(i => i.complete || i.loading === 'lazy')"
    )


@pytest.fixture
def at(server, browser):
    """``at(width, height=800)``: a watched page of that viewport on the server."""
    contexts = []

    def make(width: int, height: int = 800, **options):
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(120_000)  # a cold /gallery/all summarizes every image
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.errors = _Allowing(errors)
        page.url_base = server.url
        return page

    yield make
    for context in contexts:
        context.close()


class _Allowing:
    """Enough of conftest's PageErrors for ``_goto``: JS exceptions fail the test."""

    def __init__(self, errors):
        self.errors = errors

    def allow(self, pattern: str) -> None:  # console 4xx lines are not recorded here
        pass


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("name", list(PAGES))
def test_no_wcag_violations(at, axe, name, width):
    page = at(width)
    _goto(page, *PAGES[name])
    violations = axe(page)
    assert violations == [], "\n".join(violations)
    assert page.errors.errors == []


@pytest.mark.parametrize("width", NARROW)
@pytest.mark.parametrize("name", list(PAGES))
def test_no_horizontal_overflow(at, name, width):
    page = at(width, 640)
    _goto(page, *PAGES[name])
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} overflows {width} px by {overflow} px"


def test_two_cards_a_row_on_a_phone(at):
    page = at(390)
    _goto(page, "/gallery", 200)
    tops = page.locator(".cards > li").evaluate_all(
        "cards => cards.slice(0, 4).map(c => Math.round(c.getBoundingClientRect().top))"
    )
    assert tops[0] == tops[1] and tops[2] == tops[3] and tops[2] > tops[0]


@pytest.mark.parametrize("width", [320, 390, 1280])
def test_histogram_labels_are_readable(at, width):
    page = at(width)
    _goto(page, "/gallery/IMG_1.jpg", 200)
    # the texts of the layout shown (the other one is display: none)
    sizes = page.locator("svg.hist text").evaluate_all(
        "ts => ts.filter(t => t.closest('svg').getBoundingClientRect().width)"
        ".map(t => { const m = t.getScreenCTM(); "
        "return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b); })"
    )
    assert sizes and min(sizes) >= 11, sizes  # CSS px on the screen
    assert max(sizes) <= 18, sizes  # and not blown up on a wide screen


def test_window_form_by_keyboard_alone(server, page):
    page.goto(server.url + "/gallery/IMG_1.jpg")
    typed = {"x0": "64", "y0": "32", "x1": "192", "y1": "160"}
    page.locator("main").focus()
    for _ in range(40):  # Tab to the first coordinate, as a keyboard user would
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "x0":
            break
    for name in ("x0", "y0", "x1", "y1"):
        field = page.locator(f"input[name={name}]")
        expect(field).to_be_focused()
        assert field.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
        page.keyboard.type(typed[name])
        page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Show window")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/gallery/IMG_1.jpg?window=64,32,192,160")
    api = server.get_json("/stats/IMG_1.jpg/median?window=64,32,192,160")
    median = page.locator("table.stats tr", has=page.locator("th", has_text="median"))
    assert float(median.locator("data").first.get_attribute("value")) == api["value"]
    assert api["pixels"] == 128 * 128
    expect(page.get_by_role("heading", level=1)).to_have_text("A window of IMG_1.jpg")


def test_a_bad_window_is_said_by_the_page(server, page):
    page.goto(server.url + "/gallery/IMG_1.jpg")
    page.errors.allow("status of 400")
    for name, value in zip(("x0", "y0", "x1", "y1"), ("50", "0", "10", "10"), strict=True):
        page.get_by_label(name, exact=True).fill(value)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Show window").click()
    assert navigation.value.status == 400
    expect(page.get_by_role("alert")).to_have_text(
        "x1 (10) must be greater than x0 (50): the window has no width."
    )
    expect(page.get_by_label("x1", exact=True)).to_have_value("10")


def test_dragging_on_the_image_shows_that_window(server, page, readme_screenshot):
    page.goto(server.url + "/gallery/IMG_1.jpg")  # 512 x 512 pixels
    img = page.locator(".preview img")
    page.wait_for_function("() => document.querySelector('.preview img').naturalWidth > 0")
    box = img.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.25)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.6, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.75, steps=5)
    with page.expect_navigation():
        page.mouse.up()
    assert "/gallery/IMG_1.jpg?window=" in page.url
    x0, y0, x1, y1 = map(int, page.url.rsplit("=", 1)[1].split(","))
    for got, want in zip((x0, y0, x1, y1), (128, 128, 384, 384), strict=True):
        assert abs(got - want) <= 3, (x0, y0, x1, y1)
    selection = page.locator(".selection")
    expect(selection).to_be_visible()
    drawn, shown = selection.bounding_box(), img.bounding_box()
    assert abs(drawn["x"] - (shown["x"] + shown["width"] * 0.25)) <= 3
    readme_screenshot(page, "window", full_page=True)


def test_whole_gallery_page_is_linked_and_lists_every_image(server, page, readme_screenshot):
    page.set_default_timeout(120_000)  # cold, it summarizes every image
    page.goto(server.url + "/gallery")
    page.get_by_role("link", name="Statistics of the whole gallery").click()
    expect(page).to_have_url(server.url + "/gallery/all")
    # the bundled gallery has 11 uint8 images, pooled; one uint16, int16 and float32 each
    expect(page.locator("table.pooled tbody tr")).to_have_count(1)
    expect(page.locator("svg.hist-wide")).to_have_count(1)
    expect(page.locator("table.images tbody th a")).to_have_count(14)
    api = server.get_json("/stats/*g/median")  # the uint8 ones: 10 JPEGs and IMG_11.png
    assert len(api["images"]) == 11
    row = page.locator("table.pooled tr", has=page.locator("th", has_text="All uint8 images"))
    medians = page.locator("table.pooled thead th").all_inner_texts().index("median")
    cell = row.locator("td").nth(medians - 1).locator("data")
    assert float(cell.get_attribute("value")) == api["value"]
    readme_screenshot(page, "whole-gallery", full_page=True)


@pytest.mark.skipif(
    not os.environ.get("IMGSTATS_LOOK_DIR"),
    reason="set IMGSTATS_LOOK_DIR to write screenshots for a person to look at",
)
@pytest.mark.parametrize(
    ("label", "width", "scale"),
    [("desktop", 1280, 1), ("phone", 390, 3), ("zoom200", 640, 2), ("reflow320", 320, 4)],
)
def test_screenshots_to_look_at(at, label, width, scale):
    """Full-page screenshots of every page at one size, for review by eye (not for the README).

    200% zoom is a 640 CSS px viewport at device scale 2, as Chromium lays out a 1280 px
    window zoomed to 200%.
    """
    folder = Path(os.environ["IMGSTATS_LOOK_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    page = at(width, 800, device_scale_factor=scale)
    for name, (path, status) in PAGES.items():
        _goto(page, path, status)
        page.screenshot(path=folder / f"{label}-{name.replace(' ', '-')}.png", full_page=True)


def test_axe_finds_what_it_is_asked_to(at, axe):
    """The check is real: a page with an unlabelled field and a picture without alt fails."""
    page = at(800)
    page.set_content('<html><body><main><img src="data:,"><input></main></body></html>')
    ids = {line.split(" ", 1)[0] for line in axe(page)}
    assert {"image-alt", "label", "html-has-lang"} <= ids


def test_a_click_on_the_image_keeps_the_window(server, page):
    url = f"{server.url}/gallery/IMG_1.jpg?window=100,120,300,260"
    page.goto(url)
    selection = page.locator(".selection")
    before = selection.bounding_box()
    page.locator(".preview img").click(position={"x": 20, "y": 20})
    page.wait_for_timeout(300)  # a navigation, if any, would have started
    assert page.url == url
    expect(selection).to_be_visible()
    assert selection.bounding_box() == before
