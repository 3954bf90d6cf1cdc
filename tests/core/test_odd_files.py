"""Files other projects write: odd types, tags and encodings, each read as GDAL reads it.

Every file is written here by GDAL (through rasterio), tifffile or Pillow, the way another
project would write it, and the oracle is GDAL's masked reading (rasterio's
``read(masked=True)``), NaN left out as numpy's nan-functions leave it. Each file is read
eagerly, lazily through dask in uneven chunks and streamed tile by tile (the ``read``
fixture), and by the zones. What imgstats refuses, it refuses clearly on every route.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import rasterio
import tifffile
from PIL import Image
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin

import imgstats
from imgstats.errors import UnreadableImage
from imgstats.io import read_header

from . import test_meaning_valid
from .oracle import check_all
from .test_meaning_valid import _oracle

# rasterio 1.4 multiplies Affine objects with `*`, which affine 3.1 marks as pending deprecation
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul:PendingDeprecationWarning",
    "ignore::rasterio.errors.NotGeoreferencedWarning",
)

read = test_meaning_valid.read  # the fixture of the three read paths (eager, dask, stream)
FUNCS = ["min", "max", "mean", "median", "p2", "p98", "count"]
RNG = np.random.default_rng(2026_12_06)
H, W = 45, 70


def _check(got, want):
    """``got`` (``FUNCS``) equals numpy on the oracle's valid samples ``want``."""
    assert got.pop("count") == want.size
    check_all(got, want, FUNCS[:-1])


