"""A ``.msk`` sidecar is part of an image's version: adding, replacing or removing one after
the image was answered (and cached) changes the answer, as GDAL's dataset mask changes what
the file means. rasterio writes the sidecars and is the oracle."""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest
import rasterio

from imgstats.web import create_app
from imgstats.web.store import LocalStore

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

H, W = 40, 60
TICK = 0.05  # one tick of the kernel's coarse clock between a write and the next question


def _write(path, data, mask=None):
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=False):
        with rasterio.open(
            path, "w", driver="GTiff", width=W, height=H, count=1, dtype=data.dtype.name
        ) as dst:
            dst.write(data[None])
            if mask is not None:
                dst.write_mask(mask)


def _valid(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1, masked=True).compressed()


@pytest.fixture
def client(tmp_path):
    app = create_app({"IMAGES": str(tmp_path), "WARMUP": False, "RACY_SECONDS": 0.0})
    return app.test_client()


def test_a_sidecar_added_changed_and_removed_is_noticed(client, tmp_path):
    data = (np.arange(H * W, dtype=np.uint16).reshape(H, W) % 997) + 1
    _write(tmp_path / "m.tif", data)
    first = client.get("/stats/m.tif/mean").get_json()
    assert first["count"] == H * W

    # a mask written beside another copy, then moved in: the image file itself is untouched
    mask = np.full((H, W), 255, np.uint8)
    mask[:, : W // 2] = 0
    other = tmp_path / "other"
    other.mkdir()
    _write(other / "m.tif", data, mask=mask)
    time.sleep(TICK)
    shutil.copyfile(other / "m.tif.msk", tmp_path / "m.tif.msk")
    valid = _valid(tmp_path / "m.tif")
    assert valid.size == H * (W - W // 2)
    added = client.get("/stats/m.tif/mean").get_json()
    assert added["count"] == valid.size
    assert added["value"] == pytest.approx(float(valid.mean()), rel=1e-12)
    assert added["version"] != first["version"]

    mask[:] = 255
    mask[: H // 4] = 0
    _write(other / "m.tif", data, mask=mask)
    time.sleep(TICK)
    shutil.copyfile(other / "m.tif.msk", tmp_path / "m.tif.msk")
    changed = client.get("/stats/m.tif/median").get_json()
    valid = _valid(tmp_path / "m.tif")
    assert changed["count"] == valid.size == (H - H // 4) * W
    assert changed["value"] == float(np.median(valid))

    os.remove(tmp_path / "m.tif.msk")
    time.sleep(TICK)
    gone = client.get("/stats/m.tif/mean").get_json()
    assert gone["count"] == H * W
    assert gone["version"] == first["version"]  # the image alone again: its own version


def test_the_version_of_an_image_without_a_sidecar_is_its_own(tmp_path):
    (tmp_path / "a.tif").write_bytes(b"not read here")
    store = LocalStore(str(tmp_path), 0.0)
    alone = store.stat("a.tif").token
    (tmp_path / "a.tif.msk").mkdir()  # not a regular file: not a sidecar
    assert store.stat("a.tif").token == alone
    os.rmdir(tmp_path / "a.tif.msk")
    (tmp_path / "a.tif.msk").write_bytes(b"x")
    assert store.stat("a.tif").token != alone
    assert "+msk:" in store.stat("a.tif").token
    os.remove(tmp_path / "a.tif.msk")
    (tmp_path / "a.tif.MSK").write_bytes(b"x")  # GDAL's mask when there is no .msk
    assert "+MSK:" in store.stat("a.tif").token


def test_an_aux_xml_added_and_removed_is_noticed(client, tmp_path):
    # GDAL's PAM sidecar gives a band its nodata value: the cached answer must not outlive it
    data = (np.arange(H * W, dtype=np.uint16).reshape(H, W) % 7) + 1
    _write(tmp_path / "p.tif", data)
    first = client.get("/stats/p.tif/mean").get_json()
    assert first["count"] == H * W
    time.sleep(TICK)
    pam = '<PAMDataset><PAMRasterBand band="1"><NoDataValue>3</NoDataValue></PAMRasterBand>'
    (tmp_path / "p.tif.aux.xml").write_text(pam + "</PAMDataset>")
    valid = _valid(tmp_path / "p.tif")
    assert valid.size == int((data != 3).sum())
    added = client.get("/stats/p.tif/mean").get_json()
    assert (added["count"], added["value"]) == (valid.size, pytest.approx(float(valid.mean())))
    assert added["version"] != first["version"]
    os.remove(tmp_path / "p.tif.aux.xml")
    time.sleep(TICK)
    assert client.get("/stats/p.tif/mean").get_json()["count"] == H * W
