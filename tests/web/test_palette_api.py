"""``?palette=index`` over HTTP (issue 16 item 3): a paletted TIFF's class indices, as
rasterio's ``read()`` gives them, in GET and POST alike; the colours stay the default, the two
readings are cached apart, and a bad value or an image without a palette is a 400."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

RNG = np.random.default_rng(5)
CLASSES = RNG.integers(1, 13, (48, 70)).astype(np.uint8)
COLOURS = {i: ((37 * i) % 256, (255 - 9 * i) % 256, (3 * i) % 256, 255) for i in range(256)}


@pytest.fixture
def classes(images):
    name = "classes.tif"
    profile = dict(
        driver="GTiff", width=70, height=48, count=1, dtype="uint8", photometric="palette"
    )
    with rasterio.open(images / name, "w", **profile) as dst:
        dst.write(CLASSES, 1)
        dst.write_colormap(1, COLOURS)
    with rasterio.open(images / name) as src:
        assert np.array_equal(src.read(1), CLASSES)  # GDAL reads the indices
    return name


@pytest.mark.parametrize("func", ["min", "max", "median", "p10", "majority", "unique"])
def test_palette_index_answers_the_classes(client, classes, func):
    answer = client.get(f"/stats/{classes}/{func}?palette=index")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    uniq, counts = np.unique(CLASSES, return_counts=True)
    expected = {
        "min": int(CLASSES.min()),
        "max": int(CLASSES.max()),
        "median": float(np.median(CLASSES)),
        "p10": float(np.percentile(CLASSES, 10)),
        "majority": int(uniq[np.argmax(counts)]),
        "unique": int(uniq.size),
    }[func]
    assert body["value"] == expected
    assert body["count"] == CLASSES.size
    assert body["palette"] == "index"


def test_colours_stay_the_default_and_are_cached_apart(client, classes):
    colours = np.array([COLOURS[int(i)][:3] for i in CLASSES.ravel()], dtype=np.uint8)
    first = client.get(f"/stats/{classes}/max").get_json()
    index = client.get(f"/stats/{classes}/max?palette=index").get_json()
    again = client.get(f"/stats/{classes}/max?palette=rgb").get_json()
    assert first["value"] == int(colours.max()) == again["value"]
    assert index["value"] == int(CLASSES.max())
    assert first["value"] != index["value"]  # the two readings differ here, so the key matters
    assert "palette" not in again and "palette" not in first


def test_post_body_takes_palette(client, classes):
    answer = client.post(f"/stats/{classes}", json={"funcs": ["median", "max"], "palette": "index"})
    assert answer.status_code == 200, answer.get_json()
    values = answer.get_json()["values"]
    assert values["median"] == float(np.median(CLASSES))
    assert values["max"] == int(CLASSES.max())


@pytest.mark.parametrize(
    "query, word",
    [("palette=index", "no palette"), ("palette=classes", "palette"), ("palette=", "palette")],
)
def test_bad_palette_is_a_400(client, images, classes, query, word):
    target = "IMG_1.jpg" if query == "palette=index" else classes
    answer = client.get(f"/stats/{target}/median?{query}")
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert word in answer.get_json()["error"]
    assert client.get("/health").status_code == 200


def test_palette_in_a_body_must_be_text(client, classes):
    answer = client.post(f"/stats/{classes}", json={"funcs": ["median"], "palette": 1})
    assert answer.status_code == 400
    assert "palette" in answer.get_json()["error"]
