"""A PNG or JPEG 2000 cut short says "is truncated", whatever its bit depth.

An 8-bit PNG cut short said Pillow's "image file is truncated"; a 16-bit one, which
imagecodecs decodes, libpng's "png_read_data_fn input stream too small"; an 8-bit JPEG 2000
Pillow's "broken data stream", a deep one OpenJPEG's "opj_decode or opj_end_decompress
failed". Each now says the file is truncated and after how many bytes it ends.
"""

from __future__ import annotations

import os

import imagecodecs
import numpy as np
import pytest
from PIL import Image

import imgstats
from imgstats.errors import UnreadableImage

RNG = np.random.default_rng(18)
SHAPE = (120, 160)


def _png(path, dtype, bands):
    values = RNG.integers(0, np.iinfo(dtype).max, SHAPE + ((bands,) if bands > 1 else ()))
    if dtype == np.uint8 and bands == 1:
        Image.fromarray(values.astype(dtype)).save(path)  # Pillow's own PNG
    else:
        path.write_bytes(imagecodecs.png_encode(values.astype(dtype)))


def _apng(path, dtype, bands):
    values = RNG.integers(0, np.iinfo(dtype).max, (2, *SHAPE, bands)).astype(dtype)
    path.write_bytes(imagecodecs.apng_encode(values))


def _jp2(path, dtype, bands):
    values = RNG.integers(0, 200, SHAPE).astype(dtype)
    path.write_bytes(imagecodecs.jpeg2k_encode(values, level=0, codecformat="jp2"))


CASES = {
    "png8": (_png, np.uint8, 1, ".png", 0, 0.6),
    "png16": (_png, np.uint16, 1, ".png", 0, 0.6),
    "png16-rgb": (_png, np.uint16, 3, ".png", 0, 0.6),
    "png16-la": (_png, np.uint16, 2, ".png", 0, 0.6),
    "apng8-frame1": (_apng, np.uint8, 3, ".png", 1, 0.8),
    "apng16-frame1": (_apng, np.uint16, 3, ".png", 1, 0.8),
    "jp2-8": (_jp2, np.uint8, 1, ".jp2", 0, 0.6),
    "jp2-16": (_jp2, np.uint16, 1, ".jp2", 0, 0.6),
}


@pytest.mark.parametrize("case", CASES)
def test_a_truncated_file_says_so_at_every_depth(tmp_path, case):
    write, dtype, bands, suffix, page, kept = CASES[case]
    path = tmp_path / f"cut{suffix}"
    write(path, dtype, bands)
    imgstats.compute(path, "mean", page=page)  # whole, it reads
    held = int(os.path.getsize(path) * kept)
    os.truncate(path, held)
    with pytest.raises(
        UnreadableImage, match=f"is truncated: its .* data ends early, after {held} bytes"
    ):
        imgstats.compute(path, "mean", page=page)
    with open(path, "rb") as fh, pytest.raises(UnreadableImage, match="is truncated"):
        imgstats.io.read_preview(fh, 32, page=page)
