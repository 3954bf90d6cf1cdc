"""A big label zone's summary is built from its keys slice by slice, not all at once.

Decoding every key of a zone of over 65,536 samples at once took about five uint64
temporaries per sample: one zone over a float32 image of 4M pixels (16 MB) peaked at 180 MB
of numpy arrays. tracemalloc's peak is measured; no time is asserted.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import imgstats

FUNCS = ["median", "p99", "mean"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_one_big_zone_costs_a_few_copies_of_the_image(dtype):
    rng = np.random.default_rng(0)
    img = (rng.normal(size=(2000, 2000)) * 1000).astype(dtype)
    labels = np.ones(img.shape, np.int32)
    imgstats.zonal(img[:300, :300], labels[:300, :300], FUNCS)  # compiled, caches filled
    tracemalloc.start()
    try:
        frame = imgstats.zonal(img, labels, FUNCS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    values = img.ravel()
    assert frame.loc[1, "median"] == np.median(values)
    assert frame.loc[1, "p99"] == np.percentile(values, 99)
    assert peak < 7 * img.nbytes, peak / img.nbytes
