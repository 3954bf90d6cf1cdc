"""Reading images (issue 2): Pillow formats, TIFF/BigTIFF through tifffile, bad images, limits.

The oracle for every file is numpy on what Pillow or tifffile decode (palette expanded,
bilevel as 0/255), and for statistics the oracle of ``oracle.py``.
"""

from __future__ import annotations

import http.server
import os
import threading
import tracemalloc

import dask.array as da
import imagecodecs
import numpy as np
import pytest
import tifffile
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, features

import imgstats
from imgstats import ImageNotFound, ImageTooLarge, UnreadableImage

from .oracle import check_all, colour_bands, gdal_valid, png_declaring

FUNCS = ["min", "max", "mean", "median", "p0.5", "p99.5"]
PILLOW_FILES = [
    "rgb.png",
    "rgba.png",
    "grey.png",
    "grey16.png",
    "la.png",
    "rgb.jpg",
    "grey.jpg",
    "rgb.bmp",
    "rgb.webp",
    "lossy.webp",
    "palette.png",
    "palette.gif",
    "transparent.gif",
    "transparent.png",
    "bilevel.png",
    "bilevel.bmp",
]


@pytest.mark.parametrize("name", PILLOW_FILES)
def test_pillow_formats_read_as_numpy_sees_them(rng_images, name):
    folder, expected = rng_images
    if name not in expected:
        pytest.skip("Pillow built without WebP")
    want = expected[name]
    img = imgstats.open_image(folder / name)
    assert isinstance(img, xr.DataArray)
    assert img.dims == (("y", "x") if want.ndim == 2 else ("y", "x", "band"))
    assert img.dtype == want.dtype
    np.testing.assert_array_equal(img.values, want)
    for source in (folder / name, str(folder / name), (folder / name).as_uri()):
        check_all(imgstats.compute(source, FUNCS), gdal_valid(want), FUNCS)


@pytest.mark.parametrize(
    ("name", "mode", "bands"),
    [
        ("rgb.png", "RGB", ["R", "G", "B"]),
        ("rgba.png", "RGBA", ["R", "G", "B", "A"]),
        ("la.png", "LA", ["L", "A"]),
        ("palette.png", "P", ["R", "G", "B"]),
        ("palette.gif", "P", ["R", "G", "B"]),
        ("transparent.gif", "P", ["R", "G", "B", "A"]),  # palette + transparency -> RGBA
        ("transparent.png", "P", ["R", "G", "B", "A"]),
    ],
)
def test_band_names_come_from_the_image_mode(rng_images, name, mode, bands):
    folder, expected = rng_images
    with Image.open(folder / name) as raw:
        assert raw.mode == mode
    img = imgstats.open_image(folder / name)
    assert img.coords["band"].values.tolist() == bands
    whole = expected[name]
    for i, band in enumerate(bands):
        want = whole[..., i]
        if band != "A" and "A" in bands:  # transparent pixels are not valid in colour bands
            want = want[whole[..., bands.index("A")] != 0]
        check_all(imgstats.compute(folder / name, FUNCS, band=band), want, FUNCS)
        assert imgstats.compute(folder / name, "max", band=i) == want.max()


def test_bilevel_images_become_0_and_255(rng_images):
    folder, expected = rng_images
    with Image.open(folder / "bilevel.png") as raw:
        assert raw.mode == "1"
        values = imgstats.compute(raw, ["min", "max", "mean"])
    assert values["min"] == 0 and values["max"] == 255
    assert imgstats.compute(folder / "bilevel.png", ["min", "max"]) == {"min": 0, "max": 255}
    assert set(np.unique(expected["bilevel.png"]).tolist()) == {0, 255}
    check_all(values, expected["bilevel.png"], ["min", "max", "mean"])


def test_16_bit_greyscale_png_keeps_16_bits(rng_images):
    folder, expected = rng_images
    with Image.open(folder / "grey16.png") as raw:
        assert raw.mode in ("I;16", "I")
    img = imgstats.open_image(folder / "grey16.png")
    assert expected["grey16.png"].max() > 255
    check_all(imgstats.compute(img, FUNCS), expected["grey16.png"], FUNCS)
    assert imgstats.summarize(img).missing(FUNCS) == []


def test_greyscale_band_name_is_the_same_for_a_path_and_a_pil_image(rng_images):
    folder, expected = rng_images
    with Image.open(folder / "grey16.png") as raw:
        (name,) = raw.getbands()
        assert imgstats.compute(raw, "max", band=name) == expected["grey16.png"].max()
    assert imgstats.compute(folder / "grey16.png", "max", band=name) == expected["grey16.png"].max()
    assert imgstats.open_image(folder / "grey16.png").attrs["band"] == name


