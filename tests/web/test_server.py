"""Real processes: ``imgstats serve`` under gunicorn on loopback, Redis, a dask cluster."""

from __future__ import annotations

import json
import threading

import pytest
from web_helpers import http_get

import imgstats
import imgstats.web.service as service_module
from imgstats.web import create_app

pytestmark = pytest.mark.slow

RAW_BAD_PATHS = [
    "/stats/IMG_100.jpg/mean",
    "/stats/..%2F..%2Fetc%2Fpasswd/mean",
    "/stats/../../etc/passwd/mean",
    "/stats/%2Fetc%2Fpasswd/mean",
    "/stats//IMG_1.jpg/mean",
    "/stats/a%2F%2FIMG_1.jpg/mean",
    "/stats/IMG_1.jpg%3Fx=1/mean",
    "/stats/IMG_1.jpg%23x/mean",
    "/stats/http:%2F%2Fexample.com%2FIMG_1.jpg/mean",
    "/stats/http://example.com/IMG_1.jpg/mean",
    "/stats/" + "a" * 3000 + "/mean",
    "/stats/IMG_1.jpg/average",
    "/stats/IMG_1.jpg/p101",
    "/stats/IMG_1.jpg/p-1",
    "/stats/IMG_1.jpg/p",
    "/stats/IMG_1.jpg/P10",
    "/stats/IMG_1.jpg/p%C2%B2",
    "/stats/IMG_1.jpg/p%D9%A3",
    "/stats/IMG_1.jpg/p%2010",
    "/stats/IMG_1.jpg/p+10",
    "/stats/IMG_1.jpg/p1_0",
    "/stats/IMG_1.jpg/MIN",
    "/stats/IMG_1.jpg/p1e2",
    "/stats/IMG_1.jpg/p.5",
    "/stats/IMG_1.jpg/p50.",
    "/stats/IMG_1.jpg/mean/",
]


def test_gunicorn_serves_the_api(gunicorn_server, images):
    base, proc = gunicorn_server(images)
    status, headers, body = http_get(base, "/health")
    assert (status, body) == (200, b"OK") and headers["Content-Type"].startswith("text/plain")
    assert "gunicorn" in headers.get("Server", "")
    names = json.loads(http_get(base, "/api/images")[2])["images"]
    assert "IMG_1.jpg" in names
    for name in ["IMG_1.jpg", "IMG_12_uint16.tif", "IMG_13_float32.tif"]:
        for func in ["mean", "p99"]:
            status, headers, body = http_get(base, f"/stats/{name}/{func}")
            assert status == 200 and headers["ETag"] and headers["Cache-Control"]
            assert json.loads(body)["value"] == imgstats.compute(str(images / name), func)

    for path in RAW_BAD_PATHS:
        status, headers, body = http_get(base, path)
        assert status == 404, path
        assert "error" in json.loads(body), path
    for name, expected in [("text.jpg", 422), ("truncated.jpg", 422), ("bomb.png", 413)]:
        status, _, body = http_get(base, f"/stats/{name}/mean", timeout=5)
        assert status == expected and "Traceback" not in body.decode()
    assert http_get(base, "/stats/IMG_1.jpg/mean", method="POST")[0] == 405
    assert http_get(base, "/health")[0] == 200
    assert proc.poll() is None


def test_gunicorn_concurrent_different_images(gunicorn_server, images):
    base, _ = gunicorn_server(images, workers=1)
    names = ["IMG_1.jpg", "IMG_11.png", "IMG_12_uint16.tif", "IMG_14_int16.tif"] * 2
    got = {}

    def ask(i, name):
        got[i] = json.loads(http_get(base, f"/stats/{name}/p90")[2])["value"]

    threads = [threading.Thread(target=ask, args=(i, n)) for i, n in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert got == {i: imgstats.compute(str(images / n), "p90") for i, n in enumerate(names)}


def test_gunicorn_with_redis_killed_mid_run(gunicorn_server, images, redis_url):
    url, redis_proc = redis_url
    base, _ = gunicorn_server(images, env={"IMGSTATS_REDIS_URL": url})
    assert http_get(base, "/stats/IMG_1.jpg/mean")[0] == 200
    from web_helpers import stop

    stop(redis_proc)
    for name in ["IMG_1.jpg", "IMG_11.png", "IMG_14_int16.tif"]:
        status, _, body = http_get(base, f"/stats/{name}/median", timeout=10)
        assert status == 200
        assert json.loads(body)["value"] == imgstats.compute(str(images / name), "median")


def test_dev_server_only_with_dev(tmp_path, images):
    from benchmarks.servers import start_server

    with start_server(images, dev=True, log=tmp_path / "dev.log") as server:
        status, headers, body = http_get(server.url, "/stats/IMG_11.png/max")
        assert "Werkzeug" in headers["Server"]
        assert json.loads(body)["value"] == imgstats.compute(str(images / "IMG_11.png"), "max")


def test_large_images_run_on_a_dask_cluster(images, monkeypatch):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None, scheduler_port=0
    ) as cluster:
        app = create_app(
            {
                "IMAGES": str(images),
                "DASK_SCHEDULER": cluster.scheduler_address,
                "DASK_PIXELS": 100_000,
                "WARMUP": False,
            }
        )
        submitted = []
        client = app.extensions["imgstats"].dask_client()
        real_submit = client.submit

        def spy(func, *args, **kwargs):
            submitted.append(args[0] if func is service_module.summarize else args[1])
            return real_submit(func, *args, **kwargs)

        monkeypatch.setattr(client, "submit", spy)
        try:
            c = app.test_client()
            for name in ["IMG_1.jpg", "IMG_13_float32.tif", "IMG_11.png"]:
                r = c.get(f"/stats/{name}/p25")
                assert r.status_code == 200
                assert r.get_json()["value"] == imgstats.compute(str(images / name), "p25")
            # the workers got the file's address, not its pixels
            assert submitted and all(isinstance(s, str) for s in submitted)
            assert str(images / "IMG_1.jpg") in submitted
        finally:
            app.extensions["imgstats"].close()


def test_big_tiffs_are_read_chunk_by_chunk_by_the_cluster(images, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import numpy as np
    import tifffile

    import imgstats.io

    rng = np.random.default_rng(3)
    data = rng.normal(100, 30, (700, 900)).astype(np.float32)
    tifffile.imwrite(images / "big.tif", data, tile=(256, 256))
    # pretend the file is over the core's eager-read size, so dask reads it lazily
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 1000)
    monkeypatch.setattr(service_module, "EAGER_BYTES", 1000)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None, scheduler_port=0
    ) as cluster:
        app = create_app(
            {
                "IMAGES": str(images),
                "DASK_SCHEDULER": cluster.scheduler_address,
                "DASK_PIXELS": 100_000,
                "WARMUP": False,
            }
        )
        client = app.extensions["imgstats"].dask_client()
        try:
            with distributed.get_task_stream(client) as tasks:
                r = app.test_client().get("/stats/big.tif/p99.5")
            assert r.status_code == 200
            assert r.get_json()["value"] == np.percentile(data, 99.5).item()
            assert len(tasks.data) > 4  # chunks (and refinements) ran as cluster tasks
        finally:
            app.extensions["imgstats"].close()


def test_keep_freed_memory_in_a_fresh_process():
    import subprocess
    import sys

    code = (
        "from imgstats.web._serve import keep_freed_memory as k; assert k(0) is False; print(k())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    assert out in ("True", "False")  # False only where libc is not glibc
    import platform

    if platform.libc_ver()[0] == "glibc":
        assert out == "True"
