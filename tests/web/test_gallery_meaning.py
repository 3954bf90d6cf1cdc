"""The gallery's image page and thumbnails say which pixels count (issue 16 item 7): the
nodata value, valid and masked counts, the CRS and bounds; masked pixels are transparent
(NaN and nodata, and an internal or sidecar dataset mask)."""

from __future__ import annotations

import io
import re
import shutil

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import Affine

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

H, W = 64, 96
TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)


def _write(path, data, nodata=None, mask=None, internal=True):
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=internal):
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=W,
            height=H,
            count=1,
            dtype=data.dtype.name,
            crs="EPSG:32633",
            transform=TRANSFORM,
            nodata=nodata,
            tiled=True,
            blockxsize=32,
            blockysize=32,
        ) as dst:
            dst.write(data[None])
            if mask is not None:
                dst.write_mask(mask)


def _alpha(client, name):
    got = client.get(f"/thumbs/{name}")
    assert got.status_code == 200 and got.mimetype == "image/webp"
    with Image.open(io.BytesIO(got.data)) as img:
        assert img.mode in ("RGBA", "LA"), img.mode  # transparency is there at all
        return np.asarray(img.getchannel("A"))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _data():
    return (np.arange(H * W, dtype=np.uint16).reshape(H, W) % 1000) + 1


@pytest.mark.parametrize("internal", [True, False], ids=["internal", "sidecar"])
def test_a_dataset_mask_is_transparent_in_the_thumbnail(client, images, internal):
    mask = np.full((H, W), 255, np.uint8)
    mask[:, : W // 3] = 0
    _write(images / "m.tif", _data(), mask=mask, internal=internal)
    if not internal:
        assert (images / "m.tif.msk").exists()
    alpha = _alpha(client, "m.tif")
    cut = alpha.shape[1] // 3
    assert (alpha[:, : cut - 2] == 0).all()  # lossy edges aside
    assert (alpha[:, cut + 2 :] == 255).all()
    page = _text(client.get("/gallery/m.tif").get_data(as_text=True))
    kind = "internal mask" if internal else ".msk"
    assert kind in page or "sidecar" in page, page
    masked = H * (W // 3)
    assert f"Masked samples {masked:,}" in page
    assert f"Valid samples {H * W - masked:,}" in page


def test_nodata_crs_and_bounds_on_the_image_page(client, images):
    data = _data()
    data[:10] = 0
    _write(images / "n.tif", data, nodata=0)
    page = _text(client.get("/gallery/n.tif").get_data(as_text=True))
    assert "Nodata 0" in page
    assert f"Valid samples {int((data != 0).sum()):,}" in page
    assert f"Masked samples {10 * W:,}" in page
    assert "CRS EPSG:32633" in page
    assert "x 500000 to 500960, y 3999360 to 4000000" in page
    alpha = _alpha(client, "n.tif")
    rows = alpha.shape[0] * 10 // H
    assert (alpha[: rows - 1] == 0).all() and (alpha[rows + 2 :] == 255).all()


def test_an_image_without_a_mask_stays_opaque(client, images):
    shutil.copyfile(images / "IMG_12_uint16.tif", images / "plain.tif")
    got = client.get("/thumbs/plain.tif")
    with Image.open(io.BytesIO(got.data)) as img:
        assert img.mode == "RGB"  # nothing to hide: no alpha channel at all


@pytest.mark.parametrize("bands", ["RGBA", "LA"])
def test_a_faint_16_bit_alpha_shows_where_it_counts(client, images, bands):
    # alpha 100 of 65535 is not 0: the statistics count those pixels (GDAL's mask), but the
    # thumbnail stretched the alpha with the colours and rounded it to 0, transparent
    import tifffile

    colours = 3 if bands == "RGBA" else 1
    data = np.zeros((H, W, colours + 1), np.uint16)
    data[..., :colours] = np.array([30000, 1000, 60000][:colours], np.uint16)
    data[..., -1] = 65535
    data[:, : W // 3, -1] = 100
    data[:, 2 * W // 3 :, -1] = 0
    photometric = "rgb" if bands == "RGBA" else "minisblack"
    tifffile.imwrite(images / "a.tif", data, photometric=photometric, extrasamples=[2])
    band = "R" if bands == "RGBA" else "L"
    assert client.get(f"/stats/a.tif/count?band={band}").get_json()["value"] == H * (2 * W // 3)
    alpha = _alpha(client, "a.tif")
    third = alpha.shape[1] // 3
    assert (alpha[:, : third - 2] > 0).all()  # faint, but shown
    assert (alpha[:, third + 2 : 2 * third - 2] == 255).all()
    assert (alpha[:, 2 * third + 2 :] == 0).all()


def test_an_aux_xml_nodata_shows_on_the_page_and_in_the_thumbnail(client, images):
    # the header is read from an open file, which has no neighbours: the page said "Nodata
    # none", "every sample but NaN counts" beside 133 masked samples, and showed them opaque
    data = _data()
    data[data == 7] = 8
    data[: H // 4] = 7
    _write(images / "p.tif", data)
    pam = '<PAMDataset><PAMRasterBand band="1"><NoDataValue>7</NoDataValue></PAMRasterBand>'
    (images / "p.tif.aux.xml").write_text(pam + "</PAMDataset>")
    with rasterio.open(images / "p.tif") as src:
        masked = int((src.read_masks(1) == 0).sum())
    assert masked == int((data == 7).sum())
    page = _text(client.get("/gallery/p.tif").get_data(as_text=True))
    assert f"Masked samples {masked:,}" in page
    assert "Nodata 7" in page, page
    alpha = _alpha(client, "p.tif")
    quarter = alpha.shape[0] // 4
    assert (alpha[: quarter - 1] == 0).all()
    assert (alpha[quarter + 1 :] == 255).all()


@pytest.mark.parametrize("kind", ["jpeg-internal", "png-msk"])
def test_a_png_or_jpeg_mask_is_transparent_in_the_thumbnail(client, images, tmp_path, kind):
    # the header said "internal" or "sidecar" and the thumbnail read the image as a TIFF
    # for its mask: a PNG's .msk (and GDAL's JPEG mask) failed its thumbnail
    from rasterio.shutil import copy

    mask = np.full((H, W), 255, np.uint8)
    mask[:, : W // 3] = 0
    grey = (_data() % 200).astype(np.uint8)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        profile = dict(driver="GTiff", width=W, height=H, count=1, dtype="uint8")
        profile.update(crs="EPSG:32633", transform=TRANSFORM)
        with rasterio.open(tmp_path / "m.tif", "w", **profile) as dst:
            dst.write(grey[None])
            dst.write_mask(mask)
    name = "m.jpg" if kind == "jpeg-internal" else "m.png"
    copy(tmp_path / "m.tif", tmp_path / name, driver="JPEG" if name == "m.jpg" else "PNG")
    shutil.copy(tmp_path / name, images / name)
    if name == "m.png":
        shutil.copy(tmp_path / "m.png.msk", images / "m.png.msk")
    alpha = _alpha(client, name)
    cut = alpha.shape[1] // 3
    assert (alpha[:, : cut - 2] == 0).all()
    assert (alpha[:, cut + 2 :] == 255).all()
    page = _text(client.get(f"/gallery/{name}").get_data(as_text=True))
    masked = H * (W // 3)
    assert f"Masked samples {masked:,}" in page
