"""``-`` (standard input) as a source of ``imgstats stats`` or ``imgstats zonal`` is refused by
name, with one line and status 2: it was "no image at -", as if a file named ``-`` were
missing."""

from __future__ import annotations

import pytest

from imgstats.cli import main
from imgstats.data import gallery_path

IMAGE = str(gallery_path() / "IMG_1.jpg")


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "-", "median"],
        ["stats", IMAGE, "-", "median"],
        ["zonal", "-", IMAGE, "median"],
        ["zonal", IMAGE, "-", "median"],
    ],
)
def test_standard_input_is_refused_by_name(args, capsys):
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "standard input" in err and "Traceback" not in err
