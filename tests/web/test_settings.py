"""Settings of the service: a bad one stops ``imgstats serve`` before it starts, with one line
naming it, instead of a traceback per worker or a server that cannot answer."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

import imgstats
from imgstats.cli import main
from imgstats.web import create_app
from imgstats.web._serve import check_settings

BAD = [
    ("CACHE_BYTES", "abc"),
    ("CACHE_BYTES", "-5"),
    ("CACHE_BYTES", "1.5"),
    ("SLOW_WORKERS", "0"),
    ("PIXEL_LIMIT", "0"),
    ("PIXEL_LIMIT", "abc"),
    ("PIXEL_LIMIT", "1e9"),  # the app took it, the library refused it: each worker failed
    ("DECODE_PIXELS", "-1"),
    ("REQUEST_SECONDS", "-1"),  # every request timed out at once
    ("REQUEST_SECONDS", "NaN"),
    ("STORE_TIMEOUT", "0"),
    ("MAX_CONTENT_LENGTH", "0"),  # every POST body refused
    ("COLLECTION_LIMIT", "-1"),
    ("ZONAL_FEATURES", "0"),
    ("LOCK_TTL", "0"),
    ("REDIS_URL", "localhost:6379"),  # each worker failed to boot
    # redis-py cannot read these: each worker failed to boot with its traceback ...
    ("REDIS_URL", "redis://127.0.0.1:abc/0"),
    ("REDIS_URL", "redis://127.0.0.1:99999/0"),
    ("REDIS_URL", "redis://[::1/0"),
    ("REDIS_URL", "redis://127.0.0.1:6379/0?socket_timeout=abc"),
    # ... or read them as database 0, another application's
    ("REDIS_URL", "redis://127.0.0.1:6379/abc"),
    ("REDIS_URL", "redis://127.0.0.1:6379/1/2"),
    ("WARMUP", "maybe"),
    ("STORAGE_OPTIONS", "notjson"),
    ("CACHE_KEY", "short"),
    # read by the server itself, outside the app
    ("WORKERS", "0"),  # gunicorn ran with no worker: every connection refused
    ("WORKERS", "abc"),
    ("THREADS", "-1"),
    ("MALLOC_KEEP", "abc"),
    ("HEADER_TIMEOUT", "-5"),  # every request was a 408
    ("BODY_TIMEOUT", "abc"),  # silently ignored
    ("SEND_TIMEOUT", "0"),
    ("WARM_NOTICE", "inf"),  # a traceback in each worker's log
    ("WARM_NOTICE", "-1"),
    ("WARM_NOTICE", "abc"),  # silently ignored
    ("JIT", "bogus"),
    ("WORKER_CLASS", "bogus"),
    # the gallery's: a 500 on every page, an empty gallery, or a worker that failed to boot
    ("GALLERY_THUMB_SIZE", "abc"),
    ("GALLERY_PAGE_SIZE", "0"),
    ("GALLERY_PAGE_WAIT", "-1"),
    ("GALLERY_CACHE_BYTES", "abc"),
]


@pytest.fixture
def no_server(monkeypatch):
    """Fail the test if the server would start: the check must come first.

    ``serve``'s first step once every setting is checked is ``keep_freed_memory`` (before
    gunicorn forks, and before the development server): failing there stops a setting that
    is wrongly accepted from starting a real server inside pytest. Patching gunicorn's
    ``BaseApplication.run`` alone did not: ``serve``'s application has its own ``run``, and its
    forked workers, copies of pytest, ran on after the session."""
    from gunicorn.app.base import BaseApplication

    import imgstats.web._serve as serve_module

    def run(*args, **kwargs):
        raise AssertionError("the server started despite a bad setting")

    monkeypatch.setattr(serve_module, "keep_freed_memory", run)
    monkeypatch.setattr(BaseApplication, "run", run)


@pytest.mark.parametrize(("key", "value"), BAD, ids=[f"{k}={v}" for k, v in BAD])
def test_a_bad_setting_stops_serve_with_one_line(monkeypatch, capsys, no_server, key, value):
    monkeypatch.setenv(f"IMGSTATS_{key}", value)
    assert main(["serve", "--port", "8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imgstats: error: invalid imgstats setting:"), err
    assert f"IMGSTATS_{key}" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("url", ["http://:hunter2@cache:6379/0", "redis://u:hunter2@h:x/0"])
def test_a_refused_redis_url_is_not_repeated_with_its_password(monkeypatch, capsys, no_server, url):
    # the message went to the terminal and the logs with the password in it
    monkeypatch.setenv("IMGSTATS_REDIS_URL", url)
    assert main(["serve", "--port", "8"]) == 2
    err = capsys.readouterr().err
    assert "IMGSTATS_REDIS_URL" in err and "hunter2" not in err, err


def test_workers_below_one_is_refused():
    with pytest.raises(imgstats.InvalidOption, match="--workers must be at least 1"):
        check_settings(workers=0)


@pytest.mark.parametrize("how", ["--workers", "IMGSTATS_WORKERS"])
def test_more_workers_than_the_machine_takes_stops_serve_before_a_fork(
    monkeypatch, capsys, no_server, how
):
    # --workers 100000 (a typo) made gunicorn fork until the machine stalled
    from imgstats.web._serve import worker_limit

    too_many = worker_limit() + 1
    argv = ["serve", "--port", "8"]
    if how == "--workers":
        argv += ["--workers", str(too_many)]
    else:
        monkeypatch.setenv("IMGSTATS_WORKERS", str(too_many))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{how} {too_many} is more worker processes" in err and err.count("\n") == 1, err


def test_as_many_workers_as_the_machine_takes_pass(monkeypatch):
    from imgstats.web._serve import worker_limit

    check_settings(workers=worker_limit())
    monkeypatch.setenv("IMGSTATS_WORKERS", str(worker_limit()))
    check_settings()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CACHE_BYTES", "1e9"),  # JSON's float of a whole number
        ("REQUEST_SECONDS", "0"),  # no budget
        ("SLOW_QUEUE", "0"),
        ("WARMUP", "off"),
        ("REDIS_URL", "redis://127.0.0.1:1/0"),
        ("REDIS_URL", "rediss://:secret@[::1]:6380"),
        ("REDIS_URL", "redis://127.0.0.1:6379/?db=3"),
        ("REDIS_URL", "unix:///run/redis.sock?db=2"),
        ("HEADER_TIMEOUT", "2.5"),
        ("WARM_NOTICE", "0"),  # at once
        ("WORKERS", "3"),
        ("JIT", "never"),
        ("WORKER_CLASS", "gthread"),
        ("GALLERY_PAGE_WAIT", "0"),
        ("GALLERY_THUMB_SIZE", "64"),
    ],
)
def test_good_settings_pass(monkeypatch, key, value):
    monkeypatch.setenv(f"IMGSTATS_{key}", value)
    check_settings()


def test_create_app_refuses_an_out_of_range_setting():
    with pytest.raises(imgstats.InvalidOption, match="REQUEST_SECONDS"):
        create_app({"REQUEST_SECONDS": -1, "WARMUP": False})


@pytest.mark.slow
def test_serve_process_exits_2_with_one_line(tmp_path):
    env = {"IMGSTATS_HEADER_TIMEOUT": "-5", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "imgstats.cli", "serve", "--port", "8"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "imgstats: error: invalid imgstats setting: HEADER_TIMEOUT (IMGSTATS_HEADER_TIMEOUT) "
        "must be a finite number greater than 0, not -5.0"
    ]


def test_a_port_in_use_is_one_line(capsys, no_server):
    # gunicorn retried five times over five seconds, then printed "Can't connect" (status 1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == f"imgstats: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize("args", [["--port", "99999"], ["--port", "-1"], ["--host", "256.1.1.1"]])
def test_an_address_that_cannot_be_listened_on_is_one_line(capsys, no_server, args):
    # --port 99999 was gunicorn's OverflowError traceback
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imgstats: error: cannot listen on") and err.count("\n") == 1, err


@pytest.mark.parametrize("form", ["{}", "file://{}"])
def test_a_store_that_is_a_file_is_refused(tmp_path, capsys, no_server, form):
    # every image was a 404 and the gallery a 502 ("Not a directory")
    (tmp_path / "a.jpg").write_bytes(b"x")
    images = form.format(tmp_path / "a.jpg")
    assert main(["serve", "--images", images, "--port", "8"]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and err.count("\n") == 1, err


def test_a_store_folder_not_yet_made_is_served(tmp_path):
    check_settings({"IMAGES": str(tmp_path / "later")})  # it lists nothing until it exists


@pytest.mark.parametrize(
    ("images", "says"),
    [
        ("foo://bucket/x", "Protocol not known: foo"),
        ("az://box/x", "adlfs"),
        ("s3:///", "names no bucket"),  # it served, every request a 502
        ("gs:///prefix", "names no bucket"),
        ("https:///", "names no bucket or host"),
    ],
)
def test_a_store_url_no_filesystem_reads_is_refused(capsys, no_server, images, says):
    # the server started, and answered 502 "listing: ValueError" to every request
    assert main(["serve", "--images", images, "--port", "8"]) == 2
    err = capsys.readouterr().err
    assert "cannot be read" in err and says in err and err.count("\n") == 1, err


def test_an_ipv6_literal_is_bound_in_brackets():
    # gunicorn read "::1:8181" as a host with no port: "'' is not a valid port number"
    from imgstats.web._serve import check_address, gunicorn_options

    assert gunicorn_options("::1", 8181)["bind"] == "[::1]:8181"
    assert gunicorn_options("127.0.0.1", 8181)["bind"] == "127.0.0.1:8181"
    assert gunicorn_options("localhost", 8181)["bind"] == "localhost:8181"
    check_address("localhost", 0)  # bound as gunicorn binds it: IPv4 for a name


@pytest.mark.parametrize(("key", "value"), [("DECODE_PIXELS", "2e9"), ("SLOW_QUEUE", "1e1")])
def test_the_worker_reads_numbers_as_the_app_does(monkeypatch, key, value):
    """gunicorn's worker sizes its queue from SLOW_QUEUE (by default from DECODE_PIXELS):
    ``int()`` of the environment's text failed on what the app takes, with a traceback in
    gunicorn's main loop and no worker."""
    from imgstats.web import settings
    from imgstats.web._worker import _queue_places

    monkeypatch.setenv(f"IMGSTATS_{key}", value)
    assert _queue_places() == settings()["SLOW_QUEUE"] > 0


