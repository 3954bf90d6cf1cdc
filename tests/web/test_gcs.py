"""gs:// for real: gcsfs against a local GCS emulator (gcp-storage-emulator) on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from web_helpers import GALLERY, fill_store, free_port, serve_folder, stop, wait_for_http

import imgstats
from imgstats.web import create_app
from imgstats.web.store import FsspecStore

OPTIONS = {"token": "anon"}  # no credential look-up (it probes a metadata server first)


def _emulator_binary() -> str:
    found = shutil.which("gcp-storage-emulator") or str(
        Path(sys.executable).parent / "gcp-storage-emulator"
    )
    if not Path(found).exists():
        pytest.skip("gcp-storage-emulator is not installed (dev dependency group)")
    return found


@pytest.fixture(scope="module")
def gcs(tmp_path_factory):
    """``(fs, folder, base)``: an emulator with bucket ``demo`` holding the test images under
    ``prefix/``, and gcsfs pointed at it through ``STORAGE_EMULATOR_HOST``."""
    binary = _emulator_binary()
    tmp = tmp_path_factory.mktemp("gcs")
    port = free_port()
    log = open(tmp / "emulator.log", "wb")  # noqa: SIM115 -- closed below
    proc = subprocess.Popen(
        [
            binary,
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--default-bucket",
            "demo",
            "--in-memory",
            "--quiet",
        ],
        cwd=tmp,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STORAGE_EMULATOR_HOST", base)
        # read when gcsfs is imported; without it gcsfs tries gRPC for a minute per bucket
        mp.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        try:
            wait_for_http(base, "/storage/v1/b", proc=proc, timeout=60)
            gcsfs = pytest.importorskip("gcsfs")
            fs = gcsfs.GCSFileSystem(**OPTIONS, skip_instance_cache=True)
            folder = fill_store(tmp / "images")
            for path in folder.iterdir():
                fs.pipe(f"demo/prefix/{path.name}", path.read_bytes())
            fs.pipe("demo/prefix/sub/IMG_1.jpg", (folder / "IMG_1.jpg").read_bytes())
            yield fs, folder, base
        finally:
            stop(proc)
            log.close()


@pytest.fixture
def gcs_app(gcs):
    app = create_app(
        {
            "IMAGES": "gs://demo/prefix",
            "STORAGE_OPTIONS": OPTIONS,
            "VERSION_TTL": 0,
            "STORE_TIMEOUT": 5.0,
            "WARMUP": False,
        }
    )
    yield app
    app.extensions["imgstats"].close()


def test_gcs_store(gcs, gcs_app):
    """Listing, values against the local files, versions from the generation, a change, a
    delete; the same walk as the s3 test with moto."""
    fs, folder, _ = gcs
    client = gcs_app.test_client()
    names = client.get("/api/images").get_json()["images"]
    assert set(GALLERY) <= set(names) and "notes.txt" not in names and "sub" not in names
    for name in ["IMG_1.jpg", "IMG_14_int16.tif", "IMG_13_float32.tif"]:
        body = client.get(f"/stats/{name}/median").get_json()
        assert body["value"] == imgstats.compute(str(folder / name), "median")
        generation = fs.info(f"demo/prefix/{name}")["generation"]
        assert body["version"] == f"generation:{generation}-{(folder / name).stat().st_size}"
    assert client.get("/stats/nope.jpg/median").status_code == 404
    assert client.get("/stats/truncated.jpg/median").status_code == 422
    assert client.get("/stats/bomb.png/median").status_code == 413
    assert client.get("/thumbs/IMG_1.jpg").status_code == 200
    assert client.get("/previews/IMG_12_uint16.tif").status_code == 200

    # live: a new object is served, a replaced one is recomputed, a removed one is 404
    fs.pipe("demo/prefix/late.png", (folder / "IMG_11.png").read_bytes())
    first = client.get("/stats/late.png/max").get_json()
    assert first["value"] == imgstats.compute(str(folder / "IMG_11.png"), "max")
    assert "late.png" in client.get("/api/images").get_json()["images"]
    fs.pipe("demo/prefix/late.png", (folder / "IMG_1.jpg").read_bytes())
    second = client.get("/stats/late.png/max").get_json()
    assert second["version"] != first["version"]
    assert second["value"] == imgstats.compute(str(folder / "IMG_1.jpg"), "max")
    fs.rm("demo/prefix/late.png")
    assert client.get("/stats/late.png/max").status_code == 404
    assert "late.png" not in client.get("/api/images").get_json()["images"]


def test_gcs_version_is_rechecked_after_reading(gcs, gcs_app):
    """A generation read before the bytes is compared with the store's after them: an object
    replaced meanwhile is not cached under the old generation."""
    fs, folder, _ = gcs
    store = gcs_app.extensions["imgstats"].store
    fs.pipe("demo/prefix/moving.png", (folder / "IMG_11.png").read_bytes())
    version = store.stat("moving.png")
    assert version.cacheable and store.unchanged("moving.png", version.token)
    fs.pipe("demo/prefix/moving.png", (folder / "IMG_11.png").read_bytes())  # same bytes
    assert not store.unchanged("moving.png", version.token)
    fs.rm("demo/prefix/moving.png")
    assert not store.unchanged("moving.png", version.token)


def test_gcs_sets_the_grpc_switch_only_for_emulators(monkeypatch):
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "unset")
    monkeypatch.delenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT")
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    FsspecStore("gs://demo")
    assert "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT" not in os.environ  # Google's servers
    FsspecStore("gs://demo", storage_options={"endpoint_url": "http://127.0.0.1:1"})
    assert os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] == "false"
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "true")  # the user's choice wins
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
    FsspecStore("gs://demo")
    assert os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] == "true"


class _Failing:
    """A GCS endpoint that answers 503 to everything, or never answers (``stall``: until
    ``release`` or a minute, far past any stall of a loaded machine). ``seen`` counts the
    requests that came and ``hanging`` those that hang now."""

    seen = 0
    hanging = 0
    _lock = threading.Lock()

    @staticmethod
    def handler(stall, release):
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            def _fail(self):
                with _Failing._lock:
                    _Failing.seen += 1
                if stall:
                    with _Failing._lock:
                        _Failing.hanging += 1
                    try:
                        release.wait(60)
                    finally:
                        with _Failing._lock:
                            _Failing.hanging -= 1
                    return
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_POST = _fail

            def log_message(self, *args):
                pass

        return Handler


# gcsfs retries a 5xx six times with back-off (1, 2, 4... s, fixed in its decorators), so
# within STORE_TIMEOUT a failing GCS usually ends as the timeout: 504, never 500.
@pytest.mark.parametrize(("stall", "status"), [(False, {502, 504}), (True, {504})])
def test_gcs_errors_are_502_and_504(gcs, tmp_path, stall, status):
    release = threading.Event()
    with serve_folder(tmp_path, handler=_Failing.handler(stall, release)) as base:
        app = create_app(
            {
                "IMAGES": "gs://demo/prefix",
                "VERSION_TTL": 0,
                "WARMUP": False,
                "STORE_TIMEOUT": 1.0,
                "STORAGE_OPTIONS": {**OPTIONS, "endpoint_url": base},
            }
        )
        client = app.test_client()
        try:
            for path in [
                "/api/images",
                "/stats/IMG_1.jpg/mean",
                "/thumbs/IMG_1.jpg",
                "/previews/IMG_1.jpg",
                "/gallery/IMG_1.jpg",
            ]:
                seen, hanging = _Failing.seen, _Failing.hanging
                r = client.get(path)
                assert r.status_code in status, (path, r.status_code, r.data[:300])
                # Answered by the 1 s STORE_TIMEOUT, not after gcsfs gave up (that was "< 10 s",
                # a timed assertion): a stalled call still hangs, and a failing one was tried
                # fewer than the 6 times gcsfs tries it over 15 s or more of back-off.
                if stall:
                    assert _Failing.hanging > hanging, path
                else:
                    assert _Failing.seen - seen < 6, path
        finally:
            release.set()
            app.extensions["imgstats"].close()


def test_gcs_gone_is_502_or_504(gcs, tmp_path):
    port = free_port()  # nothing listens there
    app = create_app(
        {
            "IMAGES": "gs://demo/prefix",
            "VERSION_TTL": 0,
            "WARMUP": False,
            "STORE_TIMEOUT": 2.0,
            "STORAGE_OPTIONS": {**OPTIONS, "endpoint_url": f"http://127.0.0.1:{port}"},
        }
    )
    client = app.test_client()
    try:
        for path in ["/api/images", "/stats/IMG_1.jpg/mean", "/thumbs/IMG_1.jpg"]:
            r = client.get(path)
            assert r.status_code in (502, 504), (path, r.status_code, r.data[:300])
            assert path.startswith("/thumbs") or "error" in r.get_json()
    finally:
        app.extensions["imgstats"].close()
