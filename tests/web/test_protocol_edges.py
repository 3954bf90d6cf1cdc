"""HTTP edges found by sweeping the service with hostile clients: a gallery page number that
does not exist answers JSON to a client asking for JSON, a 405 never names OPTIONS (which every
route refuses), and a request head with two Content-Length fields is refused at once."""

from __future__ import annotations

import pytest

from imgstats.web._worker import request_complete


@pytest.mark.parametrize("url", ["/gallery?page=zz", "/gallery?page=0", "/gallery/all?page=99"])
def test_a_gallery_page_that_is_not_there_is_json_to_a_json_client(client, url):
    # _page_number rendered the HTML page itself, past the handlers that look at Accept
    got = client.get(url, headers={"Accept": "application/json"})
    assert got.status_code == 404 and got.mimetype == "application/json", got.data[:200]
    assert "pages go from 1 to" in got.get_json()["error"]
    page = client.get(url)  # no Accept: the page, as before
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "pages go from 1 to" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/gallery",
        "/gallery/IMG_1.jpg",
        "/gallery/IMG_1.jpg/median",
        "/thumbs/IMG_1.jpg",
        "/previews/IMG_1.jpg",
        "/assets/gallery/gallery.css",
        "/docs/static/swagger-ui.css",
        "/stats/IMG_1.jpg/median",
        "/docs",
    ],
)
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_a_405_names_the_methods_the_url_takes_and_never_options(client, url, method):
    # the gallery's 405s said "Allow: HEAD, OPTIONS, GET", and OPTIONS was a 405 there too
    got = client.open(url, method=method)
    assert got.status_code == 405
    assert got.headers["Allow"] == "GET, HEAD", (method, url)
    assert client.open(url, method="OPTIONS").status_code == 405


def test_a_post_route_s_405_names_post_alone(client):
    for url in ("/stats/IMG_1.jpg", "/zonal/IMG_1.jpg"):
        assert client.put(url).headers["Allow"] == "POST"


HEAD = b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize(
    "fields",
    [
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        b"Content-Length: 5\r\ncontent-length: 5\r\n",
    ],
)
def test_a_head_with_two_content_lengths_goes_to_gunicorn_at_once(fields):
    # the event loop waited for a body of the first length; gunicorn refuses such a head (400),
    # but only once the body came, or after BODY_TIMEOUT (408)
    assert request_complete(HEAD + fields + b"\r\n", 1 << 20) is True


def test_one_content_length_still_waits_for_its_body():
    assert request_complete(HEAD + b"Content-Length: 5\r\n\r\n{}", 1 << 20) is False
    assert request_complete(HEAD + b"Content-Length: 2\r\n\r\n{}", 1 << 20) is True
