"""``?band=0`` of a one-band image is its one band, as on ``/stats``.

The gallery's pages took band names only, and none of a one-band image ("Its bands: none"),
so ``/gallery/grey.jpg?band=0`` was a 400 while ``/stats/grey.jpg/max?band=0`` answered; its
pictures refused every ``?band=``. An index names the band it names on ``/stats`` (``0`` is
a colour image's R), and a one-band image's band is all its samples: its page and its
pictures are those without ``?band=``.
"""

from __future__ import annotations

import pytest

GREY = "IMG_8.jpg"  # one band, L


@pytest.mark.parametrize("band", ["0", "-1", "L"])
def test_a_one_band_image_s_band_is_its_page_without_a_band(client, band):
    api = client.get(f"/stats/{GREY}/median?band={band}")
    assert api.status_code == 200
    page = client.get(f"/gallery/{GREY}/median?band={band}")
    assert page.status_code == 200, page.text[:400]
    whole = client.get(f"/gallery/{GREY}/median")
    assert page.text == whole.text  # all its samples, its API link without ?band=
    assert client.get(f"/gallery/{GREY}?band={band}").status_code == 200


@pytest.mark.parametrize("route", ["thumbs", "previews"])
@pytest.mark.parametrize("band", ["0", "L"])
def test_a_one_band_image_s_pictures_take_its_band(client, route, band):
    whole = client.get(f"/{route}/{GREY}")
    picture = client.get(f"/{route}/{GREY}?band={band}", headers={"Accept": "image/*"})
    assert picture.status_code == 200 and picture.data == whole.data


@pytest.mark.parametrize("route", ["thumbs", "previews"])
@pytest.mark.parametrize(("image", "band"), [(GREY, "1"), ("IMG_1.jpg", "0")])
def test_pictures_refuse_another_band(client, route, image, band):
    page = client.get(f"/{route}/{image}?band={band}", headers={"Accept": "text/html"})
    assert page.status_code == 400 and b"query parameter" in page.data


def test_an_index_names_the_band_it_names_on_the_api(client):
    by_index = client.get("/gallery/IMG_1.jpg/median?band=0")
    by_name = client.get("/gallery/IMG_1.jpg/median?band=R")
    assert by_index.status_code == 200 and by_index.text == by_name.text
    last = client.get("/gallery/IMG_1.jpg/median?band=-1")
    assert last.text == client.get("/gallery/IMG_1.jpg/median?band=B").text


@pytest.mark.parametrize("band", ["1", "-2", "R"])
def test_a_one_band_image_refuses_another_band_naming_its_own(client, band):
    page = client.get(f"/gallery/{GREY}/median?band={band}")
    assert page.status_code == 400
    assert "has no band" in page.text and "0 (or L)" in page.text
