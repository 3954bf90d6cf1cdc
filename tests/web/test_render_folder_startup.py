"""A gallery render folder (``IMGSTATS_GALLERY_CACHE_DIR``) the service refuses or cannot make
stops ``imgstats serve`` before it starts, with one line naming the setting: every worker
failed to boot with the traceback of ``private_folder``, and gunicorn gave up."""

from __future__ import annotations

import os

import pytest

from imgstats.cli import main


@pytest.fixture
def no_server(monkeypatch):
    """Fail the test if gunicorn would start: the check must come first."""
    from gunicorn.app.base import BaseApplication

    def run(self):
        raise AssertionError("the server started despite a bad render folder")

    monkeypatch.setattr(BaseApplication, "run", run)


def _under_a_file(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    return tmp_path / "file" / "renders"  # cannot be made: a read-only disk says the same


def _a_symlink(tmp_path):
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    return tmp_path / "link"


def _writable_by_others(tmp_path):
    folder = tmp_path / "open"
    folder.mkdir()
    os.chmod(folder, 0o777)
    return folder


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_under_a_file, "cannot create"),
        (_a_symlink, "symbolic link"),
        (_writable_by_others, "writable by other users"),
    ],
)
def test_a_render_folder_it_cannot_use_stops_serve_with_one_line(
    tmp_path, monkeypatch, capsys, no_server, make, says
):
    monkeypatch.setenv("IMGSTATS_GALLERY_CACHE_DIR", str(make(tmp_path)))
    assert main(["serve", "--port", "8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imgstats: error: invalid imgstats setting: GALLERY_CACHE_DIR"), err
    assert "IMGSTATS_GALLERY_CACHE_DIR" in err and says in err and err.count("\n") == 1, err


def test_a_render_folder_on_a_read_only_disk_stops_serve_with_one_line(
    tmp_path, monkeypatch, capsys, no_server
):
    # an existing folder of this user that others may read is made private (chmod 700),
    # which a read-only disk refuses: it was a traceback. The refusal is simulated (os.chmod
    # raises EROFS): a read-only mount needs root, and would outlive a test that dies
    import errno

    from imgstats.web import _thumbs

    folder = tmp_path / "renders"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)

    def read_only(path, mode):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(_thumbs.os, "chmod", read_only)
    monkeypatch.setenv("IMGSTATS_GALLERY_CACHE_DIR", str(folder))
    assert main(["serve", "--port", "8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imgstats: error: invalid imgstats setting: GALLERY_CACHE_DIR"), err
    assert "Read-only file system" in err and err.count("\n") == 1, err


def test_a_render_folder_not_yet_made_is_made_private(tmp_path, monkeypatch):
    from imgstats.web._serve import check_settings

    folder = tmp_path / "later" / "renders"
    monkeypatch.setenv("IMGSTATS_GALLERY_CACHE_DIR", str(folder))
    check_settings()
    assert folder.is_dir() and folder.stat().st_mode & 0o777 == 0o700


def test_no_render_folder_is_no_check(monkeypatch):
    from imgstats.web._serve import check_settings

    monkeypatch.setenv("IMGSTATS_GALLERY_CACHE_DIR", "")  # renderings in memory only
    check_settings()


def test_a_render_folder_named_by_digits_is_a_folder(tmp_path, monkeypatch):
    # IMGSTATS_* values are read as JSON: "2026" was the number 2026, and every worker
    # failed to boot with "expected str, bytes or os.PathLike object, not int"
    from imgstats.web import create_app
    from imgstats.web._serve import check_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMGSTATS_GALLERY_CACHE_DIR", "2026")
    check_settings()
    assert (tmp_path / "2026").is_dir()
    app = create_app({"WARMUP": False})
    try:
        assert app.test_client().get("/thumbs/IMG_1.jpg").status_code == 200
        assert list((tmp_path / "2026").glob("*/*.webp"))
    finally:
        app.extensions["imgstats"].close()
