"""Thumbnails and previews: small, never the full file, cached by image version."""

from __future__ import annotations

import io
import os
import shutil

import pytest
from PIL import Image

from imgstats.data import gallery_path
from imgstats.web import create_app
from imgstats.web._thumbs import RenderCache
from imgstats.web.gallery import cache

IMAGES = (
    "IMG_1.jpg",
    "IMG_8.jpg",
    "IMG_11.png",
    "IMG_12_uint16.tif",
    "IMG_13_float32.tif",
    "IMG_7.jpg",
)  # as in conftest.py


def _open(response) -> Image.Image:
    img = Image.open(io.BytesIO(response.data))
    img.load()
    return img


@pytest.mark.parametrize("name", IMAGES)
def test_thumbnails_are_small_webp(client, name):
    response = client.get(f"/thumbs/{name}")
    assert response.status_code == 200 and response.mimetype == "image/webp"
    assert len(response.data) <= 50_000
    img = _open(response)
    assert max(img.size) == 200


def test_thumbnails_are_rendered_once_per_version(app, client, images):
    with app.app_context():
        renders = cache()
    client.get("/thumbs/IMG_1.jpg")
    client.get("/thumbs/IMG_1.jpg")
    assert (renders.misses, renders.hits) == (1, 1)
    shutil.copy(gallery_path() / "IMG_8.jpg", images / "IMG_1.jpg")  # a new version
    stat = os.stat(images / "IMG_1.jpg")
    os.utime(images / "IMG_1.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert _open(client.get("/thumbs/IMG_1.jpg")).size == (200, 200)
    assert renders.misses == 2


def test_worker_processes_share_renderings_through_the_folder(app, client, images):
    other = create_app(
        {
            "IMAGES": str(images),
            "WARMUP": False,
            "GALLERY_CACHE_DIR": app.config["GALLERY_CACHE_DIR"],
        }
    )
    first = client.get("/thumbs/IMG_8.jpg").data
    second = other.test_client().get("/thumbs/IMG_8.jpg").data
    with other.app_context():
        assert (cache().misses, cache().hits) == (0, 1)
    assert first == second
    other.extensions["imgstats"].close()


def test_render_folder_is_pruned_oldest_first(tmp_path):
    renders = RenderCache(max_bytes=0, folder=tmp_path, max_disk_bytes=10)
    for i in range(4):
        renders.get_or_render(("k", i), lambda: b"abcd")
    renders.prune()
    kept = sorted(p.read_bytes() for p in tmp_path.glob("*/*.webp"))
    assert kept == [b"abcd", b"abcd"]
    renders.cache_clear()
    assert not list(tmp_path.glob("*/*.webp"))


def test_versioned_urls_are_cached_by_browsers_and_revalidate(client):
    html = client.get("/gallery").text
    src = html.split('src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    response = client.get(src)
    assert response.cache_control.immutable and response.cache_control.max_age > 0
    again = client.get(src, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    plain = client.get(src.split("?")[0])
    assert plain.cache_control.no_cache


def _first_picture(client, page: str) -> str:
    html = client.get(page).text
    start = html.index('src="/thumbs/' if page == "/gallery" else 'src="/previews/')
    return html[start + 5 :].split('"', 1)[0].replace("&amp;", "&")


@pytest.mark.parametrize(
    ("page", "setting"),
    [("/gallery", "GALLERY_THUMB_SIZE"), ("/gallery/IMG_12_uint16.tif", "GALLERY_PREVIEW_SIZE")],
)
def test_a_new_size_setting_is_a_new_picture_url_and_etag(app, images, page, setting):
    # the URL's ?v= and the ETag were the image's version alone: after a new size (or an
    # imgstats that renders otherwise), a browser kept the old picture a year, or got a 304
    client = app.test_client()
    src = _first_picture(client, page)
    old = client.get(src)
    assert old.status_code == 200 and old.cache_control.immutable
    other = create_app(
        {
            "IMAGES": str(images),
            "WARMUP": False,
            "GALLERY_CACHE_DIR": app.config["GALLERY_CACHE_DIR"],
            setting: app.config[setting] // 2,
        }
    )
    try:
        again = other.test_client()
        new_src = _first_picture(again, page)
        assert new_src != src and new_src.split("?")[0] == src.split("?")[0]
        new = again.get(new_src, headers={"If-None-Match": old.headers["ETag"]})
        assert new.status_code == 200 and new.headers["ETag"] != old.headers["ETag"]
        assert max(_open(new).size) < max(_open(old).size)
        assert new.cache_control.immutable  # the page's own URL is the picture's
    finally:
        other.extensions["imgstats"].close()


def test_other_imgstats_code_renders_anew(app, client, monkeypatch):
    # the render folder outlives the process: a release whose rendering differs must not
    # serve the renderings of the one before under the same key
    from imgstats.web import gallery

    first = client.get("/thumbs/IMG_1.jpg")
    with app.app_context():
        renders = cache()
    misses = renders.misses
    monkeypatch.setattr(gallery, "fingerprint", lambda: "0.1.0+other")
    second = client.get("/thumbs/IMG_1.jpg", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    assert renders.misses == misses + 1


def test_small_web_images_are_previewed_as_they_are(client, images):
    response = client.get("/previews/IMG_1.jpg")
    assert response.mimetype == "image/jpeg"
    assert response.data == (images / "IMG_1.jpg").read_bytes()


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("IMG_7.jpg", (1024, 1024)),  # 1411 x 1411: reduced
        ("IMG_12_uint16.tif", (640, 427)),  # browsers cannot show TIFF: rendered at full size
        ("IMG_13_float32.tif", (451, 300)),
    ],
)
def test_large_or_non_web_images_are_previewed_reduced(client, name, size):
    response = client.get(f"/previews/{name}")
    assert response.mimetype == "image/webp"
    assert _open(response).size == size


def test_render_cache_is_bounded_by_bytes():
    renders = RenderCache(max_bytes=10)
    for i in range(5):
        assert renders.get_or_render(("k", i), lambda: b"abcd") == b"abcd"
    assert len(renders) == 2 and renders.nbytes == 8
    renders.get_or_render(("big",), lambda: b"x" * 11)  # larger than the whole cache
    assert len(renders) == 2
    renders.cache_clear()
    assert len(renders) == 0 and renders.nbytes == 0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_float_thumbnails_are_stretched_between_robust_percentiles(client, images, dtype):
    """A few extreme values (no-data, a hot pixel) must not turn the scene black or grey."""
    import numpy as np
    import tifffile

    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:120, 0:160]
    arr = (x / 160.0 + rng.normal(0, 0.01, x.shape)).astype(dtype)  # a ramp 0..1
    arr[0, :4] = 1e30  # outliers that a min..max stretch would map everything else under
    arr[5, 5] = np.nan
    arr[7, 7] = -np.inf
    tifffile.imwrite(images / f"ramp_{dtype}.tif", arr)
    response = client.get(f"/thumbs/ramp_{dtype}.tif")
    assert response.status_code == 200
    grey = np.asarray(_open(response).convert("L"), dtype=np.float64)
    # the ramp is shown from near black on the left to near white on the right
    assert grey[:, :10].mean() < 40 and grey[:, -10:].mean() > 215
    assert grey.std() > 50


def test_display_range_of_integers_is_their_own_min_and_max():
    import numpy as np

    from imgstats.web._thumbs import display_range

    arr = np.array([[0, 10], [20, 1000]], dtype=np.uint16)
    assert display_range(arr) == (0.0, 1000.0)
    assert display_range(np.full((2, 2), np.nan)) == (0.0, 1.0)
    flat = np.full((4, 4), 2.5)
    assert display_range(flat) == (2.5, 2.5)


@pytest.mark.parametrize("route", ["/thumbs/IMG_1.jpg", "/previews/IMG_1.jpg"])
@pytest.mark.parametrize(
    "headers",
    [
        {"Range": "bytes=0-9"},
        {"Range": "bytes=100000000-"},
        {"Range": "bytes=0-9", "If-Range": '"anything"'},
    ],
)
def test_a_picture_is_always_whole(client, route, headers):
    """As documented: a picture ignores Range and If-Range (RFC 9110 lets a server), rather
    than answering a part of it, or a 416, that a browser's <img> cannot show."""
    whole = client.get(route).get_data()
    r = client.get(route, headers=headers)
    assert r.status_code == 200 and r.get_data() == whole
    assert "Content-Range" not in r.headers and "Accept-Ranges" not in r.headers
