"""A multi-band image with one band of no valid sample (a dead band of a multispectral
raster): every other band, and the whole image, still have their statistics; the empty band's
values are ``null``. Each route answered 422 for the whole image."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from imgstats import summarize

BANDS = np.random.default_rng(11).random((3, 20, 30)).astype(np.float32)
BANDS[1] = np.nan


def _write(path) -> None:
    tifffile.imwrite(path, BANDS, photometric="minisblack", planarconfig="separate")


@pytest.fixture
def dead_band(images):
    _write(images / "dead_band.tif")
    return "dead_band.tif"


def _want(func: str, values) -> float:
    values = values[~np.isnan(values)]
    if func == "mean":
        return float(np.mean(values.astype(np.float64)))
    return float(np.percentile(values, 50 if func == "median" else float(func[1:])))


@pytest.mark.parametrize("func", ["mean", "median", "p99"])
def test_get_stats_answers_every_band_but_the_empty_one(client, dead_band, func):
    got = client.get(f"/stats/{dead_band}/{func}")
    assert got.status_code == 200, got.get_json()
    body = got.get_json()
    assert body["value"] == pytest.approx(_want(func, BANDS), rel=1e-12)
    assert body["bands"]["1"] is None
    for band in ("0", "2"):
        assert body["bands"][band] == pytest.approx(_want(func, BANDS[int(band)]), rel=1e-12)


def test_post_stats_and_a_collection_answer_too(client, dead_band, images):
    got = client.post(f"/stats/{dead_band}", json={"funcs": ["mean", "p99"]})
    assert got.status_code == 200, got.get_json()
    body = got.get_json()
    assert body["values"]["p99"] == pytest.approx(_want("p99", BANDS), rel=1e-12)
    assert body["bands"]["1"] is None
    _write(images / "dead_band2.tif")
    got = client.get("/stats/dead_band*.tif/median")
    assert got.status_code == 200, got.get_json()
    assert got.get_json()["bands"]["1"] is None
    assert got.get_json()["value"] == pytest.approx(_want("median", BANDS), rel=1e-12)


def test_the_empty_band_alone_is_still_a_422(client, dead_band):
    got = client.get(f"/stats/{dead_band}/median?band=1")
    assert got.status_code == 422
    assert got.get_json()["type"] == "NoValidSamples"


def test_a_summary_says_an_empty_band_needs_no_refinement():
    summary = summarize(np.moveaxis(BANDS, 0, -1))
    assert summary.missing(["median"], [1]) == []
    assert summary.missing(["median"], [0, 1, 2])  # the others still need their pass
