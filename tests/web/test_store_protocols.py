"""Stores of fsspec protocols whose filesystem takes its address as arguments (``ftp://``):
the URL's host and port are given to it, so an FTP store is read (it answered 502
"listing: TypeError" to every request); one whose filesystem needs an argument that neither
the URL nor ``IMGSTATS_STORAGE_OPTIONS`` gives is refused before the service starts."""

from __future__ import annotations

import time

import pytest

from benchmarks.servers import free_port
from imgstats.cli import main
from imgstats.errors import InvalidOption
from imgstats.web import create_app
from imgstats.web._serve import check_settings
from imgstats.web.store import FsspecStore, _version_of, missing_arguments, store_options


@pytest.fixture
def no_server(monkeypatch):
    """Fail the test if gunicorn would start: the check must come first."""
    from gunicorn.app.base import BaseApplication

    def run(self):
        raise AssertionError("the server started despite a bad store")

    monkeypatch.setattr(BaseApplication, "run", run)


@pytest.mark.parametrize(
    ("images", "needs"),
    [("ftp:///photos/", "host"), ("github://o/r/", "org and repo"), ("reference://x/", "fo")],
)
def test_a_store_missing_an_argument_is_refused_in_one_line(capsys, no_server, images, needs):
    with pytest.raises(InvalidOption, match=f"needs {needs}, which neither the URL nor"):
        check_settings({"IMAGES": images})
    assert main(["serve", "--images", images, "--port", "8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err


def test_an_argument_in_the_storage_options_is_enough():
    assert missing_arguments("github://o/r/", {"org": "o", "repo": "r"}) == []
    assert missing_arguments("ftp://127.0.0.1:2121/photos/") == []


def test_the_url_gives_an_ftp_store_its_host_and_port():
    options = store_options("ftp://127.0.0.1:2121/photos/", 3.0, {"username": "me"})
    assert options["host"] == "127.0.0.1" and options["port"] == 2121
    assert options["username"] == "me"
    assert "host" not in store_options("s3://bucket/photos/", 3.0)


def test_an_ftp_store_that_does_not_answer_is_a_502_naming_why():
    port = free_port()  # nothing listens there
    app = create_app({"IMAGES": f"ftp://127.0.0.1:{port}/", "WARMUP": False})
    try:
        check_settings({"IMAGES": f"ftp://127.0.0.1:{port}/"})
        for url in ("/api/images", "/stats/a.png/median"):
            got = app.test_client().get(url)
            assert got.status_code == 502, got.get_json()
            assert "ConnectionRefusedError" in got.get_json()["error"]
    finally:
        app.extensions["imgstats"].close()


def test_an_ftp_file_s_modify_fact_versions_it_and_a_fresh_one_is_racy():
    # without it, an FTP file's version was its size alone: a replacement of the same size
    # kept the old answers
    assert _version_of({"modify": "20200101120000", "size": 5}, 5) == "mtime:20200101120000-5"
    store = FsspecStore("ftp://127.0.0.1:2121/", racy_seconds=2.0)
    assert not store._is_racy({"modify": "20200101120000", "size": 5})
    now = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    assert store._is_racy({"modify": now + ".123", "size": 5})
    assert store._is_racy({"modify": "not a time", "size": 5})
