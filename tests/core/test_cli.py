"""``imgstats stats SOURCE FUNC...``: lines or JSON on stdout; errors: status 2, one line."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image

from imgstats.cli import main

from .oracle import check_all, png_declaring


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(11)
    rgb = rng.integers(0, 256, (21, 34, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "rgb.png")
    f32 = rng.normal(size=(30, 20)).astype(np.float32)
    tifffile.imwrite(folder / "f32.tif", f32, tile=(16, 16))
    (folder / "bomb.png").write_bytes(png_declaring(40_000, 40_000))
    (folder / "text.png").write_text("hello\n")
    return folder, {"rgb.png": rgb, "f32.tif": f32}


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "imgstats.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow  # a fresh interpreter imports numpy, dask, xarray and numba: seconds
def test_stats_prints_one_line_per_function(images):
    folder, arrays = images
    proc = _run("stats", folder / "rgb.png", "min", "p99", "max", "median", "mean")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(" ")[0] for line in lines] == ["min", "p99", "max", "median", "mean"]
    assert lines[0] == f"min {arrays['rgb.png'].min()}"
    got = {name: float(value) for name, value in (line.split(" ") for line in lines)}
    check_all(
        {k: (int(v) if k in ("min", "max") else v) for k, v in got.items()},
        arrays["rgb.png"],
        list(got),
    )


def test_stats_json_prints_null_for_non_finite_values(tmp_path, capsys):
    arr = np.array([[1.0, np.inf], [-np.inf, 2.0]], np.float32)
    tifffile.imwrite(tmp_path / "inf.tif", arr)
    assert main(["stats", str(tmp_path / "inf.tif"), "min", "max", "mean", "median", "--json"]) == 0
    out, _ = capsys.readouterr()
    assert "Infinity" not in out and "NaN" not in out
    got = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert got == {"min": None, "max": None, "mean": None, "median": 1.5}


def test_stats_on_a_terminal_shows_progress_for_a_streamed_tiff(tmp_path, monkeypatch, capsys):
    import imgstats._progress
    import imgstats.io

    arr = np.arange(64 * 48, dtype=np.uint16).reshape(64, 48)
    tifffile.imwrite(tmp_path / "big.tif", arr, tile=(16, 16))
    monkeypatch.setattr(imgstats.io._limits, "EAGER_BYTES", 0)  # "big": streamed tile by tile
    monkeypatch.setattr(imgstats._progress, "AUTO_BYTES", 0)  # and likely over a second
    for tty in (False, True):
        monkeypatch.setattr(sys.stderr, "isatty", lambda tty=tty: tty)
        assert main(["stats", str(tmp_path / "big.tif"), "max"]) == 0
        out, err = capsys.readouterr()
        assert out == f"max {arr.max()}\n"
        assert ("100%" in err) is tty, err


def test_stats_json(images, capsys):
    folder, arrays = images
    assert main(["stats", str(folder / "f32.tif"), "min", "p99.9", "mean", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    got = json.loads(out)
    assert list(got) == ["min", "p99.9", "mean"]
    check_all(got, arrays["f32.tif"], list(got))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{folder}/rgb.png", "P99"], "P99"),
        (["{folder}/rgb.png", "min", "p101"], "p101"),
        (["{folder}/missing.png", "min"], "missing.png"),
        (["{folder}/text.png", "min"], "text.png"),
        (["{folder}/bomb.png", "max"], "bomb.png"),
        (["{folder}/rgb.png", "min", "--band", "Q"], "Q"),
        (["{folder}/rgb.png", "min", "--band", "7"], "7"),
        (["{folder}/rgb.png", "min", "--band", "²"], "²"),  # not an index, nor a band name
        (["{folder}/rgb.png", "min", "--band", "٣"], "٣"),  # not band 3
        (["{folder}/f32.tif", "min", "--band", "luma"], "luma"),
        (["{folder}/rgb.png", "min", "--pixel-limit", "100"], "100"),
        # it said "ask for --band None", which the command line does not take
        (["{folder}/rgb.png", "{folder}/f32.tif", "min", "--band", "R"], "leave --band out"),
        # it said "raw=True counts every sample", Python's words
        (["{folder}/rgb.png", "min", "--raw", "--nodata", "0"], "--raw counts every sample"),
    ],
)
def test_errors_exit_2_with_one_line_on_stderr(images, capsys, args, message):
    folder, _ = images
    argv = ["stats", *(a.format(folder=folder) for a in args)]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("imgstats: error:") and message in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_errors_in_a_real_process(images):
    folder, _ = images
    proc = _run("stats", folder / "nope.png", "min")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "nope.png" in proc.stderr


def _closed_stdout():
    os.close(1)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["stats", "zonal", "--version"])
@pytest.mark.parametrize("stdout", ["closed", "/dev/full"])
def test_an_unwritable_stdout_is_an_error(images, command, stdout):
    """``imgstats stats ... >&-`` exited 0 with its values gone nowhere (zonal: a traceback),
    and ``> /dev/full`` was a traceback (``--version`` too, once it printed the
    fingerprint): one line and status 2."""
    folder, _ = images
    if stdout == "/dev/full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    grey = folder / "grey.tif"
    tifffile.imwrite(grey, np.arange(21 * 34, dtype=np.uint8).reshape(21, 34) % 3)
    args = {"stats": [folder / "f32.tif", "min"], "zonal": [grey, grey, "min"]}.get(command, [])
    argv = [sys.executable, "-m", "imgstats.cli", command, *map(str, args)]
    if stdout == "closed":
        proc = subprocess.run(
            argv, stderr=subprocess.PIPE, text=True, timeout=120, preexec_fn=_closed_stdout
        )
    else:
        with open(stdout, "w") as full:
            proc = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "cannot write the output" in proc.stderr, proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("url", ["ftp:///a.png", "ftp:///*.png", "webhdfs:///a.png"])
def test_a_url_without_a_host_is_one_line(url):
    """fsspec's FTP filesystem, made without its host, failed half-way: the one-line error,
    then a traceback from its ``__del__`` at exit."""
    proc = _run("stats", url, "median")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "names no host" in proc.stderr and url in proc.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("paramiko") is not None, reason="paramiko is installed"
)
def test_a_protocol_without_its_package_names_no_extra_of_ours(capsys):
    """``sftp://`` needs paramiko: the hint said to install imgstats[s3] or imgstats[gcs]."""
    assert main(["stats", "sftp://host/a.png", "median"]) == 2
    err = capsys.readouterr().err
    assert "paramiko" in err and "imgstats[" not in err


