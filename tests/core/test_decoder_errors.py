"""One error mapping for every decoder (issue 9 item 1, issue 10 item 8).

Whatever a decoder raises (Pillow, tifffile, imagecodecs, tifffile's zarr store), on whatever
read path (eager, lazy chunks, streamed tiles, headers, previews, thumbnails), the caller sees
``UnreadableImage``, or ``ImageTooLarge`` for a bomb or a decoder out of memory, raised from the
original exception. Exceptions of arbitrary types are injected into the decoders here; a real
DDS file whose pixel format Pillow does not implement checks the same without injection.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile, UnidentifiedImageError

import imgstats
import imgstats.io
from imgstats import ImageTooLarge, UnreadableImage
from imgstats.io import read_header, read_preview


class OddError(Exception):
    """A type no decoder documents."""


def _errors():
    return [
        NotImplementedError("no such pixel format"),
        RuntimeError("codec"),
        KeyError("tag"),
        TypeError("int of tuple"),
        ZeroDivisionError("tile 0"),
        IndexError("segment"),
        struct.error("unpack"),
        AssertionError("plugin"),
        OSError("truncated"),
        OddError("odd"),
        Image.DecompressionBombError("bomb while loading"),
        MemoryError("huge buffer"),
    ]


ERRORS = {type(e).__name__: e for e in _errors()}


def _expected(error):
    return (
        ImageTooLarge
        if isinstance(error, (Image.DecompressionBombError, MemoryError))
        else UnreadableImage
    )


def _raiser(error):
    def raise_it(*args, **kwargs):
        raise error

    return raise_it


def _check(call, error, *, pillow_open=False):
    with pytest.raises(_expected(error)) as info:
        call()
    cause = info.value.__cause__
    if pillow_open and isinstance(cause, UnidentifiedImageError):
        return  # Pillow.open itself turns some types into "not an image" and tries other plugins
    assert cause is error, "raised from the decoder's exception"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decoders")
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), np.uint8)).save(folder / "rgb.png")
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), np.uint8)).save(folder / "rgb.jpg")
    Image.fromarray(rng.integers(0, 256, (30, 40), np.uint8)).quantize(8).save(folder / "p.png")
    tifffile.imwrite(
        folder / "tiled.tif",
        rng.integers(0, 256, (40, 50), np.uint8),
        tile=(16, 16),
        compression="zlib",
    )
    return folder


def _pillow_paths(folder):
    """Every way a Pillow file is decoded, as ``(name, call)``."""

    def header(name):
        with open(folder / name, "rb") as fh:
            return read_header(fh, folder / name)

    def thumb(name):
        from imgstats.web._thumbs import render

        with open(folder / name, "rb") as fh:
            return render(fh, 16)

    return {
        "compute-fast-path": lambda n: imgstats.compute(folder / n, "median"),
        "compute-luma": lambda n: imgstats.compute(folder / n, "median", band="luma"),
        "open_image": lambda n: imgstats.open_image(folder / n),
        "open_image-dask": lambda n: imgstats.open_image(folder / n, chunks=8),
        "summarize": lambda n: imgstats.summarize(folder / n),
        "pil-image": lambda n: imgstats.compute(Image.open(folder / n), "max"),
        "preview": lambda n: read_preview(folder / n, 16),
        "thumbnail": thumb,
        "header": header,
    }


@pytest.mark.parametrize("error", list(ERRORS.values()), ids=list(ERRORS))
@pytest.mark.parametrize("name", ["rgb.png", "rgb.jpg", "p.png"])
def test_any_exception_while_pillow_loads_is_mapped(files, monkeypatch, error, name):
    monkeypatch.setattr(ImageFile.ImageFile, "load", _raiser(error))
    for path, call in _pillow_paths(files).items():
        if path == "header":
            continue  # reads no pixel: must not load at all
        try:
            _check(lambda call=call: call(name), error)
        except BaseException as exc:
            raise AssertionError(f"path {path}: {exc!r}") from exc
    # the header facts decode no pixel, so a failing loader does not touch them
    assert _pillow_paths(files)["header"](name)["width"] == 40


@pytest.mark.parametrize("error", list(ERRORS.values()), ids=list(ERRORS))
def test_any_exception_while_pillow_opens_is_mapped(files, monkeypatch, error):
    from PIL import PngImagePlugin

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "_open", _raiser(error))
    for path, call in _pillow_paths(files).items():
        if path == "pil-image":
            continue  # the caller opens that one itself
        try:
            _check(lambda call=call: call("rgb.png"), error, pillow_open=True)
        except BaseException as exc:
            raise AssertionError(f"path {path}: {exc!r}") from exc


def _tiff_paths(folder, monkeypatch):
    def header():
        with open(folder / "tiled.tif", "rb") as fh:
            return read_header(fh, folder / "tiled.tif")

    def streamed():
        monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)
        try:
            return imgstats.compute(folder / "tiled.tif", "median")
        finally:
            monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 64 << 20)

    return {
        "eager": lambda: imgstats.compute(folder / "tiled.tif", "median"),
        "lazy": lambda: imgstats.compute(folder / "tiled.tif", "median", chunks=(16, 20)),
        "lazy-values": lambda: imgstats.open_image(folder / "tiled.tif", chunks="auto").values,
        "streamed": streamed,
        "preview": lambda: read_preview(folder / "tiled.tif", 8),
        "header": header,
    }


@pytest.mark.parametrize("error", list(ERRORS.values()), ids=list(ERRORS))
def test_any_exception_from_tifffile_is_mapped(files, monkeypatch, error):
    monkeypatch.setattr(tifffile.TiffFile, "__init__", _raiser(error))
    for path, call in _tiff_paths(files, monkeypatch).items():
        try:
            _check(call, error)
        except BaseException as exc:
            raise AssertionError(f"path {path}: {exc!r}") from exc


@pytest.mark.parametrize("error", list(ERRORS.values()), ids=list(ERRORS))
def test_any_exception_from_a_tile_decoder_is_mapped(files, monkeypatch, error):
    # TiffPage.decode is the function every tile goes through (imagecodecs' zlib here); it is a
    # cached property of tifffile, replaced by one that hands back a failing decoder.
    monkeypatch.setattr(tifffile.TiffPage, "decode", property(lambda self: _raiser(error)))
    for path, call in _tiff_paths(files, monkeypatch).items():
        if path == "header":
            assert call()["width"] == 50  # no tile decoded
            continue
        try:
            _check(call, error)
        except BaseException as exc:
            raise AssertionError(f"path {path}: {exc!r}") from exc


@pytest.mark.parametrize("error", list(ERRORS.values()), ids=list(ERRORS))
def test_any_exception_from_the_zarr_store_is_mapped(files, monkeypatch, error):
    import zarr

    monkeypatch.setattr(zarr, "open", _raiser(error))
    for call in (
        _tiff_paths(files, monkeypatch)["lazy-values"],
        _tiff_paths(files, monkeypatch)["preview"],
    ):
        _check(call, error)


def test_our_own_errors_pass_through_unchanged(files, monkeypatch):
    error = imgstats.StoreUnavailable("the store went away")
    monkeypatch.setattr(ImageFile.ImageFile, "load", _raiser(error))
    with pytest.raises(imgstats.StoreUnavailable) as info:
        imgstats.compute(files / "rgb.png", "max")
    assert info.value is error


def test_interrupts_are_not_mapped(files, monkeypatch):
    monkeypatch.setattr(ImageFile.ImageFile, "load", _raiser(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        imgstats.open_image(files / "rgb.png")


def _dds(fourcc: bytes = b"ZZZZ") -> bytes:
    """A DDS file whose FourCC pixel format Pillow does not implement."""
    header = struct.pack("<7I", 124, 0x1007, 8, 8, 0, 0, 0) + b"\0" * 44
    pixel_format = struct.pack("<2I4s5I", 32, 0x4, fourcc, 0, 0, 0, 0, 0)
    caps = struct.pack("<5I", 0x1000, 0, 0, 0, 0)
    return b"DDS " + header + pixel_format + caps + b"\0" * 256


def test_a_real_dds_pillow_refuses_is_unreadable(tmp_path):
    path = tmp_path / "odd.dds"
    path.write_bytes(_dds())
    with pytest.raises(NotImplementedError):
        Image.open(path)  # what Pillow itself does
    for call in (
        lambda: imgstats.compute(path, "max"),
        lambda: imgstats.open_image(path),
        lambda: read_preview(path, 16),
        lambda: read_header(io.BytesIO(path.read_bytes()), path),
    ):
        with pytest.raises(UnreadableImage) as info:
            call()
        assert isinstance(info.value.__cause__, NotImplementedError)


@pytest.mark.parametrize(
    ("encode", "says"),
    [
        ("jpeg8_encode", "a JPEG of 12 bits per sample, which Pillow does not decode"),
        ("ljpeg_encode", "a lossless JPEG of 16 bits per sample, which Pillow does not decode"),
    ],
)
def test_a_jpeg_pillow_does_not_decode_is_named(tmp_path, encode, says):
    # before: "is not an image imgstats can read", of a file that is a JPEG (GDAL reads
    # 12-bit ones, a medical or scientific camera writes them)
    imagecodecs = pytest.importorskip("imagecodecs")
    data = np.random.default_rng(1).integers(0, 4096, (20, 30), dtype=np.uint16)
    if encode == "jpeg8_encode":
        blob = imagecodecs.jpeg8_encode(data, level=95, bitspersample=12)
    else:
        blob = imagecodecs.ljpeg_encode(data, bitspersample=16)
    path = tmp_path / "deep.jpg"
    path.write_bytes(blob)
    with pytest.raises(UnreadableImage, match=says):
        imgstats.compute(path, "mean")
    ordinary = tmp_path / "not.jpg"
    ordinary.write_bytes(b"\xff\xd8\xff")  # no frame header: no reason to give
    with pytest.raises(UnreadableImage, match="not an image imgstats can read$"):
        imgstats.compute(ordinary, "mean")


def test_a_store_failing_mid_read_is_store_unavailable_not_a_corrupt_image(files):
    class Flaky(io.BytesIO):
        """Serves the header, then the connection drops."""

        def read(self, *args):
            if self.tell() > 64:
                raise ConnectionResetError("peer reset")
            return super().read(*args)

    data = (files / "tiled.tif").read_bytes()
    with pytest.raises(imgstats.StoreUnavailable):
        read_preview(Flaky(data), 8)

    class Slow(io.BytesIO):
        def read(self, *args):
            if self.tell() > 64:
                raise TimeoutError("read timed out")
            return super().read(*args)

    from imgstats.errors import StoreTimeout

    with pytest.raises(StoreTimeout):
        read_preview(Slow(data), 8)


@pytest.mark.parametrize(
    "error", [NotImplementedError("dds"), Image.DecompressionBombError("bomb while loading")]
)
def test_the_service_answers_4xx_not_500(tmp_path, monkeypatch, error):
    from imgstats.web import create_app

    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "a.png")
    app = create_app(
        {
            "IMAGES": str(tmp_path),
            "WARMUP": False,
            "GALLERY_PREVIEW_SIZE": 16,
            "GALLERY_CACHE_DIR": str(tmp_path / "renders"),
        }
    )
    try:
        monkeypatch.setattr(ImageFile.ImageFile, "load", _raiser(error))
        client = app.test_client()
        status = 413 if isinstance(error, Image.DecompressionBombError) else 422
        # the preview is rendered (the image is larger than GALLERY_PREVIEW_SIZE)
        for url in ("/stats/a.png/max", "/thumbs/a.png", "/previews/a.png"):
            response = client.get(url)
            assert response.status_code == status, (url, response.status_code)
    finally:
        app.extensions["imgstats"].close()
