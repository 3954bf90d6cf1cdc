"""``imgstats stats --with-valid`` and ``imgstats zonal --with-valid``: which rule counted.

``valid`` was given by ``/stats``, ``/zonal`` and ``Summary.valid`` only. A ``valid`` key in
every ``--json`` broke scripts that read each key as a function (it was reverted), so the
CLI gives it when asked, read off the summary it counted (no second read of the file).
GDAL (rasterio) writes the files; numpy's count of the samples the rule leaves in is the
oracle that the rule printed is the one that counted.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from imgstats.cli import main

from .test_meaning_valid import _write

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

H, W = 30, 40
#: ``valid`` of a file without nodata, mask or alpha: nothing but NaN is left out.
PLAIN = {"mask": None, "nodata": None, "source": "file"}


@pytest.fixture
def files(tmp_path):
    data = (np.arange(H * W, dtype=np.uint16).reshape(H, W) % 50).astype(np.uint16)
    mask = np.ones((H, W), bool)
    mask[:5] = False
    labels = (np.arange(H * W).reshape(H, W) // 300 + 1).astype(np.uint8)  # zones 1..4
    return {
        "data": data,
        "mask": mask,
        "labels": labels,
        "nodata": _write(tmp_path / "n.tif", data[None], nodata=3),
        "internal": _write(tmp_path / "m.tif", data[None], mask=mask),
        "plain": _write(tmp_path / "p.tif", data[None]),
        "zones": _write(tmp_path / "z.tif", labels[None]),
    }


def _stats(capsys, *argv):
    assert main(["stats", *map(str, argv)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def _json(capsys, *argv):
    return json.loads(_stats(capsys, *argv, "--json", "--with-valid"))


def test_stats_json_says_the_rule_that_counted(files, capsys):
    data = files["data"]
    got = _json(capsys, files["nodata"], "count", "min")
    assert got == {
        "count": int((data != 3).sum()),
        "min": int(data[data != 3].min()),
        "valid": {"mask": "nodata", "nodata": 3, "source": "file"},
    }
    got = _json(capsys, files["internal"], "count")
    assert got == {
        "count": int(files["mask"].sum()),
        "valid": {"mask": "internal", "nodata": None, "source": "file"},
    }
    assert _json(capsys, files["plain"], "count") == {"count": data.size, "valid": PLAIN}


def test_stats_json_says_the_options_rule(files, capsys):
    data = files["data"]
    got = _json(capsys, files["internal"], "count", "--nodata", "7")
    # nodata= takes the place of the file's mask
    assert got == {
        "count": int((data != 7).sum()),
        "valid": {"mask": "nodata", "nodata": 7, "source": "option"},
    }
    got = _json(capsys, files["nodata"], "count", "--raw")
    assert got == {"count": data.size, "valid": {"mask": None, "nodata": None, "source": "raw"}}
    got = _json(capsys, files["nodata"], "count", "--window", "0,0,10,10")
    assert got == {
        "count": int((data[:10, :10] != 3).sum()),
        "valid": {"mask": "nodata", "nodata": 3, "source": "file"},
    }


def test_a_collection_claims_one_rule_or_none(files, capsys):
    data = files["data"]
    got = _json(capsys, files["nodata"], files["nodata"], "count")
    assert got == {
        "count": 2 * int((data != 3).sum()),
        "valid": {**PLAIN, "mask": "nodata", "nodata": 3},
    }
    got = _json(capsys, files["nodata"], files["internal"], "count")
    assert got == {"count": int((data != 3).sum() + files["mask"].sum()), "valid": None}


def test_without_the_flag_every_key_is_a_function(files, capsys):
    # scripts read each key of --json as a function: valid only when asked
    assert json.loads(_stats(capsys, files["nodata"], "count", "--json")) == {
        "count": int((files["data"] != 3).sum())
    }
    assert _stats(capsys, files["nodata"], "count") == f"count {(files['data'] != 3).sum()}\n"


@pytest.mark.parametrize("fmt", ["text", "csv", "table"])
def test_other_formats_print_a_valid_row(files, capsys, fmt):
    out = _stats(capsys, files["nodata"], "max", "--format", fmt, "--with-valid")
    text = '{"mask":"nodata","nodata":3,"source":"file"}'
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))
        assert rows[-1] == ["valid", text]
    else:
        assert out.splitlines()[-1].split() == ["valid", text]


def test_zonal_json_rows_say_the_rule(files, capsys):
    data, labels = files["data"], files["labels"]
    argv = ["zonal", str(files["nodata"]), str(files["zones"]), "count", "--json"]
    assert main([*argv, "--with-valid"]) == 0
    rows = json.loads(capsys.readouterr().out)
    valid = {"mask": "nodata", "nodata": 3, "source": "file"}
    assert rows == [
        {"zone": z, "count": int(((labels == z) & (data != 3)).sum()), "valid": valid}
        for z in range(1, 5)
    ]
    assert main(argv) == 0  # without the flag: as before
    assert all("valid" not in row for row in json.loads(capsys.readouterr().out))


def test_zonal_csv_has_a_valid_column(files, capsys):
    labels, mask = files["labels"], files["mask"]
    argv = ["zonal", str(files["internal"]), str(files["zones"]), "count", "--with-valid"]
    assert main(argv) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    for row in rows:
        z = int(row["zone"])
        assert int(row["count"]) == ((labels == z) & mask).sum()
        assert json.loads(row["valid"]) == {"mask": "internal", "nodata": None, "source": "file"}
    assert len(rows) == 4


def test_a_palette_tiffs_nodata_index_under_palette_index(tmp_path, capsys):
    """``--palette index`` of a paletted TIFF with a nodata index counts numpy's (and GDAL's)
    non-nodata indices and says the nodata rule; its colours count by the alpha the nodata
    index becomes."""
    import rasterio
    from rasterio.transform import from_origin

    idx = np.random.default_rng(3).integers(0, 6, (37, 53), dtype=np.uint8)
    path = tmp_path / "pal.tif"
    profile = dict(driver="GTiff", width=53, height=37, count=1, dtype="uint8", nodata=2)
    profile.update(photometric="palette", transform=from_origin(0, 37, 1, 1))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(idx, 1)
        dst.write_colormap(1, {i: (10 * i, 20 * i, 30 * i, 255) for i in range(256)})
    with rasterio.open(path) as src:
        gdal_count = int(src.read(1, masked=True).count())
    kept = idx[idx != 2]
    assert gdal_count == kept.size
    got = _json(capsys, path, "count", "median", "--palette", "index")
    assert got == {
        "count": kept.size,
        "median": float(np.median(kept)),
        "valid": {"mask": "nodata", "nodata": 2, "source": "file"},
    }
    got = _json(capsys, path, "count", "--palette", "index", "--nodata", "3")
    assert got == {
        "count": int((idx != 3).sum()),
        "valid": {"mask": "nodata", "nodata": 3, "source": "option"},
    }
    got = _json(capsys, path, "count")  # the colours: R, G, B under the alpha
    assert got == {"count": 3 * kept.size, "valid": {**PLAIN, "mask": "alpha"}}


@pytest.mark.parametrize("band", ["3", "A"])
def test_the_alpha_band_alone_says_no_rule(tmp_path, capsys, band):
    """Every sample of the alpha band counts (GDAL gives an alpha band no mask of its own):
    its answer says no rule, while a colour band's says alpha, for stats and zonal."""
    import rasterio

    data = np.arange(4 * H * W, dtype=np.uint16).reshape(4, H, W).astype(np.uint8)
    transparent = np.arange(H * W).reshape(H, W) % 3 == 0
    data[3] = np.where(transparent, 0, 255)
    path = _write(tmp_path / "rgba.tif", data, alpha=True)
    zones = _write(tmp_path / "z.tif", np.ones((1, H, W), np.uint8))
    with rasterio.open(path) as src:
        alpha, red = src.read(4, masked=True), src.read(1, masked=True)
    assert int(np.ma.count(red)) == int((~transparent).sum())
    own = {"count": int(np.ma.count(alpha)), "valid": PLAIN}
    assert _json(capsys, path, "count", "--band", band) == own == {"count": H * W, "valid": PLAIN}
    by_alpha = {"mask": "alpha", "nodata": None, "source": "file"}
    red_count = int(np.ma.count(red))
    assert _json(capsys, path, "count", "--band", "R") == {"count": red_count, "valid": by_alpha}
    for chosen, count, valid in [(band, H * W, PLAIN), ("R", red_count, by_alpha)]:
        argv = ["zonal", str(path), str(zones), "count", "--band", chosen, "--json"]
        assert main([*argv, "--with-valid"]) == 0
        assert json.loads(capsys.readouterr().out) == [{"zone": 1, "count": count, "valid": valid}]
