"""Palette images over their class indices (issue 16 item 3): ``palette="index"`` reads a
paletted TIFF as GDAL does (rasterio's ``read()`` is the oracle), and a PNG or GIF as
Pillow's ``numpy.asarray`` of its ``P`` image; the default stays the colours. Every read path
(eager, dask, stream, window) gives the same; an image without a palette is refused."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from PIL import Image

import imgstats
import imgstats.io._limits
from imgstats import InvalidOption
from imgstats.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

RNG = np.random.default_rng(3)
CLASSES = RNG.integers(1, 13, (60, 90)).astype(np.uint8)
FUNCS = ["min", "max", "median", "p10", "majority", "minority", "unique", "value_counts"]


def _oracle(values: np.ndarray) -> dict:
    uniq, counts = np.unique(values, return_counts=True)
    return {
        "min": int(values.min()),
        "max": int(values.max()),
        "median": float(np.median(values)),
        "p10": float(np.percentile(values, 10)),
        "majority": int(uniq[np.argmax(counts)]),
        "minority": int(uniq[np.argmin(counts)]),
        "unique": int(uniq.size),
        "value_counts": dict(zip(uniq.tolist(), counts.tolist(), strict=True)),
    }


@pytest.fixture
def palette_tif(tmp_path):
    path = tmp_path / "classes.tif"
    profile = dict(
        driver="GTiff", width=90, height=60, count=1, dtype="uint8", photometric="palette"
    )
    profile.update(tiled=True, blockxsize=32, blockysize=16)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(CLASSES, 1)
        dst.write_colormap(
            1, {i: ((37 * i) % 256, (255 - 9 * i) % 256, 3 * i, 255) for i in range(256)}
        )
    return path


def test_a_palette_tiff_over_its_indices_equals_rasterio(palette_tif, read):
    with rasterio.open(palette_tif) as src:
        indices = src.read(1)
    assert read(palette_tif, FUNCS, palette="index") == _oracle(indices)
    window = (5, 7, 61, 50)
    got = read(palette_tif, ["median", "majority"], palette="index", window=window)
    want = _oracle(indices[7:50, 5:61])
    assert got == {"median": want["median"], "majority": want["majority"]}


def test_the_default_is_the_colours(palette_tif):
    with Image.open(palette_tif) as img:
        colours = np.asarray(img.convert("RGB"))
    assert imgstats.compute(palette_tif, "max") == int(colours.max())
    assert imgstats.compute(palette_tif, "max", palette="rgb") == int(colours.max())
    assert imgstats.open_image(palette_tif, palette="index").dims == ("y", "x")


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_png_and_gif_over_their_indices_as_pillow_reads_them(tmp_path, fmt):
    img = Image.fromarray(CLASSES, "P")
    img.putpalette([(7 * i + c * 50) % 256 for i in range(256) for c in range(3)])
    path = tmp_path / f"classes.{fmt.lower()}"
    img.save(path, fmt)
    with Image.open(path) as opened:  # GIF may renumber its palette: Pillow's reading
        indices = np.asarray(opened)
    assert imgstats.compute(path, FUNCS, palette="index") == _oracle(indices)


def test_a_transparent_index_counts_unless_nodata_says_so(tmp_path):
    img = Image.fromarray(CLASSES, "P")
    img.putpalette([(5 * i) % 256 for i in range(768)])
    path = tmp_path / "transparent.png"
    img.save(path, transparency=1)  # index 1 is transparent: its colours have alpha 0
    got = imgstats.compute(path, ["count", "min"], palette="index")
    assert got == {"count": CLASSES.size, "min": 1}  # the indices, every one
    kept = CLASSES[CLASSES != 1]
    got = imgstats.compute(path, ["count", "min"], palette="index", nodata=1)
    assert got == {"count": kept.size, "min": int(kept.min())}
    assert imgstats.compute(path, "count") == 3 * kept.size  # R, G, B of the opaque pixels


@pytest.mark.parametrize(
    ("source", "palette", "message"),
    [
        ("imgstats/data/gallery/IMG_1.jpg", "index", "has no palette"),
        ("imgstats/data/gallery/IMG_14_int16.tif", "index", "has no palette"),
        (None, "index", "has no palette"),
        ("imgstats/data/gallery/IMG_1.jpg", "colours", "palette must be 'rgb'"),
    ],
)
def test_palette_index_on_an_image_without_one_is_refused(source, palette, message):
    from imgstats.data import gallery_path

    data = CLASSES if source is None else gallery_path() / source.rsplit("/", 1)[-1]
    with pytest.raises(InvalidOption, match=message):
        imgstats.compute(data, "max", palette=palette)


def test_palette_index_of_a_later_gif_frame_says_why_it_cannot(tmp_path):
    # before: "t.gif (RGBA) has no palette", of a GIF that has one: Pillow decodes the
    # frames after the first as colours
    frames = [Image.fromarray(CLASSES + i, "P") for i in range(2)]
    for frame in frames:
        frame.putpalette([(40 * i) % 256 for i in range(768)])
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], transparency=0)
    assert imgstats.compute(path, "count", palette="index") == CLASSES.size  # renumbered
    with pytest.raises(InvalidOption, match="frame 1 of .*frames after the first as RGB"):
        imgstats.compute(path, "max", page=1, palette="index")


def test_cli_palette_index(palette_tif, capsys):
    assert main(["stats", str(palette_tif), "majority", "--palette", "index"]) == 0
    assert capsys.readouterr().out == f"majority {_oracle(CLASSES)['majority']}\n"
    assert main(["stats", "imgstats/data/gallery/IMG_1.jpg", "max", "--palette", "index"]) == 2
    assert "has no palette" in capsys.readouterr().err


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_a_palette_tiffs_nodata_index_leaves_its_pixels_out_of_the_colours(tmp_path, read, sparse):
    # GDAL's nodata names an index: the colours of those pixels are not valid. It was
    # compared with the colour samples instead, so the pixels of index 5 counted and any
    # colour sample equal to 5 (index 2's blue, 6) was left out
    path = tmp_path / "nd.tif"
    profile = dict(driver="GTiff", width=90, height=60, count=1, dtype="uint8", nodata=5)
    profile.update(photometric="palette", tiled=True, blockxsize=32, blockysize=16)
    colours = {i: ((37 * i) % 256, (255 - 9 * i) % 256, (3 * i) % 256, 255) for i in range(256)}
    colours[3] = (111, 5, 9, 255)  # a colour sample equal to the nodata index
    classes = CLASSES.copy()
    classes[:10, :10] = 5
    height, width = (32, 64) if sparse else classes.shape  # sparse: empty tiles are index 5
    with rasterio.open(path, "w", **profile, SPARSE_OK=sparse) as dst:
        window = rasterio.windows.Window(0, 0, width, height)
        dst.write(classes[:height, :width], 1, window=window)
        dst.write_colormap(1, colours)
    with rasterio.open(path) as src:
        index, valid = src.read(1), src.read_masks(1) > 0
    lut = np.array([colours[i][:3] for i in range(256)], np.uint8)
    want = lut[index[valid]].ravel()
    assert want.size < 3 * index.size
    got = read(path, ["count", "masked_pixels", "mean", "median", "unique"])
    assert (got["count"], got["masked_pixels"]) == (want.size, 3 * index.size - want.size)
    assert got["mean"] == pytest.approx(float(want.mean()), rel=1e-12)
    assert got["median"] == float(np.median(want))
    assert got["unique"] == np.unique(want).size
    assert read(path, "count", palette="index") == int(valid.sum())
    assert read(path, "count", raw=True) == 3 * index.size  # the alpha is never pooled
