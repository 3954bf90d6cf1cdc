"""A TIFF's internal mask read from a URL (fsspec's ``memory://`` here), on every route."""

from __future__ import annotations

import fsspec
import numpy as np
import pytest
import rasterio

import imgstats

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
H, W = 70, 90


@pytest.fixture
def masked_labels(tmp_path):
    """``(url, labels, valid)``: a label GeoTIFF with an internal mask, in memory://."""
    labels = np.random.default_rng(3).integers(0, 6, (H, W)).astype(np.uint8)
    valid = np.ones((H, W), bool)
    valid[:20] = False
    path = tmp_path / "labels.tif"
    profile = dict(
        driver="GTiff", width=W, height=H, count=1, dtype="uint8", tiled=True,
        blockxsize=32, blockysize=32,
    )  # fmt: skip
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        dst.write(labels, 1)
        dst.write_mask(np.where(valid, 255, 0).astype(np.uint8))
    url = f"memory://{tmp_path.name}/labels.tif"
    fsspec.filesystem("memory").pipe(url, path.read_bytes())
    yield url, labels, valid
    fsspec.filesystem("memory").rm(url)


@pytest.mark.parametrize("chunks", [None, 32])
def test_open_image_of_a_url_keeps_its_internal_mask(masked_labels, chunks):
    # before: open_image's array of a URL, passed on, lost its mask (a local file's kept it):
    # 6300 samples counted where the file holds 4500 valid ones
    url, labels, valid = masked_labels
    img = imgstats.open_image(url, chunks=chunks)
    got = imgstats.compute(img, ["count", "masked_pixels", "max"])
    want = {"count": valid.sum(), "masked_pixels": (~valid).sum(), "max": labels[valid].max()}
    assert got == want


def test_a_label_raster_of_a_url_masks_its_zones(masked_labels):
    # before: a label raster given as a URL had every pixel in a zone, its mask ignored
    url, labels, valid = masked_labels
    img = np.arange(H * W, dtype=np.float64).reshape(H, W)
    table = imgstats.zonal(img, url, ["count", "mean"], background=None)
    assert table["count"].sum() == valid.sum()
    for zone, row in table.iterrows():
        sel = valid & (labels == zone)
        assert (row["count"], row["mean"]) == (sel.sum(), img[sel].mean())


def test_a_url_mask_over_http_is_honoured_or_refused_as_the_stores(masked_labels, http_folder):
    # Python's http.server answers no range requests: a whole read still works, but a lazy
    # read of the mask in parts is the store's failure (StoreUnavailable, 502), not "a
    # corrupt mask" (UnreadableImage, 422) as before
    url, labels, valid = masked_labels
    folder, base = http_folder
    (folder / "labels.tif").write_bytes(fsspec.filesystem("memory").cat(url))
    served = f"{base}/labels.tif"
    assert imgstats.compute(served, "count") == valid.sum()
    assert imgstats.compute(imgstats.open_image(served), "count") == valid.sum()
    with pytest.raises(imgstats.StoreUnavailable, match="does not answer HTTP range requests"):
        imgstats.compute(served, "count", chunks=32)
