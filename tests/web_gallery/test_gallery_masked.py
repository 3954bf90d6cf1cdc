"""Renderings show the pixels without a valid sample (NaN, nodata) as transparent, not as the
nodata colour, and stretch the others without them."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import tifffile
from PIL import Image

from imgstats.web._thumbs import _displayed, invalid_pixels, render


def _tiff(arr: np.ndarray, **tags) -> io.BytesIO:
    out = io.BytesIO()
    tifffile.imwrite(out, arr, **tags)
    out.seek(0)
    return out


def test_nan_pixels_are_transparent_in_a_thumbnail():
    arr = np.linspace(0.0, 1.0, 64 * 64, dtype=np.float32).reshape(64, 64)
    arr[:, :16] = np.nan
    with Image.open(io.BytesIO(render(_tiff(arr), 64))) as img:
        rgba = np.asarray(img.convert("RGBA"))
    assert rgba.shape[:2] == (64, 64)
    assert (rgba[:, :14, 3] == 0).all()  # lossy edges aside
    assert (rgba[:, 18:, 3] == 255).all()
    # the valid pixels use the whole grey range: NaN is not the black end
    grey = rgba[:, 18:, 0]
    assert grey.min() < 20 and grey.max() > 235


@pytest.mark.parametrize(
    ("dtype", "nodata"), [("int16", -32768), ("float32", -3.4e38), ("uint8", 0)]
)
def test_nodata_pixels_are_transparent_and_stretch_nothing(dtype, nodata):
    arr = np.tile(np.arange(100, 164, dtype=np.float64), (32, 1)).astype(dtype)
    arr[:8] = np.asarray(nodata, dtype=dtype)
    img = _displayed(arr, ("L",), nodata)
    rgba = np.asarray(img.convert("RGBA"))
    assert (rgba[:8, :, 3] == 0).all() and (rgba[8:, :, 3] == 255).all()
    if dtype == "uint8":  # 8-bit values are shown as they are
        assert rgba[8:, 0, 0].max() == 100
    else:  # stretched over 100..163, not from the nodata value (which would whiten them all)
        assert rgba[8:, 0, 0].max() < 40 and rgba[8:, -1, 0].min() > 215


def test_colour_pixels_are_invalid_only_when_every_band_is_nodata():
    arr = np.full((4, 4, 3), 7, dtype=np.uint16)
    arr[0, 0] = 0
    arr[1, 1, 0] = 0  # one band only: the pixel still has valid samples
    bad = invalid_pixels(arr, 0)
    assert bad is not None and bad.sum() == 1 and bad[0, 0]
    assert invalid_pixels(arr, None) is None
    assert invalid_pixels(arr.astype(np.float32), "nan") is None


@pytest.mark.parametrize("func", ["sum", "count", "valid_percent", "masked_pixels"])
def test_result_views_of_the_readings_that_are_no_percentile(client, func):
    html = client.get(f"/gallery/IMG_1.jpg/{func}").text
    api = client.get(f"/stats/IMG_1.jpg/{func}").get_json()["value"]
    exact = re.search(r'<code id="exact-value">([^<]+)</code>', html).group(1)
    assert float(exact) == api


def test_the_page_says_how_many_samples_count(client, images):
    arr = np.arange(40 * 50, dtype=np.float32).reshape(40, 50)
    arr[:10] = np.nan  # 500 samples that do not count
    tifffile.imwrite(images / "holes.tif", arr)
    html = client.get("/gallery/holes.tif").text
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", html))
    assert facts["Valid samples"].startswith("1,500 (75% of the samples)")
    assert facts["Masked samples"].startswith("500 ")
    rows = dict(re.findall(r'<th scope="row">(\w+)</th><td[^>]*>(?:<data value="([^"]+)")?', html))
    assert rows["masked_pixels"] == "500" and float(rows["valid_percent"]) == 75.0


def test_a_geotiff_nodata_is_said_and_transparent(client, app, images):
    """An int16 raster with GDAL_NODATA = -32768: the page says it, counts it as masked, and
    its thumbnail shows those pixels as transparent."""
    arr = np.tile(np.arange(64, dtype=np.int16) * 10, (48, 1))
    arr[:16] = -32768
    tifffile.imwrite(images / "dem.tif", arr, extratags=[(42113, "s", 0, "-32768", True)])
    info = app.extensions["imgstats"].info("dem.tif")
    if "nodata" not in info:
        pytest.skip("io gives no nodata in the header yet (issue 16)")
    html = client.get("/gallery/dem.tif").text
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", html))
    assert facts["Nodata"] == "-32768"
    assert facts["Valid samples"].startswith(f"{32 * 64:,} ")
    assert facts["Masked samples"].startswith(f"{16 * 64:,} ")
    response = client.get("/thumbs/dem.tif", headers={"Accept": "image/webp"})
    assert response.status_code == 200
    with Image.open(io.BytesIO(response.data)) as img:
        rgba = np.asarray(img.convert("RGBA"))
    h = rgba.shape[0]
    assert (rgba[: h // 3 - 2, :, 3] == 0).all() and (rgba[h // 3 + 2 :, :, 3] == 255).all()