def test_greyscale_tiff_band_is_named_l(tmp_path):
    arr = _tiff_data("uint16", (6, 7), seed=4)
    path = tmp_path / "grey.tif"
    tifffile.imwrite(path, arr)
    assert imgstats.open_image(path).attrs["band"] == "L"
    assert imgstats.compute(path, "max", band="L") == arr.max()


@pytest.mark.parametrize("name", PILLOW_FILES)
def test_pil_images_are_accepted(rng_images, name):
    folder, expected = rng_images
    if name not in expected:
        pytest.skip("Pillow built without WebP")
    with Image.open(folder / name) as raw:
        check_all(imgstats.compute(raw, FUNCS), gdal_valid(expected[name]), FUNCS)


# -- luma -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["rgb.png", "rgba.png", "rgb.jpg", "palette.gif", "transparent.gif", "rgb.webp"]
)
def test_luma_equals_pillow_l_conversion(rng_images, name):
    folder, expected = rng_images
    if name not in expected:
        pytest.skip("Pillow built without WebP")
    with Image.open(folder / name) as raw:
        img = raw.convert("RGBA" if "transparency" in raw.info or raw.mode == "RGBA" else "RGB")
    want = np.asarray(img.convert("L"))
    if img.mode == "RGBA":  # the luma of the pixels that are not transparent
        want = want[np.asarray(img)[..., 3] != 0]
    for source in (folder / name, img, imgstats.open_image(folder / name, chunks=(7, 11, 2))):
        check_all(imgstats.compute(source, FUNCS, band="luma"), want, FUNCS)


def test_luma_of_every_colour_channel_combination():
    # Every (R, G, B) corner and a grid through the cube: the fixed-point formula to the bit.
    levels = np.array([0, 1, 2, 63, 64, 127, 128, 129, 191, 253, 254, 255], np.uint8)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    rgb = np.stack([r, g, b], axis=-1).reshape(-1, len(levels), 3)
    for arr in (rgb, np.concatenate([rgb, rgb[..., :1]], axis=-1)):
        mode = "RGB" if arr.shape[-1] == 3 else "RGBA"
        want = np.asarray(Image.fromarray(arr, mode).convert("L"))
        summary = imgstats.summarize(arr)
        values, counts = summary.histogram(band="luma")
        got = np.repeat(values, counts)
        np.testing.assert_array_equal(got, np.sort(want.ravel()))


# -- TIFF -----------------------------------------------------------------------------------------
TIFF_DTYPES = ["uint8", "uint16", "int16", "int32", "uint32", "float32", "float64"]
COMPRESSIONS = [None, "zlib", "deflate", "lzw"] + (["zstd"] if imagecodecs.ZSTD.available else [])


def _tiff_data(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        arr = rng.normal(0, 1000, shape).astype(dt)
        arr.flat[::97] = np.nan
        return arr
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)


