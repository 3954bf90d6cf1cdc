"""``GET /stats/<image>/histogram?bins=&range=`` (issue 16 item 4): equal to
``numpy.histogram(valid samples, bins, range)`` per selection and band; 8/16-bit images from
their summary (no pixel read when warm), wider ones in one pass."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import rasterio
import rasterio.transform
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import imgstats
import imgstats.web.service as service_module

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

GALLERY = ["IMG_1.jpg", "IMG_11.png", "IMG_12_uint16.tif", "IMG_13_float32.tif", "IMG_14_int16.tif"]


def valid_of(arr: np.ndarray, band=None) -> np.ndarray:
    """GDAL's valid samples of a gallery image: RGBA's colours where alpha is not 0 (alpha
    itself whole, and never pooled), NaN left out."""
    rgba = arr.ndim == 3 and arr.shape[-1] == 4 and arr.dtype == np.uint8
    if band is None:
        out = arr[..., :3][arr[..., 3] != 0] if rgba else arr
    elif rgba and band < 3:
        out = arr[..., band][arr[..., 3] != 0]
    else:
        out = arr[..., band]
    out = np.asarray(out).ravel()
    return out[~np.isnan(out)] if out.dtype.kind == "f" else out


def check(body: dict, samples: np.ndarray, bins: int, rng) -> None:
    counts, edges = np.histogram(samples, bins, range=rng)
    assert body == {"counts": counts.tolist(), "edges": edges.tolist()}


def url(name: str, bins, rng, extra: str = "") -> str:
    query = [f"bins={bins}"] if bins is not None else []
    if rng is not None:
        query.append(f"range={rng[0]!r},{rng[1]!r}")
    return f"/stats/{name}/histogram?" + "&".join(query) + extra


@pytest.mark.parametrize("name", GALLERY)
@pytest.mark.parametrize(
    ("bins", "rng"), [(None, None), (1, None), (7, None), (64, (10.0, 200.5)), (300, (-5.0, 0.6))]
)
def test_histogram_equals_numpy(client, images, name, bins, rng):
    arr = np.asarray(imgstats.open_image(images / name))
    got = client.get(url(name, bins, rng))
    body = got.get_json()
    assert got.status_code == 200, body
    assert body["func"] == "histogram"
    nbins = 10 if bins is None else bins
    check(body["value"], valid_of(arr), nbins, rng)
    if arr.ndim == 3:
        names = list(body["bands"])
        assert len(names) == arr.shape[-1]
        for i, band in enumerate(names):
            check(body["bands"][band], valid_of(arr, i), nbins, rng)
            one = client.get(url(name, bins, rng, f"&band={i}")).get_json()
            check(one["value"], valid_of(arr, i), nbins, rng)


def _geotiff(path, data, nodata):
    bands = data[None] if data.ndim == 2 else np.moveaxis(data, -1, 0)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=bands.shape[2],
        height=bands.shape[1],
        count=bands.shape[0],
        dtype=data.dtype.name,
        nodata=nodata,
        crs="EPSG:32633",
        transform=rasterio.transform.Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0),
        tiled=True,
        blockxsize=16,
        blockysize=16,
    ) as dst:
        dst.write(bands)


@pytest.mark.parametrize(
    ("dtype", "nodata", "nbands"),
    [
        ("uint16", 0, 1),
        ("int16", -1, 2),
        ("int32", -99999, 1),
        ("int32", -99999, 3),
        ("uint32", 7, 2),
        ("int64", 5, 1),
        ("float32", -3.4e38, 3),
        ("float64", np.nan, 1),
    ],
)
def test_histogram_of_gdal_valid_samples(client, images, dtype, nodata, nbands):
    rng = np.random.default_rng(3)
    data = (rng.normal(0, 400, (50, 70, nbands))).astype(dtype)
    data[5:20, 3:40] = nodata
    _geotiff(images / "h.tif", data if nbands > 1 else data[..., 0], nodata)
    with rasterio.open(images / "h.tif") as src:
        masked = src.read(masked=True)
    for bins, rng_ in [(16, None), (5, (-100.0, 250.0))]:
        body = client.get(url("h.tif", bins, rng_)).get_json()
        check(body["value"], masked.compressed(), bins, rng_)
        if nbands > 1:
            for i, band in enumerate(body["bands"]):
                check(body["bands"][band], masked[i].compressed(), bins, rng_)
    # ?raw=1: every sample; ?nodata=: another value; ?window=: a window of them
    raw = client.get(url("h.tif", 8, None, "&raw=1")).get_json()
    finite = data[~np.isnan(data)] if data.dtype.kind == "f" else data
    check(raw["value"], finite.ravel(), 8, None)
    win = client.get(url("h.tif", 8, (-50.0, 50.0), "&window=30,10,70,50&band=0")).get_json()
    cut = masked[0, 10:50, 30:70].compressed()
    check(win["value"], cut, 8, (-50.0, 50.0))
    assert win["window"] == [30, 10, 70, 50]


def test_8_and_16_bit_histograms_read_no_pixels_when_warm(client, monkeypatch):
    calls = []
    for name in ("summarize", "refine"):
        real = getattr(service_module, name)
        monkeypatch.setattr(
            service_module, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k)
        )
    monkeypatch.setattr(
        service_module.ImageService,
        "_histogram_pass",
        lambda *a, **k: pytest.fail("an 8/16-bit histogram read pixels"),
    )
    for name in ("IMG_1.jpg", "IMG_12_uint16.tif", "IMG_14_int16.tif"):
        assert client.get(f"/stats/{name}/mean").status_code == 200
        for bins, rng in itertools.product([3, 256, 4096], [None, (0.0, 1000.0)]):
            assert client.get(url(name, bins, rng)).status_code == 200
        assert client.get(url(name, 5, None, "&band=0")).status_code == 200
    assert calls == ["summarize"] * 3


def test_wide_histograms_take_one_pass_and_are_cached(client, images, monkeypatch):
    passes = []
    real = service_module.ImageService._histogram_pass

    def counting(self, *args):
        passes.append(args[3:5])  # (bins, range)
        return real(self, *args)

    monkeypatch.setattr(service_module.ImageService, "_histogram_pass", counting)
    first = client.get(url("IMG_13_float32.tif", 32, None)).get_json()
    again = client.get(url("IMG_13_float32.tif", 32, None)).get_json()
    assert first == again and passes == [(32, None)]
    client.get(url("IMG_13_float32.tif", 33, None))
    assert len(passes) == 2


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    arr=hnp.arrays(
        st.sampled_from([np.float32, np.float64, np.int32, np.uint8, np.int16]),
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
        elements={"allow_nan": False, "allow_infinity": False, "allow_subnormal": True},
    ),
    bins=st.integers(1, 50),
    bounds=st.none() | st.tuples(st.floats(-1e6, 1e6), st.floats(0, 1e6)),
)
def test_histogram_property(client, images, arr, bins, bounds):
    name = f"p{np.random.default_rng().integers(1 << 62)}.tif"
    tifffile.imwrite(images / name, arr)
    rng = None if bounds is None else (bounds[0], bounds[0] + bounds[1])
    got = client.get(url(name, bins, rng))
    try:
        with np.errstate(all="ignore"):
            edges = np.histogram(arr.ravel(), bins, range=rng)[1]
    except (ValueError, IndexError):  # numpy refuses (or crashes on) these edges
        assert got.status_code == 400, got.get_json()
        return
    if not np.isfinite(edges).all():  # edges beyond the type (numpy warns): no JSON for them
        assert got.status_code == 400, got.get_json()
        return
    assert got.status_code == 200, got.get_json()
    with np.errstate(all="ignore"):
        check(got.get_json()["value"], arr.ravel(), bins, rng)


@pytest.mark.parametrize("name", ["IMG_12_uint16.tif", "IMG_13_float32.tif"])
def test_a_range_too_narrow_for_the_type_is_400(client, name):
    got = client.get(f"/stats/{name}/histogram?bins=3&range=0,1e-77")
    body = got.get_json()
    if name.endswith("float32.tif"):  # float32 edges: 1e-77 is 0, numpy has no 3 bins there
        assert got.status_code == 400 and "cannot be cut into 3 bins with float32" in body["error"]
    else:  # float64 edges for integers hold it
        assert got.status_code == 200 and sum(body["value"]["counts"]) >= 0


BAD = [
    ("IMG_1.jpg/histogram?bins=0", 400, "invalid bins"),
    ("IMG_1.jpg/histogram?bins=4097", 400, "from 1 to 4096"),
    ("IMG_1.jpg/histogram?bins=1.5", 400, "invalid bins"),
    ("IMG_1.jpg/histogram?bins=-3", 400, "invalid bins"),
    ("IMG_1.jpg/histogram?bins=" + "9" * 40, 400, "invalid bins"),
    ("IMG_1.jpg/histogram?range=1", 400, "invalid range"),
    ("IMG_1.jpg/histogram?range=a,b", 400, "invalid range"),
    ("IMG_1.jpg/histogram?range=0,inf", 400, "invalid range"),
    ("IMG_1.jpg/histogram?range=nan,1", 400, "invalid range"),
    ("IMG_1.jpg/histogram?range=5,1", 400, "not be greater"),
    ("IMG_1.jpg/histogram?range=0,%D9%A3", 400, "invalid range"),  # Arabic-Indic 3: was 0..3
    ("IMG_1.jpg/histogram?method=lower", 400, "not of histogram"),
    ("IMG_1.jpg/histogram?band=Q", 400, "band"),
    ("IMG_1.jpg/histogram?bin=3", 400, "unknown query parameter"),
    ("IMG_*/histogram", 400, "not to a pattern"),
    ("IMG_1.jpg/mean?range=1,2", 400, "option of histogram only"),
    ("nothere.tif/histogram", 404, "nothere"),
    ("inf.tif/histogram", 400, "give range=lo,hi"),
    ("empty.tif/histogram", 422, "no valid samples"),
]


@pytest.mark.parametrize(("path", "status", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_histogram_requests_are_4xx(client, images, path, status, message):
    tifffile.imwrite(images / "inf.tif", np.array([[1.0, np.inf]], np.float32))
    _geotiff(images / "empty.tif", np.full((4, 4), 3, np.int16), 3)
    got = client.get("/stats/" + path)
    body = got.get_json()
    assert got.status_code == status, body
    assert message in body["error"], body


def test_inf_samples_are_counted_with_a_range(client, images):
    arr = np.array([[1.0, np.inf, -np.inf, 2.0, np.nan]], np.float32)
    tifffile.imwrite(images / "inf.tif", arr)
    body = client.get("/stats/inf.tif/histogram?bins=4&range=0,4").get_json()
    check(body["value"], arr[~np.isnan(arr)], 4, (0.0, 4.0))


def test_samples_that_overflow_numpys_arithmetic_are_400(client, images):
    # numpy.histogram itself raises IndexError on these (its bin arithmetic overflows)
    arr = np.array([[1.7976931348623157e308, -9.97920155e291]])
    with pytest.raises(IndexError), np.errstate(all="ignore"):
        np.histogram(arr.ravel(), 1)
    tifffile.imwrite(images / "huge.tif", arr)
    got = client.get("/stats/huge.tif/histogram?bins=1")
    assert got.status_code == 400 and "too wide for float64" in got.get_json()["error"]
    # a range of finite edges whose arithmetic overflows in numpy: refused too, never a 500
    got = client.get("/stats/huge.tif/histogram?bins=3&range=-1e308,1e308")
    assert got.status_code in (200, 400), got.get_json()
    arr32 = np.array([[-3.4e38, 3.4e38]], np.float32)  # edges beyond float32: no JSON for inf
    tifffile.imwrite(images / "wide.tif", arr32)
    got = client.get("/stats/wide.tif/histogram?bins=4")
    assert got.status_code == 400 and "cannot be cut into 4 bins" in got.get_json()["error"]
