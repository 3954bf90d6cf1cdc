"""An empty query parameter is a 400 that names it, on every route that takes a query.

``?band=`` was every band (200) while ``?window=`` was a 400 "invalid window ''",
``?raw=`` and ``?scaled=`` were false and ``/thumbs/<image>?v=`` the picture: one rule
now. The gallery's own form fields (``?p=``, ``?x0=``, ``?page=``) keep their pages' own
words (``tests/web_gallery``).
"""

from __future__ import annotations

import pytest

from imgstats.web.api import GET_PARAMETERS

STATS = "/stats/IMG_1.jpg/mean"


@pytest.mark.parametrize("name", sorted(GET_PARAMETERS))
def test_an_empty_stats_parameter_is_a_400_naming_it(client, name):
    url = f"/stats/IMG_1.jpg/{'histogram' if name in ('bins', 'range') else 'mean'}"
    r = client.get(f"{url}?{name}=")
    assert r.status_code == 400, r.data[:300]
    body = r.get_json()
    assert body["type"] == "InvalidOption"
    assert f"'{name}' given empty" in body["error"], body


@pytest.mark.parametrize(
    "url",
    [
        STATS + "?band",  # no "=": empty too
        STATS + "?band=R&raw=",
        "/stats/*.jpg/mean?band=",
        "/gallery/IMG_1.jpg?band=",
        "/gallery/IMG_1.jpg/mean?window=",
        "/gallery/IMG_1.jpg?raw=",
        "/thumbs/IMG_1.jpg?v=",
        "/previews/IMG_1.jpg?v=",
    ],
)
def test_an_empty_parameter_is_a_400_on_every_route(client, url):
    r = client.get(url, headers={"Accept": "application/json"})
    assert r.status_code == 400, r.data[:300]
    assert "given empty" in r.get_json()["error"]


def test_an_empty_parameter_of_a_post_is_a_400(client):
    r = client.post(STATS.rsplit("/", 1)[0] + "?band=", json={"funcs": ["mean"]})
    assert r.status_code == 400 and "'band'" in r.get_json()["error"]


def test_a_browser_gets_the_gallery_page_saying_so(client):
    r = client.get("/gallery/IMG_1.jpg?band=", headers={"Accept": "text/html"})
    assert r.status_code == 400 and r.mimetype == "text/html"
    assert "given empty" in r.get_data(as_text=True)


@pytest.mark.parametrize("query", ["?band=R", "?raw=0", "?scaled=1", "?window=0,0,9,9"])
def test_a_value_is_still_taken(client, query):
    assert client.get(STATS + query).status_code == 200
