"""Versions that notice every change of a local file, and answers never kept from a file that
may be being written (git's "racily clean" problem)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tifffile
from web_helpers import http_get

import imgstats
import imgstats.web.store as store_module
from imgstats.web import create_app
from imgstats.web.store import LocalStore, Version, cacheable

# Kernel timestamps advance with a coarse clock (a few ms): let one tick pass between a file's
# creation and its change, as any real edit after a first request would.
TICK = 0.05


class _Clock:
    """The store's ``time`` module with a wall clock the test sets: whether a version is racy
    is decided by where the test puts "now" against the file's timestamps, not by how long the
    machine took between a change and the request (a stall longer than the racy window made
    the first answer settled and the test failed with no bug)."""

    def __init__(self):
        self.ns = time.time_ns()

    def time_ns(self) -> int:
        return self.ns

    def at(self, path, seconds: float) -> None:
        """Now is ``seconds`` after the latest timestamp (mtime or ctime) of ``path``."""
        st = os.stat(path)
        self.ns = max(st.st_mtime_ns, st.st_ctime_ns) + int(seconds * 1e9)

    def __getattr__(self, name):
        return getattr(time, name)


@pytest.fixture
def clock(monkeypatch):
    """A :class:`_Clock` in place of the store's wall clock."""
    fake = _Clock()
    monkeypatch.setattr(store_module, "time", fake)
    return fake


def _tiff(path, value: int, shape=(64, 64)) -> None:
    """An uncompressed uint8 TIFF whose pixels are all ``value`` (same size for any value)."""
    tifffile.imwrite(path, np.full(shape, value, dtype=np.uint8))


def _settled_app(images, racy=0.0):
    return create_app({"IMAGES": str(images), "WARMUP": False, "RACY_SECONDS": racy})


def _old_times(path):
    st = os.stat(path)
    return st.st_atime_ns, st.st_mtime_ns


def _cp_p(images):
    """``cp -p``: new bytes written in place, the old mtime put back."""
    times = _old_times(images / "a.tif")
    _tiff(images / "b.tif", 200)
    shutil.copyfile(images / "b.tif", images / "a.tif")
    os.utime(images / "a.tif", ns=times)


def _rsync_t(images):
    """``rsync -t``: a temporary file with the old mtime renamed over the target."""
    times = _old_times(images / "a.tif")
    _tiff(images / ".a.tif.tmp", 200)
    os.utime(images / ".a.tif.tmp", ns=times)
    os.replace(images / ".a.tif.tmp", images / "a.tif")


def _touch_back(images):
    """An in-place write, then ``touch -d`` back to the old time."""
    times = _old_times(images / "a.tif")
    with open(images / "a.tif", "r+b") as fh:
        data = fh.read()
        fh.seek(0)
        fh.write(data.replace(b"\x0a" * 64, b"\xc8" * 64))
    os.utime(images / "a.tif", ns=times)


def _delete_and_readd(images):
    """Delete, then make the file again (the inode may be reused) with the old mtime."""
    times = _old_times(images / "a.tif")
    (images / "a.tif").unlink()
    _tiff(images / "a.tif", 200)
    os.utime(images / "a.tif", ns=times)


def _atomic_rename(images):
    """A file made beforehand (see _prepare) renamed over the old one: same size and mtime."""
    os.replace(images / "ready.tif", images / "a.tif")


def _prepare(folder):
    """``a.tif`` (all 10) and, for _atomic_rename, ``ready.tif`` (all 200, same mtime)."""
    _tiff(folder / "a.tif", 10)
    _tiff(folder / "ready.tif", 200)
    st = os.stat(folder / "a.tif")
    os.utime(folder / "ready.tif", ns=(st.st_atime_ns, st.st_mtime_ns))


#: One zone over the whole 64 x 64 image of _tiff, for POST /zonal.
ZONE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"id": 1},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[0, 0], [64, 0], [64, 64], [0, 64], [0, 0]]],
            },
        }
    ],
}

