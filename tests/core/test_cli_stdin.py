"""``-`` (standard input) as a source of ``imgstats stats`` or ``imgstats zonal`` is refused by
name, with one line and status 2: it was "no image at -", as if a file named ``-`` were
missing."""

from __future__ import annotations

import os
import subprocess
import sys

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


def _imgstats(*args, stdin=None):
    """``imgstats ARGS`` in a process of its own (a hang must end the test, not stall it)."""
    return subprocess.run(
        [sys.executable, "-m", "imgstats.cli", *map(str, args)],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow  # a fresh interpreter each
@pytest.mark.parametrize("args", [["stats", "{}", "median"], ["zonal", "{}", IMAGE, "median"]])
def test_a_named_pipe_is_refused_not_waited_on(tmp_path, args):
    """A FIFO with no writer: ``open()`` waited for one for ever; with a writer, its bytes
    could not be read out of order anyway ("not seekable")."""
    fifo = tmp_path / "image.tif"
    os.mkfifo(fifo)
    proc = _imgstats(*(a.replace("{}", str(fifo)) for a in args))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "is a pipe, not a file" in proc.stderr


@pytest.mark.slow
def test_dev_stdin_of_a_pipe_is_refused_by_name():
    with open(gallery_path() / "IMG_1.jpg", "rb") as fh:
        writer = subprocess.Popen(["cat"], stdin=fh, stdout=subprocess.PIPE)
        proc = _imgstats("stats", "/dev/stdin", "median", stdin=writer.stdout)
        writer.stdout.close()
        writer.wait()
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "is a pipe, not a file" in proc.stderr
