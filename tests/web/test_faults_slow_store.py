"""gunicorn over an HTTP image store that stalls in the middle of a body: each request ends
in a 504 JSON within STORE_TIMEOUT, the worker lives (no restart, no dead slot), and it
goes on answering other images exactly."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading

import numpy as np
import pytest
from web_helpers import serve_folder

import imgstats
from imgstats.data import gallery_path

pytestmark = [pytest.mark.faults, pytest.mark.slow]


class _Stalling(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; a GET of ``stall.jpg`` sends its headers and 50 bytes, then hangs."""

    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def log_message(self, *args):
        pass

    def copyfile(self, source, outputfile):
        if self.path.lstrip("/").startswith("stall.jpg"):
            outputfile.write(source.read(50))
            outputfile.flush()
            self.release.wait(60)  # until the test ends: far past the store timeout
            self.close_connection = True
            return
        super().copyfile(source, outputfile)


def test_a_store_stalling_mid_body_is_a_504_and_the_worker_lives(tmp_path, gunicorn_server):
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copy(gallery_path() / "IMG_1.jpg", folder / "stall.jpg")
    shutil.copy(gallery_path() / "IMG_8.jpg", folder / "ok.jpg")
    handler = functools.partial(_Stalling, directory=str(folder))
    _Stalling.release.clear()
    with serve_folder(folder, handler=handler) as base:
        env = {"IMGSTATS_STORE_TIMEOUT": "1", "IMGSTATS_SLOW_WORKERS": "2"}
        url, proc = gunicorn_server(base + "/", workers=1, env=env)
        server = _client(url)
        try:
            for route in ["/stats/stall.jpg/min", "/stats/stall.jpg/p99", "/stats/stall.jpg/max"]:
                # more stalled requests than slow-work slots: each one freed its slot
                status, body = server(route)
                assert status == 504, body
                assert body["type"] == "StoreTimeout" and body["status"] == 504
            status, body = server("/stats/ok.jpg/median")
            assert status == 200, body
            want = np.median(np.asarray(imgstats.open_image(folder / "ok.jpg")))
            assert body["value"] == want
            assert server("/health")[0] == 200
            assert proc.poll() is None
        finally:
            _Stalling.release.set()
    log = (tmp_path / "gunicorn-0.log").read_text()
    assert log.count("Booting worker") == 1, log  # no worker died and was replaced
    assert "Traceback" not in log, log


def _client(url):
    from benchmarks.servers import http_get

    def get(path):
        status, _, body = http_get(url, path, timeout=60)
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    return get