CHANGES = [_cp_p, _rsync_t, _touch_back, _delete_and_readd, _atomic_rename]


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_store_version_changes(tmp_path, change):
    _prepare(tmp_path)
    store = LocalStore(tmp_path, racy_seconds=0)
    before = store.stat("a.tif")
    assert isinstance(before, Version) and before.cacheable and before.size > 0
    time.sleep(TICK)
    change(tmp_path)
    after = store.stat("a.tif")
    assert after.size == before.size and after.token != before.token
    assert os.stat(tmp_path / "a.tif").st_mtime_ns == int(before.token.split("-")[0])


@pytest.mark.parametrize("racy", [0.0, 2.0])
@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_same_size_changes_with_the_old_mtime_are_answered_anew(images, change, racy):
    _prepare(images)
    app = _settled_app(images, racy)
    client = app.test_client()
    try:
        for _ in range(2):  # the second answer comes from the caches (when settled)
            assert client.get("/stats/a.tif/mean").get_json()["value"] == 10
        assert client.get("/stats/a.tif/max").get_json()["value"] == 10
        time.sleep(TICK)
        change(images)
        expected = imgstats.compute(str(images / "a.tif"), "mean")
        assert expected != 10
        assert client.get("/stats/a.tif/mean").get_json()["value"] == expected
        assert client.get("/stats/a.tif/max").get_json()["value"] == 200
    finally:
        app.extensions["imgstats"].close()


def test_a_racy_file_is_answered_but_never_cached(images, monkeypatch, clock):
    _tiff(images / "a.tif", 10)
    app = _settled_app(images, racy=1.0)
    service = app.extensions["imgstats"]
    calls = []
    summarize = service._summarize
    monkeypatch.setattr(
        service,
        "_summarize",  # options: the page and region
        lambda name, *options: calls.append(name) or summarize(name, *options),
    )
    client = app.test_client()
    try:
        os.utime(images / "a.tif")
        clock.at(images / "a.tif", 0.5)  # changed half a second ago: racy
        first = client.get("/stats/a.tif/mean")
        os.utime(images / "a.tif")
        clock.at(images / "a.tif", 0.5)
        second = client.get("/stats/a.tif/mean", headers={"If-None-Match": first.headers["ETag"]})
        assert first.get_json()["value"] == second.get_json()["value"] == 10
        assert second.status_code == 200  # a racy ETag never matches again
        assert not cacheable(first.get_json()["version"])
        assert first.get_json()["version"] != second.get_json()["version"]
        assert len(calls) == 2
        clock.at(images / "a.tif", 1.5)  # the file settles
        settled = [client.get("/stats/a.tif/mean").get_json() for _ in range(3)]
        assert len(calls) == 3 and all(cacheable(b["version"]) for b in settled)
        assert settled[0]["version"] == settled[2]["version"]
    finally:
        service.close()