# Every dtype x compression; layout and TIFF/BigTIFF alternate so each dtype gets all four.
TIFF_CASES = [
    (dtype, compression, ("striped", "tiled")[i % 2], bool((i // 2) % 2))
    for i, (dtype, compression) in enumerate((d, c) for d in TIFF_DTYPES for c in COMPRESSIONS)
]


@pytest.mark.parametrize(
    ("dtype", "compression", "layout", "bigtiff"),
    TIFF_CASES,
    ids=["-".join(map(str, case)) for case in TIFF_CASES],
)
def test_tiff_matches_tifffile(tmp_path, dtype, compression, layout, bigtiff):
    arr = _tiff_data(dtype, (45, 70))
    path = tmp_path / "image.tif"
    layout_kw = {"tile": (16, 32)} if layout == "tiled" else {"rowsperstrip": 7}
    tifffile.imwrite(path, arr, compression=compression, bigtiff=bigtiff, **layout_kw)
    want = tifffile.imread(path)
    np.testing.assert_array_equal(want, arr)
    eager = imgstats.open_image(path)
    assert eager.dims == ("y", "x") and not isinstance(eager.data, da.Array)
    for chunks in ("auto", (13, 29)):
        lazy = imgstats.open_image(path, chunks=chunks)
        assert isinstance(lazy.data, da.Array)
        np.testing.assert_array_equal(lazy.values, want)
        check_all(imgstats.compute(lazy, FUNCS), want, FUNCS)
    check_all(imgstats.compute(path, FUNCS), want, FUNCS)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("planar", [False, True], ids=["contig", "planar"])
def test_rgb_tiff_bands(tmp_path, dtype, planar):
    arr = _tiff_data(dtype, (3, 33, 40) if planar else (33, 40, 3), seed=1)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(
        path,
        arr,
        photometric="rgb",
        planarconfig="separate" if planar else None,
        tile=(16, 16),
        compression="zlib",
    )
    yxs = np.moveaxis(arr, 0, -1) if planar else arr
    for chunks in (None, "auto", (10, 17, 3)):
        img = imgstats.open_image(path, chunks=chunks)
        assert img.dims == ("y", "x", "band") and img.shape == yxs.shape
        check_all(imgstats.compute(img, FUNCS), yxs, FUNCS)
        for i in range(3):
            check_all(imgstats.compute(img, FUNCS, band=i), yxs[..., i], FUNCS)
    if dtype == "uint8":
        want = np.asarray(Image.fromarray(np.ascontiguousarray(yxs)).convert("L"))
        check_all(imgstats.compute(path, FUNCS, band="luma"), want, FUNCS)


@pytest.mark.parametrize("planar", [False, True], ids=["contig", "planar"])
def test_rgb_tiff_band_names(tmp_path, planar):
    arr = _tiff_data("uint8", (3, 8, 9) if planar else (8, 9, 3), seed=2)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, arr, photometric="rgb", planarconfig="separate" if planar else None)
    img = imgstats.open_image(path)
    assert img.coords["band"].values.tolist() == ["R", "G", "B"]
    yxs = np.moveaxis(arr, 0, -1) if planar else arr
    assert imgstats.compute(path, "max", band="G") == yxs[..., 1].max()


@pytest.mark.parametrize(
    ("shape", "options", "bands"),
    [
        ((4, 8, 9), {"photometric": "rgb", "planarconfig": "separate"}, ["R", "G", "B", "A"]),
        (
            (3, 8, 9),
            {"photometric": "rgb", "planarconfig": "separate", "metadata": {"axes": "CYX"}},
            ["R", "G", "B"],
        ),
        # three planar samples of a greyscale image are not colours
        ((3, 8, 9), {"photometric": "minisblack", "planarconfig": "separate"}, ["0", "1", "2"]),
    ],
    ids=["planar-rgba", "cyx-rgb", "planar-minisblack"],
)
def test_planar_tiff_band_names_follow_photometric(tmp_path, shape, options, bands):
    arr = _tiff_data("uint8", shape, seed=2)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, arr, **options)
    assert imgstats.open_image(path).coords["band"].values.tolist() == bands
    assert imgstats.compute(path, "max", band=bands[-1]) == arr[-1].max()


def test_large_tiffs_are_read_lazily_by_default(tmp_path, monkeypatch):
    import imgstats.io

    arr = _tiff_data("uint16", (300, 200), seed=3)
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, arr, tile=(64, 64), compression="zlib")
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 10_000)  # "large" = over 10 kB here
    monkeypatch.setattr(imgstats.io._limits, "CHUNK_BYTES", 40_000)
    img = imgstats.open_image(path)
    assert isinstance(img.data, da.Array) and img.data.npartitions > 1
    # chunks are whole multiples of the 64 x 64 tiles (except at the edges)
    assert all(c % 64 == 0 for c in img.data.chunks[0][:-1] + img.data.chunks[1][:-1])
    check_all(imgstats.compute(img, FUNCS), arr, FUNCS)
    check_all(imgstats.compute(path, FUNCS), arr, FUNCS)


def test_gallery_images_match_numpy():
    from imgstats.data import gallery_path

    gallery = gallery_path()
    for path in sorted(gallery.iterdir()):
        if path.suffix == ".tif":
            want = tifffile.imread(path)
        elif path.suffix in (".jpg", ".png"):
            with Image.open(path) as raw:
                want = np.asarray(raw.convert("RGB") if raw.mode == "P" else raw)
        else:
            continue
        check_all(imgstats.compute(path, FUNCS), gdal_valid(want), FUNCS)


# -- sources ----------------------------------------------------------------------------------
def test_http_urls(rng_images, http_folder):
    folder, expected = rng_images
    served, base = http_folder
    (served / "rgb.png").write_bytes((folder / "rgb.png").read_bytes())
    check_all(imgstats.compute(f"{base}/rgb.png", FUNCS), expected["rgb.png"], FUNCS)
    arr = _tiff_data("float32", (40, 50), seed=4)
    tifffile.imwrite(served / "f.tif", arr, tile=(16, 16), compression="zlib")
    lazy = imgstats.open_image(f"{base}/f.tif", chunks="auto")
    assert isinstance(lazy.data, da.Array)
    check_all(imgstats.compute(lazy, FUNCS), arr, FUNCS)
    (served / "notes.txt").write_text("not an image\n" * 20)
    with pytest.raises(UnreadableImage):
        imgstats.compute(f"{base}/notes.txt", "min")
    with pytest.raises(ImageNotFound):
        imgstats.compute(f"{base}/missing.png", "min")
    with pytest.raises(ImageNotFound):
        imgstats.open_image(f"{base}/missing.tif", chunks="auto")


