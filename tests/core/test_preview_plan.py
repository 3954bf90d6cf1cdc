"""Previews are read plans (issue 9 item 1): thumbnails and previews go through the same opening
as the statistics' plans and the header facts.

A preview plan (:func:`imgstats.io.open_preview_plan`) must tell the same facts as the full
image's plan (band names, dtype, pages, format) and as :func:`imgstats.io.read_header`
(photometric too); its pixels are the full image's values every n-th row and column (TIFF, where
numpy slicing is the oracle) or Pillow's own reduction (other formats); the bomb check and the
error mapping are those of every other read path.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

import imgstats
import imgstats.io
from imgstats import ImageTooLarge, InvalidOption, UnreadableImage
from imgstats.io import open_plan, open_preview_plan, read_header, read_preview

from .oracle import check_all, gdal_valid

RNG = np.random.default_rng(20261130)


class OddError(Exception):
    """A type no decoder documents."""


ERRORS = [
    NotImplementedError("pixel format"),
    RuntimeError("codec"),
    KeyError("tag"),
    ZeroDivisionError("tile 0"),
    struct.error("unpack"),
    AssertionError("plugin"),
    OddError("odd"),
    Image.DecompressionBombError("bomb while loading"),
    MemoryError("huge buffer"),
]


def _expected(error):
    big = isinstance(error, (Image.DecompressionBombError, MemoryError))
    return ImageTooLarge if big else UnreadableImage


def _raiser(error):
    def raise_it(*args, **kwargs):
        raise error

    return raise_it


def _case(name, folder):
    """Write image ``name``; return ``(path, page, full values or None)``.

    The values are known exactly for TIFFs (the stored samples, with their meaning applied).
    """
    path = folder / name
    if name == "rgb.jpg":
        Image.fromarray(RNG.integers(0, 256, (300, 410, 3), np.uint8)).save(path, quality=90)
        return path, 0, None
    if name == "rgba.png":
        Image.fromarray(RNG.integers(0, 256, (90, 130, 4), np.uint8), "RGBA").save(path)
        return path, 0, None
    if name == "palette.png":
        grey = Image.fromarray(RNG.integers(0, 256, (70, 95), np.uint8))
        grey.convert("RGB").quantize(16).save(path)
        return path, 0, None
    if name == "palette-transparent.png":
        img = Image.fromarray(RNG.integers(0, 256, (70, 95), np.uint8)).convert("RGB").quantize(8)
        img.save(path, transparency=3)
        return path, 0, None
    if name in ("animated.gif", "animated.png"):  # frames of different colours; read frame 2
        frames = [
            Image.fromarray(RNG.integers(0, 256, (40, 60, 3), np.uint8)).quantize(32)
            for _ in range(4)
        ]
        if name.endswith(".png"):
            frames = [f.convert("RGB") for f in frames]
        frames[0].save(path, save_all=True, append_images=frames[1:])
        return path, 2, None
    if name == "uint16.tif":
        data = RNG.integers(0, 65536, (97, 131), np.uint16)
        tifffile.imwrite(path, data, tile=(32, 32), compression="zlib")
        return path, 0, data
    if name == "float32.tif":
        data = RNG.normal(0, 10, (83, 120, 3)).astype(np.float32)
        data[5, 7, 1] = np.nan
        tifffile.imwrite(path, data, photometric="rgb", rowsperstrip=9)
        return path, 0, data
    if name == "pages.tif":
        first = RNG.integers(0, 256, (20, 30), np.uint8)
        second = RNG.integers(0, 65536, (61, 77, 3), np.uint16)
        with tifffile.TiffWriter(path) as tif:
            tif.write(first, photometric="minisblack")
            tif.write(second, photometric="rgb", tile=(16, 16))
        return path, 1, second
    if name == "miniswhite.tif":
        data = RNG.integers(0, 256, (64, 90), np.uint8)
        tifffile.imwrite(path, data, photometric="miniswhite", tile=(16, 16))
        return path, 0, 255 - data
    raise AssertionError(name)


CASES = [
    "rgb.jpg",
    "rgba.png",
    "palette.png",
    "palette-transparent.png",
    "animated.gif",
    "animated.png",
    "uint16.tif",
    "float32.tif",
    "pages.tif",
    "miniswhite.tif",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("previews")


def _facts(plan):
    return plan.band_names, plan.dtype, plan.pages, plan.format


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("max_side", [8, 40, 1000])
def test_a_preview_plan_tells_the_full_plans_facts(folder, name, max_side):
    path, page, _ = _case(name, folder)
    full = open_plan(path, page=page)
    preview = open_preview_plan(path, max_side, page=page)
    assert preview.kind == "array" and isinstance(preview.pixels, np.ndarray)
    assert _facts(preview) == _facts(full)
    assert preview.source == full.source
    assert preview.shape == preview.pixels.shape
    assert len(preview.shape) == len(full.shape)
    assert preview.shape[2:] == full.shape[2:], "every band is kept"
    # the header facts are the ones read_header gives, photometric included
    with open(path, "rb") as fh:
        header = read_header(fh, path, page=page)
    assert header["bands"] == list(preview.band_names)
    assert header["dtype"] == preview.dtype.name
    assert (header["format"], header["pages"]) == (preview.format, preview.pages)
    assert header["photometric"] == preview.photometric == full.photometric != ""
    assert (header["height"], header["width"]) == full.shape[:2]
    # reduced, but never below max_side when the image is larger than that
    assert max(preview.shape[:2]) >= min(max_side, max(full.shape[:2]))
    assert max(preview.shape[:2]) <= max(4 * max_side, 1)


@pytest.mark.parametrize("name", ["uint16.tif", "float32.tif"])
def test_a_streamed_plan_and_its_preview_tell_the_same_facts(folder, monkeypatch, name):
    path, page, _ = _case(name, folder)
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)  # the full plan streams its tiles
    full = open_plan(path, page=page)
    assert full.kind == "stream"
    preview = open_preview_plan(path, 16, page=page)
    assert _facts(preview) == _facts(full)
    assert preview.photometric == full.photometric == ("rgb" if "float" in name else "minisblack")


@pytest.mark.parametrize("name", ["palette.png", "pages.tif", "rgb.jpg"])
def test_plans_of_opened_images_keep_the_photometric_meaning(folder, name):
    path, page, _ = _case(name, folder)
    with open(path, "rb") as fh:
        want = read_header(fh, path, page=page)["photometric"]
    assert open_plan(imgstats.open_image(path, page=page)).photometric == want
    assert open_plan(path, page=page, local=False).photometric == want
    if page == 0:
        with Image.open(path) as img:
            assert open_plan(img).photometric == want
    assert open_plan(np.zeros((3, 4), np.uint8)).photometric == ""


@pytest.mark.parametrize("name", [n for n in CASES if n.endswith(".tif")])
@pytest.mark.parametrize("max_side", [1, 5, 16, 31, 500])
def test_tiff_previews_are_the_full_values_strided(folder, name, max_side):
    path, page, values = _case(name, folder)
    full = np.asarray(open_plan(path, page=page).array())
    np.testing.assert_array_equal(full, values)  # the oracle is right
    step = max(1, max(values.shape[:2]) // (2 * max_side))
    preview = open_preview_plan(path, max_side, page=page)
    np.testing.assert_array_equal(preview.array(), values[::step, ::step])
    arr, bands = read_preview(path, max_side, page=page)  # the thin wrapper: same pixels
    np.testing.assert_array_equal(arr, preview.array())
    assert bands == preview.band_names


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(1, 70),
    width=st.integers(1, 70),
    bands=st.sampled_from([1, 3]),
    tiled=st.booleans(),
    max_side=st.integers(1, 40),
)
def test_tiff_previews_are_strided_at_any_size(
    tmp_path_factory, height, width, bands, tiled, max_side
):
    shape = (height, width) + ((bands,) if bands > 1 else ())
    data = RNG.integers(0, 1 << 16, shape).astype(np.uint16)
    buf = io.BytesIO()
    kw = {"tile": (16, 16)} if tiled else {"rowsperstrip": 5}
    tifffile.imwrite(buf, data, photometric="rgb" if bands == 3 else "minisblack", **kw)
    buf.seek(0)
    plan = open_preview_plan(buf, max_side)
    step = max(1, max(height, width) // (2 * max_side))
    np.testing.assert_array_equal(plan.array(), data[::step, ::step])
    assert plan.band_names == (("R", "G", "B") if bands == 3 else ("L",))
    assert plan.source is None and plan.format == "TIFF"


@pytest.mark.parametrize("name", ["rgba.png", "palette.png", "palette-transparent.png"])
def test_pillow_previews_are_pillows_reduction_of_the_values(folder, name):
    path, _, _ = _case(name, folder)
    with Image.open(path) as img:
        full = img.convert("RGBA" if "A" in open_plan(path).band_names else "RGB")
        want_small = np.asarray(full.reduce(max(full.size) // 20))
        want_whole = np.asarray(full)
    np.testing.assert_array_equal(open_preview_plan(path, 10).array(), want_small)
    np.testing.assert_array_equal(open_preview_plan(path, 500).array(), want_whole)
    np.testing.assert_array_equal(np.asarray(open_plan(path).array()), want_whole)


def test_jpeg_previews_decode_at_a_reduced_scale(folder):
    path, _, _ = _case("rgb.jpg", folder)
    with Image.open(path) as img:
        img.draft("RGB", (50, 50))
        want = np.asarray(img)
    plan = open_preview_plan(path, 50)
    assert plan.shape == want.shape == (75, 103, 3)  # 1/4 scale: 300x410 -> 75x103
    np.testing.assert_array_equal(plan.array(), want)


@pytest.mark.parametrize("name", ["rgb.jpg", "palette.png", "uint16.tif"])
def test_the_bomb_check_refuses_a_too_large_image_before_decoding(folder, monkeypatch, name):
    path, page, _ = _case(name, folder)
    height, width = open_plan(path).shape[:2]
    # a decoder that fails if it is ever reached: the refusal must come first
    monkeypatch.setattr(ImageFile.ImageFile, "load", _raiser(OddError("decoded")))
    monkeypatch.setattr(tifffile.TiffPage, "decode", property(lambda self: _raiser(OddError())))
    with pytest.raises(ImageTooLarge, match="over the limit"):
        open_preview_plan(path, 16, pixel_limit=height * width - 1)
    monkeypatch.setenv("IMGSTATS_PIXEL_LIMIT", str(height * width - 1))
    with pytest.raises(ImageTooLarge):
        open_preview_plan(path, 16)
    with pytest.raises(ImageTooLarge):
        read_preview(path, 16)
    # exactly at the limit is allowed (and then the decoder runs)
    with pytest.raises(UnreadableImage):
        open_preview_plan(path, 16, pixel_limit=height * width)


@pytest.mark.parametrize("error", ERRORS, ids=[type(e).__name__ for e in ERRORS])
@pytest.mark.parametrize("name", ["rgb.jpg", "palette.png", "rgba.png"])
def test_any_exception_while_pillow_previews_is_mapped(folder, monkeypatch, error, name):
    from imgstats.web._thumbs import render

    path, _, _ = _case(name, folder)
    monkeypatch.setattr(ImageFile.ImageFile, "load", _raiser(error))
    calls = {
        "plan": lambda: open_preview_plan(path, 16),
        "plan-of-a-file": lambda: open_preview_plan(io.BytesIO(path.read_bytes()), 16),
        "read_preview": lambda: read_preview(path, 16),
        "thumbnail": lambda: render(io.BytesIO(path.read_bytes()), 16),
    }
    for where, call in calls.items():
        with pytest.raises(_expected(error)) as info:
            call()
        assert info.value.__cause__ is error, where


@pytest.mark.parametrize("error", ERRORS, ids=[type(e).__name__ for e in ERRORS])
@pytest.mark.parametrize(
    "target", ["TiffFile.__init__", "TiffPage.decode", "zarr.open", "Meaning.apply"]
)
def test_any_exception_while_a_tiff_previews_is_mapped(folder, monkeypatch, error, target):
    import zarr

    from imgstats.io._meaning import Meaning

    path, _, _ = _case("miniswhite.tif", folder)
    if target == "TiffFile.__init__":
        monkeypatch.setattr(tifffile.TiffFile, "__init__", _raiser(error))
    elif target == "TiffPage.decode":
        monkeypatch.setattr(tifffile.TiffPage, "decode", property(lambda self: _raiser(error)))
    elif target == "zarr.open":
        monkeypatch.setattr(zarr, "open", _raiser(error))
    else:
        monkeypatch.setattr(Meaning, "apply", _raiser(error))
    for source in (path, io.BytesIO(path.read_bytes())):
        with pytest.raises(_expected(error)) as info:
            open_preview_plan(source, 8)
        assert info.value.__cause__ is error


def test_the_header_and_the_preview_open_a_tiff_once(folder, monkeypatch):
    path, _, values = _case("uint16.tif", folder)
    opened = []
    original = tifffile.TiffFile.__init__

    def counting(self, *args, **kwargs):
        opened.append(args)
        original(self, *args, **kwargs)

    monkeypatch.setattr(tifffile.TiffFile, "__init__", counting)
    plan = open_preview_plan(path, 20)
    assert len(opened) == 1, "facts and pixels come from one opening"
    assert plan.shape == values[::3, ::3].shape
    with open(path, "rb") as fh:
        read_header(fh, path)
    assert len(opened) == 2


@pytest.mark.parametrize("max_side", [0, -3, 2.5, "16", True, None])
def test_max_side_must_be_a_whole_number(folder, max_side):
    path, _, _ = _case("rgba.png", folder)
    with pytest.raises(InvalidOption, match="max_side"):
        open_preview_plan(path, max_side)


def test_a_missing_page_is_an_invalid_option(folder):
    path, _, _ = _case("pages.tif", folder)
    with pytest.raises(InvalidOption, match="page 2 does not exist"):
        open_preview_plan(path, 16, page=2)
    with pytest.raises(InvalidOption, match="page"):
        open_preview_plan(path, 16, page=-1)
    assert open_preview_plan(path, 16, page=0).band_names == ("L",)


def test_an_empty_or_foreign_file_is_unreadable(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_bytes(b"not an image at all")
    for name in ("empty.png", "text.png"):
        with pytest.raises(UnreadableImage):
            open_preview_plan(tmp_path / name, 16)
    with pytest.raises(imgstats.ImageNotFound):
        open_preview_plan(tmp_path / "missing.png", 16)


def test_thumbnails_show_the_preview_plans_pixels(folder):
    from imgstats.web._thumbs import render

    path, _, values = _case("miniswhite.tif", folder)
    thumb = Image.open(io.BytesIO(render(io.BytesIO(path.read_bytes()), 90, quality=100)))
    assert thumb.size == (90, 64)
    # the inverted (MINISWHITE) values are shown: dark where the stored samples are bright
    shown = np.asarray(thumb.convert("L")).astype(float)
    expected = (values.astype(float) - values.min()) * 255 / (values.max() - values.min())
    assert np.corrcoef(shown.ravel(), expected.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("name", ["animated.gif", "animated.png", "pages.tif"])
def test_a_preview_reads_the_page_it_is_asked_for(folder, name):
    path, page, _ = _case(name, folder)
    want = np.asarray(open_plan(path, page=page).array())
    got = open_preview_plan(path, 1000, page=page)
    np.testing.assert_array_equal(got.array(), want)
    first = open_preview_plan(path, 1000, page=0).array()
    assert first.shape != want.shape or not np.array_equal(first, want)


@pytest.mark.parametrize("name", ["float32.tif", "palette-transparent.png", "miniswhite.tif"])
def test_a_preview_plan_is_a_plan_the_statistics_read(folder, name):
    path, page, _ = _case(name, folder)
    plan = open_preview_plan(path, 16, page=page)
    funcs = ["min", "max", "mean", "median", "p1", "p99"]
    check_all(imgstats.compute(plan, funcs), gdal_valid(plan.array(), plan.band_names), funcs)


@pytest.mark.parametrize("kind", ["grey-key.png", "grey16-key.png", "nodata.tif", "nan.tif"])
def test_a_preview_plan_leaves_out_the_images_nodata(tmp_path, kind):
    # before: only its alpha 0 pixels, so a preview of a GeoTIFF with GDAL_NODATA (or a grey
    # PNG with a transparent grey) counted its nodata samples, and a thumbnail rendered
    # without the service's help showed them
    from imgstats.web._thumbs import render

    values = RNG.integers(0, 9, (24, 30)).astype(np.uint16 if "16" in kind else np.uint8)
    path = tmp_path / kind
    if kind.endswith(".png"):
        Image.fromarray(values).save(path, transparency=3)
    elif kind == "nodata.tif":
        tifffile.imwrite(path, values, extratags=[(42113, "s", 0, "3", True)])
    else:
        values = values.astype(np.float32)
        values[values == 3] = np.nan
        tifffile.imwrite(path, values, extratags=[(42113, "s", 0, "nan", True)])
    plan = open_preview_plan(path, 1000)
    funcs = ["count", "min", "max", "mean"]
    assert imgstats.compute(plan, funcs) == imgstats.compute(path, funcs)
    assert imgstats.compute(plan, "count") == (values.astype(np.float64) != 3).sum() - (
        np.isnan(values.astype(np.float64)).sum()
    )
    with open(path, "rb") as fh:
        shown = np.asarray(Image.open(io.BytesIO(render(fh, 30))).convert("RGBA"))
    assert (
        shown.shape[:2] == values.shape
        and (shown[..., 3] == 0).sum()
        == ((values == 3) | np.isnan(values.astype(np.float64))).sum()
    )