def _zones_check(path, want_of_zone):
    """``imgstats.zonal`` of four stripes of zones equals numpy on each zone's samples."""
    labels = ((np.arange(H)[:, None] // 5 + np.arange(W)[None, :] // 7) % 4).astype(np.uint8)
    table = imgstats.zonal(path, labels, ["min", "max", "median"], background=None)
    for zone, row in table.iterrows():
        want = want_of_zone(labels == zone)
        assert row["count"] == want.size
        assert (row["min"], row["max"]) == (want.min(), want.max())
        assert row["median"] == np.median(want.astype(np.float64))


def _halves(dtype, shape):
    values = RNG.normal(0, 300, shape).astype(dtype)
    values.flat[::53] = np.nan
    return values


# -- half floats: GDAL reads them as float32 -------------------------------------------------
def _gdal_float16(path, nodata=None):
    """A Float16 GeoTIFF as GDAL writes one (float32 data, ``NBITS=16``)."""
    data = _halves(np.float32, (1, H, W))
    if nodata is not None:
        data[:, RNG.random((H, W)) < 0.2] = nodata
    with rasterio.open(
        path, "w", driver="GTiff", width=W, height=H, count=1, dtype="float32", nbits=16,
        nodata=nodata, tiled=True, blockxsize=16, blockysize=16,
        crs="EPSG:32633", transform=from_origin(0, H, 1, 1),
    ) as dst:  # fmt: skip
        dst.write(data)
    return path


HALF_FLOATS = {
    "gdal-nbits16": lambda p: _gdal_float16(p),
    "gdal-nbits16-nodata": lambda p: _gdal_float16(p, nodata=-9999),
    "tifffile-striped": lambda p: tifffile.imwrite(p, _halves(np.float16, (H, W)), rowsperstrip=7),
    "tifffile-predictor3": lambda p: tifffile.imwrite(
        p, _halves(np.float16, (H, W)), tile=(16, 16), compression="zlib", predictor=3
    ),
    "tifffile-planar-rgb": lambda p: tifffile.imwrite(
        p, _halves(np.float16, (3, H, W)), photometric="rgb", planarconfig="separate"
    ),
}


@pytest.mark.parametrize("name", sorted(HALF_FLOATS))
def test_half_float_tiffs_are_read_as_float32_as_gdal_reads_them(tmp_path, read, name):
    # before: every route refused them ("unsupported pixel type float16: use integers,
    # float32 or float64"), though a float16 array is counted, and the zones crashed
    path = tmp_path / f"{name}.tif"
    HALF_FLOATS[name](path)
    _check(read(path, FUNCS), _oracle(path))
    with rasterio.open(path) as src:
        stack = src.read(masked=True)
    assert imgstats.open_image(path).dtype == np.float32 == stack.dtype

    def want(zone):
        v = stack[:, zone].compressed()
        return v[~np.isnan(v)]

    _zones_check(path, want)


@pytest.mark.parametrize(
    ("dtype", "stored"),
    [("complex64", "complex float32 (GDAL's CFloat32)"), ("complex128", "complex float64")],
)
@pytest.mark.parametrize("chunks", [None, (7, 11)])
def test_complex_tiffs_are_refused_on_every_route(tmp_path, dtype, stored, chunks):
    # before: compute refused them as a bad option (HTTP 400), but the zones gave complex
    # "minimums" (complex64) or crashed with a TypeError (complex128)
    path = tmp_path / "complex.tif"
    tifffile.imwrite(path, (RNG.random((H, W)) + 1j).astype(dtype))
    with pytest.raises(UnreadableImage, match=re.escape(stored) + ".*complex samples have no"):
        imgstats.compute(path, "min", chunks=chunks)
    with pytest.raises(UnreadableImage, match="complex samples have no order"):
        imgstats.zonal(path, np.ones((H, W), np.uint8), ["min"], chunks=chunks)
    with pytest.raises(UnreadableImage, match="complex samples have no order"):
        imgstats.open_image(path)


def _complex_int(path, bits: int) -> None:
    """A TIFF of complex integers of ``bits`` each (GDAL's CInt16, CInt32): CInt16 written by
    GDAL; tifffile writes complex floats only, so a complex64's SampleFormat is set to 5
    (complex int) in place for a CInt32."""
    if bits == 16:
        profile = dict(driver="GTiff", width=W, height=H, count=1, dtype="complex_int16")
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.ones((1, H, W), np.complex64))
        return
    tifffile.imwrite(path, np.ones((H, W), np.complex64))
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[0].tags["SampleFormat"]
        assert tag.count == 1 and tag.value == 6
        offset = tag.valueoffset
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(np.array(5, "<u2").tobytes())


@pytest.mark.parametrize("bits", [16, 32])
def test_complex_integer_tiffs_are_named_as_stored(tmp_path, bits):
    # before: "unsupported pixel type complex64" of a CInt16 (tifffile's dtype for it)
    path = tmp_path / "cint.tif"
    _complex_int(path, bits)
    with rasterio.open(path) as src:  # GDAL reads a complex type (rasterio has no CInt32's)
        assert src.profile["dtype"] == {16: "complex_int16", 32: "complex64"}[bits]
    said = f"complex int{bits} (GDAL's CInt{bits})"
    for call in (imgstats.compute, imgstats.open_image):
        with pytest.raises(UnreadableImage, match=re.escape(said)) as caught:
            call(path) if call is imgstats.open_image else call(path, "mean")
        assert "numpy.abs" in str(caught.value)


def test_a_complex_tiff_is_a_422_over_http(tmp_path):
    from imgstats.web import create_app

    folder = tmp_path / "images"
    folder.mkdir()
    tifffile.imwrite(folder / "c.tif", (RNG.random((H, W)) + 1j).astype(np.complex64))
    app = create_app({"IMAGES": str(folder), "TESTING": True, "WARMUP": False})
    with app.test_client() as client:
        for url in ("/stats/c.tif/mean", "/api/images/c.tif"):
            response = client.get(url)
            assert response.status_code == 422, response.get_data(as_text=True)
            assert "complex samples have no order" in response.get_json()["error"]


# -- a greyscale PNG's transparent grey: GDAL's nodata ---------------------------------------
def _grey_png(tmp_path, bits):
    """``(path, stored greys, key)`` of a grey PNG of ``bits`` with a transparent grey."""
    top = (1 << bits) - 1
    stored = RNG.integers(0, top + 1, (H, W)).astype(np.uint16 if bits == 16 else np.uint8)
    key = top if bits == 1 else top // 3
    stored[RNG.random((H, W)) < 0.2] = key
    path = tmp_path / f"grey{bits}.png"
    if bits == 1:
        Image.fromarray(stored.astype(bool)).save(path, transparency=key)
    else:
        Image.fromarray(stored).save(path, bits=min(bits, 8), transparency=key)
    return path, stored, key


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 16])
def test_the_transparent_grey_of_a_png_is_its_nodata_as_gdal_reads_it(tmp_path, read, bits):
    # before: the tRNS key was ignored, and every pixel of that grey counted
    top = (1 << bits) - 1
    path, stored, key = _grey_png(tmp_path, bits)
    step = 255 // top if bits < 8 else 1  # fewer than 8 bits are scaled to 0..255
    want = _oracle(path) * np.array(step, stored.dtype)
    assert want.size < stored.size
    _check(read(path, FUNCS), want)
    with open(path, "rb") as fh:
        facts = read_header(fh, path)
    assert (facts["nodata"], facts["mask"]) == (key * step, "nodata")
    with rasterio.open(path) as src:
        assert src.nodata == key
        stack = src.read(1, masked=True) * np.array(step, stored.dtype)
    _zones_check(path, lambda zone: stack[zone].compressed())


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 16])
def test_a_pil_image_of_a_grey_png_leaves_out_its_transparent_grey_as_its_path(tmp_path, bits):
    # before: Image.open(path) counted the key's pixels that the path leaves out (42 of 42,
    # where the path counts 33)
    path, stored, key = _grey_png(tmp_path, bits)
    want = imgstats.compute(path, [*FUNCS, "masked_pixels"])
    assert want["masked_pixels"] == (stored == key).sum()
    assert imgstats.compute(Image.open(path), [*FUNCS, "masked_pixels"]) == want
    assert imgstats.compute(Image.open(path), "count", raw=True) == stored.size


