"""The fault tier, the store: what a folder of images can hold besides images.

Real files and symlinks in a temporary folder, read by the app: a name that is not a readable
image is a 4xx on every route that takes a name (JSON for the API, the gallery's page or
placeholder for the gallery), is left out of the listing, and the next request is answered.
"""

from __future__ import annotations

import json

import pytest

from imgstats.web import create_app

TRIANGLE = {"type": "Polygon", "coordinates": [[[0, 0], [9, 0], [9, 9], [0, 0]]]}
ZONES = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": TRIANGLE}]}
#: (method, path, body): every route that takes an image name (NAME, in the body).
ROUTES = [
    ("GET", "/stats/NAME/max", None),
    ("POST", "/stats/NAME", {"funcs": ["max"]}),
    ("GET", "/api/images/NAME", None),
    ("POST", "/zonal/NAME", {"funcs": ["max"], "zones": ZONES}),
    ("POST", "/zonal/IMG_1.jpg", {"funcs": ["max"], "zones": {"labels": "NAME"}}),
    ("GET", "/thumbs/NAME", None),
    ("GET", "/previews/NAME", None),
    ("GET", "/gallery/NAME", None),
]


def _loop(images):
    (images / "loop.png").symlink_to("loop.png")  # ELOOP on every open or stat


def _cycle(images):
    (images / "loop.png").symlink_to("other.png")
    (images / "other.png").symlink_to("loop.png")


@pytest.fixture
def looped_client(images):
    app = create_app({"IMAGES": str(images), "WARMUP": False})
    yield app.test_client()
    app.extensions["imgstats"].close()


@pytest.mark.parametrize("make", [_loop, _cycle], ids=["itself", "a-cycle"])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_a_symlink_loop_is_no_image(images, looped_client, make, method, path, body):
    make(images)
    data = json.dumps(body).replace("NAME", "loop.png") if body else None
    response = looped_client.open(
        path.replace("NAME", "loop.png"), method=method, data=data, content_type="application/json"
    )
    assert response.status_code == 404, response.data[:300]  # was a 500 (OSError ELOOP)
    if path.startswith(("/stats", "/api", "/zonal")):
        assert response.json["type"] == "ImageNotFound"
    assert "loop.png" not in looped_client.get("/api/images").json["images"]
    assert looped_client.get("/stats/IMG_1.jpg/max").status_code == 200


def test_a_folder_that_cannot_be_searched_is_a_502_not_a_500(images, looped_client, monkeypatch):
    # Mocked: these tests run as root here, whom permissions do not stop. os.lstat fails as
    # it does for another user when the folder's search permission is removed.
    import os

    real = os.lstat

    def denied(path, *args, **kwargs):
        if os.fspath(path).endswith("IMG_11.png"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", denied)
    response = looped_client.get("/stats/IMG_11.png/max")
    assert response.status_code == 502, response.data[:300]
    assert response.json["type"] == "StoreUnavailable"
    assert str(images) not in response.json["error"]  # the folder stays private
    assert looped_client.get("/stats/IMG_1.jpg/max").status_code == 200
