"""A label raster is matched to the image pixel by pixel, so it must lie on the image's grid;
and the label ``-2**63`` is never merged with the pixels that hold no label.

Both gave wrong numbers with no error: a shifted, coarser or reprojected label raster of the
image's shape gave each zone other pixels' samples, and a ``-2**63`` zone of a masked label
image with ``background=None`` lost its samples.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from rasterio.transform import Affine

import imgstats
from imgstats.errors import InvalidOption

from .test_meaning_geo import H, W, _write

GRID = Affine(10.0, 0.0, 500000, 0.0, -10.0, 4000000)
LABELS = (np.arange(H)[:, None] // 30 * 7 + np.arange(W)[None, :] // 50).astype(np.uint16)


@pytest.fixture
def image(tmp_path):
    return _write(tmp_path / "image.tif", GRID)


def _oracle(data, labels):
    return {int(z): np.median(data[labels == z]) for z in np.unique(labels) if z != 0}


def test_a_label_raster_on_the_image_grid_is_read(tmp_path, image):
    path, data = image
    labels, _ = _write(tmp_path / "labels.tif", GRID, data=LABELS[None])
    frame = imgstats.zonal(path, labels, ["median"])
    assert frame["median"].to_dict() == _oracle(data, LABELS)


@pytest.mark.parametrize(
    ("transform", "crs", "message"),
    [
        (Affine(10.0, 0.0, 500050, 0.0, -10.0, 4000000), "EPSG:32633", "5 pixels away"),
        (Affine(20.0, 0.0, 500000, 0.0, -20.0, 4000000), "EPSG:32633", "pixel grid"),
        (Affine(10.0, 0.0, 500000, 0.0, 10.0, 4000000), "EPSG:32633", "pixel grid"),
        (GRID, "EPSG:32634", "in EPSG:32634, the image in EPSG:32633"),
    ],
)
def test_a_label_raster_off_the_image_grid_is_refused(tmp_path, image, transform, crs, message):
    path, data = image
    labels, _ = _write(tmp_path / "labels.tif", transform, crs=crs, data=LABELS[None])
    with pytest.raises(InvalidOption, match=message):
        imgstats.zonal(path, labels, ["median"])
    # a DataArray says where it lies by its attrs, as open_image gives them
    img = imgstats.open_image(path)
    lab = imgstats.open_image(labels)
    with pytest.raises(InvalidOption, match=message):
        imgstats.zonal(img, lab, ["median"])
    # plain arrays say nothing: taken as aligned
    assert imgstats.zonal(data, LABELS, ["median"])["median"].to_dict() == _oracle(data, LABELS)


def _masked_lowest():
    low = np.iinfo(np.int64).min
    labels = np.array([[low, 1, 1, 2]] * 3, np.int64)
    return labels, np.arange(12, dtype=np.float32).reshape(3, 4)


@pytest.mark.parametrize("lazy", [False, True])
def test_the_lowest_int64_label_is_not_lost_to_unlabelled_pixels(lazy):
    labels, img = _masked_lowest()
    hidden = np.zeros(labels.shape, bool)
    hidden[0, 0] = True  # one pixel of the -2**63 zone holds no label
    if lazy:
        zones = xr.DataArray(
            da.from_array(np.where(hidden, 7, labels), chunks=2),
            dims=("y", "x"),
            attrs={"nodata": 7},
        )
    else:
        zones = np.ma.masked_array(labels, hidden)
    with pytest.raises(InvalidOption, match=r"-2\*\*63 cannot be a zone"):
        imgstats.zonal(img, zones, ["count"], background=None)
    # with a background that no pixel holds, the zone keeps its 2 samples
    frame = imgstats.zonal(img, zones, ["count"], background=-1)
    assert frame["count"].to_dict() == {np.iinfo(np.int64).min: 2, 1: 6, 2: 3}


def test_nodata_of_the_lowest_int64_is_still_no_zone():
    labels, img = _masked_lowest()
    zones = xr.DataArray(labels, dims=("y", "x"), attrs={"nodata": np.iinfo(np.int64).min})
    frame = imgstats.zonal(img, zones, ["count"], background=None)
    assert frame["count"].to_dict() == {1: 6, 2: 3}