# -- a nodata tag names a stored sample -------------------------------------------------------
NODATA_OF_STORED = {  # name: (dtype, NBITS, photometric, nodata, stored sample -> value)
    "1-bit": ("uint8", 1, "MINISBLACK", 1, lambda v: v * 255),
    "2-bit": ("uint8", 2, "MINISBLACK", 2, lambda v: v * 85),
    "4-bit": ("uint8", 4, "MINISBLACK", 3, lambda v: v * 17),
    "4-bit-miniswhite": ("uint8", 4, "MINISWHITE", 3, lambda v: (15 - v) * 17),
    "8-bit-miniswhite": ("uint8", None, "MINISWHITE", 7, lambda v: 255 - v),
    "16-bit-miniswhite": ("uint16", None, "MINISWHITE", 700, lambda v: 65535 - v),
    "int16-miniswhite": ("int16", None, "MINISWHITE", -9999, lambda v: -1 - v),
    "float32-miniswhite": ("float32", None, "MINISWHITE", -9999, lambda v: -v),
}


@pytest.mark.parametrize("name", sorted(NODATA_OF_STORED))
def test_a_nodata_tag_leaves_out_the_stored_samples_gdal_leaves_out(tmp_path, read, name):
    # before: the tag was compared with the scaled or inverted values, so a 1-bit image with
    # nodata 1 counted every pixel (its 1s read as 255) and a MINISWHITE one counted the
    # nodata pixels and left out their inverse
    dtype, nbits, photometric, nodata, value = NODATA_OF_STORED[name]
    top = (1 << (nbits or 8)) - 1 if np.dtype(dtype).kind == "u" else 5000
    stored = RNG.integers(0, top + 1, (1, H, W)).astype(dtype)
    stored[:, RNG.random((H, W)) < 0.2] = nodata
    path = tmp_path / f"{name}.tif"
    extra = {"nbits": nbits} if nbits else {}
    with rasterio.open(
        path, "w", driver="GTiff", width=W, height=H, count=1, dtype=dtype, nodata=nodata,
        photometric=photometric, tiled=True, blockxsize=16, blockysize=16, **extra,
    ) as dst:  # fmt: skip
        dst.write(stored)
    with rasterio.open(path) as src:
        gdal = src.read(1, masked=True)
    assert 0 < gdal.count() < stored.size
    want = value(gdal.compressed()).astype(imgstats.open_image(path).dtype)
    _check(read(path, FUNCS), want)
    _zones_check(path, lambda zone: value(gdal[zone].compressed()))


@pytest.mark.parametrize(
    ("text", "nodata"),
    [("1e3", 1000), ("+5", 5), (" 5\x00", 5), ("-0", 0), ("1_000", 1), ("abc", 0)],
)
def test_a_nodata_text_is_a_number_only_where_c_reads_one(tmp_path, text, nodata):
    # before: "1_000", which Python's float() reads as 1000 and GDAL as 1 (the number at the
    # start of the text), left the 1000s out; "abc" is GDAL's 0
    stored = (np.arange(H * W) % 1001).astype(np.uint16).reshape(H, W)
    path = tmp_path / "nodata.tif"
    tifffile.imwrite(path, stored, extratags=[(42113, "s", 0, text, True)])
    want = stored[stored != nodata] if nodata is not None else stored.ravel()
    assert imgstats.compute(path, "count") == want.size
    with open(path, "rb") as fh:
        assert read_header(fh, path)["nodata"] == nodata


