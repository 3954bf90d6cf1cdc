"""GDAL's sidecars beside a remote image: an ``x.tif.aux.xml`` (PAM nodata) or ``x.tif.msk``
(dataset mask) beside ``x.tif`` on an HTTP server or in an S3 bucket is read, as GDAL's
``/vsicurl/`` and ``/vsis3/`` read it (before: only beside a local file, so a remote image
was counted with its nodata samples). Real servers on loopback: an HTTP server with range
requests, and moto's S3 server; numpy and rasterio are the oracles."""

from __future__ import annotations

import functools
import http.server
import multiprocessing
import threading
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import rasterio

import imgstats
from imgstats.errors import StoreTimeout
from imgstats.io import _pam

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

H, W = 50, 70
NODATA = 7
PAM = (
    '<PAMDataset><PAMRasterBand band="1"><NoDataValue>{}</NoDataValue></PAMRasterBand></PAMDataset>'
)
FUNCS = ["count", "min", "max", "mean"]


class _Ranged(http.server.SimpleHTTPRequestHandler):
    """Serves a folder with range requests (as object stores and most servers do);
    ``mode`` says how it treats ``.aux.xml`` files: ``"ok"``, ``"500"`` or ``"stall"``
    (headers, then no body until the test ends). ``gets`` records the paths asked."""

    mode = "ok"
    release: threading.Event
    gets: list

    def log_message(self, *args):
        pass

    def end_headers(self):
        if self.command == "GET" or self.command == "HEAD":
            super().send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def do_GET(self):  # noqa: N802 -- http.server's name
        self.gets.append(self.path)
        if self.path.endswith(".aux.xml") and self.mode == "500":
            self.send_error(500)
            return
        if self.path.endswith(".aux.xml") and self.mode == "stall":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.flush()
            self.release.wait(60)
            return
        path = Path(self.translate_path(self.path))
        if "Range" not in self.headers or not path.is_file():
            super().do_GET()
            return
        data = path.read_bytes()
        first, _, last = self.headers["Range"].removeprefix("bytes=").partition("-")
        start, end = int(first), min(int(last or len(data) - 1), len(data) - 1)
        if start >= len(data):
            self.send_error(416)
            return
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end + 1 - start))
        self.end_headers()
        self.wfile.write(data[start : end + 1])


@pytest.fixture
def served(tmp_path):
    """``(folder, base_url, handler class)``: a ranged HTTP server on loopback, in a thread
    of this process (whose ``gets`` and ``mode`` the test reads and sets)."""
    release = threading.Event()
    handler = type("H", (_Ranged,), {"release": release, "gets": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def _serve_folder(folder: str, ports) -> None:
    """Serve ``folder`` with :class:`_Ranged` until killed (a child process's target)."""
    handler = type("H", (_Ranged,), {"release": threading.Event(), "gets": []})
    server = http.server.HTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=folder))
    ports.put(server.server_address[1])
    server.serve_forever()


@pytest.fixture
def gdal_served(tmp_path):
    """``(folder, base_url)``: a ranged HTTP server on loopback in a process of its own:
    GDAL's ``/vsicurl/`` holds the GIL while it waits for a server in this one."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    child = context.Process(target=_serve_folder, args=(str(tmp_path), ports), daemon=True)
    child.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{ports.get(timeout=60)}"
    finally:
        child.kill()
        child.join(5)
        ports.close()


def _samples() -> np.ndarray:
    data = (np.arange(H * W, dtype=np.uint16).reshape(H, W) % 13) * 3 + 1
    data[::4, ::3] = NODATA  # the samples the .aux.xml says are nodata
    return data


def _write(path: Path, data: np.ndarray, mask=None) -> None:
    """A tiled GeoTIFF without a GDAL_NODATA tag (and a ``.msk`` sidecar for ``mask``)."""
    profile = dict(
        driver="GTiff", width=W, height=H, count=1, dtype=data.dtype.name, tiled=True,
        blockxsize=32, blockysize=32,
    )  # fmt: skip
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=False), rasterio.open(path, "w", **profile) as dst:
        dst.write(data[None])
        if mask is not None:
            dst.write_mask(np.where(mask, 255, 0).astype(np.uint8))


def _masked(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(samples, valid)`` of a GeoTIFF written at ``path`` with a ``.msk`` beside it."""
    data = _samples()
    mask = np.ones((H, W), bool)
    mask[:, :20] = False
    _write(path, data, mask)
    return data, mask


