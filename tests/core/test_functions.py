"""Names of the statistics (issue 2): exactly min, max, mean, median and pXXX, 0 <= XXX <= 100."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imgstats
from imgstats import UnknownFunction, parse_function

from .oracle import expected_percentile, same_number

CORE = settings.get_profile("imgstats-core")
ARRAY = np.arange(101, dtype=np.uint8)


@pytest.mark.parametrize(
    ("name", "kind", "q"),
    [
        ("min", "min", None),
        ("max", "max", None),
        ("mean", "mean", None),
        ("median", "percentile", 50.0),
        ("p0", "percentile", 0.0),
        ("p10", "percentile", 10.0),
        ("p99", "percentile", 99.0),
        ("p99.9", "percentile", 99.9),
        ("p2.5", "percentile", 2.5),
        ("p100", "percentile", 100.0),
        ("p100.0", "percentile", 100.0),
        ("p0.001", "percentile", 0.001),
        ("p050", "percentile", 50.0),
        ("p99.900", "percentile", 99.9),
        ("p100.000000000000000000", "percentile", 100.0),
        ("p0.0000000000000000001", "percentile", 1e-19),
    ],
)
def test_supported_names_parse(name, kind, q):
    f = parse_function(name)
    assert (f.name, f.kind, f.q) == (name, kind, q)


@pytest.mark.parametrize(
    "name",
    [
        "average",
        "p101",
        "p100.5",
        "p100.01",
        "p-1",
        "p",
        "P10",
        "MIN",
        "Max",
        "MEDIAN",
        "p1e2",
        "p.5",
        "p50.",
        "p+10",
        "p1_0",
        "p²",
        "p٣",
        "p٣٣",
        "p１０",
        " p10",
        "p10 ",
        "p 10",
        "\tmin",
        "min\n",
        "p10\n",
        "",
        "pp10",
        "p10p",
        "percentile",
        "q50",
        "p50%",
        "p0x10",
        "p1,5",
        "pinf",
        "pnan",
        "p" + "9" * 80,
        # above 100 by less than float can tell: float() rounds these to 100.0
        "p100.0000000000000001",
        "p100." + "0" * 55 + "1",
        "p100.00000000000000000000001",
    ],
)
def test_unsupported_names_raise_unknown_function(name):
    with pytest.raises(UnknownFunction):
        parse_function(name)
    with pytest.raises(UnknownFunction):
        imgstats.compute(ARRAY, name)
    with pytest.raises(ValueError):  # UnknownFunction is a ValueError
        imgstats.compute(ARRAY, ["min", name])


@pytest.mark.parametrize("name", [None, 10, 10.0, b"min", ["min"], {"min"}, object()])
def test_non_string_names_raise_unknown_function(name):
    with pytest.raises(UnknownFunction):
        parse_function(name)
    with pytest.raises(UnknownFunction):
        imgstats.compute(ARRAY, [name])


@pytest.mark.parametrize(
    ("number", "meant"),
    [
        *[(0.99, "p99"), (0.999, "p99.9"), (0.1, "p10"), (99, "p99"), (50.5, "p50.5")],
        # as typed, never cut (0.9999999 was offered 'p100') nor in exponent form ('p1e-05')
        *[(1e-7, "p0.00001"), (0.9999999, "p99.99999"), (99.99999, "p99.99999")],
    ],
)
def test_a_number_given_as_a_function_is_offered_its_percentile(number, meant):
    """``compute(a, 0.99)`` said only "function name must be a string, not float"."""
    with pytest.raises(UnknownFunction, match=f"named as a string: '{re.escape(meant)}'"):
        imgstats.compute(ARRAY, number)


@pytest.mark.parametrize("number", [True, 150, -1.0, -0.0])
def test_a_number_that_is_no_percent_gets_no_hint(number):
    with pytest.raises(UnknownFunction) as info:
        parse_function(number)
    assert "named as" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("mdian", "median"),
        ("medain", "median"),
        ("Median", "median"),
        (" mean", "mean"),
        ("P99", "p99"),
        ("p99%", "p99"),
        ("p99.9%", "p99.9"),
        ("percentile95", "p95"),
        ("0.99", "p99"),  # a quantile, as numpy.quantile takes it
        ("q0.5", "p50"),
        ("average", "mean"),
        ("mode", "majority"),
        ("stdev", "std"),
        ("counts", "count"),
        ("value_count", "value_counts"),
        # the case folding bands and methods get (str.casefold): 'ſ' is a long s
        ("ſum", "sum"),
    ],
)
def test_a_likely_mistake_names_the_statistic_it_meant(name, meant):
    with pytest.raises(UnknownFunction, match=re.escape(f"(did you mean {meant!r}?)")):
        imgstats.compute(ARRAY, name)
    assert parse_function(meant)  # the suggestion itself is accepted


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        # p and the user's digits is 65 characters, over the limit: the shortest decimal
        # of the same float, where Decimal's 28 digits offered 'p99.11111111111111111111111111'
        ("99." + "1" * 61, "p99.11111111111111"),
        # a quantile of 60 digits times 100: the user's digits, not 28 of them
        ("0." + "1" * 60, "p11." + "1" * 58),
    ],
)
def test_a_long_percentile_is_offered_as_a_user_would_type_it(name, meant):
    assert _suggestion(name) == meant
    q = Decimal(name).scaleb(2 if name.startswith("0.") else 0)
    assert parse_function(meant).q == float(q)  # the same percentile


@pytest.mark.parametrize("name", ["p101", "foo", "p1e2", "x" * 80])
def test_no_suggestion_without_a_likely_one(name):
    with pytest.raises(UnknownFunction) as caught:
        parse_function(name)
    assert "did you mean" not in str(caught.value)


def _suggestion(name) -> str | None:
    """The name ``parse_function(name)``'s error suggests, or None."""
    with pytest.raises(UnknownFunction) as caught:
        parse_function(name)
    found = re.search(r"\(did you mean '([^']*)'\?\)", str(caught.value))
    return found[1] if found else None


