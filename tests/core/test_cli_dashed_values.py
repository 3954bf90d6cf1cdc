"""An option's value that begins with a dash (``--nodata -3.4e+38``, ``--bbox -10,40,5,50``)
is the option's value: argparse took only ``-5`` and ``-0.5`` as numbers, and refused the rest
with "expected one argument"."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from imgstats.cli import main

#: GDAL's usual nodata of a float32 band, the lowest float32.
F32_LOWEST = float(np.finfo(np.float32).min)


@pytest.fixture(scope="module")
def floats(tmp_path_factory):
    rng = np.random.default_rng(20)
    arr = rng.normal(size=(23, 31)).astype(np.float32)
    arr[rng.random(arr.shape) < 0.2] = F32_LOWEST
    arr[0, :3] = -np.inf
    path = tmp_path_factory.mktemp("dashed") / "f32.tif"
    tifffile.imwrite(path, arr)
    return path, arr


def _json(capsys, *args):
    assert main(["stats", *map(str, args), "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "nodata, left_out",
    # "-3.40282e+38" is the lowest float32 as GDAL prints it, equal within GDAL's tolerance
    [(repr(F32_LOWEST), F32_LOWEST), ("-3.40282e+38", F32_LOWEST), ("-inf", -np.inf)],
)
def test_a_nodata_in_exponent_form_or_minus_inf(floats, capsys, nodata, left_out):
    path, arr = floats
    kept = arr[arr != np.float32(left_out)]
    got = _json(capsys, path, "count", "median", "--nodata", nodata)
    assert got == {"count": kept.size, "median": float(np.median(kept))}


def test_a_negative_offset_in_exponent_form(floats, capsys):
    path, arr = floats
    got = _json(capsys, path, "min", "max", "--nodata", "-inf", "--offset", "-1e3")
    phys = arr[arr != -np.inf].astype(np.float64) - 1e3
    assert got == {"min": float(phys.min()), "max": float(phys.max())}


def test_a_window_from_a_negative_corner_is_clipped(floats, capsys):
    path, arr = floats
    got = _json(capsys, path, "count", "--window", "-5,-2,10,7", "--raw")
    assert got == {"count": arr[:7, :10].size}


def test_a_bbox_of_negative_longitudes(tmp_path, capsys):
    import rasterio
    from affine import Affine

    arr = np.arange(20 * 30, dtype=np.uint16).reshape(20, 30)
    path = tmp_path / "geo.tif"
    profile = dict(driver="GTiff", width=30, height=20, count=1, dtype="uint16", crs="EPSG:4326")
    with rasterio.open(path, "w", transform=Affine(1, 0, -15, 0, -1, 50), **profile) as dst:
        dst.write(arr, 1)
    # columns -15 + x + 0.5 in [-10, 5]: x 5..19; rows 50 - y - 0.5 in [40, 50]: y 0..9
    got = _json(capsys, path, "min", "max", "count", "--bbox", "-10,40,5,50")
    inside = arr[0:10, 5:20]
    assert got == {"min": int(inside.min()), "max": int(inside.max()), "count": inside.size}


def test_a_value_option_without_its_value_is_still_a_usage_error(floats, capsys):
    path, _ = floats
    with pytest.raises(SystemExit) as exc:
        main(["stats", str(path), "min", "--nodata"])
    assert exc.value.code == 2
    assert "--nodata: expected one argument" in capsys.readouterr().err


@pytest.mark.slow  # a fresh interpreter imports numpy and the readers: seconds
def test_the_command_takes_a_dashed_value(floats):
    path, arr = floats
    proc = subprocess.run(
        [sys.executable, "-m", "imgstats", "stats", str(path), "count", "--nodata", "-3.40282e+38"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"count {int((arr != np.float32(F32_LOWEST)).sum())}\n"


def test_a_histogram_range_from_a_negative_edge(floats, capsys):
    path, arr = floats
    assert main(["histogram", str(path), "--bins", "4", "--range", "-2,2", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    counts, edges = np.histogram(arr[np.isfinite(arr) & (arr != F32_LOWEST)], 4, (-2, 2))
    assert got["counts"] == counts.tolist()
    assert got["edges"] == edges.tolist()