def _start(*args):
    """A real ``imgstats`` process with pipes, and Ctrl-C's default meaning even when the test
    runner was started with SIGINT ignored (a background job), which a child would inherit."""
    return subprocess.Popen(
        [sys.executable, "-m", "imgstats.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@pytest.mark.slow
def test_ctrl_c_exits_130_without_a_traceback():
    # was a KeyboardInterrupt traceback, and the status of a process killed by SIGINT
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)  # a failure, not a hang, if the command never asks
        url = f"http://127.0.0.1:{server.getsockname()[1]}/arriving.tif"
        proc = _start("stats", url, "min")
        try:
            conn, _ = server.accept()  # the image never comes: the command waits for it
            with conn:
                conn.settimeout(60)
                assert conn.recv(1 << 16)  # ... in main(), once it has asked, which this proves
                out, err = _interrupt(proc)
        finally:
            if proc.poll() is None:  # a failure, not a hang, and no pipe left open
                proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert out == "" and err == "imgstats: interrupted\n"


def _interrupt(proc, tries: int = 12) -> tuple[str, str]:
    """Ctrl-C, again every 5 s until ``proc`` ends: a SIGINT that lands while no Python code
    runs may be taken by a call that then blocks (a loaded machine widens that window), as a
    person would press Ctrl-C again."""
    for _ in range(tries):
        proc.send_signal(signal.SIGINT)
        try:
            return proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            continue
    raise AssertionError("the command did not stop on Ctrl-C")


@pytest.mark.slow
def test_a_reader_that_goes_away_ends_the_command_quietly(images):
    # `imgstats stats ... | head -0`: was a BrokenPipeError traceback and status 1
    folder, _ = images
    proc = _start("stats", folder / "rgb.png", "min", "max")
    proc.stdout.close()
    proc.wait(timeout=120)
    assert proc.returncode == 141
    assert proc.stderr.read() == ""
    proc.stderr.close()


@pytest.mark.parametrize(
    ("band", "select"),
    [("0", 0), ("-1", 2), ("G", 1), ("luma", None)],
)
def test_band_option(images, capsys, band, select):
    folder, arrays = images
    assert main(["stats", str(folder / "rgb.png"), "max", "median", "--band", band, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    rgb = arrays["rgb.png"]
    want = rgb[..., select] if select is not None else np.asarray(Image.fromarray(rgb).convert("L"))
    check_all(got, want, ["max", "median"])


def test_chunks_option_gives_the_same_numbers(images, capsys):
    folder, arrays = images
    assert main(["stats", str(folder / "f32.tif"), "p10", "p90", "--chunks", "8", "--json"]) == 0
    check_all(json.loads(capsys.readouterr().out), arrays["f32.tif"], ["p10", "p90"])


def test_options_may_come_between_the_functions(images, capsys):
    # "imgstats stats a.png max --band G median" was "imgstats: error: unrecognized
    # arguments: median", under the usage of imgstats itself
    folder, arrays = images
    source = str(folder / "rgb.png")
    assert main(["stats", source, "max", "--band", "G", "median", "--json"]) == 0
    check_all(json.loads(capsys.readouterr().out), arrays["rgb.png"][..., 1], ["max", "median"])
    assert main(["stats", "--json", source, "max", "--band", "G", "median"]) == 0
    check_all(json.loads(capsys.readouterr().out), arrays["rgb.png"][..., 1], ["max", "median"])


def test_an_argument_a_command_does_not_take_is_named_under_its_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "8", "extra"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: imgstats serve") and "unrecognized arguments: extra" in err


@pytest.mark.parametrize("page", ["\u0661", "1_0", "+1", " 1", "1.0"])
@pytest.mark.parametrize("command", ["stats", "zonal"])
def test_a_page_is_ascii_digits_as_the_api_takes_it(capsys, page, command):
    # int() read "١" (Arabic-Indic one) as page 1 where ?page=١ is a 400
    args = ["x.png", "min"] if command == "stats" else ["x.png", "z.png", "min"]
    with pytest.raises(SystemExit) as exc:
        main([command, *args, "--page", page])
    assert exc.value.code == 2
    assert "argument --page: must be a whole number" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["stats"])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["stats", "x.png", "min", "--pixel-limit", "-5"],  # every image was "over" it
        ["stats", "x.png", "min", "--pixel-limit", "0"],
        ["serve", "--workers", "0"],  # took IMGSTATS_WORKERS or 2
        ["serve", "--workers", "-1"],
    ],
)
def test_counts_below_one_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "must be a whole number of at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("chunks", ["auto", "8", "8,5", "9,7,1", "1KiB"])
def test_chunks_option_forms(images, capsys, chunks):
    folder, arrays = images
    for name in ("rgb.png", "f32.tif"):
        argv = ["stats", str(folder / name), "min", "p90", "--chunks", chunks, "--json"]
        assert main(argv) == 0
        check_all(json.loads(capsys.readouterr().out), arrays[name], ["min", "p90"])


