"""JPEG 2000 files of 9 to 16 bits a sample, as GDAL's JP2OpenJPEG driver and imagecodecs
write them: their samples as stored, as GDAL reads them.

Pillow reads one such component scaled to 16 bits (a 12-bit 7 as 112) and several cut to
8 bits; the oracle is GDAL's masked reading (rasterio's ``read(masked=True)``), the colour
bands pooled and the alpha band left out, and numpy on the samples written.
"""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest
import rasterio
from PIL import Image

import imgstats
from benchmarks.oracle import check_all
from imgstats.errors import InvalidOption

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

FUNCS = ["min", "max", "mean", "median", "p2"]
RNG = np.random.default_rng(2026_12_07)


def _gdal(path) -> np.ndarray:
    """GDAL's valid samples of the colour bands."""
    with rasterio.open(path) as src:
        colour = [b + 1 for b in range(src.count) if src.colorinterp[b].name != "alpha"]
        return np.concatenate([src.read(b, masked=True).compressed() for b in colour])


@pytest.mark.parametrize("chunks", [None, {0: 17}])
@pytest.mark.parametrize("count", [1, 2, 3, 4])
@pytest.mark.parametrize("bits", [10, 12, 16])
def test_a_jp2_of_more_than_8_bits_gives_its_samples_as_gdal_reads_them(
    tmp_path, bits, count, chunks
):
    data = RNG.integers(0, 2**bits, (count, 33, 47)).astype(np.uint16)
    alpha = count in (2, 4)
    if alpha:  # a transparent third of the pixels, the others opaque
        data[-1] = np.where(RNG.random((33, 47)) < 0.3, 0, 2**bits - 1)
    path = tmp_path / "deep.jp2"
    options = {"NBITS": bits} if bits < 16 else {}
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=47, height=33, count=count, dtype="uint16",
        QUALITY=100, REVERSIBLE=True, ALPHA="YES" if alpha else "NO", **options,
    ) as dst:  # fmt: skip
        dst.write(data)
    want = _gdal(path)
    assert want.dtype == np.uint16 and int(want.max()) < 2**bits
    got = imgstats.compute(path, ["count", *FUNCS], chunks=chunks)
    assert got.pop("count") == want.size
    check_all(got, want, FUNCS)
    arr = imgstats.open_image(path)
    assert arr.dtype == np.uint16
    assert np.array_equal(np.asarray(arr), np.moveaxis(data, 0, -1).reshape(arr.shape))


@pytest.mark.parametrize("count", [1, 3])
def test_a_signed_jp2_gives_its_negative_samples_as_gdal_reads_them(tmp_path, count):
    data = RNG.integers(-2000, 2000, (count, 33, 47)).astype(np.int16)  # a DEM's, say
    path = tmp_path / "signed.jp2"
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=47, height=33, count=count, dtype="int16",
        QUALITY=100, REVERSIBLE=True,
    ) as dst:  # fmt: skip
        dst.write(data)
    want = _gdal(path)
    assert want.dtype == np.int16 and want.min() < 0
    got = imgstats.compute(path, ["count", *FUNCS])
    assert got.pop("count") == want.size
    check_all(got, want, FUNCS)
    assert imgstats.open_image(path).dtype == np.int16


@pytest.mark.parametrize("photometric", [None, "RGB"])
@pytest.mark.parametrize("bits", [1, 4, 7])
def test_a_jp2_of_fewer_than_8_bits_gives_its_samples_as_gdal_reads_them(
    tmp_path, bits, photometric
):
    # Pillow shifts them up: a 4-bit 15 as 240, a 1-bit 1 as 128 (neither 15 nor 255)
    count = 1 if photometric is None else 3
    data = RNG.integers(0, 2**bits, (count, 33, 47)).astype(np.uint8)
    path = tmp_path / "shallow.jp2"
    options = {"PHOTOMETRIC": photometric} if photometric else {}
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=47, height=33, count=count, dtype="uint8",
        QUALITY=100, REVERSIBLE=True, NBITS=bits, **options,
    ) as dst:  # fmt: skip
        dst.write(data)
    want = _gdal(path)
    assert np.array_equal(np.sort(want), np.sort(data.ravel()))
    got = imgstats.compute(path, ["count", *FUNCS])
    assert got.pop("count") == want.size
    check_all(got, want, FUNCS)


def test_a_12_bit_j2k_codestream_gives_its_samples_as_stored(tmp_path):
    data = RNG.integers(0, 4096, (30, 40)).astype(np.uint16)
    path = tmp_path / "deep.j2k"
    path.write_bytes(imagecodecs.jpeg2k_encode(data, level=0, codecformat="J2K", bitspersample=12))
    got = imgstats.compute(path, ["count", *FUNCS])
    assert got.pop("count") == data.size
    check_all(got, data.ravel(), FUNCS)


def test_a_pil_image_of_a_deep_jp2_reads_its_samples_or_says_it_cannot(tmp_path):
    data = RNG.integers(0, 4096, (30, 40)).astype(np.uint16)
    path = tmp_path / "deep.jp2"
    path.write_bytes(imagecodecs.jpeg2k_encode(data, level=0, codecformat="JP2", bitspersample=12))
    with Image.open(path) as img:
        assert imgstats.compute(img, "max") == int(data.max())  # from its file, as stored
        img.load()  # Pillow's values: scaled to 16 bits
        with pytest.raises(InvalidOption, match="JPEG 2000 of more than 8 bits"):
            imgstats.compute(img, "max")
