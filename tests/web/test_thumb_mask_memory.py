"""A thumbnail of a large masked TIFF reads its dataset mask lazily, one sampled row at a
time: what it shows equals the whole mask sampled, and tracemalloc's peak stays far below the
mask's size (a bool array of the whole mask is what the old code held). No time is asserted."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from benchmarks.masked_tiff import mask_rows, write_big_masked
from imgstats.io._mask import MaskArray
from imgstats.web._thumbs import _resized, dataset_mask

SIDE = 8192  # a whole bool mask: 64 MiB


@pytest.fixture(scope="module", params=["internal", "sidecar"])
def masked(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("thumbmask") / "big.tif"
    write_big_masked(path, SIDE, request.param, dtype=np.uint8)
    return path, request.param


def _lazy(path, kind):
    with open(path, "rb") as fh:
        return dataset_mask(fh, str(path), kind)


@pytest.mark.parametrize("shape", [(256, 256), (300, 200), (1, 1)])
def test_the_lazy_mask_sampled_equals_the_whole_mask_sampled(masked, shape):
    mask = _lazy(*masked)
    assert isinstance(mask, MaskArray)
    whole = np.repeat(mask_rows(range(SIDE))[:, None], SIDE, axis=1)
    assert np.array_equal(_resized(mask, shape), _resized(whole, shape))


def test_a_thumbnail_mask_holds_a_row_not_the_mask(masked):
    mask = _lazy(*masked)
    tracemalloc.start()
    try:
        got = _resized(mask, (512, 512))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.shape == (512, 512) and got.any() and not got.all()
    assert peak < SIDE * SIDE // 4, f"{peak / 2**20:.0f} MiB for a {SIDE}^2 mask"


def test_an_array_mask_of_the_preview_shape_is_returned_as_bool():
    mask = np.array([[1, 0], [0, 1]], np.uint8)
    out = _resized(mask, (2, 2))
    assert out.dtype == bool and np.array_equal(out, mask.astype(bool))
