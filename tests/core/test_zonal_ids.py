"""A feature's zone id is a string or a number, as GeoJSON's ``id`` is: a float id and a
numpy integer (a DataFrame column's) were refused ("a zone id is a string or an integer,
not 1.5" / "not 7"), so the whole layer was."""

from __future__ import annotations

import numpy as np
import pytest

import imgstats
from imgstats.errors import InvalidOption

IMG = np.arange(100, dtype=np.float32).reshape(10, 10)


def _layer(ids, key="id"):
    feats = []
    for i, zid in enumerate(ids):
        ring = [[i, 0], [i + 1, 0], [i + 1, 10], [i, 10]]
        f = {
            "type": "Feature",
            "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        if key == "id":
            f["id"] = zid
        else:
            f["properties"][key] = zid
        feats.append(f)
    return {"type": "FeatureCollection", "features": feats}


@pytest.mark.parametrize("key", ["id", "fid"])
def test_numeric_ids_of_any_kind(key):
    ids = [1.5, np.int64(7), np.float32(2.25), "a", 3]
    kw = {} if key == "id" else {"id_property": key}
    frame = imgstats.zonal(IMG, _layer(ids, key), ["max"], **kw)
    assert list(frame.index) == [1.5, 7, 2.25, "a", 3]
    assert type(frame.index[1]) is int  # numpy's integer is Python's
    assert frame["max"].tolist() == [90.0, 91.0, 92.0, 93.0, 94.0]


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        ([1, 1.0], "distinct"),  # equal numbers are one id
        ([1, np.int64(1)], "distinct"),
        ([True, 2], "not True"),
        ([np.bool_(False), 2], "False"),
        ([float("nan"), 2], "not nan"),
        ([float("inf"), 2], "not inf"),
        ([None, 2], "not None"),
    ],
)
def test_bad_ids(ids, match):
    with pytest.raises(InvalidOption, match=match):
        imgstats.zonal(IMG, _layer(ids), ["max"])