@pytest.mark.parametrize("chunks", ["foo", "0", "8,0", "1,2,3,4", "-5", "8;8"])
def test_bad_chunks_exit_2(images, capsys, chunks):
    # These reached dask and ended in a traceback (ValueError, ZeroDivisionError).
    folder, _ = images
    assert main(["stats", str(folder / "rgb.png"), "min", "--chunks", chunks]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--chunks" in err


# -- version, help, formats, patterns, messages (issue 19) -------------------------------------
def test_version(capsys):
    import imgstats
    from imgstats._version import decoder_versions, fingerprint

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    # the first line as before (tools parse it), then what keys the service's cached answers
    release, code = capsys.readouterr().out.splitlines()
    assert release == f"imgstats {imgstats.__version__}"
    assert code == f"fingerprint {fingerprint()} ({decoder_versions()})"
    assert code.startswith(f"fingerprint {imgstats.__version__}+") and "PIL=" in code


def _options(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _options(sub)
        elif action.option_strings:
            yield action


def test_every_option_has_help_with_its_default():
    from imgstats.cli import build_parser

    for action in _options(build_parser()):
        if action.dest in ("help", "version", "json"):
            continue
        assert action.help and "(default:" in action.help, action.option_strings


def test_stats_help_describes_sources_then_functions(capsys):
    with pytest.raises(SystemExit):
        main(["stats", "--help"])
    out = capsys.readouterr().out
    assert "SOURCE [SOURCE ...] FUNC [FUNC ...]" in out
    assert "more sources" not in out.split("FUNC  ")[-1].split("\n")[0]
    assert "median" in out and "or pXXX" in out


def test_the_top_help_shows_an_example_of_each_command_and_where_to_read_more(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("stats", "zonal", "serve"):
        assert f"\n  imgstats {command} " in out
    assert "'imgstats COMMAND --help'" in out


def test_zonal_help_names_every_statistic_zonal_offers(capsys):
    with pytest.raises(SystemExit):
        main(["zonal", "--help"])
    out = capsys.readouterr().out
    funcs = out.split("funcs  ")[-1].split("options:")[0]
    for name in ("min", "max", "mean", "median", "count", "pXXX"):
        assert name in funcs
    assert "--crs" in out.split("positional arguments")[0]  # pixels unless --crs


@pytest.mark.parametrize("fmt", ["text", "csv", "json", "table"])
def test_formats(images, capsys, fmt):
    folder, arrays = images
    argv = ["stats", str(folder / "f32.tif"), "min", "median", "p99.9", "--format", fmt]
    assert main(argv) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        got = json.loads(out)
    elif fmt == "csv":
        import csv

        rows = list(csv.reader(out.splitlines()))
        assert rows[0] == ["func", "value"]
        got = {name: float(value) for name, value in rows[1:]}
    else:
        lines = out.splitlines()
        if fmt == "table":
            assert lines[0].split() == ["func", "value"] and set(lines[1]) <= {"-", " "}
            lines = lines[2:]
        got = {line.split()[0]: float(line.split()[1]) for line in lines}
    assert list(got) == ["min", "median", "p99.9"]
    check_all(got, arrays["f32.tif"], ["min", "median", "p99.9"])


def test_csv_of_several_functions_parses_with_the_csv_module(images, capsys):
    folder, arrays = images
    assert main(["stats", str(folder / "rgb.png"), "mean", "max", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1:] == [
        f"mean,{imgstats_mean(arrays['rgb.png'])}",
        f"max,{int(arrays['rgb.png'].max())}",
    ]


def imgstats_mean(arr) -> float:
    from .oracle import expected_mean

    return expected_mean(arr)


@pytest.mark.parametrize(
    ("args", "cli_words", "python_words"),
    [
        (["rgb.png", "min", "--band", "Q"], "leave --band out", "None"),
        (["f32.tif", "min", "--band", "luma"], "--band luma", "band='luma'"),
        (["rgb.png", "min", "--page", "-1"], "--page must be", "page must be"),
        (["rgb.png", "min", "--pixel-limit", "10"], "--pixel-limit 10", "limit of"),
    ],
)
def test_messages_use_the_command_lines_words(images, capsys, args, cli_words, python_words):
    folder, _ = images
    assert main(["stats", str(folder / args[0]), *args[1:]]) == 2
    err = capsys.readouterr().err
    assert cli_words in err
    assert python_words not in err.replace(cli_words, "")


def test_a_local_pattern_counts_every_match_as_one_set(images, capsys):
    folder, arrays = images
    assert main(["stats", str(folder / "[fr]*.*"), "max", "--format", "json"]) == 0
    # rgb.png (uint8) and f32.tif (float32) promote to float64
    expected = max(float(arrays["rgb.png"].max()), float(arrays["f32.tif"].max()))
    assert json.loads(capsys.readouterr().out) == {"max": expected}


def test_a_url_pattern_is_expanded(http_folder, capsys):
    folder, base = http_folder
    rng = np.random.default_rng(5)
    arrays = [rng.integers(0, 256, (9, 13), dtype=np.uint8) for _ in range(3)]
    for i, arr in enumerate(arrays):
        Image.fromarray(arr).save(folder / f"cli-pattern-{i}.png")
    assert main(["stats", f"{base}/cli-pattern-*.png", "median", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"median": float(np.median(arrays))}


def test_a_pattern_that_matches_nothing(images, capsys):
    folder, _ = images
    assert main(["stats", str(folder / "*.gif"), "max"]) == 2
    assert "no file matches" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "{img}", "min", "--json", "--format", "csv"],
        ["stats", "{img}", "min", "--format", "table", "--json"],
        ["zonal", "{img}", "{img}", "min", "--json", "--format", "csv"],
    ],
)
def test_json_and_another_format_are_a_usage_error(tmp_path, capsys, args):
    # --json --format csv printed JSON: the CSV asked for was dropped silently
    tifffile.imwrite(tmp_path / "a.tif", np.arange(12, dtype=np.uint8).reshape(3, 4))
    args = [a.format(img=tmp_path / "a.tif") for a in args]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "--json and --format" in err and "give one" in err


@pytest.mark.parametrize(
    ("extra", "want"),
    [
        ([], "min 0\n"),
        (["--json"], '{"min": 0}\n'),
        (["--json", "--format", "json"], '{"min": 0}\n'),
    ],
)
def test_one_format_still_prints(tmp_path, capsys, extra, want):
    tifffile.imwrite(tmp_path / "a.tif", np.arange(12, dtype=np.uint8).reshape(3, 4))
    assert main(["stats", str(tmp_path / "a.tif"), "min", *extra]) == 0
    assert capsys.readouterr().out == want
