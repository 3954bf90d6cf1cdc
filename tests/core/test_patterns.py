"""One input grammar: path and URL patterns in the library as in the CLI; band-name hints."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import imgstats
from imgstats import _patterns
from imgstats.errors import ImageNotFound, InvalidOption, StoreUnavailable

from .oracle import check_all


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("patterns")
    rng = np.random.default_rng(2)
    arrays = {}
    for name in ("a1.png", "a2.png", "b1.png"):
        arrays[name] = rng.integers(0, 256, (7, 11), dtype=np.uint8)
        Image.fromarray(arrays[name]).save(folder / name)
    (folder / "sub").mkdir()
    arrays["sub/a3.png"] = rng.integers(0, 256, (5, 5), dtype=np.uint8)
    Image.fromarray(arrays["sub/a3.png"]).save(folder / "sub" / "a3.png")
    return folder, arrays


def _samples(arrays, names):
    return np.concatenate([arrays[n].ravel() for n in names])


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("a*.png", ["a1.png", "a2.png"]),
        ("?1.png", ["a1.png", "b1.png"]),
        ("[ab]2.png", ["a2.png"]),
        ("**/a*.png", ["a1.png", "a2.png", "sub/a3.png"]),
    ],
)
def test_compute_takes_a_local_pattern(folder, pattern, names):
    path, arrays = folder
    funcs = ["min", "median", "p90", "mean", "max"]
    got = imgstats.compute(str(path / pattern), funcs)
    check_all(got, _samples(arrays, names), funcs)
    assert imgstats.summarize(path / pattern).compute(funcs) == got  # a Path too


def test_compute_takes_a_url_pattern(folder, http_folder):
    served, base = http_folder
    _, arrays = folder
    for name in ("a1.png", "a2.png"):
        Image.fromarray(arrays[name]).save(served / f"pat-{name}")
    got = imgstats.compute(f"{base}/pat-a[12].png", ["median", "max"])
    check_all(got, _samples(arrays, ["a1.png", "a2.png"]), ["median", "max"])


def test_an_existing_file_with_a_glob_character_is_a_file(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    Image.fromarray(arr).save(tmp_path / "odd[1].png")
    assert not _patterns.is_pattern(str(tmp_path / "odd[1].png"))
    assert imgstats.compute(str(tmp_path / "odd[1].png"), "max") == 11


def test_nothing_matches(folder):
    path, _ = folder
    with pytest.raises(ImageNotFound, match="no file matches"):
        imgstats.compute(str(path / "*.gif"), "max")


def test_an_unreachable_url_pattern_is_store_unavailable():
    with pytest.raises(StoreUnavailable):
        imgstats.compute("http://127.0.0.1:9/*.png", "max")


def test_a_band_name_on_a_plain_array_says_how_to_name_bands():
    rgb = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(InvalidOption, match="band coordinate"):
        imgstats.compute(rgb, "max", band="R")
    with pytest.raises(InvalidOption) as exc:  # an index out of range needs no such hint
        imgstats.compute(rgb, "max", band=7)
    assert "band coordinate" not in str(exc.value)


@pytest.mark.parametrize(
    ("source", "pattern"),
    [
        ("https://host/img.jpg?token=a*b", False),  # a signed URL's query, not a wildcard
        ("https://host/*.jpg?token=1", True),
        ("s3://bucket/img_?.tif", True),
        ("gs://bucket/[ab].tif", True),
        ("s3://bucket/img.tif", False),
        ("photos/*.jpg", True),
        ("photo.jpg", False),
        (b"*.jpg", False),
    ],
)
def test_what_is_a_pattern(source, pattern):
    assert _patterns.is_pattern(source) is pattern
