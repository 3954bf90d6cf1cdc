"""uint64 label ids up to 2**64 - 1 (S2 cell ids, hashes) are zones: they were refused above
2**63 - 1 ("labels above 2**63 - 1 are not supported"). They are counted as int64 in the same
order (the top bit flipped) and given back as uint64 ids; numpy is the oracle.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile

import imgstats
from imgstats.errors import InvalidOption

RNG = np.random.default_rng(64)
IMG = RNG.integers(0, 5000, (60, 70)).astype(np.uint16)
IDS = np.array([0, 1, 2**63 - 1, 2**63, 12345678901234567890, 2**64 - 1], np.uint64)
LABELS = RNG.choice(IDS, IMG.shape)


def _check(frame, image, labels, background=0):
    want = [int(z) for z in np.unique(labels) if background is None or z != background]
    assert frame.index.tolist() == want and frame.index.dtype == np.uint64
    for z in want:
        values = image[labels == np.uint64(z)]
        row = frame.loc[np.uint64(z)]
        assert row["count"] == values.size
        assert row["median"] == np.median(values) and row["max"] == values.max()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("chunks", [None, (17, 23)])
@pytest.mark.parametrize("background", [0, None, 2**64 - 1, -1])
def test_uint64_ids_are_zones(dtype, chunks, background):
    image, labels = IMG.astype(dtype), LABELS
    if chunks is not None:
        image, labels = da.from_array(image, chunks=chunks), da.from_array(labels, chunks=chunks)
    frame = imgstats.zonal(image, labels, ["median", "max"], background=background)
    _check(frame, IMG.astype(dtype), LABELS, None if background == -1 else background)


def test_a_uint64_label_raster_with_nodata(tmp_path):
    path = tmp_path / "labels.tif"
    tifffile.imwrite(path, LABELS, extratags=[(42113, "s", 0, "12345678901234567890", True)])
    frame = imgstats.zonal(IMG, str(path), ["median", "max"])
    kept = np.where(LABELS == np.uint64(12345678901234567890), np.uint64(0), LABELS)
    _check(frame, IMG, kept)


@pytest.mark.parametrize("chunks", [None, (17, 23)])
def test_label_0_beside_unlabelled_pixels_is_named_as_given(chunks):
    # background=None marks unlabelled pixels with the lowest int64, which is uint64's 0
    labels = np.ma.masked_array(LABELS, mask=LABELS == np.uint64(2**63))
    if chunks is not None:
        labels = da.from_array(labels, chunks=chunks, asarray=False)
    with pytest.raises(InvalidOption, match=r"the label 0 \(of uint64 labels\) cannot be a zone"):
        imgstats.zonal(IMG, labels, ["median"], background=None)