def _want(values: np.ndarray) -> dict:
    return {
        "count": values.size,
        "min": values.min(),
        "max": values.max(),
        "mean": values.mean(dtype=np.float64),
    }


def _gdal(url: str) -> np.ndarray:
    """The valid samples GDAL reads through ``/vsicurl/`` (it asks for each sidecar)."""
    with (
        rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="YES", CPL_VSIL_CURL_CACHE_SIZE=0),
        rasterio.open("/vsicurl/" + url) as src,
    ):
        return src.read(1, masked=True).compressed()


@pytest.mark.parametrize("chunks", [None, 32])
def test_an_aux_xml_beside_an_http_image_is_read(gdal_served, chunks):
    # before: 3500 samples counted, the 7s with them, where GDAL counts 2942
    folder, base = gdal_served
    data = _samples()
    _write(folder / "x.tif", data)
    (folder / "x.tif.aux.xml").write_text(PAM.format(NODATA))
    valid = data[data != NODATA]
    gdal = _gdal(f"{base}/x.tif")
    assert np.array_equal(np.sort(gdal), np.sort(valid))  # GDAL reads it too
    got = imgstats.compute(f"{base}/x.tif", FUNCS, chunks=chunks)
    assert got == pytest.approx(_want(valid))
    with open(folder / "x.tif", "rb") as fh:
        header = imgstats.io.read_header(fh, f"{base}/x.tif")
    assert (header["nodata"], header["mask"]) == (NODATA, "nodata")


@pytest.mark.parametrize("chunks", [None, 32])
def test_a_msk_beside_an_http_image_is_its_mask(gdal_served, chunks):
    folder, base = gdal_served
    data, mask = _masked(folder / "m.tif")
    assert (folder / "m.tif.msk").is_file()
    gdal = _gdal(f"{base}/m.tif")
    assert np.array_equal(np.sort(gdal), np.sort(data[mask]))
    got = imgstats.compute(f"{base}/m.tif", FUNCS, chunks=chunks)
    assert got == pytest.approx(_want(data[mask]))
    img = imgstats.open_image(f"{base}/m.tif", chunks=chunks)
    assert imgstats.compute(img, "count") == mask.sum()  # the array passed on keeps it


def test_no_sidecar_costs_one_request_each(served):
    # each spelling GDAL asks for (a mask's .MSK too), once
    folder, base, handler = served
    data = _samples()
    _write(folder / "n.tif", data)
    assert imgstats.compute(f"{base}/n.tif", "count") == H * W
    asked = [p for p in handler.gets if p.endswith((".aux.xml", ".msk", ".MSK"))]
    assert sorted(asked) == ["/n.tif.MSK", "/n.tif.aux.xml", "/n.tif.msk"]


@pytest.mark.parametrize("remote", [False, True])
def test_an_upper_case_msk_is_the_mask_as_for_gdal(gdal_served, remote):
    # GDAL looks for "x.tif.MSK" when there is no "x.tif.msk": before, imgstats counted
    # 3500 samples of a file GDAL masks to 2500
    folder, base = gdal_served
    data, mask = _masked(folder / "u.tif")
    (folder / "u.tif.msk").rename(folder / "u.tif.MSK")
    source = f"{base}/u.tif" if remote else str(folder / "u.tif")
    with rasterio.open(folder / "u.tif") as src:
        assert src.read(1, masked=True).count() == mask.sum()
    assert imgstats.compute(source, FUNCS) == pytest.approx(_want(data[mask]))


