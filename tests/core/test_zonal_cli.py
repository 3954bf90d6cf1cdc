"""``imgstats zonal SOURCE ZONES FUNC... [--band B] [--format csv|json]``."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import tifffile

import imgstats
from imgstats.cli import main


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(7)
    img = rng.integers(0, 5000, (40, 50, 2), dtype=np.uint16)
    labels = rng.integers(0, 5, (40, 50)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "img.tif", img, photometric="minisblack", planarconfig="contig")
    tifffile.imwrite(tmp_path / "labels.tif", labels)
    layer = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "tri"},
                "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [45, 4], [9, 38]]]},
            }
        ],
    }
    (tmp_path / "zones.geojson").write_text(json.dumps(layer))
    return tmp_path, img, labels


def test_csv_of_labels(files, capsys):
    folder, img, labels = files
    assert (
        main(["zonal", f"{folder}/img.tif", f"{folder}/labels.tif", "median", "p99", "--band", "1"])
        == 0
    )
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col="zone")
    assert list(frame.columns) == ["median", "p99", "count"]
    for z in range(1, 5):
        m = labels == z
        assert frame.loc[z, "median"] == np.median(img[m][:, 1])
        assert frame.loc[z, "count"] == m.sum()


def test_json_of_polygons(files, capsys):
    folder, img, _ = files
    code = main(
        ["zonal", f"{folder}/img.tif", f"{folder}/zones.geojson", "max", "--format", "json"]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    ring = [[1, 1], [45, 4], [9, 38]]
    assert rows == [
        {"zone": 0, "max": imgstats.compute(img, "max", polygon=ring), "count": rows[0]["count"]}
    ]
    assert rows[0]["count"] > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["median", "--background", "x"], "--background"),
        (["p101"], "p101"),
        (["median", "--band", "5"], "band"),
    ],
)
def test_errors_are_one_line(files, capsys, extra, message):
    folder, _, _ = files
    assert main(["zonal", f"{folder}/img.tif", f"{folder}/labels.tif", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imgstats: error:") and message in err


@pytest.mark.parametrize("fmt", [["--format", "json"], ["--json"], ["--format", "csv"]])
def test_integer_min_max_beside_an_empty_zone(tmp_path, capsys, fmt):
    """An empty zone's NaN made the min and max columns float: ``4.0`` where ``imgstats
    stats`` prints ``4``. ``--json`` is taken as ``imgstats stats`` takes it."""
    img = (np.arange(100, dtype=np.uint8).reshape(10, 10) + 3).astype(np.uint8)
    tifffile.imwrite(tmp_path / "img.tif", img)
    ring = [[0, 0], [5, 0], [5, 5], [0, 0]]
    layer = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            },
            {"type": "Feature", "properties": {}, "geometry": None},
        ],
    }
    (tmp_path / "z.geojson").write_text(json.dumps(layer))
    args = ["zonal", str(tmp_path / "img.tif"), str(tmp_path / "z.geojson"), "min", "max"]
    assert main([*args, *fmt]) == 0
    out = capsys.readouterr().out
    want = imgstats.compute(img, ["min", "max"], polygon=ring)
    if fmt[-1] == "csv":
        assert out.splitlines() == [
            "zone,min,max,count",
            f"0,{want['min']},{want['max']},10",
            "1,,,0",
        ]
    else:
        assert json.loads(out) == [
            {"zone": 0, "min": want["min"], "max": want["max"], "count": 10},
            {"zone": 1, "min": None, "max": None, "count": 0},
        ]
        assert out.count(".0") == 0
