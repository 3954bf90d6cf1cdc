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
