"""An image's JSON header (``GET /api/images/<image>``) says the nodata value its statistics
apply: an ``.aux.xml`` (GDAL's PAM) beside a local image gives it, in place of a TIFF's
GDAL_NODATA tag, as the statistics read it, and the header follows the sidecar when it is
added, changed or removed while the service runs. rasterio (GDAL) is the oracle of which
value applies; numpy of the counts."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import rasterio
import tifffile
from PIL import Image
from web_helpers import http_get

from benchmarks.masked_tiff import MSK_TAGS
from imgstats.web import create_app

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

H, W = 40, 60
TICK = 0.05  # one tick of the kernel's coarse clock between a write and the next question


def _grey() -> np.ndarray:
    data = ((np.arange(H * W).reshape(H, W) % 97) + 10).astype(np.uint8)
    data[: H // 4] = 7
    return data


def _pam(value: str, bands: int = 1) -> str:
    entries = "".join(
        f'<PAMRasterBand band="{b}"><NoDataValue>{value}</NoDataValue></PAMRasterBand>'
        for b in range(1, bands + 1)
    )
    return f"<PAMDataset>{entries}</PAMDataset>"


def _put(path, text: str) -> None:
    time.sleep(TICK)  # a new version, even on a coarse clock
    path.write_text(text)


@pytest.fixture
def client(tmp_path):
    app = create_app({"IMAGES": str(tmp_path), "WARMUP": False, "RACY_SECONDS": 0.0})
    yield app.test_client()
    app.extensions["imgstats"].close()


def _header(client, name: str) -> dict:
    response = client.get(f"/api/images/{name}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _count(client, name: str, query: str = "") -> dict:
    response = client.get(f"/stats/{name}/mean{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_a_tiff_header_follows_its_sidecar_over_the_tag(client, tmp_path):
    data = _grey().astype(np.uint16)
    data[-1] = 5
    path = tmp_path / "t.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=W, height=H, count=1, dtype="uint16", nodata=5
    ) as dst:
        dst.write(data[None])
    assert _header(client, "t.tif")["nodata"] == 5
    assert _count(client, "t.tif")["count"] == int((data != 5).sum())

    sidecar = tmp_path / "t.tif.aux.xml"
    for text, nodata in [("7", 7), ("nan", None), ("9.5", 9)]:
        _put(sidecar, _pam(text))
        with rasterio.open(path) as src:  # GDAL reads the sidecar in place of the tag
            valid = src.read(1, masked=True).compressed()
        header = _header(client, "t.tif")
        # a NaN sidecar on integers left the tag's 5 in the header, which no longer applied
        assert (header["nodata"], header["mask"]) == (nodata, None if nodata is None else "nodata")
        answer = _count(client, "t.tif")
        assert answer["count"] == valid.size
        assert answer["value"] == pytest.approx(float(valid.mean()), rel=1e-12)
        assert answer["version"] == header["version"]

    sidecar.unlink()
    time.sleep(TICK)
    assert (_header(client, "t.tif")["nodata"], _count(client, "t.tif")["count"]) == (
        5,
        int((data != 5).sum()),
    )
    # a request's nodata= applies in place of either, and its answer says so
    answer = _count(client, "t.tif", "?nodata=10")
    assert (answer["nodata"], answer["count"]) == (10, int((data != 10).sum()))


def test_a_png_header_follows_its_sidecar(client, tmp_path):
    data = _grey()
    Image.fromarray(data).save(tmp_path / "p.png")
    assert _header(client, "p.png")["nodata"] is None
    sidecar = tmp_path / "p.png.aux.xml"
    for value in (7, 8, 10):
        _put(sidecar, _pam(str(value)))
        with rasterio.open(tmp_path / "p.png") as src:
            assert src.nodata == value
        header = _header(client, "p.png")
        assert (header["nodata"], header["mask"]) == (value, "nodata")
        assert _count(client, "p.png")["count"] == int((data != value).sum())
    os.remove(sidecar)
    time.sleep(TICK)
    assert (_header(client, "p.png")["nodata"], _count(client, "p.png")["count"]) == (None, H * W)


def test_a_1_bit_png_header_has_no_sidecar_nodata_the_statistics_do_not_apply(client, tmp_path):
    # a 1-bit image is decoded to 0 and 255, not its stored bits: the statistics leave its
    # sidecar's nodata out, and the header said "nodata": 1, "mask": "nodata" all the same
    Image.fromarray(_grey() > 50).save(tmp_path / "b.png")
    (tmp_path / "b.png.aux.xml").write_text(_pam("1"))
    header = _header(client, "b.png")
    assert (header["nodata"], header["mask"]) == (None, None)
    assert _count(client, "b.png")["count"] == H * W


def test_a_miniswhite_tiff_header_says_its_sidecar_nodata(client, tmp_path):
    # its values are 255 - stored: the statistics leave the stored 7s out (values 248), and
    # the header said no nodata
    data = _grey()
    tifffile.imwrite(tmp_path / "w.tif", data, photometric="miniswhite")
    (tmp_path / "w.tif.aux.xml").write_text(_pam("7"))
    header = _header(client, "w.tif")
    assert (header["nodata"], header["mask"]) == (248, "nodata")
    assert _count(client, "w.tif")["count"] == int((data != 7).sum())


def test_a_cmyk_jpeg_header_says_its_sidecar_nodata(client, tmp_path):
    rgb = np.stack([_grey()] * 3, -1)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    (tmp_path / "c.jpg.aux.xml").write_text(_pam("0", bands=4))
    with Image.open(tmp_path / "c.jpg") as img:
        values = np.asarray(img)
    header = _header(client, "c.jpg")
    assert (header["nodata"], header["mask"]) == (0, "nodata")
    assert _count(client, "c.jpg")["count"] == int((values != 0).sum())


@pytest.mark.slow
def test_gunicorn_headers_follow_a_sidecar(gunicorn_server, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    data = _grey()
    Image.fromarray(data).save(images / "p.png")
    base, _ = gunicorn_server(images, workers=2)

    def ask():
        header = json.loads(http_get(base, "/api/images/p.png")[2])
        answer = json.loads(http_get(base, "/stats/p.png/mean")[2])
        return header["nodata"], answer["count"]

    assert ask() == (None, H * W)
    _put(images / "p.png.aux.xml", _pam("7"))
    for _ in range(4):  # either worker
        assert ask() == (7, int((data != 7).sum()))
    (images / "p.png.aux.xml").unlink()
    time.sleep(TICK)
    for _ in range(4):
        assert ask() == (None, H * W)


def test_a_palette_tiff_header_says_its_sidecar_nodata_index_as_its_tag_would(client, tmp_path):
    # the index's pixels are left out of the colours: the header said nothing left them out
    data = _grey()
    colours = np.tile(np.arange(256, dtype=np.uint16) * 257, (3, 1))
    tifffile.imwrite(tmp_path / "i.tif", data, photometric="palette", colormap=colours)
    tag = [(42113, "s", 0, "7", True)]
    tifffile.imwrite(
        tmp_path / "j.tif", data, photometric="palette", colormap=colours, extratags=tag
    )
    (tmp_path / "i.tif.aux.xml").write_text(_pam("7"))
    header = _header(client, "i.tif")
    assert {k: header[k] for k in ("nodata", "mask", "bands")} == {
        k: _header(client, "j.tif")[k] for k in ("nodata", "mask", "bands")
    }
    assert header["mask"] == "alpha"
    assert _count(client, "i.tif")["count"] == 3 * int((data != 7).sum())


def test_a_remote_image_header_never_reads_a_sidecar_of_the_servers_folder(tmp_path, monkeypatch):
    # before: a remote store's header was read under the bare image name, so the TIFF
    # reader looked for "<name>.aux.xml" (and "<name>.msk") in the server's working folder,
    # and the header said nodata 7 where the statistics, read by URL, apply the tag's 5
    from web_helpers import serve_folder

    remote = tmp_path / "remote"
    remote.mkdir()
    tifffile.imwrite(remote / "t.tif", _grey(), extratags=[(42113, "s", 0, "5", True)])
    here = tmp_path / "cwd"
    here.mkdir()
    (here / "t.tif.aux.xml").write_text(_pam("7"))
    monkeypatch.chdir(here)
    with serve_folder(remote) as store:
        app = create_app({"IMAGES": f"{store}/", "WARMUP": False, "RACY_SECONDS": 0.0})
        try:
            client = app.test_client()
            header = _header(client, "t.tif")
            assert header["nodata"] == 5
            stats = client.get("/stats/t.tif/count").get_json()
            assert stats["value"] == int((_grey() != 5).sum())
        finally:
            app.extensions["imgstats"].close()


def _per_band_pam(values) -> str:
    entries = "".join(
        f'<PAMRasterBand band="{b}"><NoDataValue>{v}</NoDataValue></PAMRasterBand>'
        for b, v in enumerate(values, 1)
    )
    return f"<PAMDataset>{entries}</PAMDataset>"


@pytest.mark.parametrize("name", ["rgb.tif", "rgb.png"])
def test_per_band_nodata_values_apply_band_by_band(client, tmp_path, name):
    """Each band's own value applies to it, as GDAL's masked reading applies it (rasterio the
    oracle): they were refused (422), even for one band, and the header said why."""
    rgb = np.stack([_grey(), _grey() + 1, _grey() + 2], -1)
    if name.endswith(".tif"):
        tifffile.imwrite(tmp_path / name, rgb, photometric="rgb")
    else:
        Image.fromarray(rgb).save(tmp_path / name)
    (tmp_path / f"{name}.aux.xml").write_text(_per_band_pam([7, 8, 9]))
    with rasterio.open(tmp_path / name) as src:
        assert src.nodatavals == (7, 8, 9)
        cube = src.read(masked=True)
    header = _header(client, name)
    assert (header["nodata"], header["mask"], header["nodata_problem"]) == (None, "nodata", None)
    assert header["band_nodata"] == [7, 8, 9]
    pooled = _count(client, name)
    assert pooled["count"] == int(cube.count())
    assert pooled["value"] == float(cube.astype(np.float64).mean())
    assert pooled["valid"] == {
        "mask": "nodata",
        "nodata": None,
        "source": "file",
        "band_nodata": [7, 8, 9],
    }
    for b, band in enumerate("RGB"):
        one = _count(client, name, f"?band={band}")
        assert one["count"] == int(cube[b].count())
        assert one["valid"] == {"mask": "nodata", "nodata": 7 + b, "source": "file"}
    # one value for every band: it applies, and nothing is refused
    _put(tmp_path / f"{name}.aux.xml", _per_band_pam([7, 7, 7]))
    header = _header(client, name)
    assert (header["nodata"], header["mask"], header["nodata_problem"]) == (7, "nodata", None)
    assert "band_nodata" not in header
    assert _count(client, name)["count"] == int((rgb != 7).sum())


def test_a_header_says_why_a_band_left_to_alpha_is_refused(client, tmp_path):
    """GDAL masks a colour band without a nodata value by the alpha band, one with by its
    value: refused (422), and the header says why, in the service's words."""
    rgba = np.stack([_grey(), _grey() + 1, _grey() + 2, _grey() * 0 + 255], -1)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    (tmp_path / "a.png.aux.xml").write_text(_per_band_pam([7]))
    refused = client.get("/stats/a.png/mean?band=R")
    assert refused.status_code == 422
    header = _header(client, "a.png")
    assert (header["nodata"], header["mask"]) == (None, None)
    assert header["nodata_problem"] == refused.get_json()["error"]
    assert "leaves the bands without one to its alpha band" in header["nodata_problem"]
    assert "raw=1" in header["nodata_problem"] and "raw=True" not in header["nodata_problem"]


def test_a_mask_leaves_per_band_nodata_values_no_problem(client, tmp_path):
    # GDAL takes a dataset mask before any nodata value: the statistics use the mask
    rgb = np.stack([_grey(), _grey() + 1, _grey() + 2], -1)
    tifffile.imwrite(tmp_path / "m.tif", rgb, photometric="rgb")
    mask = np.full((H, W), 255, np.uint8)
    mask[:5] = 0
    tifffile.imwrite(tmp_path / "m.tif.msk", mask, extratags=MSK_TAGS)
    (tmp_path / "m.tif.aux.xml").write_text(_per_band_pam([7, 8, 9]))
    header = _header(client, "m.tif")
    assert (header["mask"], header["nodata_problem"]) == ("sidecar", None)
    assert _count(client, "m.tif")["count"] == 3 * int((mask != 0).sum())