def test_a_tile_over_the_pixel_limit_is_refused_whatever_the_image_size(tmp_path):
    # before: a 10 x 10 image of one 4096 x 4096 tile of compressed zeros (a 16 kB file)
    # passed the bomb check of its declared 100 pixels, and each read decoded the whole tile:
    # 16 MB here, 4 GB for a 65520 x 65520 tile of a 4 MB file
    import struct

    path = tmp_path / "tile.tif"
    tifffile.imwrite(path, np.zeros((4096, 4096), np.uint8), tile=(4096, 4096), compression="zlib")
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        for code in (256, 257):  # ImageWidth, ImageLength: 10 pixels each
            tag = tif.pages[0].tags[code]
            struct.pack_into({3: "<H", 4: "<I"}[tag.dtype], data, tag.valueoffset, 10)
    path.write_bytes(bytes(data))
    for chunks in (None, 5):
        with pytest.raises(imgstats.ImageTooLarge, match="tiles of 4096x4096"):
            imgstats.compute(path, "max", pixel_limit=1_000_000, chunks=chunks)
    with pytest.raises(imgstats.ImageTooLarge, match="tiles of"):
        imgstats.open_image(path, pixel_limit=1_000_000)
    # within the limit, a tile of 16.8 M pixels still holds far more than its 100-pixel image
    with pytest.raises(imgstats.ImageTooLarge, match="for an image of 100"):
        imgstats.compute(path, "max", pixel_limit=1 << 24)


@pytest.mark.parametrize(
    ("shape", "tile", "refused"),
    [
        ((10, 10), (256, 256), False),  # GDAL's default block on a tiny image
        ((100, 30), (2048, 2048), False),  # up to TILE_SLACK whatever the image
        ((1500, 1500), (2048, 4096), False),  # four times the image's pixels at most
        ((10, 10), (2048, 4096), True),
        ((1000, 1000), (4096, 4096), True),
    ],
)
def test_a_tile_may_overhang_its_image_but_not_dwarf_it(tmp_path, shape, tile, refused):
    import struct

    path = tmp_path / "tile.tif"
    tifffile.imwrite(path, np.full(tile, 3, np.uint8), tile=tile, compression="zlib")
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        for code, size in ((256, shape[1]), (257, shape[0])):  # ImageWidth, ImageLength
            tag = tif.pages[0].tags[code]
            struct.pack_into({3: "<H", 4: "<I"}[tag.dtype], data, tag.valueoffset, size)
    path.write_bytes(bytes(data))
    if refused:
        with pytest.raises(imgstats.ImageTooLarge, match="decompression bomb"):
            imgstats.compute(path, "max")
    else:
        assert imgstats.compute(path, ["max", "count"]) == {"max": 3, "count": shape[0] * shape[1]}


def test_a_mask_tile_over_the_pixel_limit_is_refused(tmp_path):
    # the internal mask is decoded tile by tile beside the image: the same bomb
    import struct

    path = tmp_path / "mask.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.ones((10, 10), np.uint8), tile=(16, 16))
        tif.write(np.zeros((4096, 4096), np.uint8), tile=(4096, 4096), subfiletype=1,
                  compression="zlib")  # fmt: skip
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:  # the image's 10 x 10, and a mask (tifffile writes none)
        for code, value in ((256, 10), (257, 10), (254, 4)):
            tag = tif.pages[1].tags[code]
            struct.pack_into({3: "<H", 4: "<I"}[tag.dtype], data, tag.valueoffset, value)
    path.write_bytes(bytes(data))
    with pytest.raises(imgstats.ImageTooLarge, match="tiles of 4096x4096"):
        imgstats.compute(path, "max", pixel_limit=1_000_000)
    with pytest.raises(imgstats.ImageTooLarge, match="for an image of 100"):
        imgstats.compute(path, "count", pixel_limit=1 << 24)  # within the limit, yet a bomb


