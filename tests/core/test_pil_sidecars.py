"""A PIL image opened from a local file has what GDAL reads beside or after that file.

``compute(Image.open("a.png"))`` ignored the ``.aux.xml`` and ``.msk`` beside ``a.png`` (and
the mask GDAL appends to a JPEG) that ``compute("a.png")`` reads: the same picture gave two
answers. rasterio (GDAL) is the oracle of which pixels count.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.shutil import copy

import imgstats

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

H, W = 40, 70


def _masked(tmp_path, driver, name):
    """``name``, GDAL's copy of a masked grey TIFF (a .msk beside a PNG, appended to a JPEG)."""
    grey = (np.arange(H * W).reshape(H, W) % 50 + 10).astype(np.uint8)
    valid = np.full((H, W), 255, np.uint8)
    valid[:15] = 0
    valid[:, -9:] = 0
    profile = dict(driver="GTiff", width=W, height=H, count=1, dtype="uint8")
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
        rasterio.open(tmp_path / "m.tif", "w", **profile) as dst,
    ):
        dst.write(grey[None])
        dst.write_mask(valid)
    copy(tmp_path / "m.tif", tmp_path / name, driver=driver)
    with rasterio.open(tmp_path / name) as src:
        return tmp_path / name, src.read(1, masked=True)


@pytest.mark.parametrize(("driver", "name"), [("PNG", "g16.png"), ("JPEG", "g16.jpg")])
def test_a_pil_image_s_mask_is_read_as_its_path_s(tmp_path, driver, name):
    path, gdal = _masked(tmp_path, driver, name)
    with Image.open(path) as img:
        got = imgstats.compute(img, ["count", "min", "max"])
        values = np.asarray(img)
    keep = ~np.ma.getmaskarray(gdal)
    assert got == imgstats.compute(path, ["count", "min", "max"])
    assert got["count"] == keep.sum() < keep.size
    assert (got["min"], got["max"]) == (values[keep].min(), values[keep].max())


def test_a_pil_image_s_aux_xml_nodata_and_scale(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray((np.arange(H * W).reshape(H, W) % 7).astype(np.uint8)).save(path)
    (tmp_path / "a.png.aux.xml").write_text(
        '<PAMDataset><PAMRasterBand band="1"><NoDataValue>3</NoDataValue>'
        "<Scale>2</Scale><Offset>1</Offset></PAMRasterBand></PAMDataset>"
    )
    with rasterio.open(path) as src:
        want = src.read(1, masked=True)
        scale, offset = src.scales[0], src.offsets[0]
    with Image.open(path) as img:
        got = imgstats.compute(img, ["count", "mean"], scaled=True)
    assert got["count"] == want.count()
    assert got["mean"] == pytest.approx(float(want.compressed().mean()) * scale + offset)


def test_an_image_of_no_file_or_another_frame_reads_its_pixels_only(tmp_path):
    path, _ = _masked(tmp_path, "PNG", "g16.png")
    with Image.open(io.BytesIO(path.read_bytes())) as img:
        assert imgstats.compute(img, "count") == H * W  # bytes: no file beside it
    with Image.open(path) as img:
        assert imgstats.compute(img.convert("L"), "count") == H * W  # a new image
    frames = [Image.fromarray(np.full((H, W), v, np.uint8)) for v in (1, 2)]
    frames[0].save(tmp_path / "a.png", save_all=True, append_images=frames[1:])
    (tmp_path / "a.png.msk").write_bytes((tmp_path / "g16.png.msk").read_bytes())
    with Image.open(tmp_path / "a.png") as img:
        assert imgstats.compute(img, "count") < H * W  # the first frame: the .msk's
        img.seek(1)
        assert imgstats.compute(img, "count") == H * W  # GDAL's mask is the first image's