def test_s3_urls(rng_images, s3_store):
    folder, expected = rng_images
    client, options = s3_store
    client.put_object(Bucket="imgs", Key="a/rgb.png", Body=(folder / "rgb.png").read_bytes())
    arr = _tiff_data("int16", (40, 30), seed=5)
    path = folder.parent / "s3.tif"
    tifffile.imwrite(path, arr, tile=(16, 16))
    client.put_object(Bucket="imgs", Key="a/i.tif", Body=path.read_bytes())
    check_all(
        imgstats.compute("s3://imgs/a/rgb.png", FUNCS, storage_options=options),
        expected["rgb.png"],
        FUNCS,
    )
    lazy = imgstats.open_image("s3://imgs/a/i.tif", chunks=(16, 20), storage_options=options)
    assert isinstance(lazy.data, da.Array)
    check_all(imgstats.compute(lazy, FUNCS), arr, FUNCS)
    with pytest.raises(ImageNotFound):
        imgstats.compute("s3://imgs/a/missing.png", "min", storage_options=options)


# -- bad images -------------------------------------------------------------------------------
def _jpeg_bytes():
    import io

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(
        buf, "JPEG", quality=90
    )
    return buf.getvalue()


def _tiff_bytes(**kw):
    import io

    buf = io.BytesIO()
    tifffile.imwrite(buf, _tiff_data("uint8", (128, 128)), **kw)
    return buf.getvalue()


BAD = {
    "empty.png": b"",
    "text.jpg": b"just some text, not an image at all\n" * 4,
    "one_byte.png": b"\x89",
    "truncated.jpg": _jpeg_bytes()[:1200],
    "jpeg_header_only.jpg": _jpeg_bytes()[:2],
    "garbage_after_png_signature.png": b"\x89PNG\r\n\x1a\n" + b"\x00\x13" * 100,
    "truncated.png": png_declaring(50, 50)[:40],
    "no_pixel_data.png": png_declaring(64, 64),
    "tiff_magic_then_garbage.tif": b"II*\x00" + b"\xff" * 200,
    "bigtiff_magic_then_garbage.tif": b"II+\x00" + b"\x07" * 200,
    "truncated.tif": _tiff_bytes(compression="zlib", tile=(32, 32))[:3000],
}


@pytest.mark.parametrize("chunks", [None, "auto"])
@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_raise_unreadable_image(tmp_path, name, chunks):
    path = tmp_path / name
    path.write_bytes(BAD[name])
    with pytest.raises(UnreadableImage):
        imgstats.compute(path, "median", chunks=chunks)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("missing.png", ImageNotFound),
        ("missing_dir/missing.tif", ImageNotFound),
        (".", UnreadableImage),  # a folder
        ("file:///nonexistent-imgstats/x.png", ImageNotFound),
    ],
)
def test_missing_sources(tmp_path, monkeypatch, source, error):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error):
        imgstats.compute(source, "min")
    with pytest.raises(error):
        imgstats.open_image(source)


@pytest.mark.parametrize("source", [42, None, b"x.png", ["a.png"]])
def test_open_image_refuses_non_paths(source):
    with pytest.raises(imgstats.ImgStatsError):
        imgstats.open_image(source)


def test_errors_are_imgstats_errors():
    for cls in (
        ImageNotFound,
        UnreadableImage,
        ImageTooLarge,
        imgstats.StoreUnavailable,
        imgstats.UnknownFunction,
        imgstats.InvalidOption,
        imgstats.NoValidSamples,
    ):
        assert issubclass(cls, imgstats.ImgStatsError)
    assert issubclass(imgstats.UnknownFunction, ValueError)


@pytest.mark.parametrize(("width", "height"), [(40_000, 40_000), (10_000, 10_000), (1, 2**31)])
def test_decompression_bomb_header_raises_without_allocating(tmp_path, width, height):
    # A PNG of a few dozen bytes declaring billions of pixels: refused from its header.
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(width, height))
    assert path.stat().st_size < 200
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLarge):
            imgstats.compute(path, "max", pixel_limit=50_000_000)
        with pytest.raises(ImageTooLarge):
            imgstats.open_image(path, pixel_limit=50_000_000, chunks="auto")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_default_limit_refuses_a_40000_square_png(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(40_000, 40_000))
    with pytest.raises(ImageTooLarge):
        imgstats.compute(path, "max")


