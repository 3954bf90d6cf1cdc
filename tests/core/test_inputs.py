"""Inputs: numpy, dask, xarray (numpy- and dask-backed), PIL images; the ``.imgstats`` accessor.

Whatever the input, the answer is the same plain Python number as numpy's on the same values.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import imgstats
from imgstats import collection, selection

from .oracle import check_all, gdal_valid

CORE = settings.get_profile("imgstats-core")
FUNCS = ["min", "max", "mean", "median", "p5", "p95"]
RNG = np.random.default_rng(21)
RGB = RNG.integers(0, 256, (19, 23, 3), dtype=np.uint8)
F64 = RNG.normal(size=(3, 19, 23))


@pytest.mark.parametrize("backing", ["numpy", "dask"])
def test_dataarray_with_band_first_is_read_band_last(backing):
    data = F64 if backing == "numpy" else da.from_array(F64, chunks=(2, 7, 9))
    arr = xr.DataArray(data, dims=("band", "y", "x"), coords={"band": ["R", "G", "B"]})
    check_all(arr.imgstats.compute(FUNCS), F64, FUNCS)
    check_all(imgstats.compute(arr, FUNCS), F64, FUNCS)
    for i, name in enumerate("RGB"):
        check_all(arr.imgstats.compute(FUNCS, band=name), F64[i], FUNCS)
        check_all(imgstats.compute(arr, FUNCS, band=i), F64[i], FUNCS)
    with pytest.raises(imgstats.InvalidOption):
        arr.imgstats.compute("min", band="X")


STACK = RNG.integers(0, 4000, (3, 2, 11, 13), dtype=np.uint16)  # (time, band, y, x)


@pytest.mark.parametrize("backing", ["numpy", "dask"])
@pytest.mark.parametrize(
    "dims",
    [("time", "band", "y", "x"), ("band", "time", "y", "x"), ("time", "y", "x", "band")],
)
def test_a_dataarray_of_more_dims_counts_each_band_over_all_the_others(backing, dims):
    """A (time, band, y, x) DataArray pooled every band into one called '0': band='R' was
    refused, with advice to pass a DataArray with a band coordinate (it had one)."""
    order = [("time", "band", "y", "x").index(d) for d in dims]
    values = STACK.transpose(order)
    data = values if backing == "numpy" else da.from_array(values, chunks=2)
    arr = xr.DataArray(data, dims=dims, coords={"band": ["R", "G"]})
    assert imgstats.summarize(arr).band_names == ("R", "G")
    for i, name in enumerate("RG"):
        check_all(arr.imgstats.compute(FUNCS, band=name), STACK[:, i], FUNCS)
        check_all(imgstats.compute(arr, FUNCS, band=i), STACK[:, i], FUNCS)
    check_all(imgstats.compute(arr, FUNCS), STACK, FUNCS)


def test_a_stack_of_unknown_chunk_sizes_is_counted():
    """dask cannot reshape an array of unknown chunk sizes (a boolean-indexed stack): a bare
    ValueError, 'cannot convert float NaN to integer'."""
    stack = da.from_array(STACK, chunks=(1, 1, 5, 7))
    stack = stack[stack[:, 0, 0, 0] >= 0]
    arr = xr.DataArray(stack, dims=("time", "band", "y", "x"), coords={"band": ["R", "G"]})
    check_all(imgstats.compute(arr, FUNCS, band="G"), STACK[:, 1], FUNCS)


def test_a_stack_s_bands_are_read_without_a_copy():
    from imgstats.io._plan import _three_dims

    band_last = np.moveaxis(STACK, 1, -1)  # (time, y, x, band), strided
    assert np.shares_memory(_three_dims(band_last), STACK)
    assert _three_dims(band_last).shape == (3, 11 * 13, 2)


@pytest.mark.parametrize("backing", ["numpy", "dask"])
def test_accessor_on_greyscale_and_rgb(backing):
    grey = RGB[..., 0]
    for values, dims in ((grey, ("y", "x")), (RGB, ("y", "x", "band"))):
        data = values if backing == "numpy" else da.from_array(values, chunks=5)
        arr = xr.DataArray(data, dims=dims)
        assert arr.imgstats.compute("p99") == np.percentile(values, 99)
        check_all(arr.imgstats.compute(FUNCS), values, FUNCS)
        summary = arr.imgstats.summarize()
        assert isinstance(summary, imgstats.Summary)
        check_all(summary.compute(FUNCS), values, FUNCS)
    rgb = xr.DataArray(RGB, dims=("y", "x", "band"), coords={"band": ["R", "G", "B"]})
    want = np.asarray(Image.fromarray(RGB).convert("L"))
    check_all(rgb.imgstats.compute(FUNCS, band="luma"), want, FUNCS)
    check_all(rgb.imgstats.compute(FUNCS, band="B"), RGB[..., 2], FUNCS)


def test_open_image_result_has_the_accessor(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "rgb.png")
    img = imgstats.open_image(tmp_path / "rgb.png")
    assert img.attrs["mode"] == "RGB" and img.attrs["format"] == "PNG"
    check_all(img.imgstats.compute(FUNCS, band="R"), RGB[..., 0], FUNCS)
    lazy = imgstats.open_image(tmp_path / "rgb.png", chunks=(8, 8, 3))
    assert isinstance(lazy.data, da.Array)
    check_all(lazy.imgstats.compute(FUNCS), RGB, FUNCS)


@pytest.mark.parametrize(
    "mode",
    ["L", "RGB", "RGBA", "I", "F", "I;16", "I;16B", "LA", "CMYK", "P", "1"],
)
def test_pil_images_of_every_mode(mode):
    base = Image.fromarray(RGB)
    if mode == "I;16":
        img = Image.fromarray(RGB[..., 0].astype(np.uint16) * 257)
    elif mode == "I;16B":  # numpy sees '>u2': big-endian samples
        img = Image.fromarray((RGB[..., 0].astype(np.uint16) * 257).astype(">u2"))
    else:
        img = base.convert(mode)
    assert img.mode == mode
    if mode == "P":
        want = np.asarray(img.convert("RGB"))
    elif mode == "1":
        want = np.asarray(img.convert("L"))
    else:
        want = np.asarray(img)
    check_all(imgstats.compute(img, FUNCS), gdal_valid(want, img.getbands()), FUNCS)


def test_lists_tuples_and_nested_arrays():
    values = [[1, 5, 3], [9, 2, 7]]
    assert imgstats.compute(np.array(values), ["min", "max", "median"]) == {
        "min": 1,
        "max": 9,
        "median": 4.0,
    }
    assert imgstats.compute(xr.DataArray(np.array(values)), ("min",)) == {"min": 1}


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4, 5), (1, 1, 1, 1, 7)])
def test_other_ranks_are_one_band_of_all_values(shape):
    arr = RNG.integers(0, 1000, shape).astype(np.int32)
    for data in (arr, da.from_array(arr, chunks=2)):
        check_all(imgstats.compute(data, FUNCS), arr, FUNCS)


# (worker processes are covered by the LocalCluster test in test_distributed.py)
@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_any_local_dask_scheduler(scheduler):
    arr = RNG.normal(size=(40, 30)).astype(np.float32)
    data = da.from_array(arr, chunks=(13, 11))
    check_all(imgstats.compute(data, FUNCS, scheduler=scheduler), arr, FUNCS)
    with dask.config.set(scheduler=scheduler):
        check_all(imgstats.compute(data, ["p50"]), arr, ["p50"])


@CORE
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.sampled_from([3, 4]),
    st.integers(1, 16),
    st.integers(0, 2**32 - 1),
)
def test_luma_of_random_rgb_and_rgba_arrays(h, w, bands, chunk, seed):
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, bands), dtype=np.uint8)
    want = np.asarray(Image.fromarray(arr, "RGB" if bands == 3 else "RGBA").convert("L"))
    for data in (arr, da.from_array(arr, chunks=(chunk, chunk + 1, 2))):
        check_all(imgstats.compute(data, FUNCS, band="luma"), want, FUNCS)


def test_progress_bar_goes_to_stderr(capsys):
    arr = da.from_array(RGB, chunks=5)
    check_all(imgstats.compute(arr, FUNCS, progress=True), RGB, FUNCS)
    out, _ = capsys.readouterr()
    assert out == ""


@pytest.mark.parametrize("mode", ["YCbCr", "HSV", "LAB", "CMYK"])
def test_luma_refused_for_colour_spaces_other_than_rgb(mode):
    # Their first three 8-bit bands are not R, G, B: the RGB weights would give a wrong "luma"
    # (YCbCr's came out 126.59 where Pillow's convert("L") says 125.67).
    img = Image.fromarray(RGB).convert(mode)
    with pytest.raises(imgstats.InvalidOption, match="R, G and B"):
        imgstats.compute(img, "mean", band="luma")
    # the bands still answer (LAB's "A" is no alpha: raw=True pools every band)
    check_all(imgstats.compute(img, FUNCS, raw=True), np.asarray(img), FUNCS)


@pytest.mark.parametrize(
    "coords",
    [None, [1, 2, 3], ["R", "G", "B"]],
    ids=["unnamed", "numbered", "rgb"],
)
def test_luma_of_unnamed_or_rgb_bands(coords):
    arr = xr.DataArray(
        RGB, dims=("y", "x", "band"), coords=None if coords is None else {"band": coords}
    )
    want = np.asarray(Image.fromarray(RGB).convert("L"))
    check_all(arr.imgstats.compute(FUNCS, band="luma"), want, FUNCS)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: imgstats.compute(da.from_array(RGB, chunks=7), "min", scheduler=s),
        lambda s: imgstats.compute(RGB, "min", scheduler=s),  # was the typo ignored
        lambda s: imgstats.zonal(RGB[..., 0], np.ones(RGB.shape[:2], int), "min", scheduler=s),
        lambda s: imgstats.compute([RGB, RGB], "min", scheduler=s),
    ],
    ids=["dask", "numpy", "zonal", "collection"],
)
def test_an_unknown_scheduler_name_is_an_invalid_option(call):
    # scheduler="thread" was dask's ValueError from inside the first computation
    with pytest.raises(imgstats.InvalidOption, match="unknown scheduler 'thread'.*threads"):
        call("thread")


DATASET = xr.Dataset({"v": (("y", "x"), RGB[..., 0])})


@pytest.mark.parametrize(
    "call",
    [
        lambda: imgstats.compute(DATASET, "min"),
        lambda: imgstats.zonal(RGB[..., 0], DATASET, ["min"]),
        lambda: imgstats.compute(RGB, "min", mask=DATASET),
    ],
    ids=["image", "labels", "mask"],
)
def test_a_dataset_is_refused_with_xarrays_advice(call):
    # was xarray's TypeError from numpy.asarray: a Dataset's __array__ exists only to refuse
    with pytest.raises(imgstats.InvalidOption, match="cannot be a Dataset: .*DataArray"):
        call()
    assert imgstats.compute(DATASET["v"], "min") == RGB[..., 0].min()


def test_a_dataarray_is_read_by_its_dim_names_y_and_x():
    # dims ("x", "y") were read by position: zonal(xr.DataArray(img.T, dims=("x", "y")),
    # labels) gave each zone the samples of the transposed zone, silently on a square image,
    # and a window cut the transposed rectangle; ("t", "y", "x") read t as y and x as bands
    img = RNG.integers(0, 1000, (30, 30)).astype(np.uint16)
    labels = np.zeros((30, 30), int)
    labels[:10] = 1
    labels[10:, :5] = 2
    want = imgstats.zonal(img, labels, ["mean", "max"])
    xy = xr.DataArray(img.T, dims=("x", "y"))
    assert imgstats.zonal(xy, labels, ["mean", "max"]).equals(want)
    assert imgstats.zonal(img, xr.DataArray(labels.T, dims=("x", "y")), ["mean", "max"]).equals(
        want
    )
    window = (0, 0, 5, 12)  # x0, y0, x1, y1
    assert imgstats.compute(xy, ["max"], window=window) == {"max": img[:12, :5].max()}
    mask = xr.DataArray((labels == 2).T, dims=("x", "y"))
    assert imgstats.compute(img, ["max"], mask=mask) == {"max": img[labels == 2].max()}
    stack = xr.DataArray(np.stack([img, img + 1]), dims=("t", "y", "x"))
    assert imgstats.zonal(stack, labels, ["max"])["max"].tolist() == [
        img[labels == z].max() + 1 for z in (1, 2)
    ]
    bands = xr.DataArray(np.stack([img.T, img.T]), dims=("band", "x", "y"))
    assert imgstats.compute(bands, ["max"], window=window) == {"max": img[:12, :5].max()}


#: A 32-bit image whose median needs a refinement (a summary alone cannot answer it).
_WIDE = np.arange(-50_000, 50_000, 7, dtype=np.int32).reshape(-1, 1)


@pytest.mark.parametrize(
    ("call", "typo", "hint"),
    [
        (lambda **kw: imgstats.compute(np.zeros((4, 4)), "median", **kw), "bnad", "band"),
        (lambda **kw: imgstats.compute(np.zeros((4, 4)), "median", **kw), "nodat", "nodata"),
        (lambda **kw: imgstats.summarize(np.zeros((4, 4)), **kw), "windw", "window"),
        (
            lambda **kw: imgstats.zonal(np.zeros((4, 4)), np.ones((4, 4), int), ["count"], **kw),
            "backgrond",
            "background",
        ),
        (
            lambda **kw: imgstats.refine(
                imgstats.summarize(_WIDE), _WIDE, "median", **{"band": None, **kw}
            ),
            "polygn",
            "polygon",
        ),
        (lambda **kw: selection.select(np.zeros((4, 4)), **kw), "masc", "mask"),
        (lambda **kw: imgstats.summarize_many([np.zeros((4, 4))], **kw), "max_worker", None),
        (lambda **kw: collection.compute_many([np.zeros((4, 4))], "max", **kw), "bands", "band"),
        (
            lambda **kw: collection.refine_many(
                imgstats.summarize_many([_WIDE]), [imgstats.summarize(_WIDE)], [_WIDE], "p1", **kw
            ),
            "schedular",
            "scheduler",
        ),
    ],
)
def test_a_misspelt_keyword_names_the_function_called_and_the_closest_name(call, typo, hint):
    """Python's own message named open_plan, a function the caller never called."""
    with pytest.raises(TypeError) as err:
        call(**{typo: 0})
    message = str(err.value)
    assert message.split("(")[0] in (
        *("compute", "summarize", "zonal", "refine", "select"),
        *("summarize_many", "compute_many", "refine_many"),
    )
    if hint is None:  # a name close to several: the message still names the function
        assert f"unexpected keyword argument {typo!r}" in message
    else:
        assert f"unexpected keyword argument {typo!r} (did you mean {hint!r}?)" in message
    assert "open_plan" not in message


