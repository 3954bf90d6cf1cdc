"""What the pages show: histograms binned in value space, axes whose labels never overlap,
natural order, the luma and band selection, and a result page without the table again."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from test_gallery_pages import elements

import imgstats
from imgstats.web._plots import LAYOUTS, Mark, display_bars, histogram_svg, nice_ticks
from imgstats.web.gallery import natural_key

SVG = "{http://www.w3.org/2000/svg}"


# -- binning ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("low", "high"), [(1.0, 1.5), (0.0, 1000.0), (-3.0, 2.0), (1e6, 1e7)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_bars_have_no_comb(dtype, low, high):
    """Uniform samples give bars of about equal height: no empty bar between full ones.

    The summary's float bins are 1/128 of an octave wide: over [1, 1.5] that is four display
    bars per bin, which drawn as points gave three empty bars in four.
    """
    arr = np.random.default_rng(3).uniform(low, high, (300, 300)).astype(dtype)
    values, counts = imgstats.summarize(arr).histogram()
    heights, lo, hi = display_bars(values, counts, (float(arr.min()), float(arr.max())))
    assert (lo, hi) == (float(arr.min()), float(arr.max()))
    assert heights.sum() == pytest.approx(arr.size)
    assert heights.min() > 0.3 * heights.mean(), "a comb of empty bars"


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16"])
def test_integer_bars_equal_numpy_histogram(dtype):
    """8/16-bit bins are single values: the bars are numpy's histogram of the samples."""
    info = np.iinfo(dtype)
    arr = np.random.default_rng(4).integers(max(info.min, -5000), min(info.max, 5000), (80, 90))
    arr = arr.astype(dtype)
    values, counts = imgstats.summarize(arr).histogram()
    lo, hi = int(arr.min()), int(arr.max())
    heights, left, right = display_bars(values, counts, (lo, hi))
    if hi - lo + 1 <= 256:
        expected, _ = np.histogram(arr, bins=hi - lo + 1, range=(lo - 0.5, hi + 0.5))
    else:  # whole values per bar, as many in each
        per_bar = -(-(hi - lo + 1) // 256)
        bars = -(-(hi - lo + 1) // per_bar)
        expected, _ = np.histogram(arr, bins=bars, range=(lo, lo + bars * per_bar))
        assert (left, right) == (lo, lo + bars * per_bar)
    np.testing.assert_array_equal(heights, expected)


def test_int32_bins_are_spread_over_the_values_they_hold():
    """An int32 bin holds 65536 values: its count covers that interval, not its first value."""
    arr = np.arange(0, 2**20, dtype=np.int32)
    values, counts = imgstats.summarize(arr).histogram()
    heights, lo, hi = display_bars(values, counts, (0, 2**20 - 1))
    assert heights.min() > 0.9 * heights.max()


# -- axes and labels --------------------------------------------------------------------------
def _boxes(svg: str, layout: str) -> list[tuple[str, float, float, float, float]]:
    """``(text, left, right, top, bottom)`` of every text of a drawing, from the estimated
    width of its characters (the drawing's own estimate, plus 5%)."""
    char = LAYOUTS[layout].char * 1.05
    font = LAYOUTS[layout].font
    out = []
    for t in ET.fromstring(svg).iter(f"{SVG}text"):
        if t.get("transform"):  # the rotated axis title, alone on its side
            continue
        x, y, width = float(t.get("x")), float(t.get("y")), len(t.text) * char
        if t.get("text-anchor") == "end":
            x -= width
        elif t.get("text-anchor") == "middle":
            x -= width / 2
        out.append((t.text, x, x + width, y - font, y))
    return out


def _overlaps(svg: str, layout: str) -> list[tuple[str, str]]:
    boxes = _boxes(svg, layout)
    return [
        (a[0], b[0])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a[1] < b[2] and b[1] < a[2] and a[3] < b[4] and b[3] < a[4]
    ]


CASES = {
    "uint8": (np.arange(256, dtype=np.uint8), (0, 255)),
    "uint16 wide": (np.arange(0, 65536, 7, dtype=np.uint16), (0, 65535)),
    "float small": (np.linspace(0.0012, 0.0019, 999, dtype=np.float32), None),
    "float huge": (np.array([-3.3e38, -1e30, 1e30, 3.3e38], dtype=np.float32), None),
    "negative": (np.arange(-40000, 39000, 13, dtype=np.int32), None),
    "one value": (np.full(10, 7.25, dtype=np.float64), None),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("case", list(CASES))
def test_no_text_overlaps_another(case, layout):
    arr, span = CASES[case]
    values, counts = imgstats.summarize(arr).histogram()
    stats = imgstats.compute(arr, ["min", "median", "mean", "p99"])
    marks = [Mark(k, float(v), k if k != "p99" else "percentile") for k, v in stats.items()]
    span = span or (float(arr.min()), float(arr.max()))
    svg = str(histogram_svg(values, counts, marks, title="t", span=span, layout=layout))
    assert _overlaps(svg, layout) == []
    width = LAYOUTS[layout].width
    for text, left, right, _, _ in _boxes(svg, layout):
        assert -5 <= left and right <= width + 5, text  # inside the drawing
    ticks = ET.fromstring(svg).findall(f"{SVG}text[@class='tick tick-x']")
    assert ticks, "an x axis without a label"


def test_median_and_mean_labels_close_together_do_not_collide():
    values, counts = np.arange(256), np.ones(256)
    marks = [Mark("median", 128.0, "median"), Mark("mean", 128.4, "mean")]
    for layout in LAYOUTS:
        svg = str(histogram_svg(values, counts, marks, title="t", layout=layout))
        assert _overlaps(svg, layout) == []


def test_y_axis_has_round_counts_on_the_square_root_scale():
    values, counts = np.arange(256, dtype=np.uint8), np.full(256, 1000)
    counts[0] = 40_000
    svg = str(histogram_svg(values, counts, [], title="t", layout="wide"))
    root = ET.fromstring(svg)
    ticks = root.findall(f"{SVG}text[@class='tick tick-y']")
    labels = [t.text for t in ticks]
    assert labels[0] == "40k" and labels[-1] == "0" and len(labels) >= 4

    def count(text: str) -> float:
        return float(text[:-1]) * 1000 if text.endswith("k") else float(text)

    # on a square-root scale a tick's height above 0 is proportional to sqrt(its count)
    ys = {t.text: float(t.get("y")) for t in ticks}
    unit = (ys["0"] - ys["40k"]) / 200.0  # sqrt(40k) = 200
    for text, y in ys.items():
        assert ys["0"] - y == pytest.approx(unit * count(text) ** 0.5, abs=0.2), text


@pytest.mark.parametrize(
    ("lo", "hi", "count", "expected"),
    [(0, 255, 6, [0, 50, 100, 150, 200, 250]), (0.013, 0.76, 8, [0.1 * i for i in range(1, 8)])],
)
def test_nice_ticks(lo, hi, count, expected):
    ticks, _ = nice_ticks(lo, hi, count)
    assert ticks == pytest.approx(expected)


# -- pages ------------------------------------------------------------------------------------
def test_natural_key_orders_numbers_by_value():
    names = ["IMG_10.jpg", "IMG_2.jpg", "img_1.png", "IMG_1.jpg", "a.tif", "IMG_11.png"]
    assert sorted(names, key=natural_key) == [
        "a.tif",
        "IMG_1.jpg",
        "img_1.png",
        "IMG_2.jpg",
        "IMG_10.jpg",
        "IMG_11.png",
    ]


def test_the_gallery_is_in_natural_order(client):
    names = [a["alt"] for a, _ in elements(client.get("/gallery").text, "img")]
    names += [a["alt"] for a, _ in elements(client.get("/gallery?page=2").text, "img")]
    assert names[:3] == ["IMG_1.jpg", "IMG_7.jpg", "IMG_8.jpg"]  # not IMG_11 after IMG_1


@pytest.mark.parametrize("band", ["luma", "G"])
@pytest.mark.parametrize("func", ["median", "p99.5", "mean"])
def test_a_band_or_the_luma_can_be_chosen(client, band, func):
    page = client.get(f"/gallery/IMG_1.jpg?band={band}").text
    ((current, text),) = [(a, t) for a, t in elements(page, "a") if a.get("aria-current")]
    assert text == ("Luma" if band == "luma" else f"Band {band}")
    hidden = [a for a, _ in elements(page, "input", name="band")]
    assert hidden and all(a["value"] == band and a["type"] == "hidden" for a in hidden)
    redirect = client.get(f"/gallery/IMG_1.jpg?func={func}&band={band}")
    if func.startswith("p"):
        redirect = client.get(f"/gallery/IMG_1.jpg?p={func[1:]}&band={band}")
    assert redirect.status_code == 303
    assert redirect.headers["Location"] == f"/gallery/IMG_1.jpg/{func}?band={band}"
    html = client.get(redirect.headers["Location"]).text
    api = client.get(f"/stats/IMG_1.jpg/{func}?band={band}").get_json()["value"]
    whole = client.get(f"/stats/IMG_1.jpg/{func}").get_json()["value"]
    assert api != whole  # the choice matters for this image
    ((_, exact),) = elements(html, "code", id="exact-value")
    assert float(exact) == api
    ((link, _),) = elements(html, "a", class_="api")
    assert link["href"] == f"/stats/IMG_1.jpg/{func}?band={band}"


@pytest.mark.parametrize(
    ("image", "band"), [("IMG_1.jpg", "A"), ("IMG_8.jpg", "luma"), ("IMG_1.jpg", "x" * 40)]
)
def test_a_band_the_image_lacks_is_a_400_page(client, image, band):
    response = client.get(f"/gallery/{image}/median?band={band}")
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "has no band" in response.text and "Traceback" not in response.text


def test_greyscale_images_offer_no_band_choice(client):
    html = client.get("/gallery/IMG_8.jpg").text
    assert 'aria-label="Samples"' not in html


def test_the_result_page_does_not_repeat_the_table(client):
    html = client.get("/gallery/IMG_1.jpg/p99.5").text
    assert "<table" not in html
    # one histogram, of the samples the result is about, with the result marked
    assert html.count('<svg class="hist hist-wide"') == 1
    assert "Histogram of all samples" in html and "p99.5 " in html
    luma = client.get("/gallery/IMG_1.jpg/max?band=luma").text
    assert "Histogram of luma" in luma and 'class="mark mark-result"' in luma
    assert "<table" not in luma


def test_the_viewer_has_zoom_controls_and_keeps_the_window_picker(client):
    html = client.get("/gallery/IMG_1.jpg?window=10,20,30,40").text
    viewer = html[html.index("data-viewer") :]
    assert viewer.index("data-stage") < viewer.index("data-picker") < viewer.index("<img")
    assert re.search(r'aria-label="Zoom in"', html) and re.search(r'aria-label="Zoom out"', html)
    ((box, _),) = elements(html, "span", class_="selection")
    assert "left: 1.9531%" in box["style"]
