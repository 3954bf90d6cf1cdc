"""One rule for query parameters on gallery routes as on the API: one given twice is a 400
(the page showed the first, silently), and a picture takes only ``?v=`` (``?page=1`` gave
page 0's thumbnail of a multi-page TIFF)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile
from PIL import Image


@pytest.mark.parametrize(
    "url",
    [
        "/gallery/IMG_1.jpg?window=0,0,5,5&window=1,1,9,9",
        "/gallery/IMG_1.jpg?band=R&band=G",
        "/gallery/IMG_1.jpg/median?window=0,0,5,5&window=1,1,9,9",
        "/gallery?page=1&page=2",
        "/gallery/all?page=1&page=1",
    ],
)
def test_a_repeated_parameter_is_refused_on_gallery_pages(client, url):
    r = client.get(url)
    assert r.status_code == 400 and r.mimetype == "text/html"
    assert b"given more than once" in r.data


def test_one_of_each_is_still_a_page(client):
    assert client.get("/gallery/IMG_1.jpg?window=0,0,5,5").status_code == 200


@pytest.fixture
def pages(images):
    """A two-page TIFF: page 0 black, page 1 white."""
    with tifffile.TiffWriter(images / "two.tif") as tif:
        tif.write(np.zeros((32, 32), np.uint8))
        tif.write(np.full((32, 32), 255, np.uint8))
    return "two.tif"


@pytest.mark.parametrize("route", ["thumbs", "previews"])
@pytest.mark.parametrize("query", ["page=1", "page=0", "band=R", "window=0,0,5,5", "v=a&v=b"])
def test_pictures_refuse_what_they_would_ignore(client, pages, route, query):
    img = client.get(f"/{route}/{pages}?{query}", headers={"Accept": "image/*"})
    assert img.status_code == 400 and img.mimetype == "image/svg+xml"  # an <img>: a placeholder
    page = client.get(f"/{route}/{pages}?{query}", headers={"Accept": "text/html"})
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert b"query parameter" in page.data


@pytest.mark.parametrize("route", ["thumbs", "previews"])
def test_pictures_still_take_their_version_token(client, pages, route):
    r = client.get(f"/{route}/{pages}")
    assert r.status_code == 200
    token = r.headers["ETag"].strip('"')
    r = client.get(f"/{route}/{pages}?v={token}")
    assert r.status_code == 200 and "immutable" in r.headers["Cache-Control"]
    picture = np.asarray(Image.open(io.BytesIO(r.data)).convert("L"))
    assert picture.max() < 50  # the first page's (black), as documented


@pytest.mark.parametrize(
    "url",
    [
        "/gallery/two.tif?page=1",
        "/gallery/two.tif/max?page=1",
        "/gallery/two.tif?func=max&page=1",
        "/gallery/two.tif/max?raw=1",
        "/gallery/two.tif/max?nodata=0",
        "/gallery/two.tif/p50?method=hazen",
    ],
)
def test_an_api_parameter_the_page_would_ignore_is_refused(client, pages, url):
    # /gallery/two.tif/max?page=1 showed page 0's max (0) under "max of two.tif"
    r = client.get(url)
    assert r.status_code == 400 and r.mimetype == "text/html"
    assert b"the gallery shows the first page" in r.data


def test_the_first_page_is_shown_without_page(client, pages):
    r = client.get("/gallery/two.tif/max")
    assert r.status_code == 200 and b"max of two.tif" in r.data
