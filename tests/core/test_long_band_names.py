"""A band name a client sent is not repeated whole in the error that refuses it.

``?band=`` with 3,000 characters gave a 3 KB message (sweep18b): function and method names
were already cut at 64 characters, a band name was not.
"""

import numpy as np
import pytest

import imgstats
from imgstats.errors import InvalidOption
from imgstats.functions import shown_name


@pytest.mark.parametrize("band", ["R" * 3000, "x" * 65])
def test_a_long_unknown_band_is_cut_in_its_message(band):
    rgb = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(InvalidOption) as info:
        imgstats.compute(rgb, "median", band=band)
    message = str(info.value)
    assert repr(band[:64]) + "..." in message
    assert band[:65] not in message
    assert len(message) < 600


def test_a_short_unknown_band_is_shown_whole():
    rgb = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(InvalidOption, match=r"unknown band 'Q'"):
        imgstats.compute(rgb, "median", band="Q")


def test_shown_name_cuts_only_long_strings():
    assert shown_name("a" * 64) == repr("a" * 64)
    assert shown_name("a" * 65) == repr("a" * 64) + "..."
    assert shown_name(7) == "7"
