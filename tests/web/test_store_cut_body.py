"""A web store whose HEAD gives a size but whose GET comes back short failed the store,
not the image: every route answers 502 ``ImageChanged`` naming the store's URL.

The gallery's thumbnails and previews read the store's file outside the decoders' guard:
a range answered with fewer bytes than asked gave ``/thumbs`` a 422 "cannot be previewed:
DeflateError" (the client told its image is corrupt) and ``/previews`` a 200 of the first
half of the file (a picture of half an image, cached a year under its ``?v=``); a whole-file
answer cut short said "does not answer HTTP range requests" or "the image store is
unavailable (read: ClientPayloadError)" where ``/stats`` said where the body ended.
"""

from __future__ import annotations

import pytest
from web_helpers import _QuietHandler, serve_folder

from imgstats.data import gallery_path
from imgstats.web import create_app

NAMES = ["IMG_1.jpg", "IMG_11.png", "IMG_12_uint16.tif", "plain_uint16.tif"]
ROUTES = ["/stats/{}/mean", "/thumbs/{}", "/previews/{}", "/gallery/{}"]


class _Cutting(_QuietHandler):
    """Serves the gallery's files with range requests, HEAD whole, but each GET of more
    than 4 KiB cut at half as ``mode`` says: ``short`` declares the cut length (a 206 of
    fewer bytes than asked), ``dropped`` the whole length and closes early; ``whole`` is a
    server without ranges whose 200 ends early, ``whole-short`` one whose 200 declares and
    sends half of what its HEAD says (a 422 "PNG data ends early" before: the GET's own
    length was the only one compared)."""

    protocol_version = "HTTP/1.1"
    mode = "short"
    files: dict[str, bytes] = {}

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        body = self.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:  # no listing, no sidecars
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.mode == "head0":  # no ranges, a HEAD of 0 bytes, every GET whole
            self.send_response(200)
            self.send_header("Content-Length", "0" if head else str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
            return
        asked, start, end = self.headers.get("Range"), 0, len(body) - 1
        ranges = not self.mode.startswith("whole")
        if asked and ranges:
            first, last = asked.removeprefix("bytes=").split("-")
            start, end = int(first), min(int(last) if last else end, end)
        part = body[start : end + 1]
        self.send_response(206 if asked and ranges else 200)
        if asked and ranges:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
        if ranges:
            self.send_header("Accept-Ranges", "bytes")
        cut = part[: len(part) // 2] if not head and len(part) > 4096 else part
        declared = cut if self.mode in ("short", "whole-short") else part
        self.send_header("Content-Length", str(len(declared)))
        if cut is not part and declared is part:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not head:
            self.wfile.write(cut)


@pytest.fixture(scope="module")
def cutting():
    """``serve(mode) -> url``: a store on 127.0.0.1 cutting its bodies as ``mode`` says."""
    files = {name: (gallery_path() / name).read_bytes() for name in NAMES[:-1]}
    # an uncompressed TIFF, whose strips tifffile reads with readinto, not read
    import io

    import numpy as np
    import tifffile

    out = io.BytesIO()
    tifffile.imwrite(out, np.arange(256 * 384, dtype=np.uint16).reshape(256, 384))
    files[NAMES[-1]] = out.getvalue()
    handler = type("Handler", (_Cutting,), {"files": files})

    def serve(mode: str) -> str:
        handler.mode = mode
        return base + "/"

    with serve_folder(gallery_path(), handler) as base:
        yield serve


@pytest.mark.parametrize("mode", ["short", "dropped", "whole", "whole-short"])
@pytest.mark.parametrize("name", NAMES)
def test_a_body_cut_short_is_the_stores_502_on_every_route(cutting, mode, name):
    base = cutting(mode)
    app = create_app({"IMAGES": base, "WARMUP": False, "VERSION_TTL": 0})
    client = app.test_client()
    try:
        for route in ROUTES:
            r = client.get(route.format(name), headers={"Accept": "application/json"})
            assert r.status_code == 502, (route, r.status_code, r.data[:300])
            body = r.get_json()
            assert body["type"] == "ImageChanged", (route, body)
            assert base + name in body["error"], (route, body)
            assert "range requests" not in body["error"], (route, body)
    finally:
        app.extensions["imgstats"].close()


@pytest.mark.parametrize("name", NAMES)
def test_a_head_of_no_size_leaves_a_whole_body_to_answer(cutting, name):
    """A HEAD of Content-Length 0 is how fsspec comes to stream a file; the HEAD's size
    compared with the body made every read of such a store a 502."""
    base = cutting("head0")
    app = create_app({"IMAGES": base, "WARMUP": False, "VERSION_TTL": 0})
    client = app.test_client()
    try:
        r = client.get(f"/stats/{name}/mean", headers={"Accept": "application/json"})
        assert r.status_code == 200, r.data[:300]
        local = create_app({"WARMUP": False}).test_client() if name != NAMES[-1] else None
        if local is not None:
            assert r.get_json()["value"] == local.get(f"/stats/{name}/mean").get_json()["value"]
    finally:
        app.extensions["imgstats"].close()
