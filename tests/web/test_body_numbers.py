"""A POST body's numbers and nesting beyond reason are 400s in the service's own words: the
messages told a client to call ``sys.set_int_max_str_digits()`` or named Python's recursion
limit."""

from __future__ import annotations

import pytest

SQUARE = [[0, 0], [9, 0], [9, 9]]


@pytest.mark.parametrize("url", ["/stats/IMG_1.jpg", "/zonal/IMG_1.jpg"])
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"funcs": ["mean"], "band": ' + b"9" * 5000 + b"}", "5000 digits"),
        (b'{"funcs": ["mean"], "page": -' + b"9" * 4500 + b"}", "4500 digits"),
        (b'{"funcs": ["mean"], "band": ' + b"[" * 100000 + b"]" * 100000 + b"}", "too deeply"),
    ],
)
def test_absurd_numbers_and_nesting_are_400s_in_plain_words(client, url, body, says):
    got = client.post(url, data=body, headers={"Content-Type": "application/json"})
    assert got.status_code == 400
    error = got.get_json()["error"]
    assert says in error and "sys." not in error and "recursion" not in error, error


def test_a_uint64_nodata_is_still_a_number(client):
    got = client.post("/stats/IMG_1.jpg", json={"funcs": ["count"], "nodata": 18446744073709551615})
    assert got.status_code == 400  # out of uint8's range, said as such: it was parsed
    assert "digits" not in got.get_json()["error"]


@pytest.mark.parametrize("url", ["/stats/IMG_1.jpg", "/zonal/IMG_1.jpg"])
def test_a_latin_1_body_is_told_to_be_utf8(client, url):
    # a GIS client's properties in ISO-8859-1: it was Python's "'utf-8' codec can't decode
    # byte 0xe9 in position 37: invalid continuation byte"
    body = '{"funcs": ["mean"], "zones": {"n": "é"}}'.encode("latin-1")
    got = client.post(
        url, data=body, headers={"Content-Type": "application/geo+json; charset=ISO-8859-1"}
    )
    assert got.status_code == 400
    error = got.get_json()["error"]
    assert "not UTF-8" in error and "0xe9 at offset 36" in error and "codec" not in error, error


def test_whole_numbers_written_as_floats_are_whole(client):
    # 10.0 and 1E+1 are JSON's 10, as Java's or .NET's serializers write a double: the
    # window was a 400 "coordinates are whole pixels, not 10.0", the band and page too
    body = '\ufeff{"funcs":\r\n ["max"], "window": [0, 0, 1E+1, 10.0], "band": 0.0, "page": 0E0}'
    got = client.post("/stats/IMG_1.jpg", data=body.encode(), content_type="application/json")
    assert got.status_code == 200, got.get_json()
    want = client.post(
        "/stats/IMG_1.jpg", json={"funcs": ["max"], "window": [0, 0, 10, 10], "band": 0, "page": 0}
    )
    assert got.get_json() == want.get_json() and got.get_json()["pixels"] == 100
    zones = {"type": "FeatureCollection", "features": []}
    got = client.post("/zonal/IMG_1.jpg", json={"funcs": ["max"], "zones": zones, "band": 1.0})
    assert got.status_code == 200, got.get_json()
    got = client.post("/stats/IMG_1.jpg", json={"funcs": ["max"], "window": [0, 0, 10.5, 10]})
    assert got.status_code == 400 and "10.5" in got.get_json()["error"]


@pytest.mark.parametrize("url", ["/stats/IMG_1.jpg", "/zonal/IMG_1.jpg"])
@pytest.mark.parametrize("member", [{"band": 1e300}, {"page": 1e300}, {"page": -1e20}])
def test_a_huge_whole_float_is_refused_in_its_own_short_words(client, url, member):
    """A float past 2**53 stays a float: 1e300 read as a whole number was echoed by the 400
    in 301 digits."""
    zones = {"type": "FeatureCollection", "features": []}
    got = client.post(url, json={"funcs": ["max"], "zones": zones, **member})
    assert got.status_code == 400
    error = got.get_json()["error"]
    assert len(error) < 300 and "0" * 30 not in error, error
