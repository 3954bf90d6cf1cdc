"""A band index of a collection whose images have different bands is refused, as a band
name is: the merged summary has one band, ``all``, so ``band=0`` read it and answered the
pool of every sample (an RGB image's G and B too) as if it were band 0 of each image.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import imgstats
from imgstats.errors import InvalidOption

RNG = np.random.default_rng(14)
GREY = RNG.integers(0, 256, (30, 40), dtype=np.uint8)
RGB = RNG.integers(0, 256, (50, 20, 3), dtype=np.uint8)


@pytest.fixture
def files(tmp_path):
    Image.fromarray(GREY).save(tmp_path / "g.png")
    Image.fromarray(RGB).save(tmp_path / "rgb.png")
    return [str(tmp_path / "g.png"), str(tmp_path / "rgb.png")]


@pytest.mark.parametrize("band", [0, 1, -1, "R", "L"])
def test_a_band_of_mixed_bands_is_refused(files, band):
    with pytest.raises(InvalidOption, match=r"different bands \(\['L'\] and \['R', 'G', 'B'\]\)"):
        imgstats.compute(files, ["median", "count"], band=band)


def test_every_sample_is_still_answered(files):
    pool = np.concatenate([GREY.ravel(), RGB.ravel()])
    for band in (None, "all"):
        got = imgstats.compute(files, ["median", "count"], band=band)
        assert got == {"median": np.median(pool), "count": pool.size}


def test_band_0_of_one_band_images_is_their_samples(tmp_path):
    # single-band images of different band names: 'all' is band 0 of each, as before
    Image.fromarray(GREY).save(tmp_path / "g.png")
    other = RNG.integers(0, 60000, (7, 9)).astype(np.uint16)
    got = imgstats.compute([str(tmp_path / "g.png"), other], "median", band=0)
    assert got == np.median(np.concatenate([GREY.ravel(), other.ravel()]).astype(np.float64))
