"""A collection given as one path or glob pattern is that image or those images, not the
letters of the string: ``summarize_many("photos/*.tif")`` said "no image at p"."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import imgstats
from imgstats.collection import compute_many, summarize_many


@pytest.fixture
def folder(tmp_path):
    a = np.arange(12, dtype=np.uint16).reshape(3, 4)
    b = np.arange(100, 106, dtype=np.uint16).reshape(2, 3)
    tifffile.imwrite(tmp_path / "a.tif", a)
    tifffile.imwrite(tmp_path / "b.tif", b)
    return tmp_path, np.concatenate([a.ravel(), b.ravel()])


def test_a_pattern_string_is_the_images_it_matches(folder):
    path, values = folder
    got = summarize_many(str(path / "*.tif")).compute(["min", "median", "max"])
    assert got == {"min": 0, "median": float(np.median(values)), "max": 105}
    assert compute_many(str(path / "*.tif"), "p90") == np.percentile(values, 90)


def test_one_path_is_one_image(folder):
    path, _ = folder
    want = imgstats.compute(path / "a.tif", "median")
    assert compute_many(path / "a.tif", "median") == want
    assert compute_many(str(path / "a.tif"), "median") == want
