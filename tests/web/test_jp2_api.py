"""JPEG 2000 files in the store: listed, their statistics GDAL's (rasterio's masked
reading), and their thumbnails rendered from a reduced resolution level of the codestream
(``tests/io/test_jp2_preview.py``)."""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest
import rasterio

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

RNG = np.random.default_rng(2026_12_7_184)


def _deep(path) -> None:
    """A 12-bit one-band JP2, as GDAL writes it."""
    data = RNG.integers(0, 4096, (1, 300, 260)).astype(np.uint16)
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=260, height=300, count=1, dtype="uint16",
        QUALITY=100, REVERSIBLE=True, NBITS=12,
    ) as dst:  # fmt: skip
        dst.write(data)


def _undeclared(path) -> None:
    """A 4-component 8-bit J2K codestream, its last component 0 on a third of the pixels."""
    data = RNG.integers(0, 256, (40, 50, 4)).astype(np.uint8)
    data[..., 3] = np.where(RNG.random((40, 50)) < 0.3, 0, 255)
    path.write_bytes(imagecodecs.jpeg2k_encode(data, level=0, codecformat="J2K"))


@pytest.mark.parametrize(("name", "write"), [("deep.jp2", _deep), ("four.j2k", _undeclared)])
def test_a_jpeg_2000_is_listed_counted_as_gdal_counts_it_and_shown(client, images, name, write):
    write(images / name)
    assert name in client.get("/api/images").get_json()["images"]
    with rasterio.open(images / name) as src:
        want = sum(int(src.read(b + 1, masked=True).count()) for b in range(src.count))
        top = max(int(src.read(b + 1).max()) for b in range(src.count))
    r = client.get(f"/stats/{name}/count")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["value"] == want
    assert client.get(f"/stats/{name}/max").get_json()["value"] == top
    r = client.get(f"/thumbs/{name}")
    assert r.status_code == 200 and r.mimetype == "image/webp"