@pytest.mark.parametrize("kind", ["png", "jpg", "tif"])
def test_pixel_limit_option_and_environment(tmp_path, monkeypatch, kind):
    arr = np.random.default_rng(0).integers(0, 256, (20, 30), np.uint8)  # 600 pixels
    path = tmp_path / f"img.{kind}"
    if kind == "tif":
        tifffile.imwrite(path, arr)
    else:
        Image.fromarray(arr).save(path)
    monkeypatch.delenv("IMGSTATS_PIXEL_LIMIT", raising=False)
    imgstats.compute(path, "min", pixel_limit=600)  # exactly at the limit is fine
    with pytest.raises(ImageTooLarge):
        imgstats.compute(path, "min", pixel_limit=599)
    with pytest.raises(ImageTooLarge):
        imgstats.open_image(path, pixel_limit=599, chunks="auto")
    monkeypatch.setenv("IMGSTATS_PIXEL_LIMIT", "599")
    with pytest.raises(ImageTooLarge):
        imgstats.compute(path, "min")
    imgstats.compute(path, "min", pixel_limit=600)  # the option wins over the environment
    monkeypatch.setenv("IMGSTATS_PIXEL_LIMIT", "600")
    imgstats.compute(path, "min")


def test_a_file_that_goes_missing_mid_read_is_not_a_crash(tmp_path):
    # Lazy chunks reopen the file: deleting it after open_image gives our error, not OSError.
    arr = _tiff_data("uint8", (64, 64))
    path = tmp_path / "gone.tif"
    tifffile.imwrite(path, arr, tile=(16, 16))
    lazy = imgstats.open_image(path, chunks=(32, 32))
    os.remove(path)
    with pytest.raises(imgstats.ImgStatsError):
        imgstats.compute(lazy, "min")


