"""One input grammar: path and URL patterns in the library as in the CLI; band-name hints."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import imgstats
from imgstats import _patterns
from imgstats.errors import ImageNotFound, InvalidOption, StoreUnavailable

from .oracle import check_all

#: affine's warning, as rasterio writes the mixed folder's GeoTIFF
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")


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


@pytest.fixture
def mixed(tmp_path):
    """Pictures beside what a folder of them holds: a licence, GDAL's sidecars of a TIFF (a
    .msk mask, which is a TIFF itself, and an .aux.xml), and a text named as a picture."""
    import rasterio

    rng = np.random.default_rng(5)
    grey = rng.integers(0, 256, (6, 9), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "a.png")
    data = rng.integers(0, 256, (1, 8, 10), dtype=np.uint8)
    keep = np.ones((8, 10), bool)
    keep[:3] = False
    profile = dict(driver="GTiff", width=10, height=8, count=1, dtype="uint8")
    profile.update(crs="EPSG:32633", transform=rasterio.transform.from_origin(0, 80, 10, 10))
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=False),
        rasterio.open(tmp_path / "b.tif", "w", **profile) as dst,
    ):
        dst.write(data)
        dst.write_mask(keep.astype(np.uint8) * 255)
    (tmp_path / "b.tif.aux.xml").write_text("<PAMDataset></PAMDataset>")
    (tmp_path / "LICENSES.md").write_text("# Licences\n")
    with rasterio.open(tmp_path / "b.tif") as src:
        valid = src.read(1, masked=True).compressed()
    assert (tmp_path / "b.tif.msk").exists()
    return tmp_path, np.concatenate([grey.ravel(), valid])


def test_a_patterns_non_image_is_left_out_and_named(mixed):
    """``imgstats stats 'gallery/*' ...`` failed on the folder's LICENSES.md (exit 2): a
    pattern's match that is no image is left out, named in a warning; a sidecar of a
    matched image is part of it (its .msk is no image of its own, though a TIFF)."""
    from imgstats.errors import SkippedFiles

    folder, samples = mixed
    funcs = ["count", "min", "median", "max"]
    with pytest.warns(SkippedFiles, match=r"left out 1 file\(s\).*LICENSES\.md") as told:
        got = imgstats.compute(str(folder / "*"), funcs)
    assert len(told) == 1 and "b.tif" not in str(told[0].message)
    assert got.pop("count") == samples.size  # the .msk's masked rows left out, as GDAL
    check_all(got, samples, funcs[1:])
    got["count"] = samples.size
    with pytest.warns(SkippedFiles):
        assert imgstats.summarize(folder / "*").compute(funcs) == got


def test_a_non_image_named_on_its_own_still_fails(mixed):
    from imgstats.errors import NotAnImage, UnreadableImage

    folder, _ = mixed
    licence = str(folder / "LICENSES.md")
    for sources in (licence, [licence, str(folder / "a.png")]):
        with pytest.raises(NotAnImage, match="LICENSES.md is not an image imgstats can read"):
            imgstats.compute(sources, "count")
    assert issubclass(NotAnImage, UnreadableImage)  # 422 over HTTP, as before
    with pytest.raises(ImageNotFound, match="no image among the files matched"):
        imgstats.compute(str(folder / "*.md"), "count")


def test_a_patterns_broken_image_still_fails(mixed):
    """An image that fails is no file to leave out: the question fails, naming it."""
    from imgstats.errors import UnreadableImage

    folder, _ = mixed
    whole = (folder / "a.png").read_bytes()
    (folder / "c.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UnreadableImage, match="c.png is truncated"):
        imgstats.compute(str(folder / "*"), "count")


def test_the_cli_tells_the_left_out_files_on_stderr(mixed, capsys):
    from imgstats.cli import main

    folder, samples = mixed
    assert main(["stats", str(folder / "*"), "count", "max", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"count": samples.size, "max": int(samples.max())}
    assert err == (
        "imgstats: warning: left out 1 file(s) the pattern matched that are not images: "
        f"{folder / 'LICENSES.md'}\n"
    )
    assert main(["stats", str(folder / "LICENSES.md"), str(folder / "a.png"), "count"]) == 2
    assert "LICENSES.md is not an image" in capsys.readouterr().err
