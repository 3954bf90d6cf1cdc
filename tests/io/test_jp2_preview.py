"""A JPEG 2000's preview (the gallery's thumbnails) is decoded at a reduced resolution level
of its codestream, as GDAL reads the file's overviews, not decoded whole and strided.

The oracle is GDAL's overview of the same size (rasterio's ``open(path, overview_level=k)``):
the wavelet's low-pass samples of that level, which no striding of the full image gives.
A 4000 x 4000 12-bit file's thumbnail took 5.6 s and 110 MB decoded whole, 0.15 s and 9 MB
at its level (see the commit).
"""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest
import rasterio

import imgstats
from imgstats.io import read_preview

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

RNG = np.random.default_rng(2026_12_7_183)


def _picture(count: int, lo: int, hi: int, dtype) -> np.ndarray:
    """``(count, 600, 520)`` smooth stripes with noise, between ``lo`` and ``hi``."""
    x = np.arange(520) / 50.0
    base = (np.sin(x) + 1) / 2 * (hi - lo - 40) + lo
    noise = RNG.integers(0, 40, (count, 600, 520))
    return (base + noise).astype(dtype)


def _overview(path, shape) -> np.ndarray:
    """GDAL's overview of ``shape`` ``(y, x[, band])``."""
    level = 0
    while True:
        with rasterio.open(path, overview_level=level) as src:
            arr = np.moveaxis(src.read(), 0, -1)
        arr = arr[..., 0] if arr.shape[-1] == 1 else arr
        if arr.shape == shape or arr.shape[0] < shape[0]:
            return arr
        level += 1


@pytest.mark.parametrize(
    ("dtype", "bits", "lo", "hi"),
    [("uint16", 12, 0, 4096), ("uint16", 16, 0, 65536), ("int16", 16, -2000, 2000)],
)
def test_one_deep_component_is_previewed_at_a_level_of_its_codestream(
    tmp_path, dtype, bits, lo, hi
):
    data = _picture(1, lo, hi, dtype)
    path = tmp_path / "deep.jp2"
    options = {"NBITS": bits} if bits < 16 else {}
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=520, height=600, count=1, dtype=dtype,
        QUALITY=100, REVERSIBLE=True, **options,
    ) as dst:  # fmt: skip
        dst.write(data)
    arr, bands = read_preview(path, 100)
    assert arr.shape == (150, 130) and bands == ("L",)  # two levels down: 600 -> 150
    want = _overview(path, arr.shape)
    assert arr.dtype == want.dtype == np.dtype(dtype)
    assert np.array_equal(arr, want)


@pytest.mark.parametrize("count", [1, 3, 4])
def test_an_8_bit_jp2_is_previewed_at_a_level_with_its_band_names(tmp_path, count):
    data = np.moveaxis(_picture(count, 0, 256, np.uint8), 0, -1).squeeze()
    path = tmp_path / "eight.jp2"
    path.write_bytes(imagecodecs.jpeg2k_encode(data, level=0, codecformat="JP2"))
    arr, bands = read_preview(path, 100)
    assert arr.shape[:2] == (150, 130)
    assert np.array_equal(arr, _overview(path, arr.shape))
    with path.open("rb") as fh:  # a fourth component that no cdef box calls opacity: band 3
        assert list(bands) == imgstats.io.read_header(fh, str(path))["bands"]


def _tiles_of(codestream: bytes) -> tuple[bytes, list[bytes], bytes]:
    """A codestream's main header, its tile-parts (SOT to the next) and what follows."""
    at = codestream.index(b"\xff\x90")
    main, parts = codestream[:at], []
    while codestream[at : at + 2] == b"\xff\x90":
        length = int.from_bytes(codestream[at + 6 : at + 10], "big")
        parts.append(codestream[at : at + length])
        at += length
    return main, parts, codestream[at:]


def _cod(main: bytes) -> bytes:
    """The COD marker segment of a main header."""
    at = main.index(b"\xff\x52")
    return main[at : at + 2 + int.from_bytes(main[at + 2 : at + 4], "big")]


