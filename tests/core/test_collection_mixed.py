"""Collections of mixed pixel types (issue 11): numpy's promotion, exactly.

The oracle is numpy on the concatenation of every image's samples, each promoted to
``numpy.result_type`` of the images' types, as ``numpy.concatenate`` promotes them.
"""

from __future__ import annotations

from unittest import mock

import dask.array as da
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import tifffile
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import imgstats
import imgstats.collection as collection
from imgstats import InvalidOption, NoValidSamples
from imgstats.collection import PromotedPart, merge_summaries, promoted_type, refine_many

from .cluster import local_cluster
from .oracle import check_all, valid_samples
from .test_exact import CORE, uneven_chunks, value_pool

DTYPES = [
    "uint8",
    "int8",
    "uint16",
    "int16",
    "int32",
    "uint32",
    "float32",
    "float64",
    "int64",
    "uint64",
]
FUNCS = ["min", "max", "mean", "median", "p0", "p0.5", "p37", "p99", "p100"]


def promoted(arrays) -> np.ndarray:
    """numpy's concatenation of every sample of every image, promoted as concatenate does."""
    dtype = np.result_type(*arrays)
    return np.concatenate([np.asarray(a).astype(dtype).ravel() for a in arrays])


@st.composite
def mixed_images(draw):
    """2 to 4 images of drawn types, shapes (2-D or with 1-3 bands) and values (NaN, inf...)."""
    n = draw(st.integers(2, 4), label="images")
    dtypes = draw(st.lists(st.sampled_from(DTYPES), min_size=n, max_size=n), label="dtypes")
    arrays = []
    for i, dtype in enumerate(dtypes):
        shape = draw(
            st.one_of(
                st.tuples(st.integers(1, 9), st.integers(1, 9)),
                st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 3)),
            ),
            label=f"shape{i}",
        )
        pool = value_pool(dtype)
        elements = st.one_of(st.sampled_from(pool), hnp.from_dtype(np.dtype(dtype)))
        arrays.append(draw(hnp.arrays(np.dtype(dtype), shape, elements=elements), label=f"a{i}"))
    return arrays


@CORE
@given(arrays=mixed_images(), data=st.data())
def test_mixed_types_equal_numpy_on_the_promoted_concatenation(arrays, data):
    funcs = data.draw(st.lists(st.sampled_from(FUNCS), min_size=1, unique=True), label="funcs")
    images = [
        da.from_array(a, chunks=data.draw(uneven_chunks(a.shape)))
        if data.draw(st.booleans(), label=f"lazy{i}")
        else a
        for i, a in enumerate(arrays)
    ]
    everything = promoted(arrays)
    # the types known before reading (arrays) or learnt from the first pass (as for files,
    # whose 32/64-bit images of another type are then decoded again)
    known = data.draw(st.booleans(), label="types known first")
    peek = collection._known_dtype if known else (lambda source, io_options: None)
    with mock.patch.object(collection, "_known_dtype", peek):
        if valid_samples(everything).size == 0:
            with pytest.raises(NoValidSamples):
                imgstats.compute(images, funcs)
            return
        check_all(imgstats.compute(images, funcs), everything, funcs)
        summary = imgstats.summarize_many(images)
    assert summary.dtype == everything.dtype
    # numpy arrays' bands are named "0", "1"...: a 2-D image is one band "0"
    counts = {a.shape[2] if a.ndim == 3 else 1 for a in arrays}
    assert summary.band_names == (tuple(map(str, range(*counts))) if len(counts) == 1 else ("all",))


@CORE
@given(arrays=mixed_images())
def test_mixed_types_on_dask_tasks(arrays):
    """One dask task per image (and per image decoded again), the same answer."""
    everything = promoted(arrays)
    if valid_samples(everything).size == 0:
        return
    with mock.patch.object(collection, "_known_dtype", lambda source, io_options: None):
        check_all(imgstats.compute(arrays, FUNCS, scheduler="sync"), everything, FUNCS)


