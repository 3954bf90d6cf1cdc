"""``/gallery/all`` stays useful: an unreadable file, mixed pixel types, more images than a
collection may hold (issue 18, defect 7)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile
from PIL import Image
from test_gallery_pages import elements

from imgstats.web import create_app
from imgstats.web.gallery import cache, natural_key

FUNCS = ("min", "p1", "median", "mean", "p99", "max")


def _numpy(arr: np.ndarray, func: str) -> float:
    if func == "mean":
        return float(np.mean(arr, dtype=np.float64))
    q = {"min": 0, "max": 100, "median": 50}.get(func)
    return float(np.percentile(arr, float(func[1:]) if q is None else q))


@pytest.fixture
def store(tmp_path):
    """``store(files, **config)``: a test client over a folder holding ``files``
    (``{name: array or bytes}``)."""
    apps = []

    def make(files: dict, **config):
        folder = tmp_path / f"store{len(apps)}"
        folder.mkdir()
        for name, data in files.items():
            if isinstance(data, bytes):
                (folder / name).write_bytes(data)
            elif name.endswith(".tif"):
                tifffile.imwrite(folder / name, data)
            else:
                Image.fromarray(data).save(folder / name)
        app = create_app(
            {
                "IMAGES": str(folder),
                "WARMUP": False,
                "GALLERY_CACHE_DIR": str(folder.parent / f"renders{len(apps)}"),
                **config,
            }
        )
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        with app.app_context():
            cache().cache_clear()
        app.extensions["imgstats"].cache_clear()
        app.extensions["imgstats"].close()


def _rows(html: str, table: str) -> dict[str, dict[str, str]]:
    """``{row heading: {column: exact value or text}}`` of one of the page's tables."""
    part = html[html.index(f'<table class="stats {table}"') :]
    part = part[: part.index("</table>")]
    columns = [t for _, t in elements(part, "th", scope="col")][1:]
    out = {}
    for row in re.findall(r"<tr[^>]*><th scope=\"row\">(.*?)</tr>", part, re.S):
        head, _, cells = row.partition("</th>")
        name = re.sub(r"<[^>]+>", "", head).strip()
        texts = []
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S):
            exact = re.search(r'<data value="([^"]+)"', cell)
            texts.append(exact.group(1) if exact else re.sub(r"<[^>]+>", "", cell).strip())
        out[name] = dict(zip(columns, texts, strict=False))
    return out


def test_mixed_types_and_an_unreadable_file(store):
    rng = np.random.default_rng(7)
    files = {
        "a_2.png": rng.integers(0, 256, (20, 30), dtype=np.uint8),
        "a_10.png": rng.integers(0, 256, (25, 20), dtype=np.uint8),
        "counts_1.tif": rng.integers(-(2**31), 2**31 - 1, (16, 16), dtype=np.int32),
        "counts_2.tif": rng.integers(0, 9, (8, 12), dtype=np.int32),
        "refl_1.tif": rng.normal(0.3, 0.1, (16, 18)).astype(np.float32),
        "refl_2.tif": rng.normal(5.0, 1.0, (9, 9)).astype(np.float32),
        "broken.png": b"\x89PNG not really",
    }
    client = store(files)
    response = client.get("/gallery/all")
    assert response.status_code == 200, response.text[:500]
    html = response.text
    pooled = _rows(html, "pooled")
    assert list(pooled) == [
        "All float32 images (2)",
        "All int32 images (2)",
        "All uint8 images (2)",
    ]
    for dtype, prefix in (("float32", "refl"), ("int32", "counts"), ("uint8", "a_")):
        every = np.concatenate([a.ravel() for n, a in files.items() if n.startswith(prefix)])
        row = pooled[f"All {dtype} images (2)"]
        assert int(row["count"]) == every.size
        for func in FUNCS:
            assert float(row[func]) == pytest.approx(_numpy(every, func), rel=1e-12), (dtype, func)
    images = _rows(html, "images")
    assert list(images) == sorted(files, key=natural_key)  # a_2 before a_10
    assert "cannot be read" in images["broken.png"]["Type"]
    for name, arr in files.items():
        if isinstance(arr, bytes):
            continue
        assert images[name]["Type"] == str(arr.dtype)
        for func in FUNCS:
            assert float(images[name][func]) == pytest.approx(_numpy(arr.ravel(), func), rel=1e-12)
    assert "1 of which cannot be read" in html
    assert html.count('<svg class="hist hist-wide"') == 3  # one per pooled type


def test_more_images_than_a_collection_may_hold(store):
    files = {f"img_{i}.png": np.full((4, 4), i, dtype=np.uint8) for i in range(1, 8)}
    files["big.tif"] = np.arange(12, dtype=np.uint16).reshape(3, 4)
    client = store(files, COLLECTION_LIMIT=5, GALLERY_ALL_PAGE_SIZE=3)
    first = client.get("/gallery/all")
    assert first.status_code == 200
    pooled = _rows(first.text, "pooled")
    assert "more than the limit of 5 images" in pooled["All uint8 images (7)"]["count"]
    assert list(pooled) == ["All uint8 images (7)"]  # one uint16 image: nothing to pool
    assert "The only image of its type (uint16)" in first.text
    names = sorted(files, key=natural_key)
    seen = []
    for page in (1, 2, 3):
        html = client.get(f"/gallery/all?page={page}").text
        seen += list(_rows(html, "images"))
    assert seen == names
    assert client.get("/gallery/all?page=4").status_code == 404
    ((nav, _),) = elements(first.text, "nav", class_="pager")
    assert nav["aria-label"] == "Pages of images"