@pytest.mark.parametrize("ranges", [True, False])
def test_an_aux_xml_over_the_limit_is_refused_not_read(served, http_folder, monkeypatch, ranges):
    # Python's own http.server ignores the range and sends it all: no more than the limit
    # + 1 is read off the wire either way
    folder, base = served[:2] if ranges else http_folder
    _write(folder / "big.tif", _samples())
    (folder / "big.tif.aux.xml").write_bytes(b"<PAMDataset>" + b" " * 50000 + b"</PAMDataset>")
    monkeypatch.setattr(_pam, "MAX_PAM_BYTES", 100)
    with pytest.raises(imgstats.UnreadableImage, match=r"big\.tif\.aux\.xml is over"):
        imgstats.compute(f"{base}/big.tif", "count")


@pytest.mark.parametrize(
    ("mode", "error", "said"),
    [("500", imgstats.StoreUnavailable, "500"), ("stall", StoreTimeout, "timed out")],
)
def test_a_sidecar_the_server_fails_on_is_the_stores_failure(served, mode, error, said):
    # a clear error, as the image's own would be: never an answer without the sidecar
    folder, base, handler = served
    _write(folder / "f.tif", _samples())
    (folder / "f.tif.aux.xml").write_text(PAM.format(NODATA))
    handler.mode = mode  # a stall: headers, then no body (bounded by the store's timeout)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=2, sock_read=1)
    options = {"client_kwargs": {"timeout": timeout}}
    with pytest.raises(error, match=rf"f\.tif\.aux\.xml.*{said}") as caught:
        imgstats.compute(f"{base}/f.tif", "count", storage_options=options)
    # aiohttp's timeout says nothing: the message said "timed out: " and no more
    assert not str(caught.value).rstrip().endswith(":"), str(caught.value)
    if mode == "stall":
        assert "stalled server" in str(caught.value)


def _serve_s3(ports) -> None:
    """Run moto's S3 server on loopback until killed (a child process's target)."""
    import time

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    ports.put(server.get_host_and_port()[1])
    while True:
        time.sleep(60)


@pytest.fixture
def gdal_s3():
    """``(boto3 client, storage_options, port)`` of moto's S3 server (bucket ``imgs``) in a
    process of its own, which GDAL's ``/vsis3/`` can read too (see :func:`gdal_served`)."""
    pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    child = context.Process(target=_serve_s3, args=(ports,), daemon=True)
    child.start()
    try:
        port = ports.get(timeout=120)
        endpoint = f"http://127.0.0.1:{port}"
        keys = {"aws_access_key_id": "x", "aws_secret_access_key": "y"}
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
        client.create_bucket(Bucket="imgs")
        options = {"client_kwargs": {"endpoint_url": endpoint}, "key": "x", "secret": "y"}
        yield client, options, port
        client.close()
    finally:
        child.kill()
        child.join(5)
        ports.close()


def test_an_aux_xml_beside_an_s3_object_is_read(gdal_s3, tmp_path):
    from rasterio.session import AWSSession

    client, options, port = gdal_s3
    data = _samples()
    _write(tmp_path / "x.tif", data)
    client.put_object(Bucket="imgs", Key="pam/x.tif", Body=(tmp_path / "x.tif").read_bytes())
    client.put_object(Bucket="imgs", Key="pam/x.tif.aux.xml", Body=PAM.format(NODATA).encode())
    client.put_object(Bucket="imgs", Key="pam/bare.tif", Body=(tmp_path / "x.tif").read_bytes())
    valid = data[data != NODATA]
    session = AWSSession(
        aws_access_key_id="x",
        aws_secret_access_key="y",
        region_name="us-east-1",
        endpoint_url=f"127.0.0.1:{port}",
    )
    with (
        rasterio.Env(session, AWS_HTTPS="NO", AWS_VIRTUAL_HOSTING="FALSE"),
        rasterio.open("/vsis3/imgs/pam/x.tif") as src,
    ):
        gdal = src.read(1, masked=True).compressed()
    assert np.array_equal(np.sort(gdal), np.sort(valid))  # /vsis3/ reads it
    got = imgstats.compute("s3://imgs/pam/x.tif", FUNCS, storage_options=options)
    assert got == pytest.approx(_want(valid))
    # no sidecar (NoSuchKey): every sample counts
    bare = imgstats.compute("s3://imgs/pam/bare.tif", "count", storage_options=options)
    assert bare == H * W