def test_promoted_type_is_numpys():
    assert promoted_type(["uint8", "int16", "float32"]) == np.float32
    assert promoted_type(["uint16", "int16"]) == np.int32
    assert promoted_type(["int32", "float32"]) == np.float64
    assert promoted_type(["uint64", "int8"]) == np.float64
    # from summaries only: 8/16-bit integers promote, a 32/64-bit image of another type not
    assert promoted_type(["uint8", "float32"], ["a", "b"], decode_again=False) == np.float32
    with pytest.raises(InvalidOption, match="a.tif is int32, b.tif is float32.*float64"):
        promoted_type(["int32", "float32"], ["a.tif", "b.tif"], decode_again=False)
    with pytest.raises(InvalidOption, match="unsupported pixel type"):
        promoted_type(["uint8", "complex64"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(31)
    arrays = {
        "rgb.png": rng.integers(0, 256, (21, 30, 3), dtype=np.uint8),
        "u16.tif": rng.integers(0, 65536, (19, 23), dtype=np.uint16),
        "i32.tif": rng.integers(-(10**7), 10**7, (40, 33), dtype=np.int32),
        "f32.tif": rng.normal(0, 1000, (45, 41)).astype(np.float32),
    }
    arrays["f32.tif"][3, 4] = np.nan
    Image.fromarray(arrays["rgb.png"]).save(folder / "rgb.png")
    for name, arr in arrays.items():
        if name.endswith(".tif"):
            tifffile.imwrite(folder / name, arr)
    return folder, arrays


@pytest.mark.parametrize("headers", [True, False], ids=["local headers", "types unknown"])
def test_files_are_promoted_and_only_wide_ones_decoded_again(folder, monkeypatch, headers):
    """uint8 RGB + uint16 + int32 + float32 files: float64, exactly numpy's."""
    path, arrays = folder
    names = ["rgb.png", "u16.tif", "i32.tif", "f32.tif"]
    summarized, refined = [], []
    summarize_one, found_one = collection._summarize_one, collection._found_one

    def counting_summary(source, index, region, io_options, dtype, nested):
        summarized.append((source.name, "own" if dtype is None else np.dtype(dtype).name))
        return summarize_one(source, index, region, io_options, dtype, nested)

    def counting_refinement(source, *args):
        refined.append(source.name)
        return found_one(source, *args)

    monkeypatch.setattr(collection, "_summarize_one", counting_summary)
    monkeypatch.setattr(collection, "_found_one", counting_refinement)
    if not headers:  # as for URLs: the types are learnt from the summarizing pass
        monkeypatch.setattr(collection, "_known_dtype", lambda source, io_options: None)
    funcs = [*FUNCS, "p12.5", "p99.9"]
    got = imgstats.compute([path / n for n in names], funcs)
    everything = promoted([arrays[n] for n in names])
    assert everything.dtype == np.float64
    check_all(got, everything, funcs)
    # the 8/16-bit images are read once, as themselves, and promoted from their summaries;
    # the 32-bit ones are read as float64 at once when their headers say what is coming,
    # else read as themselves and once more as float64
    wide = [("i32.tif", "float64"), ("f32.tif", "float64")]
    native = [("rgb.png", "own"), ("u16.tif", "own")]
    if not headers:
        native += [("i32.tif", "own"), ("f32.tif", "own")]
    assert sorted(summarized) == sorted(native + wide)
    assert refined and set(refined) <= {"i32.tif", "f32.tif"}


def test_narrow_images_promote_without_pixels(folder, monkeypatch):
    """uint8 + uint16 + float32: float32, the narrow ones answered from their summaries."""
    path, arrays = folder
    names = ["rgb.png", "u16.tif", "f32.tif"]
    summarized, refined = [], []
    summarize_one, found_one = collection._summarize_one, collection._found_one
    monkeypatch.setattr(
        collection, "_summarize_one", lambda *a: summarized.append(a) or summarize_one(*a)
    )
    monkeypatch.setattr(
        collection, "_found_one", lambda *a: refined.append(a[0].name) or found_one(*a)
    )
    funcs = ["median", "p2.5", "p97.5", "mean", "min", "max"]
    got = imgstats.compute([path / n for n in names], funcs)
    check_all(got, promoted([arrays[n] for n in names]), funcs)
    assert len(summarized) == 3 and set(refined) <= {"f32.tif"}


def test_same_bands_are_kept_across_types(folder):
    """RGB uint8 with RGB float32: band R across both, promoted."""
    path, arrays = folder
    rgb = arrays["rgb.png"]
    floats = np.random.default_rng(3).normal(size=(7, 9, 3)).astype(np.float32)
    images = [path / "rgb.png", imgstats.open_image(path / "rgb.png").astype(np.uint16), floats]
    # open_image gives band names R, G, B; name the float array's bands the same
    import xarray as xr

    images[2] = xr.DataArray(floats, dims=("y", "x", "band"), coords={"band": ["R", "G", "B"]})
    summary = imgstats.summarize_many(images)
    assert summary.band_names == ("R", "G", "B") and summary.dtype == np.float32
    want = promoted([rgb[..., 0], rgb[..., 0].astype(np.uint16), floats[..., 0]])
    check_all(imgstats.compute(images, FUNCS, "R"), want, FUNCS)
    with pytest.raises(InvalidOption, match="float32.*no luma"):
        imgstats.compute(images, "median", "luma")


def test_different_bands_count_as_one_set_of_samples(folder):
    """RGB uint8 with greyscale int32: every sample of every band, as numpy concatenates."""
    path, arrays = folder
    names = ["rgb.png", "i32.tif"]
    check_all(
        imgstats.compute([path / n for n in names], FUNCS),
        promoted([arrays[n] for n in names]),
        FUNCS,
    )
    with pytest.raises(InvalidOption, match=r"different bands \(\['R', 'G', 'B'\] and \['L'\]"):
        imgstats.compute([path / n for n in names], "median", "G")


def test_merging_summaries_refuses_what_needs_pixels_and_names_the_images(folder):
    path, arrays = folder
    names = ["u16.tif", "i32.tif", "f32.tif"]
    summaries = [imgstats.summarize(path / n) for n in names]
    with pytest.raises(InvalidOption, match="i32.tif is int32, f32.tif is float32.*float64"):
        merge_summaries(summaries, names)
    # a summary given as a source of a collection cannot be decoded again either
    with pytest.raises(InvalidOption, match="image 1 .*int32 summary.*float64"):
        imgstats.compute([path / "f32.tif", summaries[1]], "median")
    # 8/16-bit summaries merge into the wide type, and refine_many answers from their values
    merged = merge_summaries([summaries[0], summaries[2]], ["u16.tif", "f32.tif"])
    assert merged.dtype == np.float32
    sources = [path / "u16.tif", path / "f32.tif"]
    parts = [summaries[0], summaries[2]]
    merged = refine_many(merged, parts, sources, ["median", "p1"], [None, 0])
    want = promoted([arrays["u16.tif"], arrays["f32.tif"]])
    check_all(merged.compute(["median", "p1"]), want, ["median", "p1"])


def test_a_promoted_part_keeps_every_value():
    arr = np.array([[-3, 7, 7], [300, -32768, 32767]], np.int16)
    part = PromotedPart(imgstats.summarize(arr), np.float64)
    assert part.dtype == np.float64 and part.part.dtype == np.int16
    check_all(part.summary.compute(["min", "max", "mean"]), arr.astype(np.float64), ["min", "max"])
    with pytest.raises(InvalidOption, match="cannot be promoted to uint16"):
        PromotedPart(imgstats.summarize(arr), np.uint16)


@pytest.mark.slow
def test_mixed_types_on_a_local_cluster(folder, tmp_path):
    """Workers summarize and refine a wide image as the promoted type (pickled transform)."""
    path, arrays = folder
    tiled = tmp_path / "i32_tiled.tif"
    tifffile.imwrite(tiled, arrays["i32.tif"], tile=(16, 16))
    sources = [path / "rgb.png", tiled, path / "f32.tif"]
    want = promoted([arrays["rgb.png"], arrays["i32.tif"], arrays["f32.tif"]])
    with local_cluster():
        check_all(imgstats.compute(sources, FUNCS), want, FUNCS)
        # the types learnt on the workers: the wide images are decoded again there
        with mock.patch.object(collection, "_known_dtype", lambda source, io_options: None):
            check_all(imgstats.compute(sources, FUNCS), want, FUNCS)
