"""16-bit animated PNGs (APNG), as imagecodecs' ``apng_encode`` writes them: every frame
keeps its 16 bits, as a still 16-bit PNG does.

Pillow decodes a 16-bit colour (or grey-and-alpha) PNG to 8 bits, an animated one too: the
oracle is numpy on the frames written, and GDAL's masked reading (rasterio's
``read(masked=True)``) of the first frame, the picture GDAL's PNG driver reads.
"""

from __future__ import annotations

import struct
import zlib

import imagecodecs
import numpy as np
import pytest
import rasterio
from PIL import Image

import imgstats
from benchmarks.oracle import check_all
from imgstats.errors import InvalidOption, UnreadableImage

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

FUNCS = ["min", "max", "mean", "median", "p98"]
RNG = np.random.default_rng(2026_12_07)


def _frames(bands: int) -> np.ndarray:
    """Three frames of ``bands`` uint16 samples over the whole 16-bit range, some of them
    transparent (alpha 0) when the last band is alpha."""
    frames = RNG.integers(0, 65536, (3, 23, 31, bands)).astype(np.uint16)
    if bands in (2, 4):
        frames[..., -1] = np.where(RNG.random((3, 23, 31)) < 0.3, 0, frames[..., -1] | 1)
    return frames


def _valid(frame: np.ndarray) -> np.ndarray:
    """The samples imgstats and GDAL count: the colour bands of the pixels not transparent."""
    if frame.shape[-1] in (2, 4):
        return frame[..., :-1][frame[..., -1] != 0]
    return frame.ravel()


@pytest.mark.parametrize("chunks", [None, {0: 12, 1: 16}])
@pytest.mark.parametrize("page", [0, 1, 2])
@pytest.mark.parametrize("bands", [2, 3, 4])
def test_every_frame_of_a_16_bit_apng_keeps_its_16_bits(tmp_path, bands, page, chunks):
    frames = _frames(bands)
    path = tmp_path / "animated.png"
    path.write_bytes(imagecodecs.apng_encode(frames, delay=100))
    want = _valid(frames[page])
    got = imgstats.compute(path, ["count", *FUNCS], page=page, chunks=chunks)
    assert got.pop("count") == want.size
    check_all(got, want, FUNCS)
    arr = imgstats.open_image(path, page=page)
    assert arr.dtype == np.uint16
    assert np.array_equal(np.asarray(arr), frames[page].reshape(arr.shape))


@pytest.mark.parametrize("bands", [2, 3, 4])
def test_the_first_frame_is_the_picture_gdal_reads(tmp_path, bands):
    path = tmp_path / "animated.png"
    path.write_bytes(imagecodecs.apng_encode(_frames(bands), delay=100))
    with rasterio.open(path) as src:
        colour = [b + 1 for b in range(src.count) if src.colorinterp[b].name != "alpha"]
        want = np.concatenate([src.read(b, masked=True).compressed() for b in colour])
    assert want.dtype == np.uint16
    got = imgstats.compute(path, ["count", *FUNCS])
    assert got.pop("count") == want.size
    check_all(got, want, FUNCS)


def _blended_over(data: bytes, frame: int) -> bytes:
    """``data`` with the fcTL of ``frame`` blending it over the canvas (APNG_BLEND_OP_OVER)."""
    out, at, seen = bytearray(data[:8]), 8, -1
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], bytearray(data[at + 8 : at + 8 + size])
        if kind == b"fcTL":
            seen += 1
            if seen == frame:
                body[25] = 1  # blend_op, the last byte of the 26
        crc = zlib.crc32(kind + bytes(body)) & 0xFFFFFFFF
        out += struct.pack(">I", size) + kind + body + struct.pack(">I", crc)
        at += 12 + size
    return bytes(out)


def test_a_frame_blended_over_the_frames_before_it_is_refused_clearly(tmp_path):
    frames = _frames(4)
    path = tmp_path / "blended.png"
    path.write_bytes(_blended_over(imagecodecs.apng_encode(frames, delay=100), 1))
    with pytest.raises(UnreadableImage, match="frame 1 of .*blended.png.* 8 bits only"):
        imgstats.compute(path, "median", page=1)
    want = float(np.median(_valid(frames[2])))
    assert imgstats.compute(path, "median", page=2) == want  # its own alpha blends nothing


def test_a_pil_image_of_an_apng_frame_reads_its_16_bits_or_says_it_cannot(tmp_path):
    frames = _frames(3)
    path = tmp_path / "animated.png"
    path.write_bytes(imagecodecs.apng_encode(frames, delay=100))
    with Image.open(path) as img:
        img.seek(1)
        assert imgstats.compute(img, "max") == int(frames[1].max())
        img.load()  # Pillow's 8 bits
        with pytest.raises(InvalidOption, match="16-bit PNG to 8 bits"):
            imgstats.compute(img, "max")
