"""Collections (issue 11): many images' samples as one set, equal to numpy on their union."""

from __future__ import annotations

import json

import dask.array as da
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import tifffile
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import imgstats
from imgstats import ImageNotFound, InvalidOption, NoValidSamples, UnreadableImage, errors
from imgstats.collection import compute_many, merge_summaries

from .cluster import local_cluster
from .oracle import ALL_DTYPES, check_all, valid_samples
from .test_exact import CORE, uneven_chunks, value_pool

FUNCS = ["min", "max", "mean", "median", "p0.5", "p37", "p99"]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@CORE
@given(data=st.data())
def test_collection_equals_numpy_on_the_concatenated_samples(dtype, data):
    n = data.draw(st.integers(1, 4), label="images")
    images, flat = [], []
    for i in range(n):
        shape = data.draw(st.tuples(st.integers(1, 9), st.integers(1, 9)), label=f"shape{i}")
        arr = data.draw(
            hnp.arrays(np.dtype(dtype), shape, elements=st.sampled_from(value_pool(dtype))),
            label=f"a{i}",
        )
        flat.append(arr.ravel())
        if data.draw(st.booleans(), label=f"lazy{i}"):
            arr = da.from_array(arr, chunks=data.draw(uneven_chunks(arr.shape)))
        images.append(arr)
    everything = np.concatenate(flat)
    if valid_samples(everything).size == 0:
        with pytest.raises(NoValidSamples):
            imgstats.compute(images, FUNCS)
        return
    check_all(imgstats.compute(images, FUNCS), everything, FUNCS)
    check_all(imgstats.compute(images, FUNCS, scheduler="sync"), everything, FUNCS)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("collection")
    rng = np.random.default_rng(12)
    arrays = {}
    for i, shape in enumerate([(20, 30, 3), (11, 45, 3), (33, 8, 3)]):
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"p{i}.png")
        arrays[f"p{i}.png"] = arr
    grey = rng.integers(0, 256, (17, 19), dtype=np.uint8)
    Image.fromarray(grey).save(folder / "grey.png")
    arrays["grey.png"] = grey
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    f32 = rng.normal(size=(25, 26)).astype(np.float32)
    tifffile.imwrite(folder / "f.tif", f32)
    return folder, arrays


def test_paths_bands_and_luma(photos):
    folder, arrays = photos
    paths = [folder / f"p{i}.png" for i in range(3)]
    rgb = [arrays[f"p{i}.png"] for i in range(3)]
    check_all(imgstats.compute(paths, FUNCS), np.concatenate([a.ravel() for a in rgb]), FUNCS)
    check_all(
        imgstats.compute(paths, FUNCS, "B"), np.concatenate([a[..., 2].ravel() for a in rgb]), FUNCS
    )
    lumas = [np.asarray(Image.fromarray(a).convert("L")).ravel() for a in rgb]
    check_all(imgstats.compute(paths, FUNCS, "luma"), np.concatenate(lumas), FUNCS)
    summary = imgstats.summarize_many(paths)
    assert summary.band_names == ("R", "G", "B") and summary.shape == ()


def test_different_band_counts_count_every_sample(photos):
    folder, arrays = photos
    paths = [folder / "p0.png", folder / "grey.png"]
    want = np.concatenate([arrays["p0.png"].ravel(), arrays["grey.png"].ravel()])
    check_all(imgstats.compute(paths, FUNCS), want, FUNCS)
    with pytest.raises(InvalidOption, match="different bands"):
        imgstats.compute(paths, "min", "R")


def test_a_window_applies_to_every_image(photos):
    folder, arrays = photos
    paths = [folder / f"p{i}.png" for i in range(3)]
    want = np.concatenate([arrays[f"p{i}.png"][2:9, 1:7].ravel() for i in range(3)])
    check_all(imgstats.compute(paths, FUNCS, window=(1, 2, 7, 9)), want, FUNCS)


@pytest.mark.parametrize(
    ("names", "error", "message"),
    [
        (["p0.png", "broken.png", "p1.png"], UnreadableImage, "broken.png"),
        (["p0.png", "missing.png"], ImageNotFound, "missing.png"),
        ([], InvalidOption, "empty collection"),
    ],
)
def test_bad_collections_name_the_image(photos, names, error, message):
    folder, _ = photos
    with pytest.raises(error, match=message):
        imgstats.compute([folder / n for n in names], "median")


