"""Helpers of the web tests: free ports, raw HTTP, real servers, broken image files."""

from __future__ import annotations

import contextlib
import functools
import http.client
import http.server
import shutil
import socket
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

from imgstats.bench import free_port
from imgstats.data import gallery_path

#: Gallery files copied into each test store: 8-bit RGB JPEG, PNG, and 16/32-bit TIFFs.
GALLERY = ["IMG_1.jpg", "IMG_11.png", "IMG_12_uint16.tif", "IMG_13_float32.tif",
           "IMG_14_int16.tif"]


def http_get(base: str, path: str, headers=None, method: str = "GET", timeout: float = 30):
    """``(status, headers, body bytes)`` of one request sent with the raw ``path``."""
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_for_http(base: str, path: str = "/health", timeout: float = 60, proc=None) -> None:
    """Poll ``base + path`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        with contextlib.suppress(OSError):
            if http_get(base, path, timeout=2)[0] == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{base}{path} did not answer within {timeout} s")


def bomb_png(width: int = 40000, height: int = 40000) -> bytes:
    """A ~60-byte PNG whose header declares ``width`` x ``height`` RGB pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


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


def start_redis(binary: str, folder: Path):
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return proc, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    stop(proc)
    raise TimeoutError("redis-server did not start")


def stop(proc: subprocess.Popen) -> None:
    """Terminate a process we started and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
