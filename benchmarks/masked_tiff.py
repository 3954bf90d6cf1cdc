"""Large tiled TIFFs with a dataset mask tiled unlike the image, small on disk.

What the memory tests (``tests/core/test_polygon_memory.py``, the hostile tier) and
``bench_region_memory.py`` read: a ``side`` x ``side`` image in 256 x 256 zlib tiles of one
repeated pattern (``arange % 251``: its max is 250), and a mask whose bands of 512 rows are
masked every third band, as an internal mask page in 512 x 128 tiles or a ``.msk`` sidecar in
tiles of 16 full rows (tifffile writes strips only from whole pages, which would hold the
mask in memory). The triangle ``(0, 0), (side, 0), (0, side)`` has known counts on it.
"""

from __future__ import annotations

import numpy as np
import tifffile

#: Rows of the mask's bands: rows y with (y // 512) % 3 == 1 are masked across the image.
MASK_BAND = 512
KINDS = ("plain", "internal", "sidecar")


#: The GDAL_METADATA tag GDAL writes in a ``.msk`` it makes (``write_mask`` of a dataset):
#: without its ``INTERNAL_MASK_FLAGS_1``, GDAL (and so imgstats) reads no mask from the file.
MSK_FLAGS = '<GDALMetadata><Item name="INTERNAL_MASK_FLAGS_1">2</Item></GDALMetadata>'
MSK_TAGS = [(42112, "s", 0, MSK_FLAGS, True)]  # tifffile's extratags= of a .msk


def mask_rows(rows: range) -> np.ndarray:
    """Which of ``rows`` the mask keeps (True: valid)."""
    return (np.arange(rows.start, rows.stop) // MASK_BAND) % 3 != 1


def write_big_masked(path, side: int, kind: str, dtype=np.uint16) -> None:
    """Write the image at ``path`` with a mask of ``kind`` (``"plain"``: none)."""
    tile = (np.arange(256 * 256) % 251).astype(dtype).reshape(256, 256)

    def mask_tiles(rows: int, cols: int):
        for r in range(side // rows):
            keep = mask_rows(range(r * rows, (r + 1) * rows))
            for _ in range(side // cols):
                yield np.repeat(keep[:, None], cols, axis=1)

    with tifffile.TiffWriter(path, bigtiff=side > 16384) as tw:
        tw.write(
            (tile for _ in range((side // 256) ** 2)),
            shape=(side, side),
            dtype=dtype,
            tile=(256, 256),
            compression="zlib",
        )
        if kind == "internal":
            tw.write(
                mask_tiles(512, 128),
                shape=(side, side),
                dtype=bool,
                tile=(512, 128),
                subfiletype=4,
                compression="zlib",
            )
    if kind == "sidecar":
        tifffile.imwrite(
            f"{path}.msk",
            mask_tiles(16, side),
            shape=(side, side),
            dtype=bool,
            tile=(16, side),
            compression="zlib",
            extratags=MSK_TAGS,
        )


def triangle(side: int) -> list[list[int]]:
    """The triangle over half of the image: ``(0, 0), (side, 0), (0, side)``."""
    return [[0, 0], [side, 0], [0, side]]


def triangle_counts(side: int, kind: str = "internal") -> tuple[int, int]:
    """``(valid, masked)`` pixels of :func:`triangle` on the image of ``kind``: row y holds
    ``side - y`` pixel centres of it (x + y + 1 <= side: a centre on the hypotenuse, its
    right edge, is inside, as GDAL fills a scanline)."""
    per_row = side - np.arange(side)
    if kind == "plain":
        return int(per_row.sum()), 0
    keep = mask_rows(range(side))
    return int(per_row[keep].sum()), int(per_row[~keep].sum())
