"""Zones on an image page: GeoJSON or a label raster, drawn over the image, a sortable table
with the API's numbers and a CSV download, in Chromium."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
import tifffile
from conftest import _serve
from playwright.sync_api import expect

from imgstats.data import gallery_path

pytestmark = pytest.mark.browser

#: Three polygons over the 512 x 512 IMG_1.jpg, in image pixels; "b" is the largest.
ZONES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "a",
            "properties": {"name": "face"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[180, 60], [330, 60], [330, 200], [180, 200], [180, 60]]],
            },
        },
        {
            "type": "Feature",
            "id": "b",
            "properties": {},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[20, 250], [500, 250], [500, 500], [20, 500], [20, 250]]],
            },
        },
        {
            "type": "Feature",
            "id": "c",
            "properties": {},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[400, 10], [500, 10], [450, 90], [400, 10]]],
            },
        },
    ],
}


@pytest.fixture(scope="module")
def zones_server(tmp_path_factory):
    """A server over IMG_1.jpg and a 512 x 512 label raster of four labels and background."""
    root = tmp_path_factory.mktemp("zones-server")
    folder = root / "images"
    folder.mkdir()
    shutil.copy(gallery_path() / "IMG_1.jpg", folder / "IMG_1.jpg")
    labels = np.zeros((512, 512), dtype=np.uint16)
    labels[:256, :256], labels[:256, 256:] = 1, 2
    labels[256:, :256], labels[256:500, 256:] = 3, 4
    tifffile.imwrite(folder / "labels.tif", labels)
    yield from _serve(folder, root / "server.log")


def _table(page) -> list[list[str]]:
    """The zones table as shown: exact values where there are some, else the text."""
    return page.locator("[data-zones-table] tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.children].map(c => "
        "c.querySelector('data') ? c.querySelector('data').value : c.textContent))"
    )


def _api(server, body) -> dict:
    import urllib.request

    request = urllib.request.Request(
        server.url + "/zonal/IMG_1.jpg",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def _image_box(page) -> dict:
    return page.locator(".viewer img[draggable]").bounding_box()


def _csv(page) -> list[list[str]]:
    href = page.locator("[data-zones-csv]").get_attribute("href")
    text = page.evaluate("href => fetch(href).then(r => r.text())", href)
    return list(csv.reader(io.StringIO(text)))


def test_pasted_geojson_is_drawn_tabled_sorted_and_downloaded(
    zones_server, page, axe, readme_screenshot
):
    page.goto(zones_server.url + "/gallery/IMG_1.jpg")
    expect(page.get_by_role("button", name="Clear zones")).to_be_hidden()
    page.get_by_label("GeoJSON, pasted").fill(json.dumps(ZONES))
    page.get_by_label("Statistics of each zone").fill("median mean p99")
    page.get_by_role("button", name="Compute zones").click()
    expect(page.locator("[data-zones-status]")).to_have_text(
        "3 zones.", timeout=120_000
    )  # cold: the JIT
    api = _api(zones_server, {"funcs": ["median", "mean", "p99"], "zones": ZONES})
    expected = [
        [f["id"]]
        + [repr(f["properties"][k]) for k in ("median", "mean", "p99")]
        + [str(f["properties"]["count"])]
        for f in api["features"]
    ]

    def as_text(rows):
        return [[r[0]] + [repr(float(v)) for v in r[1:4]] + [r[4]] for r in rows]

    assert as_text(_table(page)) == expected  # in the zones' order
    # the three polygons are drawn over the image, inside the zoomed stage
    paths = page.locator(".stage [data-zones-overlay] path")
    expect(paths).to_have_count(3)
    # in image pixels, in a drawing that covers the image exactly
    assert paths.nth(1).evaluate("p => { const b = p.getBBox(); return [b.x, b.width]; }") == [
        20,
        480,
    ]
    assert page.locator("[data-zones-overlay]").bounding_box() == _image_box(page)
    # sort by mean, then the other way
    page.get_by_role("button", name="Sort by mean").click()
    means = [float(r[2]) for r in _table(page)]
    assert means == sorted(means)
    header = page.locator(
        "[data-zones-table] th", has=page.get_by_role("button", name="Sort by mean")
    )
    expect(header).to_have_attribute("aria-sort", "ascending")
    page.get_by_role("button", name="Sort by mean").click()
    assert [float(r[2]) for r in _table(page)] == sorted(means, reverse=True)
    expect(header).to_have_attribute("aria-sort", "descending")
    # the CSV holds every zone with the exact values
    rows = _csv(page)
    assert rows[0] == ["zone", "median", "mean", "p99", "count"]
    got = sorted([r[0]] + [float(v) for v in r[1:]] for r in rows[1:])
    assert got == sorted(
        [f["id"]] + [float(f["properties"][k]) for k in ("median", "mean", "p99", "count")]
        for f in api["features"]
    )
    assert axe(page) == []
    page.locator("[data-zones-table] tbody tr").first.hover()  # its polygon is highlighted
    expect(page.locator("[data-zones-overlay] path.hot")).to_have_count(1)
    page.evaluate("window.scrollTo(0, 0)")
    readme_screenshot(page, "zones", full_page=True)
    # zoom in: the drawing follows the image
    page.get_by_role("button", name="Zoom in").click()
    assert page.locator("[data-zones-overlay]").bounding_box() == _image_box(page)
    # clear: nothing drawn, no table
    page.get_by_role("button", name="Clear zones").click()
    expect(page.locator("[data-zones-overlay] path")).to_have_count(0)
    assert page.locator("[data-zones-result]").is_hidden()


def test_a_label_raster_of_the_store(zones_server, page):
    page.goto(zones_server.url + "/gallery/IMG_1.jpg")
    page.get_by_label("or a label raster of the store").select_option("labels.tif")
    page.get_by_label("Statistics of each zone").fill("median")
    page.get_by_role("button", name="Compute zones").click()
    expect(page.locator("[data-zones-status]")).to_have_text("4 zones.", timeout=120_000)
    api = _api(zones_server, {"funcs": ["median"], "zones": {"labels": "labels.tif"}})
    shown = [[int(r[0]), float(r[1]), int(r[2])] for r in _table(page)]
    assert shown == [[r["zone"], r["median"], r["count"]] for r in api["rows"]]
    assert [r[2] for r in shown] == [256 * 256 * 3] * 3 + [244 * 256 * 3]
    overlay = page.locator(".labels-overlay")
    expect(overlay).to_be_visible()
    assert "labels.tif" in overlay.get_attribute("src")
    page.get_by_role("button", name="Sort by count").click()
    page.get_by_role("button", name="Sort by count").click()  # descending
    assert [r[2] for r in _table(page)][-1] == str(244 * 256 * 3)


def test_a_bad_geojson_is_said_and_nothing_is_drawn(zones_server, page):
    page.goto(zones_server.url + "/gallery/IMG_1.jpg")
    page.get_by_label("GeoJSON, pasted").fill('{"type": "FeatureCollection", "features": [')
    page.get_by_role("button", name="Compute zones").click()
    expect(page.get_by_role("alert")).to_contain_text("This is not JSON")
    page.errors.allow("status of 400")
    bad = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": "x"}]}
    page.get_by_label("GeoJSON, pasted").fill(json.dumps(bad))
    page.get_by_role("button", name="Compute zones").click()
    expect(page.get_by_role("alert")).to_contain_text("feature 0", timeout=60_000)
    expect(page.locator("[data-zones-overlay] path")).to_have_count(0)
    assert page.locator("[data-zones-result]").is_hidden()


def test_hostile_zone_ids_stay_text_and_each_function_is_one_column(zones_server, page):
    # ids that a spreadsheet would run as formulas (OWASP's CSV injection), and functions
    # typed twice or with "count": two columns of one value before
    hostile = ['=HYPERLINK("http://evil.example","x")', "+1+1", "@SUM(A1)", "-2+3"]
    features = [dict(f, id=i) for f, i in zip(ZONES["features"], hostile, strict=False)]
    zones = {"type": "FeatureCollection", "features": features}
    page.goto(zones_server.url + "/gallery/IMG_1.jpg")
    page.get_by_label("GeoJSON, pasted").fill(json.dumps(zones))
    page.get_by_label("Statistics of each zone").fill("median count median")
    page.get_by_role("button", name="Compute zones").click()
    expect(page.locator("[data-zones-status]")).to_have_text("3 zones.", timeout=120_000)
    headers = page.locator("[data-zones-table] thead th").all_text_contents()
    assert [h.strip() for h in headers] == ["zone", "median", "count"]
    assert sorted(r[0] for r in _table(page)) == sorted(hostile[:3])  # shown as they are
    rows = _csv(page)
    assert rows[0] == ["zone", "median", "count"]
    assert [r[0] for r in rows[1:]] == ["'" + h for h in hostile[:3]]
    api = _api(zones_server, {"funcs": ["median"], "zones": zones})
    assert [float(r[1]) for r in rows[1:]] == [f["properties"]["median"] for f in api["features"]]