# -- corrupt TIFF tags and mutated files --------------------------------------------------------
def _tiff_with_tag(tag: str, value: int, *, tiled: bool) -> bytes:
    """A small zlib TIFF written by tifffile with one tag's value overwritten in place."""
    import io
    import struct

    buf = io.BytesIO()
    layout = {"tile": (16, 16)} if tiled else {"rowsperstrip": 8}
    tifffile.imwrite(
        buf, np.arange(40 * 48, dtype=np.uint16).reshape(40, 48), compression="zlib", **layout
    )
    data = bytearray(buf.getvalue())
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        found = tif.pages[0].tags[tag]
        offset, fmt = found.valueoffset, {3: "<H", 4: "<I"}[int(found.dtype)]
    data[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(data)


@pytest.mark.parametrize("chunks", [None, "auto"])
@pytest.mark.parametrize(
    ("tag", "value", "tiled"),
    [
        ("TileWidth", 0xFFF0, True),
        ("TileLength", 0xFFF0, True),
        ("ImageWidth", 60_000, False),
        ("Compression", 12345, False),
        ("StripOffsets", 10**9, False),
        ("StripByteCounts", 3, False),
        ("ImageWidth", 0, False),
        ("ImageLength", 0, False),
        ("RowsPerStrip", 0, False),
        ("TileWidth", 0, True),
    ],
)
def test_corrupt_tiff_tags_raise_unreadable_image(tmp_path, tag, value, tiled, chunks):
    path = tmp_path / "corrupt.tif"
    path.write_bytes(_tiff_with_tag(tag, value, tiled=tiled))
    with pytest.raises(UnreadableImage):
        imgstats.compute(path, ["min", "median"], chunks=chunks)


def _encoded(fmt: str) -> bytes:
    import io

    rgb = np.random.default_rng(41).integers(0, 256, (24, 30, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt)
    return buf.getvalue()


PILLOW_ENCODED = {
    fmt: _encoded(fmt)
    for fmt in ("PNG", "JPEG", "GIF", "BMP") + (("WEBP",) if features.check("webp") else ())
}


@settings(settings.get_profile("imgstats-core"), max_examples=60)
@given(
    fmt=st.sampled_from(sorted(PILLOW_ENCODED)),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=6),
    keep=st.floats(0, 1),
)
def test_mutated_pillow_files_give_numbers_or_imgstats_errors(tmp_path_factory, fmt, edits, keep):
    data = bytearray(PILLOW_ENCODED[fmt])
    for where, byte in edits:
        data[int(where * len(data))] = byte
    data = data[: max(0, int(keep * len(data)))] if keep < 0.95 else data
    path = tmp_path_factory.mktemp("fuzz") / f"mutated.{fmt.lower()}"
    path.write_bytes(bytes(data))
    try:
        got = imgstats.compute(path, ["min", "max", "median"])
    except imgstats.ImgStatsError:
        return
    assert 0 <= got["min"] <= got["median"] <= got["max"] <= 255


@pytest.mark.parametrize("kind", ["png", "tif"])
@pytest.mark.parametrize("value", ["1e9", 2.5e8, True, [600], 0, -5])
def test_a_pixel_limit_that_is_no_whole_number_is_an_invalid_option(tmp_path, kind, value):
    # pixel_limit="1e9" reached the readers' comparisons: a TypeError from Pillow's path, and
    # 'UnreadableImage: ... not a readable TIFF: TypeError' for a fine TIFF
    path = tmp_path / f"img.{kind}"
    arr = np.zeros((4, 4), np.uint8)
    tifffile.imwrite(path, arr) if kind == "tif" else Image.fromarray(arr).save(path)
    with pytest.raises(imgstats.InvalidOption, match="pixel_limit must be a whole number"):
        imgstats.compute(path, "min", pixel_limit=value)


@pytest.mark.parametrize("value", ["1e9", "abc", "10 000", "12.5", "0", "-1"])
def test_malformed_pixel_limit_variable_is_an_invalid_option(tmp_path, monkeypatch, value):
    path = tmp_path / "img.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(path)
    monkeypatch.setenv("IMGSTATS_PIXEL_LIMIT", value)
    with pytest.raises(imgstats.InvalidOption, match="IMGSTATS_PIXEL_LIMIT"):
        imgstats.compute(path, "min")
    assert imgstats.compute(path, "min", pixel_limit=100) == 0  # an explicit option wins


@pytest.mark.parametrize("kind", ["tif", "png"])
@pytest.mark.parametrize("chunks", [(7, 11), (7, 11, 3, 2), (0, 5, 3), 0, 1.5, "bogus", True])
def test_chunks_dask_cannot_use_are_an_invalid_option(tmp_path, kind, chunks):
    # before: a ValueError or ZeroDivisionError traceback from dask (y, x sizes of an RGB
    # image, a 0, a fraction, a word), or one-pixel chunks for True
    path = tmp_path / f"rgb.{kind}"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(path)
    with pytest.raises(imgstats.InvalidOption, match=r"invalid chunks .* shape \(20, 30, 3\)"):
        imgstats.compute(path, "min", chunks=chunks)
    assert imgstats.compute(path, "min", chunks={0: 7, 1: 11}) == 0  # sizes by axis fit any


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    """Answers ``/<status>.png`` with that HTTP status."""

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_HEAD(self):  # noqa: N802 -- http.server's naming
        self._answer(body=False)

    def do_GET(self):  # noqa: N802
        self._answer(body=True)

    def _answer(self, body):
        self.send_response(int(self.path.strip("/").split(".")[0]))
        self.send_header("Content-Length", "5")
        self.end_headers()
        if body:
            self.wfile.write(b"error")


@pytest.fixture(scope="module")
def status_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, ImageNotFound),
        (410, ImageNotFound),
        (500, imgstats.StoreUnavailable),
        (502, imgstats.StoreUnavailable),
        (503, imgstats.StoreUnavailable),
        (429, imgstats.StoreUnavailable),
    ],
)
def test_http_errors_are_not_found_or_store_unavailable(status_server, status, error):
    # fsspec wraps every HTTP failure in FileNotFoundError: a 500 is not a missing image.
    with pytest.raises(error):
        imgstats.compute(f"{status_server}/{status}.png", "min")


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="Linux's /proc")
@pytest.mark.parametrize("chunks", [None, 64])
def test_a_read_that_fails_after_the_open_is_store_unavailable(chunks):
    # /proc/self/mem opens, and its first read fails with EIO (offset 0 is never mapped), as
    # a failing disk or network mount does: the first look at a local file's magic bytes let
    # the OSError escape
    with pytest.raises(imgstats.StoreUnavailable, match="Input/output error"):
        imgstats.compute("/proc/self/mem", "min", chunks=chunks)


def test_refused_connection_is_store_unavailable():
    import socket

    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(imgstats.StoreUnavailable):
        imgstats.compute(f"http://127.0.0.1:{port}/image.png", "min")


def test_animated_images_give_their_first_frame(tmp_path):
    rng = np.random.default_rng(42)
    frames = [
        Image.fromarray(rng.integers(lo, lo + 50, (12, 14, 3), dtype=np.uint8)) for lo in (0, 200)
    ]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as raw:
        assert raw.n_frames == 2
        first = np.asarray(raw.convert("RGB"))
    assert first.max() < 100  # the second frame's values are all >= 200
    check_all(imgstats.compute(path, FUNCS), first, FUNCS)


