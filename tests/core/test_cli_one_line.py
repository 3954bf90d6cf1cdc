"""Every error of the command line is one line, in the command line's words.

A file named with a newline (``a<newline>b.png``) split ``imgstats: error: no image at
...`` in two lines; ``imgstats zonal`` printed the library's words (``page must be``,
``'luma' or None``) where ``imgstats stats`` prints its options' (``--page must be``).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile

from imgstats.cli import main


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("oneline") / "grey.tif"
    tifffile.imwrite(path, np.arange(12 * 10, dtype=np.uint8).reshape(12, 10))
    return path


def _error(capsys, *args) -> str:
    assert main([*map(str, args)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    return err


@pytest.mark.parametrize("name", ["a\nb.png", "a\rb.png", "tab\there\x1b.png"])
def test_a_control_character_of_a_name_is_escaped(tmp_path, capsys, name):
    missing = tmp_path / name
    argvs = (["stats", missing, "max"], ["zonal", missing, missing, "mean"], ["histogram", missing])
    for argv in argvs:
        err = _error(capsys, *argv)
        assert err.count("\n") == 1 and err.endswith("\n"), err
        assert err.startswith("imgstats: error: no image at ")
        assert name.encode("unicode_escape").decode() in err


@pytest.mark.parametrize(
    "option, said",
    [
        (["--page", "-1"], "imgstats: error: --page must be a whole number >= 0, not -1\n"),
        (["--band", "Q"], "or luma (leave --band out for every sample)\n"),
    ],
)
def test_zonal_speaks_of_its_options(image, capsys, option, said):
    labels = np.zeros((12, 10), np.int32)
    labels[3:, 2:] = 1
    zones = image.with_name("zones.tif")
    tifffile.imwrite(zones, labels)
    err = _error(capsys, "zonal", image, zones, "mean", *option)
    assert err.endswith(said), err
    assert "None" not in err


@pytest.mark.slow  # a fresh interpreter imports numpy and the readers: seconds
def test_the_command_prints_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "imgstats", "stats", str(tmp_path / "x\ny.tif"), "max"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"imgstats: error: no image at {tmp_path}/x\\ny.tif\n"
