"""A COG's overview pages, read by ``page=`` as GDAL reads its overviews.

GDAL writes an overview as a reduced-resolution page (NewSubfileType 1) and its mask as a
page of type 5; rasterio's ``open(path, overview_level=k)`` is the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import tifffile
from rasterio.enums import Resampling
from rasterio.transform import from_origin

import imgstats
from imgstats.io import read_header

from . import test_meaning_valid

pytestmark = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul:PendingDeprecationWarning",
    "ignore::rasterio.errors.NotGeoreferencedWarning",
)

read = test_meaning_valid.read  # the fixture of the three read paths (eager, dask, stream)
RNG = np.random.default_rng(2026_12_06_11)
N = 128


def _cog(path, *, mask: bool, nodata=None):
    data = RNG.integers(0, 5000, (N, N)).astype(np.uint16)
    if nodata is not None:
        data[RNG.random((N, N)) < 0.3] = nodata
    profile = dict(
        driver="GTiff", width=N, height=N, count=1, dtype="uint16", tiled=True,
        blockxsize=32, blockysize=32, nodata=nodata, crs="EPSG:32633",
        transform=from_origin(1000, 2000, 10, 10),
    )  # fmt: skip
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if mask:
            valid = np.full((N, N), 255, np.uint8)
            valid[:, : N // 3] = 0
            valid[N // 2 :, :] = 0
            dst.write_mask(valid)
        dst.build_overviews([2, 4], Resampling.nearest)
    return path


def _overview_pages(path):
    with tifffile.TiffFile(path) as tif:
        return [i for i, p in enumerate(tif.pages) if p.subfiletype == 1]


@pytest.mark.parametrize("mask", [True, False], ids=["mask", "nodata"])
def test_an_overview_page_is_read_with_its_own_mask(tmp_path, read, mask):
    # before: page= of an overview read every pixel of it, its mask page (type 5) ignored:
    # 4096 valid pixels of the first overview, where GDAL counts 1344
    path = _cog(tmp_path / "cog.tif", mask=mask, nodata=None if mask else 7)
    pages = _overview_pages(path)
    assert len(pages) == 2
    for level, page in enumerate(pages):
        with rasterio.open(path, overview_level=level) as src:
            want = src.read(1, masked=True)
        assert 0 < want.count() < want.size
        got = read(path, ["count", "min", "max", "median", "masked_pixels"], page=page)
        valid = want.compressed()
        assert got == {
            "count": valid.size,
            "min": valid.min(),
            "max": valid.max(),
            "median": np.median(valid.astype(np.float64)),
            "masked_pixels": want.size - valid.size,
        }


def test_an_overview_page_keeps_its_image_georeferencing(tmp_path):
    path = _cog(tmp_path / "cog.tif", mask=True)
    page = _overview_pages(path)[0]
    with open(path, "rb") as fh:
        header = read_header(fh, path, page=page)
    with rasterio.open(path, overview_level=0) as src:
        assert header["transform"] == list(src.transform)[:6]
        assert header["crs"] == "EPSG:32633"
    # a bbox of the overview selects the pixels whose centre lies in it, as on the image
    got = imgstats.compute(path, "count", page=page, bbox=(1000, 1360, 1640, 2000), raw=True)
    assert got == 32 * 32


def test_a_jpeg_cog_s_mask_page_names_its_overview_pages(tmp_path):
    # GDAL's COG driver writes the mask right after the image (page 1) and the overviews
    # after it: page=1 was refused as a mask without saying where the overviews are
    from rasterio.shutil import copy

    h, w = 300, 400
    y, x = np.mgrid[0:h, 0:w]
    data = np.stack([x % 256, y % 256, (x + y) // 4 % 256]).astype(np.uint8)
    valid = np.full((h, w), 255, np.uint8)
    valid[:75] = 0
    profile = dict(driver="GTiff", width=w, height=h, count=3, dtype="uint8")
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(tmp_path / "src.tif", "w", **profile) as dst:
            dst.write(data)
            dst.write_mask(valid)
        copy(tmp_path / "src.tif", tmp_path / "cog.tif", driver="COG", COMPRESS="JPEG",
             BLOCKSIZE=128, OVERVIEW_RESAMPLING="nearest")  # fmt: skip
    path = tmp_path / "cog.tif"
    with pytest.raises(imgstats.InvalidOption, match=r"mask .* are pages 0, 2, 3$"):
        imgstats.compute(path, "count", page=1)
    with rasterio.open(path, overview_level=0) as src:
        want = src.read(masked=True).count()  # YCbCr JPEG: the same pixels, other decoder
    assert imgstats.compute(path, "count", page=2) == want
