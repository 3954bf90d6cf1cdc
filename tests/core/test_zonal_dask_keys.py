"""Two zonal questions on one dask image get task keys of their own.

The zones' dask graph was named by a token of the image, the label array's name and the
blocks' boxes only: two questions with different numpy labels (or polygons, background,
bands, validity) on one dask.distributed client had the same keys, and the scheduler
answered both with the first one's result (8 runs out of 8 in review).
"""

import threading

import numpy as np
import pytest

import imgstats
import imgstats._cluster

da = pytest.importorskip("dask.array")


def _keys_of(monkeypatch, calls):
    seen = []
    real = imgstats._cluster.dask_compute

    def recording(*objs, scheduler=None):
        seen.extend(o.key for o in objs)
        return real(*objs, scheduler=scheduler)

    monkeypatch.setattr(imgstats._cluster, "dask_compute", recording)
    for call in calls:
        call()
    return seen


def test_questions_that_differ_only_in_their_numpy_labels_have_other_keys(monkeypatch):
    img = da.from_array(np.arange(64 * 64, dtype="f4").reshape(64, 64), chunks=32)
    a = np.ones((64, 64), "i4")
    b = np.zeros((64, 64), "i4")
    b[:32] = 2
    keys = _keys_of(
        monkeypatch,
        [
            lambda: imgstats.zonal(img, a, ["mean"]),
            lambda: imgstats.zonal(img, b, ["mean"]),
            lambda: imgstats.zonal(img, b, ["mean"], background=None),
        ],
    )
    assert len(keys) == 3 and len(set(keys)) == 3, keys


@pytest.mark.slow
def test_two_questions_at_once_on_one_client_get_their_own_answers():
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(0)
    data = rng.random((1000, 1000)).astype("f4")
    img = da.from_array(data, chunks=250)
    a = np.ones((1000, 1000), "i4")
    b = np.zeros((1000, 1000), "i4")
    b[:500] = 2
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        for _ in range(3):
            out = {}

            def run(name, labels, out=out):
                out[name] = imgstats.zonal(img, labels, ["mean", "count"])

            threads = [threading.Thread(target=run, args=x) for x in (("a", a), ("b", b))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert out["a"]["count"].to_dict() == {1: 1_000_000}
            assert out["b"]["count"].to_dict() == {2: 500_000}
            np.testing.assert_allclose(out["b"]["mean"][2], data[:500].astype("f8").mean())