# -- an extra sample is alpha only when the file says so -------------------------------------
def _without_extrasamples(path):
    """``path`` with its ExtraSamples tag renamed to an unknown private tag (as old writers
    leave it out), in place."""
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].tags["ExtraSamples"].offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 2] = (65000).to_bytes(2, "little")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("extra", ["unspecified", "no-tag"])
def test_a_fourth_rgb_sample_that_is_not_alpha_counts_as_gdal_reads_it(
    tmp_path, read, dtype, extra
):
    # before: it was named "A" and taken for alpha: its 0s hid their pixels' colours, and
    # its own samples were never pooled
    rgbx = RNG.integers(0, 4, (H, W, 4)).astype(dtype)  # many 0s in the fourth sample
    path = tmp_path / f"rgbx-{extra}.tif"
    tifffile.imwrite(path, rgbx, photometric="rgb", extrasamples=["unspecified"], tile=(16, 16))
    if extra == "no-tag":
        _without_extrasamples(path)
    with rasterio.open(path) as src:
        assert src.colorinterp[3] == rasterio.enums.ColorInterp.undefined
    want = _oracle(path)
    assert want.size == rgbx.size
    _check(read(path, FUNCS), want)
    img = imgstats.open_image(path)
    assert img.coords["band"].values.tolist() == ["R", "G", "B", "3"]
    with open(path, "rb") as fh:
        assert read_header(fh, path)["mask"] is None
    _zones_check(path, lambda zone: rgbx[zone].ravel())


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("extra", ["assocalpha", "unassalpha"])
@pytest.mark.parametrize("photometric", ["rgb", "minisblack"])
def test_an_associated_alpha_is_alpha_as_gdal_reads_it(tmp_path, read, dtype, extra, photometric):
    # premultiplied (associated) alpha, as Photoshop and libvips write it, and unassociated
    # alpha alike: alpha 0 is transparent, and the colours are the stored (premultiplied)
    # ones, which GDAL does not divide either
    samples = 4 if photometric == "rgb" else 2
    data = RNG.integers(1, 200, (H, W, samples)).astype(dtype)
    data[..., -1] = RNG.choice([0, 1, 255], (H, W))
    path = tmp_path / f"{photometric}-{extra}.tif"
    tifffile.imwrite(path, data, photometric=photometric, extrasamples=[extra], tile=(16, 16))
    with rasterio.open(path) as src:
        assert src.colorinterp[-1] == rasterio.enums.ColorInterp.alpha
    want = _oracle(path)
    assert want.size == (data[..., -1] != 0).sum() * (samples - 1)
    _check(read(path, FUNCS), want)
    assert imgstats.open_image(path).coords["band"].values.tolist()[-1] == "A"


@pytest.mark.parametrize(
    ("photometric", "extras", "names"),
    [
        ("rgb", ["unassalpha", "unspecified"], ["R", "G", "B", "A", "4"]),
        ("rgb", ["unspecified", "unassalpha"], ["R", "G", "B", "3", "A"]),
        ("rgb", ["assocalpha", "unspecified"], ["R", "G", "B", "A", "4"]),
        ("minisblack", ["unassalpha", "unspecified"], ["L", "A", "2"]),
        ("minisblack", ["unspecified", "unassalpha"], ["L", "1", "A"]),
        # two alphas: both are GDAL's alpha; they were numbered (R, G, B too) and pooled
        ("rgb", ["unassalpha", "unassalpha"], ["R", "G", "B", "A", "A4"]),
        ("minisblack", ["assocalpha", "unassalpha"], ["L", "A", "A2"]),
    ],
)
def test_an_alpha_among_several_extra_samples_is_not_pooled_and_masks_nothing(
    tmp_path, read, photometric, extras, names
):
    # before: the bands were numbered 0, 1, ... and the alpha sample pooled as a colour (its
    # 0s and 255s in every median); GDAL names it alpha but gives the file no mask from it
    colours = 3 if photometric == "rgb" else 1
    data = RNG.integers(1, 200, (H, W, colours + 2)).astype(np.uint8)
    alphas = [b for b, name in enumerate(names) if name.startswith("A")]
    for at in alphas:
        data[..., at] = RNG.choice([0, 255], (H, W))
    path = tmp_path / "extras.tif"
    tifffile.imwrite(path, data, photometric=photometric, extrasamples=extras, tile=(16, 16))
    with rasterio.open(path) as src:
        assert [src.colorinterp[at] for at in alphas] == [ColorInterp.alpha] * len(alphas)
        assert all(flags == [rasterio.enums.MaskFlags.all_valid] for flags in src.mask_flag_enums)
    want = _oracle(path)  # every pixel of every band but alpha
    assert want.size == H * W * (colours + 2 - len(alphas))
    _check(read(path, FUNCS), want)
    for at in alphas:
        assert read(path, ["count", "max"], band=names[at]) == {"count": H * W, "max": 255}
    img = imgstats.open_image(path)
    assert img.coords["band"].values.tolist() == names
    assert imgstats.compute(img, "count") == want.size
    with open(path, "rb") as fh:
        assert read_header(fh, path)["mask"] is None
    others = [b for b in range(colours + 2) if b not in alphas]
    _zones_check(path, lambda zone: data[zone][:, others].ravel())


