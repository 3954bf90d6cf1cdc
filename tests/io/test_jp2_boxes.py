"""What a JPEG 2000's header boxes say about its components, as GDAL's JP2OpenJPEG driver
reads them.

A second or fourth component is alpha only when the channel definition box (cdef) calls it
opacity: without that box (imagecodecs and OpenJPEG write none, GDAL none unless asked with
``ALPHA=YES``), and always in a bare codestream, GDAL reads it as a band like the others and
masks no pixel, where Pillow opens every such file as LA or RGBA. Three components under a
greyscale colour box (what GDAL writes for three bands of no RGB meaning, rasterio's
default) are read with imagecodecs: Pillow opens them as RGB and fails to decode them. The
oracle is GDAL's masked reading (rasterio's ``read(masked=True)``), its alpha band left out.
"""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest
import rasterio

import imgstats
from benchmarks.oracle import check_all

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

FUNCS = ["min", "max", "mean", "median", "p2"]
RNG = np.random.default_rng(2026_12_7_18)


def _gdal(path) -> tuple[np.ndarray, int]:
    """GDAL's valid samples of the bands that are not alpha, and how many of its bands are."""
    with rasterio.open(path) as src:
        colour = [b + 1 for b in range(src.count) if src.colorinterp[b].name != "alpha"]
        samples = np.concatenate([src.read(b, masked=True).compressed() for b in colour])
        return samples, src.count - len(colour)


def _transparent_last(count: int, dtype=np.uint8, top: int = 255) -> np.ndarray:
    """``(y, x, count)`` samples whose last component is 0 on a third of the pixels."""
    data = RNG.integers(0, top + 1, (33, 47, count)).astype(dtype)
    data[..., -1] = np.where(RNG.random((33, 47)) < 0.3, 0, top)
    return data


def _check(path, want: np.ndarray) -> None:
    for chunks in (None, {0: 17}):
        got = imgstats.compute(path, ["count", *FUNCS], chunks=chunks)
        assert got.pop("count") == want.size
        check_all(got, want, FUNCS)


@pytest.mark.parametrize("codec", ["JP2", "J2K"])
@pytest.mark.parametrize(("count", "bits"), [(2, 8), (4, 8), (2, 12), (4, 12)])
def test_a_last_component_not_declared_opacity_is_a_band_not_alpha(tmp_path, codec, count, bits):
    top = 2**bits - 1
    data = _transparent_last(count, np.uint8 if bits == 8 else np.uint16, top)
    path = tmp_path / f"undeclared.{codec.lower()}"
    path.write_bytes(
        imagecodecs.jpeg2k_encode(data, level=0, codecformat=codec, bitspersample=bits)
    )
    assert b"cdef" not in path.read_bytes()
    want, alphas = _gdal(path)
    assert alphas == 0 and want.size == data.size  # GDAL: every sample of every band
    _check(path, want)
    names = imgstats.open_image(path).coords["band"].values.tolist()
    assert names[-1] == str(count - 1)
    with path.open("rb") as fh:
        assert imgstats.io.read_header(fh, str(path))["bands"] == names


@pytest.mark.parametrize("count", [2, 4])
def test_a_last_component_gdal_declares_opacity_is_alpha(tmp_path, count):
    data = _transparent_last(count)
    path = tmp_path / "alpha.jp2"
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=47, height=33, count=count, dtype="uint8",
        QUALITY=100, REVERSIBLE=True, ALPHA="YES",
    ) as dst:  # fmt: skip
        dst.write(np.moveaxis(data, -1, 0))
    assert b"cdef" in path.read_bytes()
    want, alphas = _gdal(path)
    assert alphas == 1 and want.size < data[..., :-1].size  # transparent pixels left out
    _check(path, want)
    assert imgstats.open_image(path).coords["band"].values.tolist()[-1] == "A"


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_three_bands_under_a_greyscale_colour_box_are_read_as_gdal_reads_them(tmp_path, dtype):
    top = 255 if dtype == "uint8" else 4095
    data = RNG.integers(0, top + 1, (3, 33, 47)).astype(dtype)
    path = tmp_path / "grey3.jp2"
    options = {"NBITS": 12} if dtype == "uint16" else {}
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=47, height=33, count=3, dtype=dtype,
        QUALITY=100, REVERSIBLE=True, **options,
    ) as dst:  # fmt: skip
        dst.write(data)  # rasterio's bands have no colour: GDAL writes a greyscale colr box
    head = path.read_bytes()
    at = head.index(b"colr")
    assert int.from_bytes(head[at + 7 : at + 11], "big") == 17  # greyscale
    want, _ = _gdal(path)
    assert np.array_equal(np.sort(want), np.sort(data.ravel()))
    _check(path, want)
    arr = imgstats.open_image(path)
    assert arr.dtype == dtype
    assert np.array_equal(np.asarray(arr), np.moveaxis(data, 0, -1))


@pytest.mark.parametrize(("count", "colour"), [(1, 16), (2, 16), (1, 18), (3, 12), (2, 12)])
def test_a_colour_box_that_does_not_fit_the_components_is_read_as_gdal_reads_them(
    tmp_path, count, colour
):
    # Pillow decodes sRGB (16) and sYCC (18) with 3 or 4 components only, CMYK (12) with 4:
    # with others it failed ("broken data stream"); GDAL reads the samples as stored
    data = RNG.integers(0, 256, (33, 47, count)).astype(np.uint8)
    coded = imagecodecs.jpeg2k_encode(data.squeeze(), level=0, codecformat="JP2")
    at = coded.index(b"colr")
    path = tmp_path / "boxed.jp2"
    path.write_bytes(coded[: at + 7] + colour.to_bytes(4, "big") + coded[at + 11 :])
    want, alphas = _gdal(path)
    assert alphas == 0 and np.array_equal(np.sort(want), np.sort(data.ravel()))
    _check(path, want)
