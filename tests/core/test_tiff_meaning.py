"""Images mean what their files say (issue 9 item 5): TIFFs decode to the image their tags
describe, on every read path.

Each case is a TIFF built here (tifffile, or Pillow for CCITT G3/G4) and an oracle: Pillow's
decoding where Pillow reads the file (``convert("L")``/``("RGB")`` for its bilevel and palette
modes), numpy on the stored samples otherwise. Every case is read eagerly, lazily through dask
(uneven chunks), streamed tile by tile (forced with a tiny ``EAGER_BYTES``), as header facts,
as a preview, and summarized; all must agree with the oracle.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import imgstats
import imgstats.io
import imgstats.io._tiff
from imgstats.io import read_header, read_preview

from .oracle import check_all, colour_bands

FUNCS = ["min", "max", "mean", "median", "p1", "p99"]
RNG = np.random.default_rng(20261130)


def _pillow(path, mode=None) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert(mode) if mode else img)


def _write(path, data, **kw):
    tifffile.imwrite(path, data, **kw)
    return path


def _patch_photometric(data: bytes, value: int) -> bytes:
    """``data`` (a one-page TIFF) with its PhotometricInterpretation tag set to ``value``."""
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        offset = tif.pages[0].tags["PhotometricInterpretation"].valueoffset
    out = bytearray(data)
    out[offset : offset + 2] = struct.pack("<H", value)
    return bytes(out)


def _ccitt(path, compression: str, photometric: int):
    """A bilevel TIFF compressed by Pillow's libtiff (G3 or G4), then tagged MINISWHITE (0) or
    MINISBLACK (1): the stored bits stay, their meaning flips."""
    bits = RNG.integers(0, 2, (37, 45)).astype(bool)
    buf = io.BytesIO()
    Image.fromarray(bits).save(buf, "TIFF", compression=compression)
    path.write_bytes(_patch_photometric(buf.getvalue(), photometric))
    return path


def _colormap(entries: int, eight_bit: bool = False) -> np.ndarray:
    top = 256 if eight_bit else 65536
    return RNG.integers(0, top, (3, entries)).astype(np.uint16)


def _case(name, tmp_path):
    """Return ``(path, expected values, expected band names, photometric)``."""
    path = tmp_path / f"{name}.tif"
    tiled = {"tile": (16, 16)}
    if name.startswith("palette"):
        bits = int(name.split("-")[1])
        # tifffile writes 2**8 entries for fewer bits too (the spec says 2**bits)
        cmap = _colormap(1 << max(bits, 8), eight_bit=name.endswith("8bitmap"))
        idx = RNG.integers(0, 1 << bits, (40, 50)).astype(np.uint8 if bits <= 8 else np.uint16)
        kw = {} if bits in (1, 2, 4) else tiled  # tifffile tiles whole bytes only
        _write(path, idx, photometric="palette", colormap=cmap, bitspersample=bits, **kw)
        if name.endswith("8bitmap"):  # Pillow shows these black: libtiff's reading is the oracle
            want = cmap[:, idx].transpose(1, 2, 0).astype(np.uint8)
        elif bits <= 8:
            want = _pillow(path, "RGB")
            np.testing.assert_array_equal(want, (cmap[:, idx] >> 8).transpose(1, 2, 0))
        else:
            want = (cmap[:, idx] >> 8).transpose(1, 2, 0).astype(np.uint8)
        return path, want, ["R", "G", "B"], "palette"
    if name in ("miniswhite-int16", "miniswhite-float32"):
        dtype = np.dtype(name.split("-")[1])
        if dtype.kind == "i":
            data = RNG.integers(-32768, 32768, (30, 40)).astype(dtype)
            want = -1 - data.astype(np.int32)
        else:
            data = RNG.normal(0, 100, (30, 40)).astype(dtype)
            want = -data
        _write(path, data, photometric="miniswhite", **tiled)
        return path, want.astype(dtype), ["L"], "miniswhite"
    if name == "miniswhite-alpha":  # grey + alpha: only the grey is inverted
        data = RNG.integers(0, 256, (30, 40, 2)).astype(np.uint8)
        _write(path, data, photometric="miniswhite", extrasamples=["unassalpha"], **tiled)
        want = data.copy()
        want[..., 0] = 255 - data[..., 0]
        return path, want, ["L", "A"], "miniswhite"
    if name.startswith(("miniswhite", "minisblack")):
        photometric, bits = name.split("-")
        bits = int(bits)
        dtype = {1: bool, 2: np.uint8, 4: np.uint8, 8: np.uint8, 16: np.uint16}[bits]
        data = RNG.integers(0, 1 << bits, (40, 50)).astype(dtype)
        kw = tiled if bits >= 8 else {"rowsperstrip": 7}
        _write(path, data, photometric=photometric, bitspersample=bits if bits < 8 else None, **kw)
        if bits == 16:  # Pillow leaves 16-bit MINISWHITE as stored: numpy is the oracle
            want = (65535 - data) if photometric == "miniswhite" else data
        else:
            want = _pillow(path, "L" if bits == 1 else None)
        return path, want, ["L"], photometric
    if name.startswith("ccitt"):
        _, compression, photometric = name.split("-")
        _ccitt(path, compression, {"miniswhite": 0, "minisblack": 1}[photometric])
        return path, _pillow(path, "L"), ["L"], photometric
    if name == "rgb16":
        data = RNG.integers(0, 65536, (33, 41, 3)).astype(np.uint16)
        _write(path, data, photometric="rgb", compression="zlib", **tiled)
        return path, data, ["R", "G", "B"], "rgb"
    raise AssertionError(name)


CASES = [
    "palette-8",
    "palette-4",
    "palette-2",
    "palette-1",
    "palette-16",
    "palette-8-8bitmap",
    "miniswhite-1",
    "miniswhite-2",
    "miniswhite-4",
    "miniswhite-8",
    "miniswhite-16",
    "minisblack-1",
    "minisblack-2",
    "minisblack-4",
    "ccitt-group3-miniswhite",
    "ccitt-group4-miniswhite",
    "ccitt-group4-minisblack",
    "rgb16",
    "miniswhite-int16",
    "miniswhite-float32",
    "miniswhite-alpha",
]


@pytest.mark.parametrize("name", CASES)
def test_tiffs_mean_what_their_tags_say_on_every_path(tmp_path, monkeypatch, name):
    path, want, bands, photometric = _case(name, tmp_path)
    values = want[..., 0] if want.ndim == 3 and want.shape[-1] == 1 else want
    # eager
    img = imgstats.open_image(path)
    assert img.dtype == values.dtype, "values keep their type (16-bit stays 16-bit)"
    np.testing.assert_array_equal(img.values, values)
    assert (img.coords["band"].values.tolist() if img.ndim == 3 else [img.attrs["band"]]) == bands
    pooled = colour_bands(values, bands)  # alpha is never pooled with the colours (issue 16)
    check_all(imgstats.compute(path, FUNCS, chunks=None, raw=True), pooled, FUNCS)
    # lazy, through tifffile's zarr store, in uneven chunks
    lazy = imgstats.open_image(path, chunks=(7, 11) + ((len(bands),) if len(bands) > 1 else ()))
    np.testing.assert_array_equal(lazy.values, values)
    check_all(imgstats.compute(lazy, FUNCS, raw=True), pooled, FUNCS)
    # header facts and previews
    with open(path, "rb") as fh:
        facts = read_header(fh, path)
    assert facts == {
        "width": values.shape[1],
        "height": values.shape[0],
        "bands": bands,
        "dtype": values.dtype.name,
        "format": "TIFF",
        "photometric": photometric,
        "pages": 1,
        "nodata": None,
        "mask": "alpha" if "A" in bands else None,
        "nodata_problem": None,
        "scales": None,
        "crs": None,
        "transform": None,
        "bounds": None,
    }
    preview, preview_bands = read_preview(path, max(values.shape[:2]))
    np.testing.assert_array_equal(preview, values)
    assert list(preview_bands) == bands
    small, _ = read_preview(path, 8)  # strided: every n-th row and column, same meaning
    step = max(values.shape[:2]) // 16
    np.testing.assert_array_equal(small, values[::step, ::step])
    # streamed tile by tile
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)
    calls = []
    original = imgstats.io._tiff.TiffStream.map_reduce

    def spy(self, *args, **kwargs):
        calls.append(self.path)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(imgstats.io._tiff.TiffStream, "map_reduce", spy)
    check_all(imgstats.compute(path, FUNCS, raw=True), pooled, FUNCS)
    if values.ndim == 3:
        for i, band in enumerate(bands):
            check_all(
                imgstats.compute(path, ["min", "max", "median"], band=band, raw=True),
                values[..., i],
                ["min", "max", "median"],
            )
    assert calls, "the TIFF was not streamed"


def test_bilevel_is_0_and_255_with_black_0_whatever_the_photometric(tmp_path):
    bits = RNG.integers(0, 2, (20, 30)).astype(bool)
    for photometric, black in (("miniswhite", True), ("minisblack", False)):
        path = _write(tmp_path / f"{photometric}.tif", bits, photometric=photometric)
        got = imgstats.open_image(path).values
        assert set(np.unique(got).tolist()) == {0, 255}
        np.testing.assert_array_equal(got == 0, bits == black)


def test_palette_with_an_alpha_sample_is_rgba(tmp_path):
    # tifffile will not write a palette page with an extra sample: patch an RGBA-shaped one.
    idx = RNG.integers(0, 256, (20, 30)).astype(np.uint8)
    alpha = RNG.integers(0, 256, (20, 30)).astype(np.uint8)
    cmap = _colormap(256)
    path = tmp_path / "pa.tif"
    tifffile.imwrite(
        path,
        np.dstack([idx, alpha]),
        photometric="minisblack",
        extrasamples=["unassalpha"],
        extratags=[(320, "H", cmap.size, cmap.ravel().tolist(), True)],
    )
    path.write_bytes(_patch_photometric(path.read_bytes(), 3))
    want = np.dstack([(cmap[:, idx] >> 8).transpose(1, 2, 0), alpha]).astype(np.uint8)
    img = imgstats.open_image(path)
    assert img.coords["band"].values.tolist() == ["R", "G", "B", "A"]
    np.testing.assert_array_equal(img.values, want)
    with Image.open(path) as pil:
        if pil.mode == "PA":  # where Pillow reads it, it agrees
            np.testing.assert_array_equal(np.asarray(pil.convert("RGBA")), want)


@pytest.mark.parametrize("chunks", [None, {0: 9, 1: 13}])
def test_pages_are_reached_through_page_on_every_path(tmp_path, monkeypatch, chunks):
    # Page 1 is a palette page, page 2 MINISWHITE: each page has its own meaning.
    grey = RNG.integers(0, 256, (30, 40)).astype(np.uint8)
    cmap = _colormap(256)
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(grey, photometric="minisblack", tile=(16, 16))
        tif.write(grey, photometric="palette", colormap=cmap, tile=(16, 16))
        tif.write(grey, photometric="miniswhite", rowsperstrip=8)
    wants = [grey, (cmap[:, grey] >> 8).transpose(1, 2, 0).astype(np.uint8), 255 - grey]
    with Image.open(path) as pil:
        for page, want in enumerate(wants):
            pil.seek(page)
            np.testing.assert_array_equal(
                np.asarray(pil.convert("RGB") if pil.mode == "P" else pil), want
            )
    for page, want in enumerate(wants):
        img = imgstats.open_image(path, page=page, chunks=chunks)
        np.testing.assert_array_equal(img.values, want)
        assert img.attrs["page"] == page and img.attrs["pages"] == 3
        check_all(imgstats.compute(path, FUNCS, page=page, chunks=chunks), want, FUNCS)
        with open(path, "rb") as fh:
            assert read_header(fh, path, page=page)["pages"] == 3
        np.testing.assert_array_equal(read_preview(path, 64, page=page)[0], want)
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)
    for page, want in enumerate(wants):  # streamed
        check_all(imgstats.compute(path, FUNCS, page=page), want, FUNCS)
        assert imgstats.io._tiff.TiffStream.open(path, page=page).shape == want.shape


@pytest.mark.parametrize("page", [3, 10**6, -1, 1.0, "1", True])
def test_bad_pages_are_invalid_options(tmp_path, page):
    path = _write(tmp_path / "two.tif", np.zeros((2, 4, 5), np.uint8))
    with pytest.raises(imgstats.InvalidOption, match="page"):
        imgstats.open_image(path, page=page)
    with pytest.raises(imgstats.InvalidOption, match="page"):
        imgstats.compute(path, "min", page=page)
    png = tmp_path / "one.png"
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(png)
    with pytest.raises(imgstats.InvalidOption, match="page"):
        imgstats.compute(png, "min", page=page)


def test_animated_images_give_the_frame_asked_for(tmp_path):
    frames = [RNG.integers(lo, lo + 50, (12, 14, 3)).astype(np.uint8) for lo in (0, 200)]
    path = tmp_path / "anim.gif"
    Image.fromarray(frames[0]).save(
        path, save_all=True, append_images=[Image.fromarray(frames[1])], duration=100, loop=0
    )
    with Image.open(path) as pil:
        pil.seek(1)
        want = np.asarray(pil.convert("RGB"))
    assert want.min() >= 150
    check_all(imgstats.compute(path, FUNCS, page=1), want, FUNCS)
    with open(path, "rb") as fh:
        assert read_header(fh, path)["pages"] == 2


def test_cli_page_option(tmp_path, capsys):
    from imgstats.cli import main

    arr = np.stack([np.full((4, 5), 10, np.uint16), np.full((4, 5), 700, np.uint16)])
    path = _write(tmp_path / "pages.tif", arr)
    assert main(["stats", str(path), "max", "--page", "1"]) == 0
    assert capsys.readouterr().out == "max 700\n"
    assert main(["stats", str(path), "max"]) == 0
    assert capsys.readouterr().out == "max 10\n"
    assert main(["stats", str(path), "max", "--page", "2"]) == 2
    assert "page 2" in capsys.readouterr().err


def test_thumbnails_show_the_colours_of_a_palette_tiff(tmp_path):
    from imgstats.web._thumbs import render

    idx = np.zeros((40, 40), np.uint8)
    idx[:, 20:] = 1
    cmap = np.zeros((3, 256), np.uint16)
    cmap[:, 0] = (65535, 0, 0)  # red
    cmap[:, 1] = (0, 0, 65535)  # blue
    path = _write(tmp_path / "pal.tif", idx, photometric="palette", colormap=cmap)
    with open(path, "rb") as fh:
        thumb = Image.open(io.BytesIO(render(fh, 20))).convert("RGB")
    left, right = np.asarray(thumb)[10, 2], np.asarray(thumb)[10, -3]
    assert left[0] > 200 and left[2] < 60, left  # red, not the grey of index 0
    assert right[2] > 200 and right[0] < 60, right


def test_pillow_previews_are_reduced_colours(tmp_path):
    rgb = RNG.integers(0, 256, (300, 410, 3)).astype(np.uint8)
    path = tmp_path / "palette.png"
    Image.fromarray(rgb).quantize(16).save(path)
    preview, bands = read_preview(path, 50)
    assert list(bands) == ["R", "G", "B"] and preview.dtype == np.uint8
    assert 50 <= max(preview.shape[:2]) <= 200
    with Image.open(path) as pil:
        want = np.asarray(pil.convert("RGB").reduce(410 // 100))
    np.testing.assert_array_equal(preview, want)


def _meaning_cases():
    """(meaning, stored dtype, bits, samples) for every kind of transform."""
    from types import SimpleNamespace

    from imgstats.io._meaning import tiff_meaning

    def page(photometric, bits, dtype, samples=1, extras=(), colormap=None):
        return SimpleNamespace(
            photometric=photometric,
            bitspersample=bits,
            dtype=np.dtype(dtype),
            samplesperpixel=samples,
            extrasamples=extras,
            colormap=colormap,
            compression=1,
        )

    cmap = _colormap(256)
    cases = [  # (photometric, bits, stored dtype, samples, extrasamples, colormap)
        (3, 8, np.uint8, 1, (), cmap),
        (3, 8, np.uint8, 2, (2,), cmap),
        (0, 1, np.bool_, 1, (), None),
        (0, 4, np.uint8, 1, (), None),
        (0, 12, np.uint16, 1, (), None),
        (0, 16, np.int16, 1, (), None),
        (0, 32, np.float32, 1, (), None),
        (0, 8, np.uint8, 2, (2,), None),
        (2, 16, np.uint16, 3, (), None),
    ]
    return [(tiff_meaning(page(p, b, d, n, e, c)), d, b, n) for p, b, d, n, e, c in cases]


MEANINGS = _meaning_cases()


@settings(settings.get_profile("imgstats-core"))
@given(
    case=st.integers(0, len(MEANINGS) - 1),
    rows=st.integers(1, 12),
    cols=st.integers(1, 12),
    cut_y=st.integers(0, 12),
    cut_x=st.integers(0, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_meaning_does_not_depend_on_how_a_page_is_cut(case, rows, cols, cut_y, cut_x, seed):
    # Every read path cuts pages differently (tiles, strips, dask chunks, strides): the values
    # of any block must be the block of the values.
    meaning, dtype, bits, samples = MEANINGS[case]
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        block = rng.normal(0, 10, (rows, cols, samples)).astype(dtype)
    elif dtype == np.bool_:
        block = rng.integers(0, 2, (rows, cols, samples)).astype(bool)
    else:
        info = np.iinfo(dtype)
        top = info.max if bits == info.bits else (1 << bits) - 1
        block = rng.integers(info.min, top, (rows, cols, samples), endpoint=True).astype(dtype)
    whole = meaning.apply(block)
    assert whole.dtype == meaning.dtype
    assert whole.shape[:2] == (rows, cols)
    assert (whole.shape[2] if whole.ndim == 3 else 1) == len(meaning.bands)
    cy, cx = min(cut_y, rows), min(cut_x, cols)
    for ys in (slice(0, cy), slice(cy, rows)):
        for xs in (slice(0, cx), slice(cx, cols)):
            np.testing.assert_array_equal(meaning.apply(block[ys, xs]), whole[ys, xs])
    np.testing.assert_array_equal(meaning.apply(block[::2, ::3]), whole[::2, ::3])
