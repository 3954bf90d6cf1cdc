"""A real dask.distributed cluster of two worker processes (issue 2).

Workers read the TIFF chunks themselves (the graph holds the file's address, not pixels) and
send back small summaries; the numbers must equal numpy's.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile

import imgstats

from .cluster import local_cluster
from .oracle import check_all

distributed = pytest.importorskip("distributed")

FUNCS = ["min", "max", "mean", "median", "p0.1", "p99.9"]


@pytest.fixture(scope="module")
def client():
    with local_cluster() as client:
        yield client


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["uint16", "float32", "float64", "int64"])
def test_tiff_read_by_the_workers(client, tmp_path, dtype):
    rng = np.random.default_rng(31)
    if np.dtype(dtype).kind == "f":
        arr = rng.normal(0, 10, (300, 260)).astype(dtype)
        arr[::17, ::13] = np.nan
    else:
        arr = rng.integers(-5000 if dtype == "int64" else 0, 60000, (300, 260)).astype(dtype)
    path = tmp_path / f"{dtype}.tif"
    tifffile.imwrite(path, arr, tile=(64, 64), compression="zlib")
    img = imgstats.open_image(path, chunks=(128, 192))
    assert isinstance(img.data, da.Array) and img.data.npartitions == 6
    # The graph holds the file's address: nothing like the pixels travels to the workers.
    assert len(distributed.protocol.serialize_bytes(img.data.__dask_graph__())) < arr.nbytes / 4
    with distributed.get_task_stream(client) as stream:
        check_all(imgstats.compute(img, FUNCS), arr, FUNCS)
    # The chunk reads ran on the workers, not in this process, each in the task that
    # summarizes the chunk (fused by dask): no chunk travels between workers.
    reads = [t for t in stream.data if t["key"][0].startswith("imgstats-")]
    assert len(reads) >= img.data.npartitions
    assert not [t for t in stream.data if t["key"][0].startswith("tiff-")]
    assert {t["worker"] for t in reads} <= set(client.scheduler_info()["workers"])
    check_all(imgstats.compute(path, FUNCS, chunks="auto"), arr, FUNCS)


@pytest.mark.slow
def test_from_array_on_the_cluster(client):
    rng = np.random.default_rng(32)
    arr = rng.normal(size=(200, 150, 3)).astype(np.float32)
    data = da.from_array(arr, chunks=(67, 41, 2))  # uneven, and split across the bands
    check_all(imgstats.compute(data, FUNCS), arr, FUNCS)
    check_all(imgstats.compute(data, FUNCS, band=1), arr[..., 1], FUNCS)
    u8 = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    summary = imgstats.summarize(da.from_array(u8, chunks=(50, 40, 3)))
    check_all(summary.compute(FUNCS), u8, FUNCS)
    check_all(summary.compute(FUNCS, band="luma"), _luma(u8), FUNCS)


def _luma(rgb):
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).convert("L"))
