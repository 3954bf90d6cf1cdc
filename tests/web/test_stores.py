"""Stores: name checks, a real local HTTP server, a local S3 server (moto), timeouts."""

from __future__ import annotations

import http.server
import shutil
import threading
import time

import pytest
from web_helpers import GALLERY, fill_store, free_port, serve_folder

import imgstats
from imgstats.errors import StoreTimeout
from imgstats.web import create_app
from imgstats.web.store import FsspecStore, LocalStore, check_name, open_store


@pytest.mark.parametrize("name", ["IMG_1.jpg", "a b.PNG", "x.TIFF", "ünïcode.webp", "a..b.gif"])
def test_plain_image_names_pass(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "../a.jpg", "a/b.jpg", "/etc/passwd",
                                  "a\\b.jpg", "a.jpg?x", "a.jpg#f", "a%2F.jpg", "s3://b/a.jpg",
                                  "C:a.jpg", "a.txt", "a", ".a.jpg", " a.jpg", "a.jpg\x00",
                                  "a\n.jpg", "x" * 300 + ".jpg"])
def test_other_names_are_not_found(name):
    with pytest.raises(imgstats.ImageNotFound):
        check_name(name)


def test_open_store_kinds(tmp_path):
    assert isinstance(open_store(tmp_path), LocalStore)
    assert isinstance(open_store(tmp_path.as_uri()), LocalStore)
    store = open_store("s3://bucket/prefix")
    assert isinstance(store, FsspecStore) and store.url == "s3://bucket/prefix/"


def test_symlinks_may_not_leave_the_store(tmp_path, images):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(images / "IMG_11.png", outside / "secret.png")
    (images / "link.png").symlink_to(outside / "secret.png")
    (images / "alias.png").symlink_to(images / "IMG_11.png")
    app = create_app({"IMAGES": str(images), "WARMUP": False})
    client = app.test_client()
    names = client.get("/api/images").get_json()["images"]
    assert "link.png" not in names and "alias.png" in names
    assert client.get("/stats/link.png/max").status_code == 404
    assert client.get("/stats/alias.png/max").status_code == 200
    app.extensions["imgstats"].close()


def test_missing_folder_lists_nothing(tmp_path):
    app = create_app({"IMAGES": str(tmp_path / "nope"), "WARMUP": False})
    assert app.test_client().get("/api/images").get_json()["images"] == []
    assert app.test_client().get("/stats/IMG_1.jpg/min").status_code == 404
    app.extensions["imgstats"].close()


# -- HTTP store ------------------------------------------------------------------------------
@pytest.fixture
def http_store(tmp_path):
    folder = fill_store(tmp_path / "web")
    with serve_folder(folder) as base:
        app = create_app({"IMAGES": base + "/", "WARMUP": False, "VERSION_TTL": 0})
        yield app, folder
        app.extensions["imgstats"].close()


def test_http_store_lists_and_computes(http_store):
    app, folder = http_store
    client = app.test_client()
    names = client.get("/api/images").get_json()["images"]
    assert set(GALLERY) <= set(names) and "notes.txt" not in names
    for name in ["IMG_1.jpg", "IMG_12_uint16.tif", "IMG_13_float32.tif"]:
        body = client.get(f"/stats/{name}/p95").get_json()
        assert body["value"] == imgstats.compute(str(folder / name), "p95")
    assert client.get("/stats/IMG_100.jpg/p95").status_code == 404
    assert client.get("/stats/text.jpg/p95").status_code == 422
    assert client.get("/stats/bomb.png/p95").status_code == 413


def test_http_store_info_and_open(http_store):
    app, folder = http_store
    remote = app.extensions["imgstats"]
    local = create_app({"IMAGES": str(folder), "WARMUP": False}).extensions["imgstats"]
    for name in ["IMG_1.jpg", "IMG_11.png", "IMG_12_uint16.tif", "IMG_13_float32.tif"]:
        a, b = remote.info(name), local.info(name)
        assert {**a, "version": None} == {**b, "version": None}
        with remote.open(name) as fh:
            assert fh.read() == (folder / name).read_bytes()
    with pytest.raises(imgstats.ImageNotFound):
        remote.info("absent.jpg")
    local.close()


def test_http_store_is_live(http_store):
    app, folder = http_store
    client = app.test_client()
    assert client.get("/stats/late.png/max").status_code == 404
    shutil.copyfile(folder / "IMG_11.png", folder / "late.png")
    assert "late.png" in client.get("/api/images").get_json()["images"]
    first = client.get("/stats/late.png/max")
    assert first.status_code == 200
    time.sleep(1.1)  # http.server's Last-Modified has a resolution of one second
    shutil.copyfile(folder / "IMG_1.jpg", folder / "late.png")
    second = client.get("/stats/late.png/max")
    assert second.get_json()["version"] != first.get_json()["version"]
    assert second.get_json()["value"] == imgstats.compute(str(folder / "late.png"), "max")
    (folder / "late.png").unlink()
    assert client.get("/stats/late.png/max").status_code == 404