@CORE
@given(
    st.one_of(
        st.text(max_size=12),
        st.from_regex(r" ?[pPq]?[0-9.]{1,70}%?", fullmatch=True),
    )
)
def test_every_suggestion_is_a_name_parse_function_takes(text):
    try:
        parse_function(text)
    except UnknownFunction:
        guess = _suggestion(text)
        if guess is not None:
            assert parse_function(guess).name == guess


def test_unknown_function_is_refused_before_reading_the_image(tmp_path):
    # The path does not exist: a bad name must win over ImageNotFound (nothing is opened).
    with pytest.raises(UnknownFunction):
        imgstats.compute(tmp_path / "missing.png", "P10")


@st.composite
def percentile_names(draw):
    whole = draw(st.integers(0, 100))
    if whole == 100 or draw(st.booleans()):
        frac = (
            draw(st.text("0", max_size=3))
            if whole == 100
            else draw(st.text("0123456789", min_size=1, max_size=4))
        )
        return f"p{whole}.{frac}" if frac else f"p{whole}"
    return f"p{whole}"


@CORE
@given(percentile_names())
def test_any_valid_percentile_name_computes_numpy_percentile(name):
    f = parse_function(name)
    assert f.q == float(name[1:])
    got = imgstats.compute(ARRAY, name)
    assert same_number(got, expected_percentile(ARRAY, f.q))


@CORE
@given(
    st.one_of(
        st.text(min_size=0, max_size=8),
        # near misses: p followed by digits, dots, signs, exponents, unicode digits, spaces
        st.from_regex(r"[pP][0-9.٣²१+\-_e \t]{0,7}", fullmatch=True),
    )
)
def test_arbitrary_text_is_either_a_valid_name_or_unknown_function(text):
    valid = text in ("min", "max", "mean", "median") or (
        re.fullmatch(r"p[0-9]+(\.[0-9]+)?", text) is not None and Decimal(text[1:]) <= 100
    )
    if valid:
        assert parse_function(text).name == text
    else:
        with pytest.raises(UnknownFunction):
            parse_function(text)


