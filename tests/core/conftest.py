"""Fixtures of the core tests: image files, a local HTTP server, a local S3 server.

Hypothesis settings live in the ``imgstats-core`` profile, used explicitly by the property tests
(``@settings(CORE)``) so that loading it does not change other folders' tests.
``deadline=None``: the first call of each numba kernel compiles (or loads its cache).
``IMGSTATS_CORE_EXAMPLES`` raises the number of examples for a longer local run.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from PIL import Image, features

settings.register_profile(
    "imgstats-core",
    deadline=None,
    max_examples=int(os.environ.get("IMGSTATS_CORE_EXAMPLES", "30")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


@pytest.fixture(scope="session")
def rng_images(tmp_path_factory):
    """A folder of small images in every Pillow format imgstats reads, with their arrays.

    Returns ``(folder, {name: numpy.asarray of the decoded image as imgstats must see it})``.
    """
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(20261127)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (29, 31, 4), dtype=np.uint8)
    grey = rng.integers(0, 256, (41, 23), dtype=np.uint8)
    grey16 = rng.integers(0, 65536, (19, 27), dtype=np.uint16)
    expected = {}

    def save(name, img, **kw):
        path = folder / name
        img.save(path, **kw)
        with Image.open(path) as decoded:
            if decoded.mode == "P":
                decoded = decoded.convert("RGBA" if "transparency" in decoded.info else "RGB")
            elif decoded.mode == "1":
                decoded = decoded.convert("L")
            expected[name] = np.asarray(decoded)

    save("rgb.png", Image.fromarray(rgb))
    save("rgba.png", Image.fromarray(rgba))
    save("grey.png", Image.fromarray(grey))
    save("grey16.png", Image.fromarray(grey16))
    save("la.png", Image.fromarray(np.dstack([grey, grey[::-1]])))
    save("rgb.jpg", Image.fromarray(rgb), quality=85)
    save("grey.jpg", Image.fromarray(grey), quality=85)
    save("rgb.bmp", Image.fromarray(rgb))
    if features.check("webp"):
        save("rgb.webp", Image.fromarray(rgb), lossless=True)
        save("lossy.webp", Image.fromarray(rgb), quality=50)
    palette = Image.fromarray(rgb).quantize(12)
    save("palette.png", palette)
    save("palette.gif", palette)
    save("transparent.gif", palette, transparency=3)
    save("transparent.png", palette, transparency=5)
    bilevel = Image.fromarray((rng.integers(0, 2, (15, 70)) * 255).astype(np.uint8)).convert("1")
    save("bilevel.png", bilevel)
    save("bilevel.bmp", bilevel)
    return folder, expected


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 -- the base class's name
        pass


@pytest.fixture(scope="session")
def http_folder(tmp_path_factory):
    """``(folder, base_url)``: a real ThreadingHTTPServer on 127.0.0.1 serving ``folder``."""
    folder = tmp_path_factory.mktemp("served")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="core-http", daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="session")
def s3_store():
    """``(boto3 client, storage_options)`` of moto's S3 server on loopback, bucket ``imgs``."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
    except Exception as exc:  # pragma: no cover -- depends on the machine
        pytest.skip(f"moto's S3 server did not start: {exc}")
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="imgs")
    options = {"client_kwargs": {"endpoint_url": endpoint}, "key": "x", "secret": "y"}
    try:
        yield client, options
    finally:
        client.close()
        server.stop()


@pytest.fixture(params=["eager", "dask", "stream"])
def read(request, monkeypatch):
    """``compute`` on a path by one of the three read paths: whole, through dask in uneven
    chunks, and streamed tile by tile (forced with a tiny ``EAGER_BYTES``)."""
    import imgstats
    import imgstats.io

    if request.param == "stream":
        monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)

    chunks = {0: 23, 1: 41} if request.param == "dask" else None

    def compute(path, funcs, **kw):
        if chunks is not None:
            kw["chunks"] = chunks
        return imgstats.compute(path, funcs, **kw)

    compute.chunks = chunks  # for the other calls of a test, by the same path
    return compute
