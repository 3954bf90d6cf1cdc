"""The statistics of issue 16 over HTTP and the CLI: methods, counts, sums; bad ones are 4xx."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from imgstats.cli import main
from imgstats.data import gallery_path
from imgstats.functions import QUANTILE_METHODS


def _pixels(name: str) -> np.ndarray:
    return tifffile.imread(gallery_path() / name)


@pytest.mark.parametrize("method", QUANTILE_METHODS)
def test_get_stats_takes_every_numpy_method(client, method):
    name = "IMG_13_float32.tif"
    arr = _pixels(name)
    valid = arr[~np.isnan(arr)]
    response = client.get(f"/stats/{name}/p12.5?method={method}")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["value"] == np.percentile(valid, 12.5, method=method).item()
    assert body["method"] == method


def test_two_methods_have_two_etags_and_two_answers(client):
    name = "IMG_14_int16.tif"
    lower = client.get(f"/stats/{name}/p33.3?method=lower")
    higher = client.get(f"/stats/{name}/p33.3?method=higher")
    assert lower.headers["ETag"] != higher.headers["ETag"]
    values = _pixels(name)
    assert lower.get_json()["value"] == np.percentile(values, 33.3, method="lower")
    assert higher.get_json()["value"] == np.percentile(values, 33.3, method="higher")
    again = client.get(
        f"/stats/{name}/p33.3?method=lower", headers={"If-None-Match": higher.headers["ETag"]}
    )
    assert again.status_code == 200


def test_post_stats_takes_a_method(client):
    name = "IMG_12_uint16.tif"
    body = {"funcs": ["p10", "median", "count", "sum"], "method": "nearest"}
    response = client.post(f"/stats/{name}", json=body)
    assert response.status_code == 200, response.get_json()
    values = _pixels(name)
    got = response.get_json()["values"]
    assert got == {
        "p10": np.percentile(values, 10.0, method="nearest").item(),
        "median": np.median(values).item(),
        "count": values.size,
        "sum": int(values.astype(np.int64).sum()),
    }


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/stats/IMG_1.jpg/p50?method=Linear", 400),
        ("/stats/IMG_1.jpg/p50?method=inverted-cdf", 400),
        ("/stats/IMG_*.jpg/p50?method=bogus", 400),
    ],
)
def test_an_unknown_method_is_a_400_json_error(client, url, status):
    response = client.get(url)
    assert response.status_code == status
    assert "percentile method" in response.get_json()["error"]


@pytest.mark.parametrize("method", [3, ["linear"], "LINEAR"])
def test_a_bad_method_in_a_body_is_a_400(client, method):
    response = client.post("/stats/IMG_1.jpg", json={"funcs": ["p50"], "method": method})
    assert response.status_code == 400
    assert "method" in response.get_json()["error"]


def test_counts_over_http(client):
    name = "IMG_13_float32.tif"
    arr = _pixels(name)
    nan = int(np.isnan(arr).sum())
    for func, want in [
        ("count", arr.size - nan),
        ("masked_pixels", nan),
        ("valid_percent", 100 * (arr.size - nan) / arr.size),
    ]:
        response = client.get(f"/stats/{name}/{func}")
        assert response.status_code == 200
        assert response.get_json()["value"] == want, func


def test_the_openapi_document_lists_the_methods(client):
    doc = client.get("/api/openapi.json").get_json()
    params = doc["paths"]["/stats/{image}/{func}"]["get"]["parameters"]
    method = next(p for p in params if p["name"] == "method")
    assert method["schema"]["enum"] == list(QUANTILE_METHODS)


def test_the_cli_takes_a_method(capsys):
    path = gallery_path() / "IMG_14_int16.tif"
    assert (
        main(["stats", str(path), "p10", "p90", "--method", "closest_observation", "--json"]) == 0
    )
    got = json.loads(capsys.readouterr().out)
    values = _pixels("IMG_14_int16.tif")
    assert got == {
        f"p{q}": np.percentile(values, float(q), method="closest_observation").item()
        for q in (10, 90)
    }


def test_the_cli_refuses_an_unknown_method(capsys):
    path = gallery_path() / "IMG_14_int16.tif"
    assert main(["stats", str(path), "p10", "--method", "cubic"]) == 2
    err = capsys.readouterr().err
    assert "unknown percentile method 'cubic'" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("method", "shown"),
    [("cubic", "'cubic':"), ("x" * 3000, "'" + "x" * 64 + "'...:"), ("str", "'str':")],
)
def test_an_unknown_method_is_named_as_given(client, method, shown):
    """A 3000-character method was reported as "unknown percentile method 'str'"."""
    r = client.get(f"/stats/IMG_1.jpg/p50?method={method}")
    assert r.status_code == 400
    assert f"unknown percentile method {shown}" in r.get_json()["error"]