def test_several_functions_return_a_dict_in_order():
    got = imgstats.compute(ARRAY, ["p99.5", "min", "median", "max", "mean"])
    assert list(got) == ["p99.5", "min", "median", "max", "mean"]
    assert got == {"p99.5": 99.5, "min": 0, "median": 50.0, "max": 100, "mean": 50.0}
    assert type(got["min"]) is int and type(got["median"]) is float


@st.composite
def names_near_100(draw):
    """``p100`` or ``p099.99...``/``p100.00...`` with any number of zeros and a last digit."""
    zeros = draw(st.integers(0, 58))
    last = draw(st.sampled_from("0123456789"))
    whole = draw(st.sampled_from(["100", "0100", "99", "099"]))
    trailing = "0" * draw(st.integers(0, 3))
    return f"p{whole}.{'0' * zeros}{last}{trailing}"


@CORE
@given(names_near_100())
def test_percentiles_near_100_are_decided_by_their_exact_decimal(name):
    # float() rounds p100.000...01 to 100.0; the grammar is about the decimal written
    if len(name) > 64:
        expected_valid = False  # too long to be a name, whatever its value
    else:
        expected_valid = Decimal(name[1:]) <= 100
    if expected_valid:
        f = parse_function(name)
        assert f.q == float(name[1:]) and 0.0 <= f.q <= 100.0
    else:
        with pytest.raises(UnknownFunction):
            parse_function(name)


@CORE
@given(st.integers(0, 100), st.integers(0, 40))
def test_trailing_zeros_never_change_a_name_s_value(whole, zeros):
    name = f"p{whole}." + "0" * zeros + "0"
    assert parse_function(name).q == float(whole)


def test_parsing_a_parsed_function_returns_it():
    f = parse_function("p99.5")
    assert parse_function(f) is f


RGB = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)


@pytest.mark.parametrize(
    ("band", "meant"),
    [("r", "R"), ("red", "R"), ("Blue", "B"), ("Luma", "luma"), ("lumma", "luma")],
)
def test_a_likely_mistaken_band_names_the_band_it_meant(band, meant):
    from PIL import Image

    image = Image.fromarray(RGB, "RGB")  # a Pillow image's bands are named R, G and B
    with pytest.raises(imgstats.InvalidOption, match=re.escape(f"(did you mean {meant!r}?)")):
        imgstats.compute(image, "max", band=band)
    assert imgstats.compute(image, "max", band=meant) is not None


@pytest.mark.parametrize("band", ["x", "NIR", 7])
def test_no_band_is_suggested_without_a_likely_one(band):
    with pytest.raises(imgstats.InvalidOption) as caught:
        imgstats.compute(RGB, "max", band=band)
    assert "did you mean" not in str(caught.value)


@pytest.mark.parametrize(
    ("method", "meant"), [("Linear", "linear"), ("nearst", "nearest"), ("Hazen", "hazen")]
)
def test_a_likely_mistaken_method_names_the_method_it_meant(method, meant):
    with pytest.raises(imgstats.InvalidOption, match=re.escape(f"(did you mean {meant!r}?)")):
        imgstats.compute(ARRAY, "p99", method=method)
    with pytest.raises(imgstats.InvalidOption) as caught:
        imgstats.compute(ARRAY, "p99", method="cubic")
    assert "did you mean" not in str(caught.value)


def test_a_set_of_names_is_told_to_be_a_list():
    # a set's order is not the answer's: compute(a, {"min", "max"}) said only "not set"
    with pytest.raises(UnknownFunction, match=r"not set \(several: a list or tuple of names\)"):
        imgstats.compute(ARRAY, {"min", "max"})
    assert imgstats.compute(ARRAY, ["min", "max"]) == {"min": 0, "max": 100}
