"""A thumbnail that cannot be rendered shows as the placeholder picture in Chromium, not as a
broken image, although it comes with the error's status (422)."""

from __future__ import annotations

import shutil

import pytest

from benchmarks.servers import start_server
from imgstats.data import gallery_path

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def broken_server(tmp_path_factory):
    """A server over one good image and a truncated JPEG (its header reads, its pixels do not)."""
    root = tmp_path_factory.mktemp("placeholder-server")
    folder = root / "images"
    folder.mkdir()
    shutil.copy(gallery_path() / "IMG_1.jpg", folder / "IMG_1.jpg")
    jpeg = (gallery_path() / "IMG_7.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    server = start_server(
        folder,
        workers=1,
        timeout=90,
        log=root / "server.log",
        env={"IMGSTATS_GALLERY_CACHE_DIR": str(root / "renders")},
    )
    with server:
        yield server


@pytest.mark.parametrize("route", ["thumbs", "previews"])
def test_a_failing_rendering_is_shown_as_a_placeholder(broken_server, page, route):
    page.errors.allow(r"status of 422")  # Chromium logs every 4xx resource
    page.goto(broken_server.url + "/")
    with page.expect_response(f"**/{route}/cut.jpg") as answer:
        size = page.evaluate(
            """async (src) => {
              const img = new Image();
              img.alt = "cut.jpg";
              img.src = src;
              document.body.append(img);
              await img.decode();
              return [img.naturalWidth, img.naturalHeight];
            }""",
            f"/{route}/cut.jpg",
        )
    assert answer.value.status == 422
    assert answer.value.headers["content-type"].startswith("image/svg+xml")
    assert size[0] > 0 and size[0] == size[1]  # decoded: a picture, not a broken image
