"""Small dask chunks are gathered into chunks of about 8 MiB, never far more.

5a77637 gathered them towards a square of rows and columns, keeping whole chunks: chunks
(1, 65000) of float64 became 1024 x 65000 (508 MiB each, one per thread at once), and
chunks (65000, 1) 65000 x 1024. And a dask.distributed Client given as the scheduler (the
service's, which is not the process's default client) was taken for a local scheduler, so
its chunks were gathered, moving them between workers.
"""

import numpy as np
import pytest

from imgstats.io import _plan

da = pytest.importorskip("dask.array")


@pytest.mark.parametrize(
    ("shape", "chunks"),
    [
        ((100_000, 65_000), (1, 65_000)),
        ((65_000, 100_000), (65_000, 1)),
        ((20_000, 20_000), (10, 10)),
        ((3_000, 3_000), (3, 3_000)),
        ((5_000, 5_000, 3), (50, 50, 3)),
    ],
)
def test_gathered_chunks_stay_near_their_target(shape, chunks):
    arr = da.zeros(shape, dtype="f8", chunks=chunks)  # lazy: nothing is allocated
    out = _plan._coarser(arr)
    pixel = arr.dtype.itemsize * (shape[2] if len(shape) == 3 else 1)
    biggest = max(out.chunks[0]) * max(out.chunks[1]) * pixel
    given = max(arr.chunks[0]) * max(arr.chunks[1]) * pixel
    assert biggest <= max(_plan.GATHERED_BYTES, given) * 1.01, (out.chunks[0][0], out.chunks[1][0])
    assert out.npartitions < arr.npartitions  # and they are gathered
    assert out.shape == arr.shape


@pytest.mark.parametrize(("shape", "chunks"), [((3, 0), (1, 0)), ((0, 4), (0, 1))])
def test_chunks_of_no_samples_are_gathered_without_dividing_by_zero(shape, chunks):
    arr = da.zeros(shape, dtype="f4", chunks=chunks)
    assert _plan._coarser(arr).shape == shape


def test_gathered_chunks_give_the_same_samples():
    data = np.arange(300 * 200, dtype="f4").reshape(300, 200)
    arr = da.from_array(data, chunks=(3, 200))
    np.testing.assert_array_equal(_plan._coarser(arr).compute(), data)


def test_a_client_object_given_as_the_scheduler_is_a_cluster():
    """The one test of a cluster, for both callers: the gathering (``on_a_cluster``) and
    the watched run (``distributed_client``)."""
    distributed = pytest.importorskip("distributed")
    from imgstats._cluster import distributed_client

    assert not _plan.on_a_cluster("threads") and not _plan.on_a_cluster(None)
    assert not _plan.has_distributed_client() and distributed_client(None) is None
    assert _plan.on_a_cluster("distributed")  # whose run asks for a client
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        assert _plan.on_a_cluster(client) and distributed_client(client) is client
        assert not _plan.has_distributed_client() and not _plan.on_a_cluster(None)
        assert distributed_client(None) is None and distributed_client("distributed") is None
        with distributed.Client(cluster) as default:  # the process's default client
            assert _plan.has_distributed_client() and _plan.on_a_cluster(None)
            assert distributed_client(None) is default
            assert distributed_client("sync") is None and _plan.on_a_cluster("sync")
    assert not _plan.has_distributed_client()