# -- 16-bit colour PNGs: the 16 bits the file holds --------------------------------------------
@pytest.mark.parametrize("bands", [("R", "G", "B"), ("R", "G", "B", "A"), ("L", "A")])
def test_16_bit_colour_pngs_keep_16_bits_as_gdal_reads_them(tmp_path, read, bands):
    # before: Pillow's 8-bit high bytes were counted: a 16-bit alpha under 256 was taken
    # for 0 (transparent), and a grey-and-alpha PNG became RGBA, its greys pooled three times
    import imagecodecs

    values = RNG.integers(0, 65536, (H, W, len(bands))).astype(np.uint16)
    if bands[-1] == "A":
        values[..., -1][RNG.random((H, W)) < 0.3] = 0
        values[..., -1][RNG.random((H, W)) < 0.2] = 200  # opaque enough, but 0 in 8 bits
    path = tmp_path / "wide.png"
    path.write_bytes(imagecodecs.png_encode(values))
    _check(read(path, FUNCS), _oracle(path))
    img = imgstats.open_image(path)
    assert img.dtype == np.uint16 and img.coords["band"].values.tolist() == list(bands)
    with open(path, "rb") as fh:
        facts = read_header(fh, path)
    assert (facts["bands"], facts["dtype"]) == (list(bands), "uint16")
    with rasterio.open(path) as src:
        colour = src.read(masked=True)[: 3 if bands[0] == "R" else 1]
    _zones_check(path, lambda zone: colour[:, zone].compressed())


# -- binary PGM and PPM of another maxval than 255 ---------------------------------------------
@pytest.mark.parametrize("maxval", [1, 100, 300, 4095, 65535])
@pytest.mark.parametrize("bands", [1, 3])
def test_pgm_and_ppm_of_any_maxval_are_read_with_numpy_as_pillow_scales_them(
    tmp_path, monkeypatch, maxval, bands
):
    # before: Pillow decoded them one sample at a time in Python (about 4 s a megapixel: a
    # large one held a worker for minutes), and a PPM of 16 bits to 8 bits (its high byte)
    from PIL import PpmImagePlugin

    def no_python_loop(self, buffer):
        raise AssertionError("decoded sample by sample by Pillow")

    stored = RNG.integers(0, maxval + 1, (H, W, bands)[: 3 if bands > 1 else 2])
    path = tmp_path / "img.pnm"
    magic = b"P6" if bands > 1 else b"P5"
    samples = stored.astype(">u2" if maxval > 255 else "u1").tobytes()
    path.write_bytes(magic + b"\n%d %d\n%d\n" % (W, H, maxval) + samples)
    pillow = np.asarray(Image.open(path))
    top = 65535 if maxval > 255 else 255
    want = np.minimum(np.round(stored / maxval * top), top)  # as Pillow scales a PGM
    if bands == 1 or maxval <= 255:
        assert (pillow == want).all()
    monkeypatch.setattr(PpmImagePlugin.PpmDecoder, "decode", no_python_loop)
    img = imgstats.open_image(path)
    assert img.dtype == (pillow.dtype if bands == 1 or maxval <= 255 else np.uint16)
    assert (img.values == want).all()
    _check(imgstats.compute(path, FUNCS), img.values.ravel())
    with open(path, "rb") as fh:
        assert read_header(fh, path)["dtype"] == str(img.dtype)
    path.write_bytes(path.read_bytes()[:-1])  # one byte short
    with pytest.raises(UnreadableImage, match="truncated"):
        imgstats.compute(path, "max")


@pytest.mark.parametrize("maxval", [1, 200, 300, 4095])
def test_pgm_samples_over_maxval_are_clamped_as_pillow_clamps_them(tmp_path, maxval):
    stored = RNG.integers(0, 65536 if maxval > 255 else 256, (H, W))  # most over maxval
    path = tmp_path / "over.pgm"
    samples = stored.astype(">u2" if maxval > 255 else "u1").tobytes()
    path.write_bytes(b"P5\n%d %d\n%d\n" % (W, H, maxval) + samples)
    pillow = np.asarray(Image.open(path))
    assert (imgstats.open_image(path).values == pillow).all()


