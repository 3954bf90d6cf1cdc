"""std of wide types and the categorical statistics over HTTP and the CLI (issue 16 items
3 and 4): ``value_counts`` is a JSON object ``{"value": count}``; floats have no categories."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from imgstats.cli import main
from imgstats.data import gallery_path

CLASSES = (np.arange(600).reshape(20, 30) % 7 * 100000).astype(np.int32)


@pytest.fixture
def classes(images):
    tifffile.imwrite(images / "classes.tif", CLASSES)
    return "classes.tif"


def test_get_and_post_answer_std_and_value_counts_of_an_int32_image(client, classes):
    uniq, counts = np.unique(CLASSES, return_counts=True)
    want = {str(v): int(c) for v, c in zip(uniq.tolist(), counts.tolist(), strict=True)}
    for _ in range(2):  # the second from the cached, refined summary
        got = client.get(f"/stats/{classes}/value_counts")
        assert got.status_code == 200, got.get_json()
        assert got.get_json()["value"] == want
    body = client.post(f"/stats/{classes}", json={"funcs": ["std", "majority", "unique"]})
    assert body.status_code == 200, body.get_json()
    values = body.get_json()["values"]
    assert values["majority"] == int(uniq[np.argmax(counts)]) and values["unique"] == 7
    assert values["std"] == pytest.approx(float(np.std(CLASSES)), rel=1e-12)


def test_std_of_a_float_image(client):
    arr = tifffile.imread(gallery_path() / "IMG_13_float32.tif").astype(np.float64)
    got = client.get("/stats/IMG_13_float32.tif/std")
    assert got.status_code == 200
    assert got.get_json()["value"] == pytest.approx(float(np.nanstd(arr)), rel=1e-12)


@pytest.mark.parametrize("func", ["majority", "value_counts", "unique"])
def test_categories_of_a_float_image_are_a_400(client, func):
    got = client.get(f"/stats/IMG_13_float32.tif/{func}")
    assert got.status_code == 400
    assert "integer images" in got.get_json()["error"]


def test_cli_prints_value_counts_as_one_json_object(classes, images, capsys):
    assert main(["stats", str(images / classes), "value_counts", "std"]) == 0
    lines = capsys.readouterr().out.splitlines()
    name, text = lines[0].split(" ", 1)
    assert name == "value_counts" and json.loads(text)["600000"] == 85
    assert main(["stats", str(images / classes), "majority", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"majority": 0}


def test_the_gallery_offers_the_scalar_statistics_and_refuses_value_counts(client, classes):
    page = client.get(f"/gallery/{classes}").get_data(as_text=True)
    assert 'value="std"' in page and 'value="majority"' in page
    assert 'value="value_counts"' not in page
    assert client.get(f"/gallery/{classes}/majority").status_code == 200
    assert client.get(f"/gallery/{classes}/value_counts").status_code == 404