@pytest.mark.parametrize("chunks", [None, "auto"])
def test_multi_page_tiff_gives_its_first_page_or_the_page_asked_for(tmp_path, chunks):
    # Issue 9: a page is an image, not a band; other pages only through page= (they used to
    # be counted as extra bands).
    arr = _tiff_data("uint16", (5, 20, 30), seed=7)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, arr, compression="zlib")
    img = imgstats.open_image(path, chunks=chunks)
    assert img.dims == ("y", "x") and img.shape == (20, 30) and img.attrs["pages"] == 5
    np.testing.assert_array_equal(img.values, arr[0])
    check_all(imgstats.compute(path, FUNCS, chunks=chunks), arr[0], FUNCS)
    for page in (1, 4):
        check_all(imgstats.compute(path, FUNCS, chunks=chunks, page=page), arr[page], FUNCS)
    with pytest.raises(imgstats.InvalidOption, match="page 5"):
        imgstats.compute(path, "min", chunks=chunks, page=5)


# -- local TIFFs streamed tile by tile (reduce._open_path -> io._tiff.TiffStream) -------------
STREAM_CASES = {
    "u8-striped-partial-strip": ("uint8", (45, 70), {"rowsperstrip": 7}),
    "u16-tiled-edges": ("uint16", (45, 70), {"tile": (16, 32), "compression": "zlib"}),
    "u16-big-endian": ("uint16", (33, 40), {"tile": (16, 16), "byteorder": ">"}),
    "f32-big-endian": ("float32", (33, 40), {"rowsperstrip": 5, "byteorder": ">"}),
    "i16-predictor": ("int16", (40, 50), {"compression": "zlib", "predictor": True}),
    "f32-predictor-nan": (
        "float32",
        (40, 50),
        {"tile": (16, 16), "compression": "zlib", "predictor": True},
    ),
    "f64-lzw": ("float64", (30, 41), {"compression": "lzw", "rowsperstrip": 4}),
    "i32-zstd": ("int32", (30, 41), {"compression": "zstd", "tile": (16, 16)}),
    "u32": ("uint32", (30, 41), {}),
    "i8": ("int8", (30, 41), {"tile": (16, 16)}),
    "rgb-contig": (
        "uint8",
        (35, 44, 3),
        {"photometric": "rgb", "tile": (16, 16), "compression": "zlib", "predictor": True},
    ),
    "rgba-u16": ("uint16", (20, 30, 4), {"photometric": "rgb", "extrasamples": ["unassalpha"]}),
    "bigtiff-f32": ("float32", (30, 30), {"bigtiff": True, "tile": (16, 16)}),
}


@pytest.mark.parametrize("case", sorted(STREAM_CASES))
def test_streamed_local_tiffs_match_tifffile(tmp_path, monkeypatch, case):
    import imgstats.io
    import imgstats.io._tiff

    dtype, shape, kw = STREAM_CASES[case]
    if kw.get("compression") == "zstd" and not imagecodecs.ZSTD.available:
        pytest.skip("imagecodecs without zstd")
    arr = _tiff_data(dtype, shape, seed=len(case))
    path = tmp_path / f"{case}.tif"
    tifffile.imwrite(path, arr, **kw)
    want = tifffile.imread(path)
    np.testing.assert_array_equal(want, arr)
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)  # every TIFF is "large": lazy
    calls = []
    original = imgstats.io._tiff.TiffStream.map_reduce

    def spy(self, *args, **kwargs):
        calls.append(self.path)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(imgstats.io._tiff.TiffStream, "map_reduce", spy)
    funcs = [*FUNCS, "p0", "p100", "p37.5"]
    # every sample as stored (raw=True): the stream is what is tested here (alpha: issue 16)
    img = imgstats.open_image(path)
    pooled = colour_bands(want, img.coords["band"].values.tolist()) if img.ndim == 3 else want
    check_all(imgstats.compute(path, funcs, raw=True), pooled, funcs)
    check_all(
        imgstats.summarize(path, raw=True).compute(["min", "max", "mean"]),
        pooled,
        ["min", "max", "mean"],
    )
    if want.ndim == 3:
        for i in range(want.shape[-1]):
            check_all(
                imgstats.compute(path, ["max", "median"], band=i, raw=True),
                want[..., i],
                ["max", "median"],
            )
    if case == "rgb-contig":
        rgb = np.asarray(Image.fromarray(want).convert("L"))
        check_all(imgstats.compute(path, FUNCS, band="luma"), rgb, FUNCS)
    assert calls, "the TIFF was not streamed"


@pytest.mark.parametrize("error", [KeyError("ours"), imgstats.NoValidSamples("ours")])
def test_streamed_reduction_errors_are_not_disguised_as_unreadable_images(tmp_path, error):
    from imgstats.io._tiff import TiffStream

    path = tmp_path / "fine.tif"
    tifffile.imwrite(path, _tiff_data("uint8", (40, 30), seed=6), rowsperstrip=8)

    def work(block):
        raise error

    with pytest.raises(type(error), match="ours"):
        TiffStream.open(path).map_reduce(work, list, workers=2)


