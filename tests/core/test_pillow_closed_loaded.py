"""PIL images as input after ``close()`` or ``load()``: a closed file is named as such, a
16-bit PNG that Pillow has already decoded to 8 bits is refused rather than counted as 8 bits.

numpy on the samples written is the oracle.
"""

from __future__ import annotations

import io

import imagecodecs
import numpy as np
import pytest
from PIL import Image

import imgstats
from imgstats import InvalidOption

RNG = np.random.default_rng(14)
RGB8 = RNG.integers(0, 256, (30, 45, 3), dtype=np.uint8)
RGB16 = RNG.integers(0, 65536, (30, 45, 3), dtype=np.uint16)
GREY16 = RNG.integers(0, 65536, (30, 45), dtype=np.uint16)


def _write(path, name):
    if name == "rgb16.png":
        path.write_bytes(imagecodecs.png_encode(RGB16))
    elif name == "grey16.png":
        path.write_bytes(imagecodecs.png_encode(GREY16))
    elif name == "frames.gif":
        frames = [Image.fromarray(RGB8[..., i]).convert("P") for i in range(3)]
        frames[0].save(path, save_all=True, append_images=frames[1:])
    else:
        Image.fromarray(RGB8).save(path)
    return path


@pytest.mark.parametrize(
    ("name", "frame"),
    [("rgb16.png", 0), ("grey16.png", 0), ("a.jpg", 0), ("a.tif", 0), ("frames.gif", 1)],
)
def test_an_image_closed_before_its_pixels_were_loaded_says_so(tmp_path, name, frame):
    # was "cannot be decoded: AttributeError: 'NoneType' object has no attribute 'seek'"
    # (an AssertionError for the others)
    with Image.open(_write(tmp_path / name, name)) as img:
        img.seek(frame)
    with pytest.raises(InvalidOption, match="its file is closed .*pass the path"):
        imgstats.compute(img, "max")


@pytest.mark.parametrize("name", ["grey16.png", "a.jpg", "a.tif", "frames.gif"])
def test_an_image_loaded_before_closing_is_read(tmp_path, name):
    path = _write(tmp_path / name, name)
    with Image.open(path) as img:
        img.load()
        expected = np.asarray(img.convert("RGB") if img.mode == "P" else img)  # colours
    assert imgstats.compute(img, "max") == expected.max()
    assert imgstats.compute(img, "median") == np.median(expected)
    if name == "grey16.png":  # Pillow keeps a 16-bit grey's 16 bits (mode I;16)
        assert imgstats.compute(img, "max") == GREY16.max() == imgstats.compute(path, "max")


@pytest.mark.parametrize("close", [False, True])
def test_a_loaded_16_bit_colour_png_is_refused_not_counted_as_8_bits(tmp_path, close):
    # was Pillow's high bytes: 255 for max, where the path gives the 16-bit samples
    path = _write(tmp_path / "rgb16.png", "rgb16.png")
    img = Image.open(path)
    img.load()
    if close:
        img.close()
    with pytest.raises(InvalidOption, match="Pillow decoded its 16-bit PNG to 8 bits"):
        imgstats.compute(img, "max")
    assert imgstats.compute(path, "max") == RGB16.max()
    with Image.open(path) as fresh:  # not loaded yet: its 16 bits are read
        assert imgstats.compute(fresh, "max") == RGB16.max()


def test_a_loaded_16_bit_png_of_no_file_gives_what_pillow_holds():
    # from bytes Pillow keeps nothing that says the samples had 16 bits (documented)
    img = Image.open(io.BytesIO(imagecodecs.png_encode(RGB16)))
    img.load()
    assert imgstats.compute(img, "max") == np.asarray(img).max() == (RGB16 >> 8).max()


def test_images_made_in_memory_are_read():
    # they have no file (nor a tile) to be closed
    made = [Image.new("L", (3, 2), 7), Image.fromarray(GREY16), Image.fromarray(RGB8)]
    for img in made:
        assert imgstats.compute(img, "max") == np.asarray(img).max()
    assert imgstats.compute(made[0], "min") == 7


@pytest.mark.parametrize("photometric", ["rgb", "rgba", "separated"])
@pytest.mark.parametrize("how", ["path", "bytes", "loaded"])
def test_a_pil_image_of_a_16_bit_colour_tiff_is_refused_not_counted_as_8_bits(
    tmp_path, photometric, how
):
    # was Pillow's high bytes (max 255), where the path reads the 16-bit samples; Pillow's
    # TIFF tags still say 16 bits once it is loaded, or opened from bytes
    import tifffile

    path = tmp_path / "wide.tif"
    if photometric == "rgba":
        data = np.concatenate([RGB16, RGB16[..., :1]], -1)
        tifffile.imwrite(path, data, photometric="rgb", extrasamples=["unassalpha"])
    elif photometric == "separated":
        tifffile.imwrite(path, np.concatenate([RGB16, RGB16[..., :1]], -1), photometric=photometric)
    else:
        tifffile.imwrite(path, RGB16, photometric=photometric)
    with Image.open(io.BytesIO(path.read_bytes()) if how == "bytes" else path) as img:
        if how == "loaded":
            img.load()
        with pytest.raises(InvalidOption, match="Pillow decodes this TIFF's 16-bit .* to 8 bits"):
            imgstats.compute(img, "max")
    assert imgstats.compute(path, "max") == RGB16.max() > 255


@pytest.mark.parametrize("how", ["path", "bytes", "loaded"])
def test_a_pil_image_of_a_uint32_tiff_gives_its_unsigned_values(tmp_path, how):
    # Pillow holds them as int32 (mode I): 2**32 - 1 was -1, the max 7 where numpy's is 2**32 - 1
    import tifffile

    data = np.array([[1, 2**31 + 5, 2**32 - 1], [7, 0, 2**31]], np.uint32)
    path = tmp_path / "u32.tif"
    tifffile.imwrite(path, data)
    funcs = ["min", "max", "median", "sum"]
    with Image.open(io.BytesIO(path.read_bytes()) if how == "bytes" else path) as img:
        if how == "loaded":
            img.load()
        got = imgstats.compute(img, funcs)
    assert got == imgstats.compute(path, funcs)
    assert got == {
        "min": 0,
        "max": 2**32 - 1,
        "median": float(np.median(data)),
        "sum": int(data.sum(dtype=np.uint64)),
    }
    signed = tmp_path / "i32.tif"
    tifffile.imwrite(signed, data.view(np.int32))  # SampleFormat 2: Pillow's int32 is right
    with Image.open(signed) as img:
        assert imgstats.compute(img, "min") == data.view(np.int32).min() < 0