def test_a_torn_read_is_never_kept(images):
    """Half the pixels written, a request, the rest written with the same mtime: the answer
    made from the half-written file must not be given again (it was with ``mtime-size``)."""
    _tiff(images / "a.tif", 10)
    new = images / "new.tif"
    _tiff(new, 200)
    data, size = new.read_bytes(), os.stat(new).st_size
    app = create_app({"IMAGES": str(images), "WARMUP": False, "RACY_SECONDS": 2.0})
    client = app.test_client()
    try:
        time.sleep(TICK)
        with open(images / "a.tif", "r+b") as fh:
            fh.write(data[: size // 2])
        torn = client.get("/stats/a.tif/mean").get_json()
        assert 10 < torn["value"] < 200
        times = _old_times(images / "a.tif")
        with open(images / "a.tif", "r+b") as fh:
            fh.seek(size // 2)
            fh.write(data[size // 2 :])
        os.utime(images / "a.tif", ns=times)
        for _ in range(3):
            assert client.get("/stats/a.tif/mean").get_json()["value"] == 200
            assert client.get("/thumbs/a.tif").status_code == 200
    finally:
        app.extensions["imgstats"].close()


def test_a_change_while_reading_is_not_cached(images, monkeypatch):
    """A settled version, then the file changes while its pixels are read: the summary made
    from those bytes is not stored, and the question is read again, from the new bytes."""
    _tiff(images / "a.tif", 10)
    app = _settled_app(images, racy=0.0)
    service = app.extensions["imgstats"]
    summarize = service._summarize
    reads = []

    def summarize_then_change(name, *options):  # options: the page and region
        summary = summarize(name, *options)
        reads.append(name)
        if len(reads) == 1:
            time.sleep(TICK)
            _cp_p(images)  # lands after the bytes were read, before the result is stored
        return summary

    monkeypatch.setattr(service, "_summarize", summarize_then_change)
    client = app.test_client()
    try:
        answer = client.get("/stats/a.tif/mean").get_json()
        assert answer["value"] == 200 and len(reads) == 2  # the old bytes' summary: dropped
        assert answer["version"] == service.store.stat("a.tif").token
        assert client.get("/stats/a.tif/mean").get_json()["value"] == 200
        assert len(reads) == 2  # the new bytes' summary: kept
    finally:
        service.close()


def _rename_after_the_first_look(service, images, monkeypatch, image="a.tif"):
    """The store's ``stat`` and the list of the old token, once ``image`` was looked at and
    then replaced by ``ready`` of its suffix (:func:`_atomic_rename`), after the look and
    before the read."""
    stat = service.store.stat
    renamed = []

    def stat_then_rename(name):
        version = stat(name)
        if name == image and not renamed:
            renamed.append(version.token)
            os.replace(images / f"ready{os.path.splitext(image)[1]}", images / image)
        return version

    monkeypatch.setattr(service.store, "stat", stat_then_rename)
    return stat, renamed


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/stats/a.tif/mean", None),
        ("GET", "/stats/a.tif/histogram?bins=2&range=0,256", None),
        ("POST", "/stats/a.tif", {"funcs": ["mean"]}),
        ("POST", "/zonal/a.tif", {"funcs": ["mean"], "zones": ZONE}),
        ("GET", "/stats/a.t%3Ff/mean", None),
    ],
    ids=["stats", "histogram", "post", "zonal", "collection"],
)
def test_a_rename_between_the_look_and_the_read_gives_one_version(
    images, monkeypatch, method, url, body
):
    """``a.tif`` (all 10) is looked at, then replaced by a rename (all 200) before its bytes
    are read: the answer gave the values of the new bytes under the old version and ETag,
    which a client then revalidated as the old file's answer."""
    _prepare(images)
    app = _settled_app(images, racy=0.0)
    service = app.extensions["imgstats"]
    stat, renamed = _rename_after_the_first_look(service, images, monkeypatch)
    client = app.test_client()
    try:
        response = client.open(url, method=method, json=body)
        answer = response.get_json()
        monkeypatch.setattr(service.store, "stat", stat)
        new = stat("a.tif").token
        assert renamed and renamed[0] != new
        if "features" in answer:  # zonal
            value = answer["features"][0]["properties"]["mean"]
            version = answer["imgstats"]["version"]
        else:
            value = answer["values"]["mean"] if "values" in answer else answer["value"]
            version = answer["images"][0]["version"] if "images" in answer else answer["version"]
        assert value in (200, {"counts": [0, 4096], "edges": [0.0, 128.0, 256.0]})  # new bytes
        assert version == new  # ... and the version they belong to, not the old one
        if method == "GET":
            etag = response.headers["ETag"]
            again = client.get(url, headers={"If-None-Match": etag})
            assert again.status_code == 304
    finally:
        service.close()


def _write_in_place(path, data: bytes, chunk: int = 1 << 20, pause: float = 0.002) -> None:
    with open(path, "r+b") as fh:
        for start in range(0, len(data), chunk):
            fh.write(data[start : start + chunk])
            fh.flush()
            time.sleep(pause)


@pytest.mark.slow
def test_in_place_write_under_load_never_sticks(tmp_path, gunicorn_server):
    """The issue's case: a 24 MB uncompressed TIFF, all 10, rewritten in place to all 200
    while clients ask for its mean. Answers during the write may be torn; once the write has
    settled every answer is 200, and none sticks at a torn value."""
    images = tmp_path / "big"
    images.mkdir()
    shape = (2048, 4096, 3)
    tifffile.imwrite(images / "big.tif", np.full(shape, 10, dtype=np.uint8))
    tifffile.imwrite(tmp_path / "new.tif", np.full(shape, 200, dtype=np.uint8))
    data = (tmp_path / "new.tif").read_bytes()
    assert len(data) == os.stat(images / "big.tif").st_size > 24e6
    base, _ = gunicorn_server(images, workers=2, env={"IMGSTATS_RACY_SECONDS": "2"})
    time.sleep(2.1)  # let the first file settle: its answer is cached
    status, _, body = http_get(base, "/stats/big.tif/mean")
    assert status == 200 and b'"value":10' in body

    done = threading.Event()
    seen = []

    def ask():
        while not done.is_set():
            status, _, body = http_get(base, "/stats/big.tif/mean")
            assert status == 200
            seen.append(body)

    with ThreadPoolExecutor(4) as pool:
        askers = [pool.submit(ask) for _ in range(4)]
        time.sleep(0.3)
        _write_in_place(images / "big.tif", data)
        written = time.monotonic()
        # answers during and just after the write: wait for them, not for a fixed time (on a
        # busy machine an asking thread may not even have started within a second)
        while len(seen) < 4 and time.monotonic() < written + 60:
            time.sleep(0.05)
        time.sleep(0.3)
        done.set()
        for asker in askers:
            asker.result()
    assert len(seen) >= 4
    after = []
    settled = written + 2 + 0.5  # past the racy window (IMGSTATS_RACY_SECONDS) of the write
    # through the racy window and past it, with at least three answers once it has passed
    while time.monotonic() < settled or sum(t > settled for t, _ in after) < 3:
        after.append((time.monotonic(), http_get(base, "/stats/big.tif/mean")[2]))
        time.sleep(0.1)
    values = [imgstats_value(b) for _, b in after]
    assert values and set(values) == {200}, sorted(set(values))


def imgstats_value(body: bytes) -> float:
    import json

    return json.loads(body)["value"]


def test_racy_and_torn_summaries_never_reach_redis(images, redis_url, monkeypatch, clock):
    """Redis outlives workers: a summary of a file that may be being written, or that changed
    while it was read, must not be shared there."""
    import redis

    url, _ = redis_url
    _tiff(images / "a.tif", 10)
    app = create_app(
        {
            "IMAGES": str(images),
            "WARMUP": False,
            "REDIS_URL": url,
            "RACY_SECONDS": 0.5,
            "REDIS_TIMEOUT": 10.0,  # a stall past the default 0.25 s is not what is tested
        }
    )
    service = app.extensions["imgstats"]
    client = app.test_client()
    shared = redis.Redis.from_url(url)
    try:
        os.utime(images / "a.tif")
        clock.at(images / "a.tif", 0.25)  # changed a quarter second ago
        assert client.get("/stats/a.tif/mean").get_json()["value"] == 10  # racy
        assert shared.keys("imgstats:summary:*") == []
        clock.at(images / "a.tif", 1.0)  # settled
        summarize = service._summarize

        def summarize_then_change(name, *options):
            summary = summarize(name, *options)
            time.sleep(TICK)
            _cp_p(images)
            return summary

        monkeypatch.setattr(service, "_summarize", summarize_then_change)
        # changed while read: kept nowhere, and read again (now racy: kept nowhere either)
        assert client.get("/stats/a.tif/mean").get_json()["value"] == 200
        assert [k for k in shared.keys("imgstats:summary:*") if not k.endswith(b":lock")] == []
        monkeypatch.setattr(service, "_summarize", summarize)
        clock.at(images / "a.tif", 1.0)  # the copy settled
        assert client.get("/stats/a.tif/mean").get_json()["value"] == 200  # settled: shared
        assert [k for k in shared.keys("imgstats:summary:*") if not k.endswith(b":lock")]
    finally:
        shared.close()
        service.close()


def _halves(path, left: int, right: int) -> None:
    """A 64 x 64 uint8 TIFF: the left half ``left``, the right half ``right``."""
    pixels = np.full((64, 64), right, dtype=np.uint8)
    pixels[:, :32] = left
    tifffile.imwrite(path, pixels)


@pytest.mark.parametrize("route", ["thumbs", "previews"])
def test_a_rename_between_the_look_and_the_rendering_keeps_no_wrong_picture(
    images, monkeypatch, route
):
    """``a.tif`` (dark left half) is looked at, then replaced by a rename (bright left half)
    before it is rendered: the rendering of the new bytes was kept under the old version, so
    that version (again after a rollback to those bytes: an object store's ETag is their
    digest) showed the other picture, and the answer's ETag named the old version."""
    import io

    from PIL import Image

    from imgstats.web import gallery

    _halves(images / "a.tif", 0, 255)
    _halves(images / "ready.tif", 255, 0)
    st = os.stat(images / "a.tif")
    os.utime(images / "ready.tif", ns=(st.st_atime_ns, st.st_mtime_ns))
    app = _settled_app(images, racy=0.0)
    app.config["GALLERY_PREVIEW_SIZE"] = 32  # a preview rendered, not the file sent as it is
    service = app.extensions["imgstats"]
    stat, renamed = _rename_after_the_first_look(service, images, monkeypatch)
    client = app.test_client()
    try:
        response = client.get(f"/{route}/a.tif")
        assert response.status_code == 200
        monkeypatch.setattr(service.store, "stat", stat)
        new = stat("a.tif").token
        assert renamed and renamed[0] != new
        picture = np.asarray(Image.open(io.BytesIO(response.data)).convert("L"), dtype=float)
        assert picture[:, : picture.shape[1] // 2].mean() > 200  # the new bytes ...
        assert response.headers["ETag"].startswith(f'"{new}.')  # ... under their own version
        with app.app_context():
            kept = list(gallery.cache()._items)
        assert kept and all(key[-1] == new for key in kept)  # nothing under the old one
    finally:
        service.close()


def test_a_rename_between_the_look_and_the_read_of_a_preview_sent_as_it_is(images, monkeypatch):
    """A small PNG is sent as it is: looked at, then replaced by a rename before it is read,
    its new bytes went out under the old version's ``ETag``, for a year with ``?v=`` (an
    immutable answer: a browser showed them for that version, again after a rollback)."""
    from PIL import Image

    pixels = np.zeros((64, 64), dtype=np.uint8)
    pixels[:, 32:] = 255
    Image.fromarray(pixels).save(images / "a.png")
    Image.fromarray(pixels[:, ::-1]).save(images / "ready.png")
    new_bytes = (images / "ready.png").read_bytes()
    app = _settled_app(images, racy=0.0)
    service = app.extensions["imgstats"]
    stat, renamed = _rename_after_the_first_look(service, images, monkeypatch, "a.png")
    client = app.test_client()
    try:
        old = stat("a.png").token
        response = client.get(f"/previews/a.png?v={old}")
        assert response.status_code == 200 and response.mimetype == "image/png"
        monkeypatch.setattr(service.store, "stat", stat)
        new = stat("a.png").token
        assert renamed == [old] and old != new
        assert response.data == new_bytes  # the new bytes ...
        assert response.headers["ETag"].startswith(f'"{new}.')  # ... under their own version
        assert "immutable" not in response.headers["Cache-Control"]  # not the URL's
    finally:
        service.close()
