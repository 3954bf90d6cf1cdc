"""The gallery's pages through Flask's test client: content, forms, values, errors."""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser

import pytest

from imgstats import parse_function
from imgstats.functions import NAMED_FUNCTIONS, SCALAR_FUNCTIONS
from imgstats.web.gallery import natural_key


class _Elements(HTMLParser):
    """Collect (tag, attrs, text) of every element, enough to ask what a page holds."""

    def __init__(self):
        super().__init__()
        self.elements = []
        self._open = []

    def handle_starttag(self, tag, attrs):
        element = [tag, dict(attrs), ""]
        self.elements.append(element)
        if tag not in ("img", "input", "link", "meta", "br"):
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for element in self._open:
            element[2] += data


def elements(html: str, tag: str, **attrs) -> list:
    parser = _Elements()
    parser.feed(html)
    return [
        (a, text.strip())
        for t, a, text in parser.elements
        if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())
    ]


def shown_value(html: str) -> str:
    ((_, text),) = elements(html, "strong", id="value")
    return text


def test_home_says_what_it_does_and_links_the_gallery_and_health(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    assert "exact image statistics" in html
    links = {text: a["href"] for a, text in elements(html, "a")}
    assert links["Open the gallery"] == "/gallery"
    assert elements(html, "form", action="/health")
    assert [text for _, text in elements(html, "button")] == ["Health check"]
    assert elements(html, "output", role="status")


def test_gallery_lists_images_with_size_and_type_a_page_at_a_time(client, images):
    # natural order: IMG_7 before IMG_11 (the text order puts IMG_11 first)
    names = sorted((p.name for p in images.iterdir()), key=natural_key)
    assert names.index("IMG_7.jpg") < names.index("IMG_11.png")
    first = client.get("/gallery").text
    second = client.get("/gallery?page=2").text
    shown = [a["alt"] for a, _ in elements(first, "img") + elements(second, "img")]
    assert shown == names
    assert "512 × 512 · RGB · uint8" in first
    assert "640 × 427 · greyscale · uint16" in first + second
    assert elements(first, "a", rel="next") and not elements(second, "a", rel="next")
    for attrs, _ in elements(first, "img"):
        assert attrs["src"].startswith("/thumbs/") and "?v=" in attrs["src"]
        assert int(attrs["width"]) <= 200 and int(attrs["height"]) <= 200


# "abc", "1e999", "" and "+1" showed page 1, where "0" said there is no such page
@pytest.mark.parametrize("page", ["0", "3", "-1", "abc", "1e999", "", "+1", "%00", "1.0"])
@pytest.mark.parametrize("route", ["/gallery", "/gallery/all"])
def test_gallery_page_out_of_range_is_a_404_page(client, route, page):
    response = client.get(f"{route}?page={page}")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Back to the gallery" in response.text and "There is no page" in response.text


def _cards(html: str) -> dict[str, str]:
    """``{image name: the text of its card}`` of a gallery page."""
    cards = {}
    for item in re.findall(r'<li class="card[^"]*">(.*?)</li>', html, re.S):
        name = re.search(r'<span class="name">([^<]*)</span>', item).group(1)
        cards[name] = item
    return cards


def test_a_file_name_that_is_not_utf8_is_left_out_not_a_500(client, images):
    # ext4 takes any bytes; Python names them with lone surrogates, which no URL, page or
    # JSON can hold: every gallery page was a 500 (UnicodeEncodeError in url_for)
    listed = client.get("/api/images").get_json()["images"]
    shutil.copy(images / "IMG_1.jpg", images / os.fsdecode(b"caf\xe9 latin-1.jpg"))
    assert client.get("/api/images").get_json()["images"] == listed
    for url in ("/gallery", "/gallery?page=2", "/gallery/all", "/"):
        assert client.get(url).status_code == 200, url
    assert client.get("/stats/caf%E9%20latin-1.jpg/min").status_code == 404


@pytest.mark.parametrize(
    "broken",
    [
        ("broken.png", b"not a png at all"),  # garbage under an image name: the header fails
        ("cut.jpg", None),  # a truncated JPEG: the header reads, the pixels do not
        ("bomb.png", "bomb"),  # declares more pixels than the limit
    ],
)
def test_unreadable_image_gets_an_error_card_and_the_page_renders(client, images, broken):
    name, data = broken
    if data is None:
        jpeg = (images / "IMG_1.jpg").read_bytes()
        data = jpeg[: len(jpeg) // 3]
    elif data == "bomb":
        data = _bomb_png()
    (images / name).write_bytes(data)
    names = sorted((p.name for p in images.iterdir()), key=natural_key)
    page = names.index(name) // 4 + 1
    response = client.get(f"/gallery?page={page}")
    assert response.status_code == 200
    cards = _cards(response.text)
    assert name in cards
    assert "error-frame" not in "".join(v for k, v in cards.items() if k != name)
    assert len(cards) == min(4, len(names) - (page - 1) * 4)
    card = cards[name]
    assert "error-frame" in card and "<img" not in card  # no broken picture
    assert "Unreadable" not in card and "TooLarge" not in card  # human words, not classes
    others = [k for k in cards if k != name]
    for other in others:  # the rest of the page renders, thumbnails included
        assert client.get(f"/thumbs/{other}").status_code == 200
    detail = client.get(f"/gallery/{name}")
    assert detail.status_code in (413, 422) and detail.mimetype == "text/html"
    heading = re.search(r"<h1>(.*?)</h1>", detail.text, re.S).group(1)
    assert heading in ("This image cannot be read", "This image is too large")
    assert client.get(f"/stats/{name}/mean").status_code == detail.status_code


def _bomb_png(width: int = 40000, height: int = 40000) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def test_busy_service_gets_a_503_page_with_retry_after(client, app):
    from imgstats.errors import Busy

    def busy(*args, **kwargs):
        raise Busy("the service is busy: retry later", retry_after=3)

    app.extensions["imgstats"].answer = busy
    response = client.get("/gallery/IMG_1.jpg")
    assert response.status_code == 503 and response.headers["Retry-After"] == "3"
    assert "The service is busy" in response.text


def test_image_page_has_the_function_buttons_and_percentile_input(client):
    html = client.get("/gallery/IMG_1.jpg").text
    funcs = html[html.index('<form class="funcs"') :]
    buttons = [text for _, text in elements(funcs[: funcs.index("</form>")], "button")]
    # one button per statistic that is one number (value_counts, a dict, is the API's)
    assert buttons == list(SCALAR_FUNCTIONS) and buttons[:4] == ["min", "max", "mean", "median"]
    assert "value_counts" not in buttons and "value_counts" in NAMED_FUNCTIONS
    ((p, _),) = elements(html, "input", name="p")
    assert (p["type"], p["min"], p["max"], p["step"]) == ("number", "0", "100", "any")
    ((label, text),) = elements(html, "label", for_=p["id"])
    assert "Percentile" in text
    ((img, _),) = elements(html, "img")
    assert img["alt"].startswith("IMG_1.jpg")


@pytest.mark.parametrize(
    ("image", "plots", "columns"),
    [
        ("IMG_1.jpg", 4, ["All samples", "Luma", "Band R", "Band G", "Band B"]),
        ("IMG_8.jpg", 1, ["All samples"]),
        ("IMG_11.png", 5, ["All samples", "Luma", "Band R", "Band G", "Band B", "Band A"]),
        ("IMG_13_float32.tif", 1, ["All samples"]),
    ],
)
def test_image_page_has_a_table_and_a_histogram_per_band_and_luma(client, image, plots, columns):
    html = client.get(f"/gallery/{image}").text
    # each histogram in its two layouts (the CSS shows the one that fits)
    assert html.count('<svg class="hist hist-wide"') == plots
    assert html.count('<svg class="hist hist-narrow"') == plots
    rows = [text for _, text in elements(html, "th", scope="row")]
    assert rows[:3] == ["count", "min", "p1"] and "max" in rows and "mean" in rows
    assert [text for _, text in elements(html, "th", scope="col")][1:] == columns
    for kind in ("min", "median", "mean", "percentile"):
        assert html.count(f'class="mark mark-{kind}"') == 2 * plots


@pytest.mark.parametrize("func", ["min", "max", "mean", "median"])
def test_function_button_redirects_to_the_result_view(client, func):
    response = client.get(f"/gallery/IMG_1.jpg?func={func}")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/gallery/IMG_1.jpg/{func}"


@pytest.mark.parametrize(
    "image", ["IMG_1.jpg", "IMG_11.png", "IMG_12_uint16.tif", "IMG_13_float32.tif"]
)
@pytest.mark.parametrize("func", ["min", "max", "mean", "median", "p99.5", "p0", "p100"])
def test_result_view_shows_the_api_value_and_links_to_it(client, image, func):
    html = client.get(f"/gallery/{image}/{func}").text
    api = client.get(f"/stats/{image}/{func}").get_json()
    ((exact, _),) = elements(html, "strong", id="value")
    assert exact["title"] == f"exact: {api['value']!r}"
    ((_, text),) = elements(html, "code", id="exact-value")
    assert text == repr(api["value"])
    assert float(shown_value(html)) == pytest.approx(api["value"], rel=1e-4, abs=1e-4)
    ((link, _),) = elements(html, "a", class_="api")
    assert link["href"] == f"/stats/{image}/{func}"


@pytest.mark.parametrize(
    ("typed", "func"),
    [
        ("99.5", "p99.5"),
        ("99.50", "p99.5"),
        ("1e2", "p100"),
        (".5", "p0.5"),
        ("0", "p0"),
        ("100", "p100"),
        (" 7 ", "p7"),
        ("0.000", "p0"),
    ],
)
def test_percentile_form_redirects_to_the_api_spelling(client, typed, func):
    response = client.get("/gallery/IMG_8.jpg", query_string={"p": typed})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/gallery/IMG_8.jpg/{func}"
    parse_function(func)


@pytest.mark.parametrize(
    "typed",
    # Decimal reads the last three as 99: the gallery showed p99
    ["101", "-1", "-0", "abc", "", "nan", "inf", "1e999", "100.0001", "9" * 100, "½"]
    + ["9_9", "\u0669\u0669", "\uff19\uff19"],
)
def test_percentile_form_refuses_what_the_api_refuses(client, typed):
    response = client.get("/gallery/IMG_8.jpg", query_string={"p": typed})
    api = client.get(f"/stats/IMG_8.jpg/p{typed}")
    assert response.status_code == api.status_code == 404
    html = response.text
    ((error, text),) = elements(html, "p", id="p-error")
    assert error["role"] == "alert" and "from 0 to 100" in text
    assert "pXXX" not in text and "unsupported" not in text.lower()  # the page's own words
    ((field, _),) = elements(html, "input", name="p")
    assert field["aria-invalid"] == "true" and "p-error" in field["aria-describedby"]
    assert field.get("value", "") == typed


@pytest.mark.parametrize(
    ("url", "title"),
    [
        ("/gallery/nope.jpg", "Unknown image"),
        ("/gallery/nope.jpg/min", "Unknown image"),
        ("/gallery/IMG_1.jpg/average", "Unsupported function"),
        ("/gallery/IMG_1.jpg/p101", "Unsupported function"),
        ("/gallery/IMG_1.jpg?func=MIN", "Unsupported function"),
        ("/thumbs/nope.jpg", "Unknown image"),
        ("/previews/nope.jpg", "Unknown image"),
        ("/gallery/../etc/passwd", "Not Found"),
    ],
)
def test_error_pages_say_what_is_wrong_and_link_back(client, url, title):
    response = client.get(url)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    ((_, heading),) = elements(response.text, "h1")
    assert heading == title
    assert "/gallery" in [a["href"] for a, _ in elements(response.text, "a")]


def test_error_pages_do_not_show_the_store_location(client, images):
    response = client.get("/gallery/nope.jpg")
    assert str(images) not in response.text


def test_statistics_come_from_one_summary(client, monkeypatch):
    import imgstats.web.service as service

    calls = []
    real = service.summarize

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "summarize", counting)
    for url in (
        "/gallery/IMG_1.jpg",
        "/gallery/IMG_1.jpg/p99.5",
        "/gallery/IMG_1.jpg/mean",
        "/stats/IMG_1.jpg/median",
    ):
        assert client.get(url).status_code == 200
    assert len(calls) == 1


def test_pages_load_nothing_from_other_hosts(client):
    pages = [
        client.get(u).text
        for u in (
            "/",
            "/gallery",
            "/gallery/IMG_1.jpg",
            "/gallery/IMG_1.jpg/min",
            "/gallery/nope.jpg",
        )
    ]
    css = client.get("/assets/gallery/gallery.css")
    js = client.get("/assets/gallery/gallery.js")
    for text in pages + [css.text, js.text]:
        for ref in re.findall(r'(?:src|href)="([^"]*)"|url\(([^)]*)\)|@import', text):
            target = "".join(ref) if isinstance(ref, tuple) else ref
            assert not re.match(r"^(https?:)?//", target), target
    assert css.mimetype == "text/css" and "@font-face" not in css.text
    assert ":focus-visible" in css.text
    css.close()
    js.close()


def test_every_page_has_a_skip_link_and_one_h1(client):
    for url in ("/", "/gallery", "/gallery/IMG_1.jpg", "/gallery/IMG_1.jpg/min"):
        html = client.get(url).text
        assert elements(html, "a", class_="skip")[0][0]["href"] == "#main"
        assert len(elements(html, "h1")) == 1
        assert elements(html, "main", id="main")


def test_image_without_valid_samples_gets_an_error_page_not_a_loop(client, images):
    import numpy as np
    import tifffile

    tifffile.imwrite(images / "nan.tif", np.full((8, 8), np.nan, np.float32))
    response = client.get("/gallery/nan.tif")
    assert response.status_code == 422
    assert "no valid samples" in response.text
    links = [a["href"] for a, _ in elements(response.text, "a")]
    assert "/gallery/nan.tif" not in links and "/gallery" in links
    assert client.get("/thumbs/nan.tif").status_code == 200


@pytest.mark.parametrize(
    ("page", "pages", "links"),
    [
        (1, 1, [1]),
        (1, 5, [1, 2, 3, 4, 5]),
        (1, 9, [1, 2, 3, None, 9]),
        (50, 100, [1, None, 48, 49, 50, 51, 52, None, 100]),
        (100, 100, [1, None, 98, 99, 100]),
        (4, 7, [1, 2, 3, 4, 5, 6, 7]),
    ],
)
def test_pager_links_stay_few_with_many_pages(page, pages, links):
    from imgstats.web.gallery import _page_links

    assert _page_links(page, pages) == links


@pytest.mark.parametrize(
    ("error", "heading", "status"),
    [
        ("StoreTimeout", "The image store did not answer in time", 504),
        ("StoreUnavailable", "The image store is unavailable", 502),
        ("Busy", "The service is busy", 503),
    ],
)
def test_store_errors_get_an_error_card_and_a_human_error_page(client, app, error, heading, status):
    import imgstats.errors as errors

    service = app.extensions["imgstats"]
    real_info = service.info

    def info(name):
        if name == "IMG_11.png":
            raise getattr(errors, error)("the store failed (test)")
        return real_info(name)

    service.info = info
    response = client.get("/gallery?page=1")
    assert response.status_code == 200
    cards = _cards(response.text)
    assert "error-frame" in cards["IMG_11.png"] and heading in cards["IMG_11.png"]
    assert "<img" in cards["IMG_1.jpg"]  # the rest renders
    page = client.get("/gallery/IMG_11.png")
    assert page.status_code == status
    assert re.search(r"<h1>(.*?)</h1>", page.text, re.S).group(1) == heading


#: What a client sends that a gallery message shows back, with a control character in it.
ECHOED = [
    ("/gallery?page=%1b]0;owned%07", "There is no page"),
    ("/gallery/all?page=%00", "There is no page"),
    ("/gallery/IMG_1.jpg?band=%1b[31m", "has no band"),
    ("/gallery/IMG_1.jpg?x0=%1b&y0=0&x1=5&y1=5", "x0 is"),
    ("/gallery/IMG_1.jpg?p=%1b[2J", "is not a number"),
]


@pytest.mark.parametrize(("url", "says"), ECHOED)
def test_a_message_shows_a_control_character_by_its_escape(client, url, says):
    # the page held ESC, BEL or NUL as they came, and a terminal that printed it (curl) ran
    # the sequence: ']0;owned' set its title, '[2J' cleared it
    text = client.get(url, headers={"Accept": "text/html"}).text
    message = re.search(r'(?:class="message"|role="alert")>([^<]*)<', text)[1]
    assert says in message
    assert not any(ord(c) < 32 for c in message), repr(message)
    assert "\\x1b" in message or "\\x00" in message
