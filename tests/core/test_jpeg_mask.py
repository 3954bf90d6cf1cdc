"""The mask GDAL's JPEG driver appends after the picture (a masked source copied to JPEG).

GDAL writes a zlib-packed bit mask after the JPEG's end marker and the picture's size in
the last 4 bytes, and reads it back as the JPEG's per-dataset mask; it was not read, so
every masked pixel counted. rasterio (GDAL) writes the files and is the oracle of which
pixels count; Pillow's decoder (imgstats') of their values.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.shutil import copy

import imgstats
from imgstats.errors import UnreadableImage

from .oracle import check_all

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

H, W = 60, 90
FUNCS = ["min", "mean", "median"]
OPTIONS = {
    "path": {},
    "chunks": {"chunks": 17},
    "open_image": {},
    "window": {"window": (10, 5, 60, 40)},
}


def _masked_jpeg(tmp_path, valid, order="LSB", bands=3, name="a.jpg"):
    """A JPEG GDAL copied from a masked TIFF (its mask appended, bits in ``order``)."""
    data = (np.arange(bands * H * W).reshape(bands, H, W) % 200).astype(np.uint8)
    masked = tmp_path / "masked.tif"
    profile = dict(driver="GTiff", width=W, height=H, count=bands, dtype="uint8")
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
        rasterio.open(masked, "w", **profile) as dst,
    ):
        dst.write(data)
        dst.write_mask(valid)
    with rasterio.Env(JPEG_WRITE_MASK_BIT_ORDER=order):
        copy(masked, tmp_path / name, driver="JPEG")
    return tmp_path / name


def _gdal_valid(path):
    with rasterio.open(path) as src:
        assert src.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset]
        return src.read_masks(1) > 0


def _valid(kind):
    valid = np.full((H, W), 255, np.uint8)
    if kind == "corner":
        valid[:20] = 0
        valid[:, -7:] = 0
    elif kind == "columns":  # rows alike, one change: GDAL's guess of the bit order
        valid[:, 37:] = 0
    else:
        valid[(np.arange(H * W).reshape(H, W) * 7919) % 5 == 0] = 0
    return valid


@pytest.mark.parametrize("kind", ["corner", "columns", "scattered"])
@pytest.mark.parametrize("order", ["LSB", "MSB"])
@pytest.mark.parametrize("how", ["path", "chunks", "open_image", "window"])
def test_a_jpeg_s_appended_mask_leaves_its_pixels_out(tmp_path, kind, order, how):
    path = _masked_jpeg(tmp_path, _valid(kind), order)
    keep = _gdal_valid(path)
    assert 0 < keep.sum() < keep.size
    values = np.asarray(Image.open(path))
    kw = OPTIONS[how]
    if how == "window":  # x0, y0, x1, y1 = 10, 5, 60, 40
        keep[:5], keep[40:], keep[:, :10], keep[:, 60:] = False, False, False, False
    want = values[keep]
    source = imgstats.open_image(path) if how == "open_image" else path
    got = imgstats.compute(source, ["count", *FUNCS], **kw)
    assert got.pop("count") == want.size
    check_all(got, want, FUNCS)
    assert imgstats.compute(path, "count", raw=True) == values.size
    with open(path, "rb") as fh:
        assert imgstats.io.read_header(fh, path)["mask"] == "internal"


def test_the_appended_mask_comes_before_a_msk(tmp_path):
    # GDAL's JPEG band gives its own mask before looking for a .msk beside the file
    path = _masked_jpeg(tmp_path, _valid("corner"))
    other = _masked_jpeg(tmp_path, _valid("columns"), name="other.jpg")
    copy(tmp_path / "masked.tif", tmp_path / "gdal.png", driver="PNG")  # writes a .msk
    (tmp_path / "a.jpg.msk").write_bytes((tmp_path / "gdal.png.msk").read_bytes())
    keep = _gdal_valid(path)
    assert (keep != _gdal_valid(other)).any()  # the .msk holds the other mask
    assert keep.sum() != _gdal_valid(tmp_path / "gdal.png").sum()
    assert imgstats.compute(path, "count") == 3 * keep.sum()


def test_nodata_or_raw_take_the_mask_s_place(tmp_path):
    path = _masked_jpeg(tmp_path, _valid("corner"), bands=1)
    values = np.asarray(Image.open(path))
    nodata = int(values[0, 0])  # under the mask: nodata= counts it out, and nothing else
    assert imgstats.compute(path, "count", nodata=nodata) == (values != nodata).sum()
    assert imgstats.compute(imgstats.open_image(path, raw=True), "count") == values.size


def test_a_mask_that_does_not_inflate_is_refused(tmp_path):
    path = _masked_jpeg(tmp_path, _valid("corner"))
    data = bytearray(path.read_bytes())
    picture = int.from_bytes(data[-4:], "little")
    data[picture : picture + 4] = b"\x00\x01\x02\x03"  # no zlib stream
    path.write_bytes(bytes(data))
    with rasterio.open(path) as src, pytest.raises(rasterio.errors.RasterioIOError):
        src.read_masks(1)  # GDAL's reading fails too
    with pytest.raises(UnreadableImage, match="mask"):
        imgstats.compute(path, "count")


def test_a_plain_jpeg_is_untouched(tmp_path):
    path = tmp_path / "plain.jpg"
    Image.fromarray(np.full((H, W), 9, np.uint8)).save(path)
    with open(path, "rb") as fh:
        assert imgstats.io.read_header(fh, path)["mask"] is None
    assert imgstats.compute(path, "count") == H * W


def test_a_jpeg_s_appended_mask_over_http_without_ranges(tmp_path, http_folder):
    # Python's http.server ignores ranges: the mask, read from the file's end first, was
    # refused as "does not answer HTTP range requests" where the JPEG itself reads
    path = _masked_jpeg(tmp_path, _valid("corner"))
    folder, base = http_folder
    (folder / "m.jpg").write_bytes(path.read_bytes())
    assert imgstats.compute(f"{base}/m.jpg", "count") == 3 * _gdal_valid(path).sum()