@pytest.mark.parametrize(("typo", "hint"), [("RAW", "raw"), ("NoData", "nodata"), ("Page", "page")])
def test_a_keyword_in_another_case_is_offered_as_the_package_offers_names(typo, hint):
    # check_io_options had its own difflib call (case-sensitive, cutoff 0.6): RAW=True was
    # offered nothing, where a band or a method in another case is offered its name
    with pytest.raises(TypeError) as err:
        imgstats.compute(np.zeros((4, 4)), "max", **{typo: True})
    assert f"unexpected keyword argument {typo!r} (did you mean {hint!r}?)" in str(err.value)


@pytest.mark.parametrize(
    ("data", "phrase"),
    [(5, "an int"), (object(), "an object"), ({1: 2}, "a dict"), (None, "a NoneType")],
)
def test_an_unsupported_input_is_named_with_the_right_article(data, phrase):
    # compute(5) said "cannot compute statistics of a int"
    with pytest.raises(imgstats.InvalidOption) as err:
        imgstats.compute(data, "max")
    assert f"cannot compute statistics of {phrase}" in str(err.value)


@pytest.mark.parametrize("data", [[1, 2, 3], (1.5, 2.5), [[1, 2], [3, 4]]])
def test_a_list_of_numbers_says_how_to_make_it_one_image(data):
    # a list is a collection of images: [1, 2, 3] said only "image 0 (int): cannot compute
    # statistics of an int", leaving a newcomer to guess why a list of numbers is refused
    with pytest.raises(imgstats.InvalidOption, match=r"numpy\.asarray\(values\)"):
        imgstats.compute(data, "median")
    assert imgstats.compute(np.asarray(data), "median") == np.median(data)


def test_the_start_of_a_longer_keyword_is_offered_it():
    # storage= was offered nothing once the package's cutoff (0.75) replaced difflib's 0.6
    with pytest.raises(TypeError) as err:
        imgstats.compute(np.zeros((4, 4)), "max", storage={"anon": True})
    assert "unexpected keyword argument 'storage' (did you mean 'storage_options'?)" in str(
        err.value
    )
