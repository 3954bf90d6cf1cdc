"""The window view, the whole-gallery page, and what people read: numbers, order, words."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_gallery_pages import elements

import imgstats
from imgstats.web._plots import Mark, histogram_svg
from imgstats.web.gallery import in_order, natural_key, readable

SVG = "{http://www.w3.org/2000/svg}"
ORACLE = {"min": np.nanmin, "max": np.nanmax, "mean": np.nanmean, "median": np.nanmedian}


def _numpy(arr: np.ndarray, func: str) -> float:
    if func == "mean":  # imgstats accumulates in float64, as numpy does for integers
        return float(np.nanmean(arr, dtype=np.float64))
    if func in ORACLE:
        return float(ORACLE[func](arr))
    return float(np.nanpercentile(arr, float(func[1:]), method="linear"))


def _table(html: str) -> dict:
    """``{statistic: exact text}`` of the first column (all samples) of the statistics table."""
    rows = re.findall(r'<tr[^>]*><th scope="row">([^<]+)</th><td[^>]*>(.*?)</td>', html)
    out = {}
    for name, cell in rows:
        exact = re.search(r'<data value="([^"]+)"', cell)
        out[name] = exact.group(1) if exact else cell
    return out


def _pixels(images, name: str) -> np.ndarray:
    return np.asarray(imgstats.open_image(str(images / name)).values)


def _valid(arr: np.ndarray) -> np.ndarray:
    """GDAL's valid samples pooled (issue 16): RGBA's colour bands where alpha is not 0."""
    if arr.ndim == 3 and arr.shape[-1] == 4 and arr.dtype == np.uint8:
        return arr[..., :3][arr[..., 3] != 0]
    return arr


# -- numbers as people read them ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (114.61029942830403, "114.6103"),
        (2.5, "2.5"),
        (255, "255"),
        (7.0, "7"),
        (-3.25, "-3.25"),
        (0.000123456, "0.0001235"),
        (1.5e-7, "1.5000e-07"),
        (1e20 + 0.5, "1.0000e+20"),
        (0.1234567, "0.1235"),
        (None, "—"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (-0.5, "-0.5"),
    ],
)
def test_readable_numbers(value, text):
    assert readable(value) == text


# deadline=None: a pause of the process (a full garbage collection late in the suite, a busy
# machine) in one call past hypothesis's 200 ms default fails the test as flaky.
@settings(deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e14, max_value=1e14))
def test_readable_numbers_are_close_to_the_value(value):
    shown = float(readable(value))
    assert shown == pytest.approx(value, rel=1e-3, abs=5e-5)


def test_percentile_rows_come_in_order():
    funcs = ["min", "p1", "p25", "median", "mean", "p75", "p99", "max", "p99.5", "p0", "p100"]
    assert in_order(funcs) == [
        "min",
        "p0",
        "p1",
        "p25",
        "median",
        "mean",
        "p75",
        "p99",
        "p99.5",
        "p100",
        "max",
    ]


def test_table_shows_rounded_numbers_with_the_exact_value_and_in_order(client):
    html = client.get("/gallery/IMG_1.jpg").text
    rows = [text for _, text in elements(html, "th", scope="row")]
    assert rows.index("p95") < rows.index("p99") < rows.index("max")
    assert rows.index("median") < rows.index("mean") < rows.index("p75")
    api = client.get("/stats/IMG_1.jpg/mean").get_json()["value"]
    ((cell, text),) = [(a, t) for a, t in elements(html, "data") if a["value"] == repr(api)][:1]
    assert cell["title"] == f"exact: {api!r}"
    assert text == readable(api) and len(text) < len(repr(api))
    exact = client.get("/gallery/IMG_1.jpg?exact=1").text
    assert repr(api) in [t for _, t in elements(exact, "data")]
    ((link, _),) = [(a, t) for a, t in elements(html, "a") if "exact=1" in a.get("href", "")]
    assert client.get(link["href"]).status_code == 200


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("101", "101 is outside 0 to 100."),
        ("-1", "-1 is outside 0 to 100."),
        ("abc", "“abc” is not a number."),
        ("", "The field is empty."),
        ("nan", "“nan” is not a number."),
        ("1e999", "1e999 is outside 0 to 100."),
    ],
)
def test_a_refused_percentile_is_said_in_the_pages_words(client, typed, words):
    response = client.get("/gallery/IMG_8.jpg", query_string={"p": typed})
    assert response.status_code == 404
    ((_, text),) = elements(response.text, "p", id="p-error")
    assert text.startswith(words) and text.endswith("such as 99.5.")


# -- the window view ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("image", "window"),
    [
        ("IMG_1.jpg", (10, 20, 110, 70)),
        ("IMG_8.jpg", (0, 0, 1, 1)),
        ("IMG_13_float32.tif", (100, 50, 333, 251)),
        ("IMG_12_uint16.tif", (-5, -5, 40, 10_000)),  # clipped to the image
    ],
)
def test_window_view_equals_numpy_on_the_cut(client, images, image, window):
    x0, y0, x1, y1 = window
    response = client.get(f"/gallery/{image}", query_string={"window": f"{x0},{y0},{x1},{y1}"})
    assert response.status_code == 200
    arr = _pixels(images, image)
    cut = arr[max(y0, 0) : y1, max(x0, 0) : x1]
    table = _table(response.text)
    assert int(table["count"]) == np.count_nonzero(~np.isnan(cut))  # NaN is no sample
    for func in ("min", "p1", "median", "mean", "p99", "max"):
        assert float(table[func]) == pytest.approx(_numpy(cut, func), rel=1e-12), func
    html = response.text
    assert "A window of" in html and "clipped to the image" in html if x0 < 0 else True
    ((box, _),) = elements(html, "span", class_="selection")
    assert "hidden" not in box and "left:" in box["style"]


def test_window_form_redirects_to_a_shareable_address(client):
    response = client.get(
        "/gallery/IMG_1.jpg", query_string={"x0": "1", "y0": "2", "x1": "30", "y1": "40"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/gallery/IMG_1.jpg?window=1,2,30,40"
    html = client.get(response.headers["Location"]).text
    for name, value in zip(("x0", "y0", "x1", "y1"), ("1", "2", "30", "40"), strict=True):
        ((field, _),) = elements(html, "input", name=name)
        assert field["value"] == value and field["type"] == "number"
        ((label, _),) = elements(html, "label", for_=field["id"])
    ((api, _),) = [(a, t) for a, t in elements(html, "a", class_="api")]
    assert api["href"] == "/stats/IMG_1.jpg/median?window=1,2,30,40"
    assert client.get(api["href"]).get_json()["value"] == float(_table(html)["median"])


@pytest.mark.parametrize(
    ("ask", "func"), [({"func": "median"}, "median"), ({"p": "99.5"}, "p99.5")]
)
@pytest.mark.parametrize("band", [None, "G"])
def test_a_window_view_s_statistic_is_of_the_window(client, images, ask, func, band):
    # its buttons and percentile field gave the whole image's number, under a table and a
    # legend of the window's
    window = "10,20,110,70"
    query = {"window": window, **({"band": band} if band else {})}
    html = client.get("/gallery/IMG_1.jpg", query_string=query).text
    for form in ("funcs", "percentile"):
        block = html.split(f'<form class="{form}"', 1)[1].split("</form>", 1)[0]
        assert f'name="window" value="{window}"' in block
    response = client.get("/gallery/IMG_1.jpg", query_string={**query, **ask})
    assert response.status_code == 303
    assert f"window={window}" in response.headers["Location"]
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and f"window {window}" in page.text
    cut = _pixels(images, "IMG_1.jpg")[20:70, 10:110]
    cut = cut[:, :, 1] if band else cut
    ((exact, value),) = elements(page.text, "code", id="exact-value")
    assert float(value) == _numpy(cut, func)
    api = elements(page.text, "a", class_="api")[0][0]  # the result's (then the window's)
    assert client.get(api["href"]).get_json()["value"] == float(value)
    assert f"window={window}" in api["href"] and (f"band={band}" in api["href"] or not band)


def test_a_refused_percentile_of_a_window_view_stays_on_the_window(client):
    # the page that said why showed the whole image's table
    response = client.get("/gallery/IMG_1.jpg", query_string={"window": "1,2,30,40", "p": "101"})
    assert response.status_code == 404 and "A window of" in response.text
    ((_, text),) = elements(response.text, "p", id="p-error")
    assert "101" in text
    assert 'name="window" value="1,2,30,40"' in response.text


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"x0": "5", "y0": "0", "x1": "5", "y1": "10"}, "x1 (5) must be greater than x0 (5)"),
        ({"x0": "0", "y0": "9", "x1": "5", "y1": "3"}, "y1 (3) must be greater than y0 (9)"),
        ({"x0": "1.5", "y0": "0", "x1": "5", "y1": "3"}, "x0 is “1.5”: enter a whole number"),
        ({"x0": "", "y0": "0", "x1": "5", "y1": "3"}, "x0 is empty"),
        ({"window": "1,2,3"}, "A window is four whole numbers x0,y0,x1,y1; this one has 3."),
        ({"window": "1,2,3,4,5"}, "this one has 5"),
        ({"window": "a,b,c,d"}, "x0 is “a”"),
        ({"window": "600,0,700,10"}, "The window lies outside the image, which is 512 × 512"),
        ({"window": "-20,-20,0,0"}, "The window lies outside the image"),
    ],
)
def test_a_bad_window_is_a_400_page_in_its_own_words(client, query, words):
    response = client.get("/gallery/IMG_1.jpg", query_string=query)
    assert response.status_code == 400 and response.mimetype == "text/html"
    ((_, text),) = elements(response.text, "p", id="w-error")
    assert words in text
    assert "invalid window" not in text  # not the API's wording
    ((field, _),) = elements(response.text, "input", name="x0")
    assert field["aria-invalid"] == "true" and "w-error" in field["aria-describedby"]


# -- the whole gallery ----------------------------------------------------------------------------
def test_whole_gallery_is_linked_and_pools_each_type(client, images):
    html = client.get("/gallery").text
    links = {text: a["href"] for a, text in elements(html, "a")}
    assert links["Statistics of the whole gallery"] == "/gallery/all"
    response = client.get("/gallery/all")
    assert response.status_code == 200
    # the uint8 images pooled (all their samples), with a histogram; uint16 and float32 have
    # one image each: nothing to pool
    pooled = re.findall(r'<th scope="row">All (\w+) images \((\d+)\)</th>', response.text)
    assert pooled == [("uint8", "4")]
    assert response.text.count('<svg class="hist hist-wide"') == 1
    assert "The only image of its type (float32, uint16)" in response.text
    listed = [t for a, t in elements(response.text, "a") if a["href"].startswith("/gallery/IMG")]
    assert listed == sorted((p.name for p in images.iterdir()), key=natural_key)


# -- histograms -----------------------------------------------------------------------------------
def _crossings(svg: str) -> list[tuple[str, str]]:
    """(line, label) pairs where a mark's line passes through another mark's label."""
    root = ET.fromstring(svg)
    lines = [(g.get("class"), g.find(f"{SVG}line")) for g in root.findall(f"{SVG}g")]
    labels = root.findall(f"{SVG}text[@class]")
    out = []
    for kind, line in lines:
        x, top = float(line.get("x1")), float(line.get("y1"))
        for text in labels:
            if "label" not in text.get("class") or kind.split()[-1][5:] in text.get("class"):
                continue
            tx, ty, width = float(text.get("x")), float(text.get("y")), len(text.text) * 8.4
            left, right = (tx - width, tx) if text.get("text-anchor") == "end" else (tx, tx + width)
            if ty > top and left - 2 <= x <= right + 2:
                out.append((kind, text.text))
    return out


def test_median_line_does_not_cross_the_mean_label():
    values = np.arange(256)
    counts = np.ones(256, dtype=np.int64)
    marks = [
        Mark("min", 0, "min"),
        Mark("median", 100.0, "median"),
        Mark("mean", 98.7, "mean"),
        Mark("p99", 250.0, "percentile"),
    ]
    for layout in ("narrow", "wide"):
        svg = str(histogram_svg(values, counts, marks, title="t", layout=layout))
        assert _crossings(svg) == []
        assert "font" not in svg  # the size comes from the CSS
        ticks = [t.text for t in ET.fromstring(svg).findall(f"{SVG}text[@class='tick tick-x']")]
        # round values, evenly spaced, from the range of the data (no note under the axis)
        assert ticks[0] == "0" and len(ticks) >= 3
        steps = {int(b) - int(a) for a, b in itertools.pairwise(ticks)}
        assert len(steps) == 1 and steps.pop() in (50, 100), ticks


@pytest.mark.parametrize(
    "image", ["IMG_1.jpg", "IMG_8.jpg", "IMG_12_uint16.tif", "IMG_13_float32.tif"]
)
def test_no_label_is_crossed_on_the_gallery_images(client, image):
    html = client.get(f"/gallery/{image}").text
    svgs = re.findall(r'<svg class="hist .*?</svg>', html, re.S)
    assert svgs
    for svg in svgs:
        assert _crossings(svg) == []
    assert "square root of the count" in html


def test_histogram_text_is_readable_in_a_narrow_column(client):
    with client.get("/assets/gallery/gallery.css") as response:
        css = response.text
    size = float(re.search(r"\.hist-narrow text \{ font-size: (\d+)px", css).group(1))
    svg = str(histogram_svg(np.arange(4), np.ones(4), [], title="t", layout="narrow"))
    width = float(re.search(r'viewBox="0 0 (\d+)', svg).group(1))
    assert size * 286 / width >= 11.5  # 286 px: the column at 320 px


def test_bars_span_the_exact_min_and_max(client):
    """Binned (float, wide) histograms would start and end at bin edges: the bars go from the
    exact min to the exact max, and the ticks are round values between them."""
    html = client.get("/gallery/IMG_13_float32.tif").text
    api = {
        f: client.get(f"/stats/IMG_13_float32.tif/{f}").get_json()["value"] for f in ("min", "max")
    }
    root = ET.fromstring(re.search(r'<svg class="hist hist-wide".*?</svg>', html, re.S).group(0))
    ticks = [float(t.text) for t in root.findall(f"{SVG}text[@class='tick tick-x']")]
    assert api["min"] <= ticks[0] < ticks[-1] <= api["max"] and len(ticks) >= 4
    bars = root.find(f"{SVG}path").get("d")
    left = float(re.match(r"M([\d.]+),", bars).group(1))
    min_line = root.find(f"{SVG}g[@class='mark mark-min']/{SVG}line")
    assert float(min_line.get("x1")) == pytest.approx(left, abs=0.1)


def test_whole_gallery_reads_no_pixels_once_each_image_was_seen(client, images, monkeypatch):
    import imgstats.web.service as service

    for name in sorted(p.name for p in images.iterdir()):
        assert client.get(f"/gallery/{name}").status_code == 200
    calls = []
    for attr in ("summarize", "refine", "refine_many", "refine_mixed"):
        real = getattr(service, attr, None)
        if real is None:  # the service's imports change; patch those it has
            continue
        monkeypatch.setattr(
            service,
            attr,
            lambda *a, _real=real, _attr=attr, **k: calls.append(_attr) or _real(*a, **k),
        )
    response = client.get("/gallery/all")
    assert response.status_code == 200 and "<svg" in response.text
    # every image's summary is reused; only the merged float percentiles may be refined
    # (from the images holding samples in the refined bins), once: the refined merge is kept
    assert "summarize" not in calls, calls
    calls.clear()
    assert client.get("/gallery/all").status_code == 200
    assert calls == []