def test_bucket_xml_listing(tmp_path):
    """A public GCS/S3 bucket answers its root URL with an XML listing, not HTML links."""
    xml = (b"<?xml version='1.0' encoding='UTF-8'?><ListBucketResult><Name>demo</Name>"
           b"<Contents><Key>IMG_1.jpg</Key></Contents><Contents><Key>sub/IMG_2.jpg</Key>"
           b"</Contents><Contents><Key>readme.txt</Key></Contents></ListBucketResult>")

    class Bucket(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(xml)))
            self.end_headers()
            self.wfile.write(xml)

        def log_message(self, *args):
            pass

    with serve_folder(tmp_path, handler=Bucket) as base:
        store = open_store(base + "/demo/")
        assert store.list() == ["IMG_1.jpg"]


class _Hanging(http.server.BaseHTTPRequestHandler):
    release = threading.Event()

    def do_GET(self):
        self.release.wait(10)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


def test_store_timeout_is_504_in_time(tmp_path):
    _Hanging.release.clear()
    with serve_folder(tmp_path, handler=_Hanging) as base:
        app = create_app({"IMAGES": base + "/", "STORE_TIMEOUT": 0.5, "WARMUP": False})
        client = app.test_client()
        try:
            for path in ["/stats/IMG_1.jpg/mean", "/api/images"]:
                r = client.get(path)  # the store hangs for 10 s: a 504 is the timeout's
                assert r.status_code == 504, r.get_json()
                assert "error" in r.get_json()
        finally:
            _Hanging.release.set()
            app.extensions["imgstats"].close()
    with pytest.raises(StoreTimeout):
        raise StoreTimeout("is a StoreUnavailable") from None


def test_s3_store_timeout_is_504_in_time(tmp_path):
    pytest.importorskip("s3fs")
    _Hanging.release.clear()
    with serve_folder(tmp_path, handler=_Hanging) as base:
        options = {"key": "k", "secret": "s",
                   "client_kwargs": {"endpoint_url": base, "region_name": "us-east-1"}}
        app = create_app({"IMAGES": "s3://bucket/prefix", "STORAGE_OPTIONS": options,
                          "STORE_TIMEOUT": 0.5, "WARMUP": False})
        client = app.test_client()
        try:
            for path in ["/stats/IMG_1.jpg/mean", "/api/images"]:
                r = client.get(path)  # the store hangs for 10 s: a 504 is the timeout's
                assert r.status_code == 504, r.get_json()
        finally:
            _Hanging.release.set()
            app.extensions["imgstats"].close()


def test_store_refusing_connections_is_502(tmp_path):
    base = f"http://127.0.0.1:{free_port()}/"
    app = create_app({"IMAGES": base, "STORE_TIMEOUT": 2, "WARMUP": False})
    client = app.test_client()
    for path in ["/stats/IMG_1.jpg/mean", "/api/images"]:
        r = client.get(path)
        assert r.status_code == 502
        assert "error" in r.get_json()
    app.extensions["imgstats"].close()


# -- S3 store (moto's S3-compatible server on loopback) --------------------------------------
@pytest.fixture
def s3(tmp_path, monkeypatch):
    pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    options = {"key": "testing", "secret": "testing",
               "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}",
                                 "region_name": "us-east-1"}}
    import boto3
    import s3fs

    s3_client = boto3.client("s3", aws_access_key_id="testing", aws_secret_access_key="testing",
                             region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}")
    s3_client.create_bucket(Bucket="bucket")
    s3_client.close()
    fs = s3fs.S3FileSystem(**options, skip_instance_cache=True)
    folder = fill_store(tmp_path / "s3")
    for path in folder.iterdir():
        fs.pipe(f"bucket/prefix/{path.name}", path.read_bytes())
    try:
        yield fs, options, folder
    finally:
        server.stop()


def test_s3_store(s3):
    fs, options, folder = s3
    app = create_app({"IMAGES": "s3://bucket/prefix", "STORAGE_OPTIONS": options,
                      "VERSION_TTL": 0, "WARMUP": False})
    client = app.test_client()
    try:
        names = client.get("/api/images").get_json()["images"]
        assert set(GALLERY) <= set(names) and "notes.txt" not in names
        for name in ["IMG_1.jpg", "IMG_14_int16.tif", "IMG_13_float32.tif"]:
            body = client.get(f"/stats/{name}/median").get_json()
            assert body["value"] == imgstats.compute(str(folder / name), "median")
        assert client.get("/stats/nope.jpg/median").status_code == 404
        assert client.get("/stats/truncated.jpg/median").status_code == 422

        # live: a new object is served, a replaced one is recomputed, a removed one is 404
        fs.pipe("bucket/prefix/late.png", (folder / "IMG_11.png").read_bytes())
        first = client.get("/stats/late.png/max").get_json()
        assert first["value"] == imgstats.compute(str(folder / "IMG_11.png"), "max")
        fs.pipe("bucket/prefix/late.png", (folder / "IMG_1.jpg").read_bytes())
        second = client.get("/stats/late.png/max").get_json()
        assert second["version"] != first["version"]
        assert second["value"] == imgstats.compute(str(folder / "IMG_1.jpg"), "max")
        fs.rm("bucket/prefix/late.png")
        assert client.get("/stats/late.png/max").status_code == 404
    finally:
        app.extensions["imgstats"].close()


def test_gcs_store():
    pytest.skip("no GCS emulator (fake-gcs-server is a Go binary / Docker image) can be "
                "installed from the package registries here; gs:// goes through the same "
                "FsspecStore code as s3:// and https://, tested above")