@pytest.mark.parametrize("limit", [None, "auto"])
def test_pixel_limit_of_a_tiff_is_image_too_large_not_unreadable(tmp_path, limit):
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, np.zeros((40, 30), np.uint8))
    with pytest.raises(ImageTooLarge):
        imgstats.compute(path, "min", pixel_limit=100, chunks=limit)


@pytest.mark.parametrize("progress", [True, False])
def test_streamed_tiffs_show_a_progress_bar_on_stderr_when_asked(
    tmp_path, monkeypatch, capsys, progress
):
    import imgstats.io
    import imgstats.io._tiff

    arr = _tiff_data("uint16", (64, 48), seed=5)
    path = tmp_path / "streamed.tif"
    tifffile.imwrite(path, arr, tile=(16, 16))  # 12 tiles
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)  # every TIFF is "large": streamed
    calls = []
    original = imgstats.io._tiff.TiffStream.map_reduce

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("progress"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(imgstats.io._tiff.TiffStream, "map_reduce", spy)
    check_all(imgstats.compute(path, FUNCS, progress=progress), arr, FUNCS)
    out, err = capsys.readouterr()
    assert calls == [progress], "the TIFF was not streamed"
    assert out == ""
    if progress:
        assert "streamed.tif" in err and "100%" in err and "12/12" in err
    else:
        assert err == ""


@pytest.mark.parametrize("name", sorted(n for n in BAD if n.endswith(".tif")))
def test_bad_tiffs_streamed_raise_unreadable_image(tmp_path, monkeypatch, name):
    import imgstats.io

    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)
    path = tmp_path / name
    path.write_bytes(BAD[name])
    with pytest.raises(UnreadableImage):
        imgstats.compute(path, ["min", "median"])


@pytest.mark.parametrize(
    ("tag", "value", "tiled"),
    [
        ("TileWidth", 0xFFF0, True),
        ("StripOffsets", 10**9, False),
        ("StripByteCounts", 3, False),
        ("Compression", 12345, False),
    ],
)
def test_corrupt_tiff_tags_streamed_raise_unreadable_image(
    tmp_path, monkeypatch, tag, value, tiled
):
    import imgstats.io

    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)
    path = tmp_path / "corrupt.tif"
    path.write_bytes(_tiff_with_tag(tag, value, tiled=tiled))
    with pytest.raises(UnreadableImage):
        imgstats.compute(path, ["min", "median"])


def _fuzz_base(kind: str) -> bytes:
    import io

    rgb = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    buf = io.BytesIO()
    if kind == "strip-f":
        tifffile.imwrite(
            buf, rgb.astype(np.float32), compression="lzw", photometric="rgb", rowsperstrip=6
        )
    else:
        tifffile.imwrite(buf, rgb, photometric="rgb", rowsperstrip=6)
    return buf.getvalue()


# Found by mutating IFD bytes: (base file, [(offset, original byte, new byte)]).
TIFF_FUZZ = {
    "type-error-in-tifffile-open": (
        "strip-f",
        [(42, 206, 77), (77, 0, 90), (118, 23, 194), (183, 0, 212), (361, 22, 142)],
    ),
    "index-error-in-segments": (
        "strip-raw",
        [(70, 14, 129), (73, 0, 187), (82, 17, 114), (83, 1, 249), (112, 0, 239), (203, 104, 48)],
    ),
    "zero-division": (
        "strip-f",
        [(11, 1, 177), (31, 0, 33), (145, 0, 228), (181, 0, 236), (331, 0, 158), (342, 8, 197)],
    ),
    "int-of-tuple": ("strip-raw", [(14, 1, 14), (99, 0, 132), (241, 0, 143), (374, 76, 182)]),
}


@pytest.mark.parametrize(
    ("case", "streamed"),
    [
        pytest.param(case, streamed, id=f"{case}-{'streamed' if streamed else 'eager'}")
        for case in sorted(TIFF_FUZZ)
        for streamed in (False, True)
    ],
)
def test_fuzzed_tiff_headers_raise_unreadable_image(tmp_path, monkeypatch, case, streamed):
    import imgstats.io

    base, edits = TIFF_FUZZ[case]
    data = bytearray(_fuzz_base(base))
    if any(data[offset] != old for offset, old, _ in edits):
        pytest.skip("this tifffile writes another layout; the mutation no longer applies")
    for offset, _, new in edits:
        data[offset] = new
    path = tmp_path / f"{case}.tif"
    path.write_bytes(bytes(data))
    if streamed:
        monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)
    with pytest.raises(UnreadableImage):
        imgstats.compute(path, ["min", "median"])
