"""A PNG or JPEG 2000 cut short says "is truncated", whatever its bit depth.

An 8-bit PNG cut short said Pillow's "image file is truncated"; a 16-bit one, which
imagecodecs decodes, libpng's "png_read_data_fn input stream too small"; an 8-bit JPEG 2000
Pillow's "broken data stream", a deep one OpenJPEG's "opj_decode or opj_end_decompress
failed". Each now says the file is truncated and after how many bytes it ends.

So do a JPEG 2000 whose codestream box runs to the end of the file (its length 0: Pillow's
"broken data stream" before), a PNG or JPEG 2000 cut within its header (Pillow's "Expected to
read 8 bytes but only got 0", or "not an image imgstats can read"), and an APNG cut before
the frame asked for (Pillow's "image file is truncated" while seeking to it), in the
library, the CLI and the service alike.
"""

from __future__ import annotations

import os
import re

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


def _apng3(path, dtype, bands):
    values = RNG.integers(0, np.iinfo(dtype).max, (3, *SHAPE, bands)).astype(dtype)
    path.write_bytes(imagecodecs.apng_encode(values))


def _jp2(path, dtype, bands):
    values = RNG.integers(0, 200, SHAPE).astype(dtype)
    path.write_bytes(imagecodecs.jpeg2k_encode(values, level=0, codecformat="jp2"))


def _jp2_to_the_end(path, dtype, bands):
    """A JP2 whose codestream box declares length 0: it runs to the end of the file."""
    values = RNG.integers(0, 200, SHAPE).astype(dtype)
    data = imagecodecs.jpeg2k_encode(values, level=0, codecformat="jp2")
    at = data.index(b"jp2c") - 4
    path.write_bytes(data[:at] + bytes(4) + data[at + 4 :])


def _jp2_box_cut(path, dtype, kept=0.6):
    """A JP2 cut short whose codestream box's length was set to what is left of it (as a
    writer that stopped early and closed its box does): the box fits, its codestream has no
    end-of-codestream marker."""
    values = RNG.integers(0, 200, SHAPE).astype(dtype)
    data = imagecodecs.jpeg2k_encode(values, level=0, codecformat="jp2")
    held = int(len(data) * kept)
    at = data.index(b"jp2c") - 4
    path.write_bytes(data[:at] + (held - at).to_bytes(4, "big") + data[at + 4 : held])


CASES = {
    "png8": (_png, np.uint8, 1, ".png", 0, 0.6),
    "png16": (_png, np.uint16, 1, ".png", 0, 0.6),
    "png16-rgb": (_png, np.uint16, 3, ".png", 0, 0.6),
    "png16-la": (_png, np.uint16, 2, ".png", 0, 0.6),
    "apng8-frame1": (_apng, np.uint8, 3, ".png", 1, 0.8),
    "apng16-frame1": (_apng, np.uint16, 3, ".png", 1, 0.8),
    "jp2-8": (_jp2, np.uint8, 1, ".jp2", 0, 0.6),
    "jp2-16": (_jp2, np.uint16, 1, ".jp2", 0, 0.6),
    "jp2-8-box-to-the-end": (_jp2_to_the_end, np.uint8, 1, ".jp2", 0, 0.6),
    "jp2-16-box-to-the-end": (_jp2_to_the_end, np.uint16, 1, ".jp2", 0, 0.6),
    "jp2-header": (_jp2, np.uint8, 1, ".jp2", 0, 60),  # within its jp2h box
    "jp2-ftyp": (_jp2, np.uint8, 1, ".jp2", 0, 30),  # within its ftyp box
    "png-header": (_png, np.uint8, 1, ".png", 0, 20),  # within its IHDR chunk
    "apng8-frame2": (_apng3, np.uint8, 3, ".png", 2, 0.5),
    "apng16-frame2": (_apng3, np.uint16, 3, ".png", 2, 0.5),
}


@pytest.mark.parametrize("case", CASES)
def test_a_truncated_file_says_so_at_every_depth(tmp_path, case):
    write, dtype, bands, suffix, page, kept = CASES[case]
    path = tmp_path / f"cut{suffix}"
    write(path, dtype, bands)
    imgstats.compute(path, "mean", page=page)  # whole, it reads
    held = int(os.path.getsize(path) * kept) if kept < 1 else kept  # a share, or bytes
    os.truncate(path, held)
    with pytest.raises(
        UnreadableImage, match=f"is truncated: its .* data ends early, after {held} bytes"
    ):
        imgstats.compute(path, "mean", page=page)
    with open(path, "rb") as fh, pytest.raises(UnreadableImage, match="is truncated"):
        imgstats.io.read_preview(fh, 32, page=page)


