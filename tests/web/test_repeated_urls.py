"""A repeated ``GET /stats`` URL is answered from its finished body, and only while the image
it was computed from is unchanged (``api._repeated``)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import tifffile

from imgstats.web import create_app

TICK = 0.05  # one step of the kernel's coarse file clock


@pytest.fixture
def settled(images):
    """An app that trusts a file as soon as it is written (no racy window)."""
    app = create_app({"IMAGES": str(images), "WARMUP": False, "RACY_SECONDS": 0.0})
    yield app
    app.extensions["imgstats"].close()


def _keys(app) -> set:
    return {slot.key for slot in app.extensions["imgstats"].bodies._slots.values()}


def test_a_repeated_url_gets_the_same_body_and_etag(settled):
    client = settled.test_client()
    first = client.get("/stats/IMG_1.jpg/p37.5?band=G")
    assert ("IMG_1.jpg", "p37.5", b"band=G") in _keys(settled)
    again = client.get("/stats/IMG_1.jpg/p37.5?band=G")
    assert again.status_code == first.status_code == 200
    assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    assert again.mimetype == "application/json"
    # the same statistic by another URL is its own entry, with its own body
    other = client.get("/stats/IMG_1.jpg/p37.5")
    assert other.get_json()["band"] is None and again.get_json()["band"] == "G"


def test_a_repeated_url_honours_if_none_match(settled):
    client = settled.test_client()
    etag = client.get("/stats/IMG_1.jpg/median").headers["ETag"]
    for tag in (etag, f"W/{etag}"):
        got = client.get("/stats/IMG_1.jpg/median", headers={"If-None-Match": tag})
        assert got.status_code == 304 and got.data == b"" and got.headers["ETag"] == etag
    other = client.get("/stats/IMG_1.jpg/median", headers={"If-None-Match": '"x"'})
    assert other.status_code == 200


def test_a_changed_image_is_answered_anew(images, settled):
    tifffile.imwrite(images / "a.tif", np.full((8, 8), 10, np.uint8))
    client = settled.test_client()
    old = client.get("/stats/a.tif/max")
    assert old.get_json()["value"] == 10
    assert client.get("/stats/a.tif/max").get_json()["value"] == 10
    time.sleep(TICK)
    tifffile.imwrite(images / "a.tif", np.full((8, 8), 200, np.uint8))
    new = client.get("/stats/a.tif/max", headers={"If-None-Match": old.headers["ETag"]})
    assert new.status_code == 200 and new.get_json()["value"] == 200
    assert new.headers["ETag"] != old.headers["ETag"]
    os.remove(images / "a.tif")
    gone = client.get("/stats/a.tif/max")
    assert gone.status_code == 404 and "a.tif" in gone.get_json()["error"]


def test_a_racy_image_keeps_no_body(images):
    tifffile.imwrite(images / "a.tif", np.full((8, 8), 10, np.uint8))
    app = create_app({"IMAGES": str(images), "WARMUP": False, "RACY_SECONDS": 3600.0})
    try:
        assert app.test_client().get("/stats/a.tif/max").get_json()["value"] == 10
        assert _keys(app) == set()
    finally:
        app.extensions["imgstats"].close()


def test_a_pattern_keeps_no_body_and_sees_new_images(images, settled):
    tifffile.imwrite(images / "p_1.tif", np.full((8, 8), 10, np.uint8))
    client = settled.test_client()
    assert client.get("/stats/p_*.tif/max").get_json()["value"] == 10
    assert _keys(settled) == set()
    tifffile.imwrite(images / "p_2.tif", np.full((8, 8), 99, np.uint8))
    got = client.get("/stats/p_*.tif/max").get_json()
    assert got["value"] == 99 and got["image_count"] == 2


def test_a_bad_url_is_refused_each_time(settled):
    client = settled.test_client()
    for _ in range(2):
        got = client.get("/stats/IMG_1.jpg/median?band=G&band=G")
        assert got.status_code == 400 and "band" in got.get_json()["error"]
        assert client.get("/stats/IMG_1.jpg/p101").status_code == 404  # no such function
    assert _keys(settled) == set()
