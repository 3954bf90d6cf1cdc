"""Mixed pixel types over HTTP: the collection route answers as ``imgstats.compute([...])``.

Both follow numpy's promotion (:func:`imgstats.collection.promoted_type`) with one library
code path; the service, which answers from each image's own summary, refuses only a mix that
needs a 32/64-bit image decoded again as another type (400, both images named), which the
library answers by decoding it again.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile

import imgstats
from benchmarks.oracle import check_all

FUNCS = ["min", "max", "mean", "median", "p0", "p2.5", "p50.5", "p99.9", "p100"]


def write(images, prefix: str, dtypes, seed: int = 0) -> list[str]:
    """One TIFF per type, of values spread over the type (NaN in floats, inf in float64)."""
    rng = np.random.default_rng(seed)
    names = []
    for i, dtype in enumerate(dtypes):
        dt = np.dtype(dtype)
        shape = (int(rng.integers(3, 40)), int(rng.integers(3, 40)))
        if dt.kind == "f":
            arr = rng.normal(0, 1e4, shape).astype(dt)
            arr.flat[:3] = [np.nan, np.inf if dt == np.float64 else 1.5, -7.25]
        else:
            info = np.iinfo(dt)
            arr = rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)
        name = f"{prefix}_{i}_{dt.name}.tif"
        tifffile.imwrite(images / name, arr)
        names.append(name)
    return names


def library(images, names, funcs, **kw):
    return imgstats.compute([images / n for n in names], funcs, **kw)


def as_json(values: dict) -> dict:
    """The library's values as the API writes them: NaN and infinities are null."""
    return {k: v if math.isfinite(v) else None for k, v in values.items()}


def test_the_gallery_mix_equals_the_library(client, images):
    """uint8 RGB and RGBA, uint16, float32, int16: float32 on both sides, equal values."""
    body = client.post("/stats/IMG_1*", json={"funcs": FUNCS}).get_json()
    names = [image["name"] for image in body["images"]]
    assert {"IMG_1.jpg", "IMG_12_uint16.tif", "IMG_13_float32.tif"} <= set(names)
    assert body["dtype"] == "float32"
    assert body["values"] == library(images, names, FUNCS)
    window = "5,7,120,90"
    got = client.get(f"/stats/IMG_1*/p37.5?window={window}").get_json()["value"]
    assert got == library(images, names, "p37.5", window=(5, 7, 120, 90))


MIXES = [
    ("uint8", "int16"),  # int16
    ("uint16", "int16"),  # int32, from the summaries alone
    ("int8", "uint16", "float32"),  # float32
    ("uint8", "float64", "int16"),  # float64
    ("int16", "int32", "uint8"),  # int32
    ("uint8", "uint32"),  # uint32
    ("float32", "float32", "int8"),  # float32
]


@pytest.mark.parametrize("dtypes", MIXES, ids=["+".join(m) for m in MIXES])
def test_route_equals_library_equals_numpy(client, images, dtypes):
    names = write(images, "mix", dtypes, seed=len(dtypes))
    body = client.post("/stats/mix_*", json={"funcs": FUNCS}).get_json()
    arrays = [tifffile.imread(images / n) for n in names]
    dtype = np.result_type(*arrays)
    assert body["dtype"] == dtype.name, body
    assert [image["name"] for image in body["images"]] == names
    got = library(images, names, FUNCS)
    assert body["values"] == as_json(got)
    check_all(got, np.concatenate([a.astype(dtype).ravel() for a in arrays]), FUNCS)


@pytest.mark.parametrize(
    ("dtypes", "named"),
    [
        (("int32", "float32"), ("mix_0_int32.tif", "mix_1_float32.tif")),
        (("uint8", "uint32", "int16"), ("mix_1_uint32.tif", "mix_2_int16.tif")),
        (("float32", "uint16", "float64"), ("mix_0_float32.tif", "mix_2_float64.tif")),
    ],
)
def test_a_mix_needing_pixels_again_is_refused_over_http_and_answered_by_the_library(
    client, images, dtypes, named
):
    names = write(images, "mix", dtypes)
    r = client.get("/stats/mix_*/median")
    assert r.status_code == 400
    message = r.get_json()["error"]
    assert all(n in message for n in named), message
    assert "decoded again" in message
    arrays = [tifffile.imread(images / n) for n in names]
    dtype = np.result_type(*arrays)
    got = library(images, names, FUNCS)
    check_all(got, np.concatenate([a.astype(dtype).ravel() for a in arrays]), FUNCS)


@pytest.mark.parametrize("band", ["R", "1", "B", "0", "-1"])
def test_a_band_of_a_collection_of_different_bands_says_why_it_is_unknown(client, images, band):
    # it said "unknown band 'R': use an index below 1, one of ['all'], 'luma' or None": no
    # reason, and None is Python's word for a band left out; band=0 (the one band 'all')
    # pooled the RGB images' G and B with the grey one's samples, as band 0 of each
    r = client.get(f"/stats/IMG_1*/min?band={band}")  # IMG_1.jpg RGB, IMG_11.png RGBA, ...
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert "different bands" in error and "leave band out" in error and "None" not in error
    assert client.get("/stats/IMG_1*/min?band=all").status_code == 200


def test_an_unknown_band_of_one_image_is_said_in_the_service_s_words(client):
    error = client.get("/stats/IMG_1.jpg/min?band=X").get_json()["error"]
    assert "leave band out" in error and "None" not in error
    error = client.get("/stats/IMG_12_uint16.tif/min?band=luma").get_json()["error"]
    assert "band=luma needs" in error  # not Python's band='luma'