def test_arrays_are_named_by_position():
    with pytest.raises(InvalidOption, match="image 1"):
        imgstats.compute([np.zeros(3, np.uint8), np.zeros(3, "U1")], "min")
    with pytest.raises(InvalidOption, match="image 1"):
        imgstats.compute([np.zeros(3, np.uint8), np.zeros(3, complex)], "min")


@pytest.mark.parametrize(
    "error",
    [errors.NeedsRefinement([(8, 3, 5)]), errors.Busy("busy", retry_after=7)],
    ids=["NeedsRefinement", "Busy"],
)
def test_an_images_error_is_named_keeping_its_class_and_attributes(error):
    # type(exc)(message) could not make a NeedsRefinement (it takes nodes): the image went
    # unnamed; a Busy was named, and lost its retry_after (7 became 1)
    import imgstats.collection as collection

    named = collection._named(error, "image 2 (ndarray)")
    assert type(named) is type(error) and vars(named) == vars(error)
    assert str(named) == f"image 2 (ndarray): {error}"


def test_refinement_reads_only_images_with_samples_in_the_wanted_bins(monkeypatch):
    import imgstats.collection as collection

    rng = np.random.default_rng(13)
    low = [rng.uniform(0, 1, (50, 40)) for _ in range(3)]  # float64: the median lies here
    high = [rng.uniform(1e6, 2e6, (10, 10)) for _ in range(3)]
    images = low + high
    read = []
    original = collection._found_one

    def found_one(source, index, *args):
        read.append(index)
        return original(source, index, *args)

    monkeypatch.setattr(collection, "_found_one", found_one)
    everything = np.concatenate([a.ravel() for a in images])
    check_all(compute_many(images, ["median", "p10"]), everything, ["median", "p10"])
    assert read and set(read) <= {0, 1, 2}


def test_merge_summaries_of_cached_parts_answers_without_pixels(photos):
    folder, arrays = photos
    parts = [imgstats.summarize(folder / f"p{i}.png") for i in range(3)]
    merged = merge_summaries(parts)
    want = np.concatenate([arrays[f"p{i}.png"].ravel() for i in range(3)])
    check_all(merged.compute(FUNCS), want, FUNCS)


def test_cli_several_paths_and_a_glob(photos, capsys):
    from imgstats.cli import main

    folder, arrays = photos
    want = np.concatenate([arrays[f"p{i}.png"].ravel() for i in range(3)])
    assert main(["stats", str(folder / "p*.png"), "median", "p99", "--json"]) == 0
    check_all(json.loads(capsys.readouterr().out), want, ["median", "p99"])
    assert (
        main(
            [
                "stats",
                str(folder / "p0.png"),
                str(folder / "p1.png"),
                str(folder / "p2.png"),
                "min",
                "mean",
                "--json",
            ]
        )
        == 0
    )
    check_all(json.loads(capsys.readouterr().out), want, ["min", "mean"])
    assert main(["stats", str(folder / "*.nothing"), "median"]) == 2
    assert "no file matches" in capsys.readouterr().err
    assert main(["stats", str(folder / "p0.png"), str(folder / "gone.png"), "median"]) == 2
    assert "gone.png" in capsys.readouterr().err


@pytest.mark.slow
def test_one_task_per_image_on_a_local_cluster(photos):
    distributed = pytest.importorskip("distributed")
    folder, arrays = photos
    rng = np.random.default_rng(14)
    floats = [rng.normal(size=s).astype(np.float32) for s in [(40, 30), (21, 17), (9, 60)]]
    paths = []
    for i, arr in enumerate(floats):
        tifffile.imwrite(folder / f"c{i}.tif", arr, tile=(16, 16))
        paths.append(folder / f"c{i}.tif")
    with local_cluster() as client:
        with distributed.get_task_stream(client) as stream:
            got = imgstats.compute(paths, FUNCS)
        tasks = [t for t in stream.data if "_summarize_one" in str(t["key"])]
        assert len(tasks) == len(paths)
        assert {t["worker"] for t in tasks} <= set(client.scheduler_info()["workers"])
    check_all(got, np.concatenate([a.ravel() for a in floats]), FUNCS)


@pytest.mark.parametrize("band", [0, "0", None])
def test_a_one_band_collection_refines_band_zero_like_all_samples(band):
    # a one-band image's band 0 is answered by the refinements of "all": refine_many must
    # store them there, or it never converges
    rng = np.random.default_rng(5)
    images = [rng.normal(size=(30, 20)).astype(np.float32) for _ in range(3)]
    everything = np.concatenate([a.ravel() for a in images])
    got = compute_many(images, ["median", "p10", "p99.9"], band=band)
    check_all(got, everything, ["median", "p10", "p99.9"])
