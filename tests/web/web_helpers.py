"""Helpers of the web tests: broken image files, a store of them, a plain HTTP store.

Servers (``imgstats serve``, Redis), ports and raw HTTP come from :mod:`benchmarks.servers`,
the one way tests and benchmarks start them; they are re-exported here for the tests.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import threading
from pathlib import Path

from benchmarks.harness import png_declaring
from benchmarks.servers import free_port, http_get, start_redis, stop, wait_for_http
from imgstats.data import gallery_path

__all__ = [
    "GALLERY",
    "bomb_png",
    "fill_store",
    "serve_folder",
    "free_port",
    "http_get",
    "start_redis",
    "stop",
    "wait_for_http",
]

#: Gallery files copied into each test store: 8-bit RGB JPEG, PNG, and 16/32-bit TIFFs.
GALLERY = ["IMG_1.jpg", "IMG_11.png", "IMG_12_uint16.tif", "IMG_13_float32.tif", "IMG_14_int16.tif"]


def bomb_png(width: int = 40000, height: int = 40000) -> bytes:
    """A ~60-byte PNG whose header declares ``width`` x ``height`` RGB pixels."""
    return png_declaring(width, height, colour_type=2)


def fill_store(folder: Path) -> Path:
    """Copy the test images, plus broken files, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in GALLERY:
        shutil.copyfile(gallery_path() / name, folder / name)
    jpeg = (gallery_path() / "IMG_1.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (folder / "text.jpg").write_text("this is not an image\n")
    (folder / "notes.txt").write_text("not listed\n")
    (folder / "bomb.png").write_bytes(bomb_png())
    return folder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 -- the base class's name
        pass


class _StallingHandler(_QuietHandler):
    """Serves a folder; GETs of ``slow_*`` files hang until the test releases them."""

    release: threading.Event
    hung: list

    def do_GET(self):  # noqa: N802 -- http.server's name
        if "slow_" in self.path:
            self.hung.append(self.path)
            self.release.wait(60)
        super().do_GET()


def stalling_handler(folder: Path, release: threading.Event, hung: list | None = None):
    """A handler for :func:`serve_folder` over ``folder`` (a store that hangs): GETs of
    ``slow_*`` files wait until ``release`` is set (at most 60 s). The path of each GET that
    hangs is appended to ``hung`` (when given) as it starts to: a test waits for that, not
    for a sleep to be long enough."""
    attributes = {"release": release, "hung": [] if hung is None else hung}
    return functools.partial(type("H", (_StallingHandler,), attributes), directory=str(folder))


@contextlib.contextmanager
def serve_folder(folder: Path, handler=None):
    """A real HTTP server on loopback serving ``folder`` (with HTML index pages)."""
    handler = handler or functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
