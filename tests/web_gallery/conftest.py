"""Fixtures of the gallery's page tests: an app over a temporary folder of real images."""

from __future__ import annotations

import shutil

import pytest

from imgstats.data import gallery_path
from imgstats.web import create_app
from imgstats.web.gallery import cache

#: Copies of the bundled gallery: colour, greyscale, RGBA, 16-bit and float TIFFs, a large JPEG.
IMAGES = (
    "IMG_1.jpg",
    "IMG_8.jpg",
    "IMG_11.png",
    "IMG_12_uint16.tif",
    "IMG_13_float32.tif",
    "IMG_7.jpg",
)


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in IMAGES:
        shutil.copy(gallery_path() / name, folder / name)
    return folder


@pytest.fixture
def app(images):
    app = create_app(
        {
            "IMAGES": str(images),
            "WARMUP": False,
            "GALLERY_PAGE_SIZE": 4,
            # pages wait for every rendering (they finish well before): error cards are certain
            "GALLERY_PAGE_WAIT": 60,
            "GALLERY_CACHE_DIR": str(images.parent / "renders"),
        }
    )
    yield app
    with app.app_context():
        cache().cache_clear()
    app.extensions["imgstats"].cache_clear()
    app.extensions["imgstats"].close()


@pytest.fixture
def client(app):
    return app.test_client()
