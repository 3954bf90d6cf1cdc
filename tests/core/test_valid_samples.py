"""``Summary.valid``: what decided which samples a summary counted, read off it in Python.

GDAL (rasterio) writes the files; which rule applies is what their tests of meaning
(``test_meaning_*``) check against GDAL's masked reading. Here: the summary says it, keeps it
through bytes, refinements and merges of one rule, drops it for a merge of several, and a
summary of format version 3 says nothing rather than "nothing was left out".
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import xarray as xr

import imgstats
from imgstats import Summary
from imgstats._codec import MAGIC, CorruptSummary
from imgstats._valid_samples import ValidSamples

from .test_meaning_valid import _write

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

H, W = 30, 40


@pytest.fixture
def files(tmp_path):
    data = np.arange(H * W, dtype=np.float32).reshape(H, W) % 50
    mask = np.ones((H, W), bool)
    mask[:5] = False
    return {
        "nodata": _write(tmp_path / "n.tif", data[None], nodata=3),
        "internal": _write(tmp_path / "m.tif", data[None], mask=mask),
        "plain": _write(tmp_path / "p.tif", data[None]),
    }


def test_a_summary_says_which_rule_counted(files):
    assert imgstats.summarize(files["nodata"]).valid == ValidSamples("nodata", 3, "file")
    assert imgstats.summarize(files["internal"]).valid == ValidSamples("internal", None, "file")
    assert imgstats.summarize(files["plain"]).valid == ValidSamples(None, None, "file")
    raw = imgstats.summarize(files["nodata"], raw=True)
    assert raw.valid.as_dict() == {"mask": None, "nodata": None, "source": "raw"}
    asked = imgstats.summarize(files["internal"], nodata=float("nan"), window=(0, 0, 9, 9))
    assert asked.valid.as_dict() == {"mask": "nodata", "nodata": "nan", "source": "option"}
    polygon = [(0, 0), (20, 0), (0, 20)]
    assert imgstats.summarize(files["nodata"], polygon=polygon).valid.nodata == 3


def test_it_survives_bytes_refinements_and_merges_of_one_rule(files):
    s = imgstats.summarize(files["nodata"])
    refined = imgstats.refine(s, files["nodata"], ["p10"])
    assert refined.valid == s.valid
    assert Summary.from_bytes(refined.to_bytes()).valid == s.valid
    assert (s + s).valid == s.valid
    assert imgstats.summarize([files["nodata"], files["nodata"]]).valid == s.valid
    assert imgstats.summarize([files["nodata"], files["internal"]]).valid is None
    nan = imgstats.summarize(files["plain"], nodata=float("nan"))
    assert (nan + nan).valid == nan.valid  # NaN is one rule, though NaN != NaN


def test_a_region_of_a_raw_array_counts_every_sample():
    # a window of a DataArray with an alpha band, raw=True: its region's alpha was applied
    # (9 samples counted of numpy's 12)
    a = np.full((4, 4, 4), 9, np.uint8)
    a[0, 0, 3] = 0
    da = xr.DataArray(a, dims=("y", "x", "band"), coords={"band": ["R", "G", "B", "A"]})
    expected = a[:2, :2, :3].size
    assert imgstats.compute(da, "count", raw=True, window=(0, 0, 2, 2)) == expected
    assert imgstats.summarize(da, raw=True, window=(0, 0, 2, 2)).valid.source == "raw"
    assert imgstats.summarize(da, window=(0, 0, 2, 2)).valid.mask == "alpha"


def _as_version_3(blob: bytes) -> bytes:
    """The bytes a version-3 writer gave: no ``valid`` in the header."""
    size = struct.unpack_from("<8sHI", blob)[2]
    header = json.loads(blob[14 : 14 + size])
    del header["valid"]
    raw = json.dumps(header).encode()
    return MAGIC + struct.pack("<HI", 3, len(raw)) + raw + blob[14 + size :]


def test_a_version_3_summary_says_nothing(files):
    s = imgstats.summarize(files["nodata"])
    old = Summary.from_bytes(_as_version_3(s.to_bytes()))
    assert old.valid is None and old == s


@pytest.mark.parametrize(
    "valid",
    [{"mask": "paint"}, {"mask": None, "nodata": "x", "source": "file"}, [1], "nodata"],
)
def test_a_bad_valid_is_refused(files, valid):
    blob = imgstats.summarize(files["plain"]).to_bytes()
    size = struct.unpack_from("<8sHI", blob)[2]
    header = json.loads(blob[14 : 14 + size])
    header["valid"] = valid
    raw = json.dumps(header).encode()
    with pytest.raises(CorruptSummary):
        Summary.from_bytes(MAGIC + struct.pack("<HI", 4, len(raw)) + raw + blob[14 + size :])


#: A masked array's mask: the diagonal of a 6 x 8 uint16 image (7 is also a value there).
MA = np.ma.masked_array(
    np.arange(48, dtype=np.uint16).reshape(6, 8) % 9, mask=np.eye(6, 8, dtype=bool)
)


@pytest.mark.parametrize(
    ("options", "want", "kept"),
    [
        ({}, ("array", None, "file"), ~MA.mask),
        ({"nodata": 7}, ("array", 7, "option"), ~MA.mask & (MA.data != 7)),
        # raw drops a file's rules, not the array's own mask: its samples still never count
        ({"raw": True}, ("array", None, "raw"), ~MA.mask),
        (
            {"window": (0, 0, 4, 3)},
            ("array", None, "file"),
            np.pad(~MA.mask[:3, :4], ((0, 3), (0, 4))),
        ),
    ],
)
def test_a_masked_arrays_mask_is_its_rule(options, want, kept):
    # it was None, "no one rule", for the one rule that decided
    s = imgstats.summarize(MA, **options)
    assert s.valid == ValidSamples(*want)
    assert s.compute("count") == int(kept.sum())  # numpy's count of what the rule leaves
    assert s.compute("max") == int(MA.data[kept].max())
    assert Summary.from_bytes(s.to_bytes()).valid == s.valid


def test_a_masked_array_says_it_everywhere():
    import dask.array as da

    want = {"mask": "array", "nodata": None, "source": "file"}
    lazy = da.ma.masked_array(da.from_array(MA.data, chunks=3), mask=da.from_array(MA.mask, 3))
    assert imgstats.summarize(lazy).valid.as_dict() == want
    labels = np.ones(MA.shape, np.uint8)
    frame = imgstats.zonal(MA, labels, ["count"])
    assert frame.attrs["valid"] == want
    assert frame.loc[1, "count"] == MA.count()
    # nothing masked: nothing decided but NaN
    plain = imgstats.summarize(np.ma.masked_array(MA.data))
    assert plain.valid == ValidSamples(None, None, "file")


def test_the_halves_of_one_masked_array_merge_to_its_rule():
    # the half with nothing masked says None, the other "array": their merge said None,
    # where the whole array's summary says "array"
    a = np.arange(48, dtype=np.uint8).reshape(6, 8)
    mask = np.zeros((6, 8), bool)
    mask[0, :3] = True
    m = np.ma.masked_array(a, mask=mask)
    whole = imgstats.summarize(m)
    top, bottom = imgstats.summarize(m[:3]), imgstats.summarize(m[3:])
    assert (top.valid.mask, bottom.valid.mask) == ("array", None)
    for merged in (top.merge(bottom), bottom.merge(top)):
        assert merged.valid == whole.valid
        assert merged.compute("count") == m.count() == 45
    # two different rules still merge to None
    nodata = imgstats.summarize(np.ma.masked_array(a, mask=mask), nodata=7)
    assert nodata.valid.nodata == 7 and bottom.merge(nodata).valid is None


@pytest.mark.parametrize("lazy", [False, True])
def test_a_dataarray_of_a_masked_array_holds_nan_and_says_so(lazy):
    """xarray fills a masked array's masked samples with NaN as it builds a DataArray (its
    type promoted to float): what the DataArray holds has no mask, and NaN is what is left
    out -- ``mask`` None, the count xarray's own, with ``raw=True`` too."""
    import dask.array as da

    a = np.arange(48, dtype=np.uint8).reshape(6, 8)
    masked = np.ma.masked_equal(a, 5)
    if lazy:
        masked = da.ma.masked_equal(da.from_array(a, chunks=3), 5)
    held = xr.DataArray(masked, dims=("y", "x"))
    assert held.dtype == np.float32 and not isinstance(held.data, np.ma.MaskedArray)
    for raw, source in [(False, "file"), (True, "raw")]:
        s = imgstats.summarize(held, raw=raw)
        assert s.valid == ValidSamples(None, None, source)
        assert s.compute("count") == int(held.count()) == 47
        assert s.compute("sum") == float(held.sum())
