"""A file larger than one fsspec block, on a server that ignores range requests (Python's
``http.server``: a 200 and the whole file for every ``Range``), is read whole.

The docs said so (up to ``IMGSTATS_STREAM_BYTES``), but fsspec reads the first block of such
a server and then refuses every later part: a 37 MB tiled TIFF served by ``python -m
http.server`` was "the server of ... does not answer HTTP range requests" (StoreUnavailable,
a 502 over HTTP); one under 5 MB (fsspec's block) was read. A real server on loopback.
"""

from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest
import tifffile

import imgstats
from imgstats.errors import ImageTooLarge

SHAPE = (800, 900)


class _NoRanges(http.server.SimpleHTTPRequestHandler):
    """Python's file server, which answers every GET whole, whatever its ``Range``."""

    def log_message(self, format, *args):  # noqa: A002 -- the base class's name
        pass

    def do_GET(self):
        if "Range" in self.headers:
            del self.headers["Range"]  # so in the releases that learn ranges too
        super().do_GET()


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """Quiet: a client that stops reading a body it does not want is no failure."""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``(url of a 6 MB tiled float64 TIFF, its values, the server's folder)``."""
    folder = tmp_path_factory.mktemp("noranges")
    values = np.random.default_rng(7).normal(size=SHAPE)
    values[::7, ::3] = np.nan
    tifffile.imwrite(folder / "scan.tif", values, tile=(128, 128))
    assert (folder / "scan.tif").stat().st_size > 5 * 2**20  # over fsspec's default block
    handler = functools.partial(_NoRanges, directory=str(folder))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/scan.tif", values
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _oracle(values) -> dict:
    kept = values[~np.isnan(values)]
    return {
        "count": kept.size,
        "min": float(kept.min()),
        "median": float(np.median(kept)),
        "p99.9": float(np.percentile(kept, 99.9)),
    }


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"chunks": 256},
        {"window": (100, 50, 800, 650)},
        {"storage_options": {"block_size": 4096}},  # many blocks of a smaller file
    ],
)
def test_a_file_of_many_blocks_is_read_whole(served, kw):
    url, values = served
    x0, y0, x1, y1 = kw.get("window", (0, 0, SHAPE[1], SHAPE[0]))
    got = imgstats.compute(url, ["count", "min", "median", "p99.9"], **kw)
    assert got == _oracle(values[y0:y1, x0:x1])


def test_zones_of_such_a_file(served):
    from imgstats.zones import zonal

    url, values = served
    labels = (np.arange(SHAPE[0])[:, None] // 100 + np.arange(SHAPE[1]) // 300).astype(np.int32)
    frame = zonal(url, labels, ["median"], background=None)
    for zone in (0, 4, 9):
        kept = values[(labels == zone) & ~np.isnan(values)]
        assert frame.loc[zone, "median"] == float(np.median(kept))


def test_over_the_stream_limit_it_says_so(served, monkeypatch):
    url, _ = served
    monkeypatch.setenv("IMGSTATS_STREAM_BYTES", str(2**20))
    with pytest.raises(ImageTooLarge, match="without range requests and holds more than 1048576"):
        imgstats.compute(url, "count")


def test_no_connection_is_left_open(served):
    psutil = pytest.importorskip("psutil")
    url, _ = served
    port = int(url.split(":")[2].split("/")[0])

    def held() -> int:
        conns = psutil.Process().net_connections(kind="tcp")
        return sum(1 for c in conns if c.raddr and c.raddr.port == port)

    for _ in range(3):
        imgstats.compute(url, "max")
    assert held() == 0