def test_a_tile_of_fewer_levels_than_the_main_header_is_previewed(tmp_path):
    # the main header's COD says 5 levels, the second tile's own COD 1: the preview asked
    # OpenJPEG to drop 2 and failed ("broken data stream when reading image file"); GDAL
    # reads its overview of one level dropped
    import io

    from PIL import Image

    yy, xx = np.mgrid[0:256, 0:512]
    values = ((xx + yy) % 256).astype(np.uint8)

    def encode(resolutions):
        out = io.BytesIO()
        Image.fromarray(values).save(
            out, "JPEG2000", no_jp2=True, tile_size=(256, 256), num_resolutions=resolutions
        )
        return out.getvalue()

    main, parts, end = _tiles_of(encode(6))
    few_main, few_parts, _ = _tiles_of(encode(2))
    second = few_parts[1][:12] + _cod(few_main) + few_parts[1][12:]  # after SOT: its own COD
    second = second[:6] + len(second).to_bytes(4, "big") + second[10:]  # Psot
    path = tmp_path / "tiles.j2k"
    path.write_bytes(main + parts[0] + second + end)
    assert (imgstats.open_image(path).values == values).all()  # the file is whole
    arr, _ = read_preview(path, 128)
    assert arr.shape == (128, 256)  # one level dropped, the most its second tile has
    assert (arr == _overview(path, arr.shape)).all()
    assert read_preview(path, 16)[0].shape == (16, 32)


def _hostile_codestream(tile_parts: bytes) -> bytes:
    """A 4096 x 4096 grey codestream's main header (COD of 5 levels), then ``tile_parts``."""
    import struct

    siz = struct.pack(">HIIIIIIIIH", 0, 4096, 4096, 0, 0, 32, 32, 0, 0, 1) + bytes([7, 1, 1])
    main = b"\xff\x4f\xff\x51" + struct.pack(">H", 2 + len(siz)) + siz
    cod = b"\xff\x52" + struct.pack(">H", 12) + bytes([0, 0, 0, 1, 0, 5, 4, 4, 0, 0])
    return main + cod + tile_parts + b"\xff\xd9"


class _CountedFile:
    """A file that counts its reads and the bytes they return."""

    def __init__(self, fp):
        self.fp, self.reads, self.bytes = fp, 0, 0

    def read(self, n=-1):
        self.reads += 1
        out = self.fp.read(n)
        self.bytes += len(out)
        return out

    def seek(self, *args):
        return self.fp.seek(*args)

    def tell(self):
        return self.fp.tell()


@pytest.mark.parametrize("parts", [1, 8192])
def test_tile_part_headers_without_their_data_are_read_within_bounds(tmp_path, parts):
    # 65,536 tile-parts of a SOT (Psot 26) and a COD, no SOD: the headers were read marker
    # by marker through the next tile-parts' (1,024 each), a preview took 189 s
    import io
    import struct

    from imgstats.io import _pillow

    cod = b"\xff\x52" + struct.pack(">H", 12) + bytes([0, 0, 0, 1, 0, 5, 4, 4, 0, 0])
    sot = b"".join(b"\xff\x90" + struct.pack(">HHIBB", 10, i, 26, 0, 1) + cod for i in range(parts))
    data = _hostile_codestream(sot)
    first = data.index(b"\xff\x90")
    counted = _CountedFile(io.BytesIO(data))
    assert _pillow._tile_part_levels(counted, first, 1) == [0]  # no SOD: drop no level
    assert counted.reads <= 4 and counted.bytes <= 64
    assert _pillow._jp2_levels(data, (4096, 4096), 64, io.BytesIO(data)) == 0


@pytest.mark.parametrize("lcod", [0, 1, 2, 3, 60000])
def test_a_tile_part_marker_of_an_impossible_length_drops_no_level(tmp_path, lcod):
    # a tile-part COD with Lcod 0 read(-2): a bare ValueError, a 500 on /thumbs; Lcod 1
    # read(-1), the rest of the file, once per tile-part
    import io
    import struct

    from imgstats.io import _pillow

    bad = b"\xff\x52" + struct.pack(">H", lcod)
    sot = b"\xff\x90" + struct.pack(">HHIBB", 10, 0, 0, 0, 1)
    data = _hostile_codestream(sot + bad + b"\0" * 64)
    first = data.index(b"\xff\x90")
    counted = _CountedFile(io.BytesIO(data))
    assert _pillow._tile_part_levels(counted, first, 1) == [0]
    assert counted.bytes <= len(data)
    path = tmp_path / f"cod{lcod}.j2k"
    path.write_bytes(data)
    with pytest.raises(imgstats.errors.ImgStatsError):  # the decode says what is wrong
        read_preview(path, 64)