@pytest.mark.parametrize("images", ["s3:/bucket/prefix", "gs:bucket", "https:/host/images/"])
def test_a_url_missing_a_slash_is_refused(capsys, no_server, images):
    # it served a local folder "s3:" that is not there: an empty gallery, every image a 404
    assert main(["serve", "--images", images, "--port", "8"]) == 2
    err = capsys.readouterr().err
    assert "is no URL" in err and "://" in err and err.count("\n") == 1, err


def test_a_folder_named_like_a_scheme_is_still_a_folder(tmp_path, monkeypatch):
    (tmp_path / "s3:").mkdir()
    monkeypatch.chdir(tmp_path)
    check_settings({"IMAGES": "s3:"})  # it exists: the operator meant it


@pytest.mark.parametrize("source", ["env", "config"])
def test_a_low_pixel_limit_still_warms_up(monkeypatch, images, source):
    # IMGSTATS_PIXEL_LIMIT=1000000 refused the warm-up's own 4 MP files: every worker of
    # `imgstats serve` failed to boot with an ImageTooLarge traceback
    config = {"IMAGES": str(images), "WARMUP": True}
    if source == "env":
        monkeypatch.setenv("IMGSTATS_PIXEL_LIMIT", "1000")
    else:
        config["PIXEL_LIMIT"] = 1000
    app = create_app(config)
    try:
        assert app.extensions["imgstats"].warmed
        r = app.test_client().get("/stats/IMG_1.jpg/median")
        assert r.status_code == 413 and "over the limit of 1,000" in r.get_json()["error"]
    finally:
        app.extensions["imgstats"].close()
