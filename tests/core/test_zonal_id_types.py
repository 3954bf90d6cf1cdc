"""Zone ids ``1`` and ``"1"`` are two zones, as they are two GeoJSON values.

RFC 7946 makes a feature's ``id`` a string or a number; rasterstats and geopandas keep each
feature's id as it is, so a layer merged from a writer of numbers and a writer of strings
has two zones where the texts agree. imgstats keeps them apart too (pooling them would mix
two features' pixels, refusing them would lose the layer) and keeps their types in every
answer that can carry one: the DataFrame's index, the JSON of the CLI and of the service.
``1``, ``1.0`` and ``np.int64(1)`` are one number, hence one id: two features of it are
refused as duplicates.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import imgstats
from imgstats.cli import main
from imgstats.errors import InvalidOption

IMG = np.arange(100, dtype=np.uint8).reshape(10, 10)


def _square(x0, y0):
    ring = [[x0, y0], [x0 + 3, y0], [x0 + 3, y0 + 3], [x0, y0 + 3], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _layer(*ids):
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": zid, "geometry": _square(5 * i, 5 * i), "properties": {}}
            for i, zid in enumerate(ids)
        ],
    }


def _pixels(i):
    return IMG[5 * i : 5 * i + 3, 5 * i : 5 * i + 3]


def test_a_number_and_its_text_are_two_zones():
    frame = imgstats.zonal(IMG, _layer(1, "1"), ["count", "max"])
    assert frame.index.tolist() == [1, "1"]
    assert [type(z) for z in frame.index] == [int, str]
    assert frame.loc[1, "max"] == _pixels(0).max() and frame.loc[1, "count"] == 9
    assert frame.loc["1", "max"] == _pixels(1).max() and frame.loc["1", "count"] == 9


@pytest.mark.parametrize("other", [1.0, np.int64(1), np.float32(1.0)])
def test_one_number_written_two_ways_is_one_id(other):
    with pytest.raises(InvalidOption, match="two features have the zone id 1"):
        imgstats.zonal(IMG, _layer(1, other), ["count"])


def test_the_cli_json_keeps_each_ids_type(tmp_path, capsys):
    from PIL import Image

    Image.fromarray(IMG).save(tmp_path / "img.png")
    (tmp_path / "zones.geojson").write_text(json.dumps(_layer(1, "1")))
    code = main(
        [
            "zonal",
            str(tmp_path / "img.png"),
            str(tmp_path / "zones.geojson"),
            "max",
            "--format",
            "json",
        ]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["zone"], r["max"]) for r in rows] == [(1, _pixels(0).max()), ("1", _pixels(1).max())]
