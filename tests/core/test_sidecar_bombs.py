"""A ``.msk`` sidecar is held to the bomb rules of the image's own tiles and mask page."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tifffile

import imgstats
from benchmarks.masked_tiff import MSK_TAGS


def _with_size(path, width, height):
    """``path`` with its first page's ImageWidth and ImageLength rewritten, in place."""
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        for code, value in ((256, width), (257, height)):
            tag = tif.pages[0].tags[code]
            struct.pack_into({3: "<H", 4: "<I"}[tag.dtype], data, tag.valueoffset, value)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("chunks", [None, 5])
def test_a_sidecar_tile_over_the_limits_is_refused(tmp_path, chunks):
    # before: the sidecar's one 4096 x 4096 tile of compressed zeros (a 16 kB file) was
    # decoded whole for a 10 x 10 image, past the pixel limit and the tile rule that refuse
    # the same tile in the image or its internal mask (4 GB for a 65520 x 65520 tile)
    image = tmp_path / "img.tif"
    tifffile.imwrite(image, np.ones((10, 10), np.uint8))
    sidecar = tmp_path / "img.tif.msk"
    tifffile.imwrite(
        sidecar,
        np.zeros((4096, 4096), np.uint8),
        tile=(4096, 4096),
        compression="zlib",
        extratags=MSK_TAGS,
    )
    _with_size(sidecar, 10, 10)
    with pytest.raises(imgstats.ImageTooLarge, match="tiles of 4096x4096"):
        imgstats.compute(image, "count", pixel_limit=1_000_000, chunks=chunks)
    with pytest.raises(imgstats.ImageTooLarge, match="decompression bomb"):
        imgstats.compute(image, "count", chunks=chunks)


def test_a_sidecar_of_many_planes_or_another_size_is_refused_before_decoding(tmp_path):
    image = tmp_path / "img.tif"
    tifffile.imwrite(image, np.ones((10, 10), np.uint8))
    sidecar = tmp_path / "img.tif.msk"
    tifffile.imwrite(sidecar, np.zeros((64, 10, 10), np.uint8), planarconfig="separate",
                     photometric="minisblack", extratags=MSK_TAGS)  # fmt: skip
    with pytest.raises(imgstats.ImageTooLarge, match="mask of 6,400 samples"):
        imgstats.compute(image, "count")
    tifffile.imwrite(sidecar, np.full((20, 10), 255, np.uint8), extratags=MSK_TAGS)
    with pytest.raises(imgstats.UnreadableImage, match=r"its mask is \(10, 20\) pixels"):
        imgstats.compute(image, "count")
    tifffile.imwrite(sidecar, np.full((10, 10), 255, np.uint8), extratags=MSK_TAGS)
    assert imgstats.compute(image, "count") == 100
