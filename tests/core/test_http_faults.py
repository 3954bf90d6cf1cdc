"""An HTTP server on loopback that misbehaves: its failure is the store's, said as such.

A server that refuses every byte range (416) was read by fsspec as an empty file ("is
empty", UnreadableImage, 422), and one that redirects in a loop as a missing image ("no
image at", ImageNotFound, 404): both are the store's failures, StoreUnavailable (502).
"""

from __future__ import annotations

import http.server
import threading

import numpy as np
import pytest
import rasterio

import imgstats
from imgstats.errors import ImageChanged, StoreUnavailable

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


class _Faulty(http.server.BaseHTTPRequestHandler):
    """Serves ``body`` with range requests, or fails as ``mode`` says."""

    protocol_version = "HTTP/1.1"
    body = b""
    mode = "ok"

    def log_message(self, format, *args):  # noqa: A002 -- the base class's name
        pass

    def do_HEAD(self):
        self._answer(head=True)

    def do_GET(self):
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        if self.path.endswith((".msk", ".MSK", ".aux.xml")):  # no GDAL sidecars beside the COG
            self._empty(404)
            return
        if self.mode == "loop":
            self._empty(302, Location=self.path)
            return
        asked = self.headers.get("Range")
        if self.mode.startswith("cut") and not head:
            self._cut()
            return
        if asked and self.mode == "416":
            self._empty(416)
            return
        body, status = self.body, 200
        if asked:
            first, last = asked.removeprefix("bytes=").split("-")
            start = int(first)
            end = min(int(last) if last else len(body) - 1, len(body) - 1)
            body, status = body[start : end + 1], 206
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(self.body)}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _cut(self) -> None:
        """A server without range requests that cuts every download at half the body:
        ``cut`` gives no Content-Length (its end is where it closes), ``cut-length`` the
        whole file's."""
        self.send_response(200)
        if self.mode == "cut-length":
            self.send_header("Content-Length", str(len(self.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(self.body[: len(self.body) // 2])
        self.close_connection = True

    def _empty(self, status: int, **headers) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def faulty(tmp_path):
    """``(serve(mode) -> url, values)``: a COG served by a real server on 127.0.0.1."""
    data = (np.arange(300 * 200).reshape(1, 300, 200) % 251).astype(np.uint8)
    path = tmp_path / "cog.tif"
    profile = dict(driver="COG", width=200, height=300, count=1, dtype="uint8", blocksize=64)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    handler = type("Handler", (_Faulty,), {"body": path.read_bytes()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(mode: str) -> str:
        handler.mode = mode
        return f"http://127.0.0.1:{server.server_address[1]}/cog.tif"

    try:
        yield serve, data[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("kw", [{}, {"chunks": 64}, {"window": (10, 10, 150, 120)}])
def test_a_well_behaved_server_gives_numpys_answer(faulty, kw):
    serve, values = faulty
    x0, y0, x1, y1 = kw.get("window", (0, 0, 200, 300))
    got = imgstats.compute(serve("ok"), ["count", "mean"], **kw)
    assert got == {"count": (x1 - x0) * (y1 - y0), "mean": float(values[y0:y1, x0:x1].mean())}


@pytest.mark.parametrize("kw", [{}, {"chunks": 64}])
def test_a_server_refusing_every_range_is_the_stores_failure(faulty, kw):
    serve, _ = faulty
    with pytest.raises(StoreUnavailable, match="refused or cut the range"):
        imgstats.compute(serve("416"), "count", **kw)


@pytest.mark.parametrize("kw", [{}, {"chunks": 64}])
def test_a_redirect_loop_is_the_stores_failure(faulty, kw):
    serve, _ = faulty
    with pytest.raises(StoreUnavailable, match="redirects in a loop"):
        imgstats.compute(serve("loop"), "count", **kw)


@pytest.mark.parametrize("mode", ["cut", "cut-length"])
@pytest.mark.parametrize("kw", [{}, {"chunks": 64}])
def test_a_download_cut_short_says_where_it_ended(faulty, mode, kw):
    # a server without range requests that cut the whole download short was said "not to
    # answer HTTP range requests" (fsspec's next read, past the bytes it had): the body
    # ended early, which is what went wrong
    serve, _ = faulty
    url = serve(mode)
    size = _declared_size(url)
    said = f"after {size // 2} of its {size} bytes" if mode == "cut" else f"its {size} bytes"
    with pytest.raises(ImageChanged, match=f"the body of .* ended .*{said}") as caught:
        imgstats.compute(url, "count", **kw)
    assert isinstance(caught.value, StoreUnavailable)
    assert "range requests" not in str(caught.value)


def _declared_size(url: str) -> int:
    """The size of the file a :func:`faulty` server serves at ``url`` (its HEAD's)."""
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as response:
        return int(response.headers["Content-Length"])


@pytest.mark.parametrize("kw", [{}, {"chunks": 64}])
def test_a_server_stalling_mid_body_times_out(tmp_path, monkeypatch, kw):
    # a server that declares more bytes than it sends and holds the connection open kept a
    # read waiting for aiohttp's 5 minutes; its silence is now bounded
    from imgstats.errors import StoreTimeout
    from imgstats.io import _sources

    data = (np.arange(300 * 200).reshape(1, 300, 200) % 251).astype(np.uint8)
    path = tmp_path / "cog.tif"
    profile = dict(driver="COG", width=200, height=300, count=1, dtype="uint8", blocksize=64)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    body, release = path.read_bytes(), threading.Event()

    class Stalling(_Faulty):
        def _answer(self, head: bool) -> None:
            asked = self.headers.get("Range")
            if head or not asked:
                return super()._answer(head)
            first, last = asked.removeprefix("bytes=").split("-")
            last = str(min(int(last), len(body) - 1))
            part = body[int(first) : int(last) + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(body)}")
            self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            release.wait(30)  # silent, the connection held open

    Stalling.body = body
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(_sources, "HTTP_STALL_SECONDS", 0.5)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cog.tif"
        with pytest.raises(StoreTimeout):
            imgstats.compute(url, "count", **kw)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