@pytest.mark.parametrize("case", ["jp2-8-box-to-the-end", "jp2-header", "apng8-frame2"])
def test_the_cli_and_the_service_say_truncated_too(tmp_path, capsys, case):
    from imgstats.cli import main
    from imgstats.web import create_app

    write, dtype, bands, suffix, page, kept = CASES[case]
    path = tmp_path / f"cut{suffix}"
    write(path, dtype, bands)
    held = int(os.path.getsize(path) * kept) if kept < 1 else kept
    os.truncate(path, held)
    told = f"is truncated: its .* data ends early, after {held} bytes"
    assert main(["stats", str(path), "mean", "--page", str(page)]) == 2
    assert re.search(told, capsys.readouterr().err)
    app = create_app({"IMAGES": str(tmp_path), "TESTING": True, "WARMUP": False})
    got = app.test_client().get(f"/stats/{path.name}/mean?page={page}")
    assert got.status_code == 422
    assert re.search(told, got.get_json()["error"])


@pytest.mark.parametrize("path_", ["whole", "dask", "stream", "open_image"])
@pytest.mark.parametrize("layout", [{"rowsperstrip": 16}, {"tile": (32, 32)}])
def test_a_tiff_whose_strips_or_tiles_end_past_its_end_is_truncated(
    tmp_path, monkeypatch, path_, layout
):
    # the library said "is corrupt: ValueError: failed to read 65536 bytes, got ..." (or
    # tifffile's "corrupted strip cannot be reshaped"), on every read path
    import tifffile

    values = RNG.integers(0, 65535, (256, 256)).astype(np.uint16)
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, values, **layout)
    held = os.path.getsize(path) // 2
    os.truncate(path, held)
    window = (0, 0, 16, 16)  # its first strips or tiles are whole, and read
    assert imgstats.compute(path, "max", window=window) == values[:16, :16].max()
    kw = {"chunks": {0: 23, 1: 41}} if path_ == "dask" else {}
    if path_ == "stream":
        monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)
    told = f"is truncated: its TIFF data ends early, after {held} bytes"
    with pytest.raises(UnreadableImage, match=told):
        if path_ == "open_image":
            imgstats.open_image(path).values.max()
        else:
            imgstats.compute(path, "max", **kw)


def test_a_jp2_of_boxes_shorter_than_their_header_is_not_walked_to_its_end():
    # a JP2 signature, then 4-byte boxes (a box's header alone is 8): the walk looking
    # for where the file ends early stepped 4 bytes at a time, 0.5 s of Python per 4 MB
    import io

    from imgstats.io import _pillow

    data = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00\x00\x00\x04" * 1_000_000

    class Counted(io.BytesIO):
        reads = 0

        def read(self, *args):
            Counted.reads += 1
            return super().read(*args)

    assert _pillow.ends_early(Counted(data), "JPEG2000") is None  # corrupt, not cut short
    assert Counted.reads < 10


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_jp2_whose_codestream_box_fits_but_lacks_its_end_is_truncated(tmp_path, capsys, dtype):
    """Its box's length is explicit (not 0) and fits the file: the codestream inside still
    ends early, without its end marker (Pillow's "broken data stream", OpenJPEG's
    "opj_decode ... failed" before)."""
    from imgstats.cli import main
    from imgstats.web import create_app

    path = tmp_path / "cut.jp2"
    _jp2_box_cut(path, dtype)
    held = os.path.getsize(path)
    told = f"is truncated: its JPEG2000 data ends early, after {held} bytes"
    with pytest.raises(UnreadableImage, match=told):
        imgstats.compute(path, "mean")
    with open(path, "rb") as fh, pytest.raises(UnreadableImage, match="is truncated"):
        imgstats.io.read_preview(fh, 32)
    assert main(["stats", str(path), "mean"]) == 2
    assert re.search(told, capsys.readouterr().err)
    app = create_app({"IMAGES": str(tmp_path), "TESTING": True, "WARMUP": False})
    got = app.test_client().get(f"/stats/{path.name}/mean")
    assert got.status_code == 422
    assert re.search(told, got.get_json()["error"])