def test_a_12_bit_pgm_is_scaled_without_float_copies_of_it(tmp_path):
    # before: round(v / maxval * 65535) on every sample held two float64 copies of the
    # image at once (a 6000 x 6000 12-bit PGM: 657 MB resident for a 72 MB file, 364 after)
    import tracemalloc

    from imgstats.io._pillow import pnm_samples

    side = 1000
    stored = (np.arange(side * side) % 4096).astype(">u2")
    path = tmp_path / "big.pgm"
    path.write_bytes(b"P5\n%d %d\n4095\n" % (side, side) + stored.tobytes())
    with Image.open(path) as img:
        tracemalloc.start()
        try:
            out = pnm_samples(img, path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    want = np.minimum(np.round(stored.astype(np.float64) / 4095 * 65535), 65535)
    assert (out.ravel() == want).all()
    # the file's bytes (2 a sample), the int32 answer (4) and a table of 65,536 values
    assert peak < side * side * 8


# -- an RGB PNG's transparent colour: GDAL's per-dataset nodata -------------------------------
def _rgb_png_with_key(path, values, key):
    """Write an RGB PNG of 8- or 16-bit ``values`` with the tRNS colour ``key`` (Pillow
    writes no 16-bit RGB)."""
    import struct
    import zlib

    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    bits = values.dtype.itemsize * 8
    rows = b"".join(b"\0" + row.astype(f">u{bits // 8}").tobytes() for row in values)
    header = struct.pack(">IIBBBBB", values.shape[1], values.shape[0], bits, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tRNS", struct.pack(">HHH", *key))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_the_transparent_colour_of_an_rgb_png_is_left_out_as_gdal_reads_it(tmp_path, read, dtype):
    # before: every pixel of that colour counted; a 16-bit one (decoded by imagecodecs, which
    # gives the key as a fourth sample) had its 0/65535 alpha pooled with R, G and B
    values = (RNG.integers(0, 4, (H, W, 3)) * 60).astype(dtype)  # the key's colour is common
    key = tuple(int(v) for v in values[0, 0])
    path = tmp_path / "keyed.png"
    _rgb_png_with_key(path, values, key)
    want = _oracle(path)
    assert want.size < values.size
    _check(read(path, FUNCS), want)
    img = imgstats.open_image(path)
    assert img.dtype == dtype and img.coords["band"].values.tolist() == ["R", "G", "B", "A"]
    with open(path, "rb") as fh:
        facts = read_header(fh, path)
    assert (facts["bands"], facts["mask"]) == (["R", "G", "B", "A"], "alpha")
    with rasterio.open(path) as src:
        colour = src.read(masked=True)
    _zones_check(path, lambda zone: colour[:, zone].compressed())


# -- formats whose mode Pillow learns while decoding -------------------------------------------
def test_an_icns_file_gives_the_pixels_pillow_decodes_on_every_path(tmp_path, read):
    # an ICNS file opens as RGBA and loads as RGB (its largest icon is a PNG of the picture):
    # before, numpy.asarray of the image not yet loaded gave pixels of neither mode (255
    # where the picture was black), so a lazy read through dask answered wrong numbers
    picture = np.zeros((32, 32, 3), np.uint8)
    picture[8:24, 8:24] = RNG.integers(0, 100, (16, 16, 3))
    path = tmp_path / "icon.icns"
    Image.fromarray(picture).save(path)
    with Image.open(path) as img:
        img.load()
        want = np.asarray(img)
    assert want.shape[-1] == 3 and want.max() < 255
    _check(read(path, FUNCS), want.ravel())
    assert imgstats.open_image(path, chunks=16).shape == want.shape


def _grey_then_palette_gif(path):
    """An animation whose first frame is grey (Pillow reads it as L) and whose second frame
    has a palette of its own (greys in another order)."""
    first = Image.fromarray(RNG.integers(0, 256, (H, W)).astype(np.uint8))
    second = Image.fromarray(RNG.integers(0, 200, (H, W)).astype(np.uint8), mode="P")
    second.putpalette([int(v) for c in RNG.permutation(256) for v in (c, c, c)])
    first.save(path, save_all=True, append_images=[second], optimize=False)
    return path


@pytest.mark.parametrize("chunks", [None, 16])
def test_a_gif_frame_pillow_decodes_as_neither_colours_nor_indices_is_refused(tmp_path, chunks):
    # Pillow decodes such a frame's palette indices into a greyscale image it calls P, whose
    # pixels numpy cannot take ("No packer found from P to L") and whose loaded pixels are
    # the indices as grey levels: the refusal now says so, and no path reads the indices
    path = _grey_then_palette_gif(tmp_path / "anim.gif")
    assert imgstats.compute(path, "count", page=0, chunks=chunks) == H * W
    with pytest.raises(UnreadableImage, match="frame 1 of .* cannot be decoded: Pillow"):
        imgstats.compute(path, "max", page=1, chunks=chunks)
    with pytest.raises(UnreadableImage, match="frame 1 of"):
        imgstats.io.read_preview(path, 64, page=1)


def test_a_mask_page_is_no_image_of_its_own(tmp_path):
    """GDAL writes a TIFF's internal mask as a page of its own (NewSubfileType 4): asked for
    by ``page=``, it is refused by name, not summarized as if it were an image of 0 and 255.
    rasterio (GDAL) writes the file."""
    rasterio = pytest.importorskip("rasterio")
    path = tmp_path / "masked.tif"
    data = np.arange(64 * 64, dtype=np.uint16).reshape(1, 64, 64)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(
            path, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint16",
            tiled=True, blockxsize=16, blockysize=16,
        ) as dst:  # fmt: skip
            dst.write(data)
            dst.write_mask(np.arange(64)[None, :].repeat(64, 0) < 40)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 2 and tif.pages[1].subfiletype & 4
    with pytest.raises(imgstats.InvalidOption, match="page 1 .* is a mask of another page"):
        imgstats.compute(path, "count", page=1)
    assert imgstats.compute(path, "count", page=0) == 64 * 40


@pytest.mark.parametrize("orientation", [3, 6, 8])
@pytest.mark.parametrize("fmt", ["tif", "png", "jpg"])
def test_an_exif_orientation_is_not_applied_as_gdal_reads_it(tmp_path, read, fmt, orientation):
    # a camera's rotation tag (TIFF Orientation, a JPEG's or PNG's EXIF): GDAL and Pillow's
    # Image.open read the pixels as stored, and so do imgstats' regions, zones and thumbnails
    import io

    from imgstats.web._thumbs import render

    stored = (np.arange(H * W, dtype=np.uint32).reshape(H, W) % 251).astype(np.uint8)
    path = tmp_path / f"turned.{fmt}"
    if fmt == "tif":
        tifffile.imwrite(path, stored, extratags=[(274, "H", 1, orientation, True)])
    else:
        exif = Image.Exif()
        exif[274] = orientation
        Image.fromarray(stored).save(path, exif=exif, **({"quality": 100} if fmt == "jpg" else {}))
    with rasterio.open(path) as src:  # GDAL: as stored, whatever the tag
        values = src.read(1)
    assert values.shape == (H, W)
    if fmt != "jpg":
        assert (values == stored).all()
    assert imgstats.open_image(path).shape == (H, W)
    window = (3, 1, 9, 30)  # tall and narrow: a turned image would not hold it
    got = read(path, FUNCS, window=window)
    _check(got, values[1:30, 3:9])
    polygon = [(3, 1), (9, 1), (9, 30), (3, 30)]
    _check(imgstats.compute(path, FUNCS, polygon=polygon), values[1:30, 3:9])
    zones = np.zeros((H, W), np.uint8)
    zones[1:30, 3:9] = 1
    table = imgstats.zonal(path, zones, ["max"])
    assert table.loc[1, "max"] == values[1:30, 3:9].max()
    with open(path, "rb") as fh:
        thumb = Image.open(io.BytesIO(render(fh, 64)))
    assert thumb.size == (64, round(64 * H / W))  # as stored: wider than tall


# -- LERC: GDAL's float rasters with NaN --------------------------------------------------------
@pytest.mark.parametrize("bands", [1, 3])
@pytest.mark.parametrize("compress", ["lerc", "lerc_deflate", "lerc_zstd"])
@pytest.mark.parametrize("tiled", [True, False])
def test_a_lerc_tiff_s_nan_are_nan_as_gdal_reads_them(tmp_path, read, bands, compress, tiled):
    # LERC stores NaN in a mask of valid pixels: tifffile gave them 0, counted as data (count
    # 5,120 where GDAL's valid samples are 4,720), and read a pixel-interleaved tile that GDAL
    # stores band by band (its bands' NaN in other places) as interleaved: other bands' values
    data = RNG.normal(size=(bands, H, W)).astype(np.float32)
    data[:, :5] = np.nan
    data[-1, 10:12, 3:40] = np.nan  # the last band's own NaN
    data[0, 20, 3:7] = 0  # real zeros stay
    path = tmp_path / "lerc.tif"
    profile = dict(driver="GTiff", width=W, height=H, count=bands, dtype="float32")
    blocks = dict(tiled=True, blockxsize=16, blockysize=16) if tiled else {}
    with rasterio.open(path, "w", **profile, compress=compress, max_z_error=0, **blocks) as dst:
        dst.write(data)
    _check(read(path, FUNCS), _oracle(path))
    for b in range(bands):
        want = _oracle(path, b)
        assert want.size == np.count_nonzero(~np.isnan(data[b]))
        _check(read(path, FUNCS, band=b), want)
