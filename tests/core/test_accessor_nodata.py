"""``da.imgstats.median()`` and ``.quantile(q)`` over every dim leave nodata out, as ``dim=``
over some dims and :func:`imgstats.compute` do.

Reducing every dim took a shortcut that counted every sample but NaN: the ``_FillValue``
of ``rioxarray.open_rasterio`` and the ``nodata`` of :func:`imgstats.open_image` were counted
as values (median 499 where numpy's of the valid samples is 502). numpy is the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import xarray as xr

import imgstats

NODATA = -9999
RNG = np.random.default_rng(1313)
DATA = RNG.integers(0, 1000, (2, 30, 40)).astype(np.int16)
DATA[:, :6, :9] = NODATA
VALID = DATA[DATA != NODATA]


def _arrays(tmp_path):
    yield xr.DataArray(DATA, dims=("band", "y", "x"), attrs={"_FillValue": NODATA})
    yield xr.DataArray(DATA, dims=("band", "y", "x"), attrs={"nodata": NODATA})
    path = tmp_path / "nodata.tif"
    tifffile.imwrite(
        path,
        DATA.transpose(1, 2, 0),
        photometric="minisblack",
        planarconfig="contig",
        extratags=[(42113, "s", 0, "-9999", True)],
    )
    yield imgstats.open_image(path)
    rioxarray = pytest.importorskip("rioxarray")
    import rasterio

    rpath = tmp_path / "rio.tif"
    profile = dict(driver="GTiff", height=30, width=40, count=2, dtype="int16", nodata=NODATA)
    with rasterio.open(rpath, "w", crs="EPSG:32633", **profile) as ds:
        ds.write(DATA)
    yield rioxarray.open_rasterio(rpath)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")
@pytest.mark.parametrize("lazy", [False, True])
def test_every_dim_leaves_nodata_out(tmp_path, lazy):
    for arr in _arrays(tmp_path):
        arr = arr.chunk({"x": 13}) if lazy else arr
        assert float(arr.imgstats.median()) == np.quantile(VALID, 0.5)
        got = arr.imgstats.quantile([0.1, 0.99]).values.tolist()
        assert got == np.quantile(VALID, [0.1, 0.99]).tolist()
        assert float(arr.imgstats.median(dim=list(arr.dims))) == np.quantile(VALID, 0.5)


def test_an_accessors_decode_does_not_wait_for_another_objects(monkeypatch):
    # functools.cached_property took one lock for every accessor on Python 3.11: a 3 x 4
    # array's accessor waited 4.6 s for another thread's decode of 64M samples
    import threading

    import xarray as xr

    from imgstats import _inputs

    big = xr.DataArray(np.zeros((4, 4), np.float32), dims=("y", "x"), name="big")
    small = xr.DataArray(np.ones((3, 4), np.float32), dims=("y", "x"), name="small")
    started, release = threading.Event(), threading.Event()
    decode = _inputs.cf_decoded

    def slow(obj):
        if getattr(obj, "name", None) == "big":
            started.set()
            release.wait(30)
        return decode(obj)

    monkeypatch.setattr(_inputs, "cf_decoded", slow)
    holder = threading.Thread(target=lambda: big.imgstats._obj)
    holder.start()
    started.wait(30)
    done = []
    other = threading.Thread(target=lambda: done.append(small.imgstats._obj))
    other.start()
    other.join(10)
    finished = bool(done)
    release.set()
    holder.join(30)
    other.join(30)
    assert finished  # the small object's decode did not wait for the big one's
    assert float(done[0].sum()) == 12.0


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
def test_an_accessor_answers_from_the_attrs_and_samples_as_they_are_now(lazy):
    """xarray keeps one accessor per object: its decode, kept from the first call, answered
    a median of 4.0 after ``attrs["missing_value"] = [0, 9]`` where xarray's decode gives
    2.5, and a sample edited in place was never seen. xarray's ``decode_cf`` is the oracle."""
    stored = np.array([[0, 1, 2, 3], [9, 9, 9, 4]], np.int16)
    arr = xr.DataArray(stored.copy(), dims=("y", "x"), attrs={"_FillValue": 0})
    if lazy:
        arr = arr.chunk({"x": 2})

    def oracle():
        import warnings

        with warnings.catch_warnings():  # "multiple fill values ... decoding all values to NaN"
            warnings.simplefilter("ignore", xr.SerializationWarning)
            decoded = xr.decode_cf(xr.Dataset({"v": arr.compute()}))["v"].values
        return float(np.nanmedian(decoded)), np.nanquantile(decoded, [0.25, 0.75]).tolist()

    def ours():
        median = float(arr.imgstats.median())
        return median, arr.imgstats.quantile([0.25, 0.75]).values.tolist()

    assert ours() == oracle() == (4.0, [2.5, 9.0])
    arr.attrs["missing_value"] = [0, 9]
    assert ours() == oracle() == (2.5, [1.75, 3.25])
    if not lazy:
        arr.values[0, 0] = 7  # in place: the same array object
        assert ours() == oracle() == (3.0, [2.0, 4.0])
