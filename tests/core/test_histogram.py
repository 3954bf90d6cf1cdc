"""``imgstats.histogram`` and ``imgstats histogram``: ``numpy.histogram(valid, bins, range)``
of one image, as ``GET /stats/<image>/histogram`` answers it.

Before, a histogram was only the service's: the library and the command line had none, and
``imgstats stats IMG histogram`` was an unknown function.
"""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import rasterio
import tifffile
from rasterio.transform import from_origin

import imgstats
from imgstats.cli import main
from imgstats.errors import InvalidOption, NoValidSamples

pytestmark = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul:PendingDeprecationWarning",
    "ignore::rasterio.errors.NotGeoreferencedWarning",
)
RNG = np.random.default_rng(2026_12_07)
OPTIONS = [{}, {"bins": 1}, {"bins": 7}, {"bins": 64, "range": (-40.0, 120.5)}]


def _want(values, bins=10, range=None):  # noqa: A002 -- numpy's name
    valid = np.asarray(values).ravel()
    valid = valid[~np.isnan(valid)] if valid.dtype.kind == "f" else valid
    counts, edges = np.histogram(valid, bins, range=range)
    return {"counts": counts.tolist(), "edges": edges.tolist()}


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16", "int32", "float16", "float32"])
@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_histogram_of_an_array_equals_numpy_whatever_the_chunks(dtype, options):
    arr = (RNG.normal(40, 60, (37, 53))).astype(dtype)
    if arr.dtype.kind == "f":
        arr[::5, 3] = np.nan
    want = _want(arr, **options)
    assert imgstats.histogram(arr, **options) == want
    assert imgstats.histogram(da.from_array(arr, chunks=(10, 17)), **options) == want


def test_histogram_of_a_band_the_luma_and_a_window():
    rgb = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert imgstats.histogram(rgb, 5, band=1) == _want(rgb[..., 1], 5)
    assert imgstats.histogram(rgb, 5, band=-1) == _want(rgb[..., 2], 5)
    assert imgstats.histogram(rgb, 5, window=(3, 2, 17, 11)) == _want(rgb[2:11, 3:17], 5)
    luma = np.asarray(__import__("PIL.Image", fromlist=["Image"]).fromarray(rgb).convert("L"))
    assert imgstats.histogram(rgb, 3, band="luma") == _want(luma, 3)


def test_histogram_of_a_file_leaves_its_nodata_out(tmp_path):
    data = RNG.integers(-500, 3000, (1, 40, 60)).astype(np.int32)
    data[0, 5:9, :] = -9999
    path = tmp_path / "dem.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=60, height=40, count=1, dtype="int32", nodata=-9999,
        crs="EPSG:32633", transform=from_origin(0, 40, 1, 1), tiled=True, blockxsize=16,
        blockysize=16,
    ) as dst:  # fmt: skip
        dst.write(data)
    with rasterio.open(path) as src:
        valid = src.read(1, masked=True).compressed()
    assert imgstats.histogram(str(path), 12) == _want(valid, 12)
    assert imgstats.histogram(str(path), 12, chunks=(7, 9)) == _want(valid, 12)
    assert imgstats.histogram(str(path), 4, raw=True) == _want(data, 4)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"bins": 0}, InvalidOption, "invalid bins"),
        ({"bins": 5000}, InvalidOption, "invalid bins"),
        ({"range": (3, 1)}, InvalidOption, "lo must not be greater"),
        ({"range": "1,nan"}, InvalidOption, "two finite numbers"),
        ({"band": 3}, InvalidOption, "unknown band"),
        ({"nodatum": 3}, TypeError, "did you mean .nodata."),
    ],
)
def test_bad_options_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        imgstats.histogram(np.zeros((4, 4), np.uint8), **kwargs)


def test_no_valid_sample_and_a_list_are_refused():
    with pytest.raises(NoValidSamples):
        imgstats.histogram(np.full((3, 3), np.nan, np.float32))
    with pytest.raises(InvalidOption, match="one image"):
        imgstats.histogram([np.zeros(3, np.uint8), np.ones(3, np.uint8)])


@pytest.fixture
def float_tiff(tmp_path):
    arr = RNG.normal(0, 10, (30, 40)).astype(np.float32)
    arr[2, :] = np.nan
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, arr)
    return path, arr


def test_the_cli_prints_numpy_s_histogram_in_each_format(float_tiff, capsys):
    path, arr = float_tiff
    want = _want(arr, 6, (-20.0, 25.5))
    assert main(["histogram", str(path), "--bins", "6", "--range=-20,25.5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == want
    assert main(["histogram", str(path), "--bins", "6", "--range=-20,25.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [
        [repr(lo), repr(hi), str(n)]
        for lo, hi, n in zip(want["edges"], want["edges"][1:], want["counts"], strict=False)
    ]
    assert main(["histogram", str(path), "--format", "csv", "--window", "0,0,20,10"]) == 0
    rows = capsys.readouterr().out.splitlines()
    want = _want(arr[:10, :20])
    assert rows[0] == "lo,hi,count"
    assert [int(r.split(",")[2]) for r in rows[1:]] == want["counts"]
    assert [float(r.split(",")[0]) for r in rows[1:]] == want["edges"][:-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bins", "x"], "invalid bins 'x'"),
        (["--range", "5,1"], "lo must not be greater than hi"),
        (["--band", "7"], "unknown band 7"),
        (["--window", "1,2"], "window"),
    ],
)
def test_cli_errors_are_one_line_and_status_2(float_tiff, capsys, args, message):
    path, _ = float_tiff
    assert main(["histogram", str(path), *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("imgstats: error: ") and message in err
    assert len(err.splitlines()) == 1
