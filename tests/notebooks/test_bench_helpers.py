"""benchmarks.harness, .oracle and .servers: what the notebooks and `invoke notebooks` rely on."""

import json

import numpy as np
import pytest

from benchmarks import harness as bench
from benchmarks import oracle, servers


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32", "float64"])
@pytest.mark.parametrize("kind", ["photo", "gradient"])
def test_synthetic_image_has_the_requested_shape_and_type(dtype, kind):
    img = bench.synthetic_image((48, 80), dtype, kind=kind)
    assert img.shape == (48, 80)
    assert img.dtype == np.dtype(dtype)
    assert np.isfinite(img.astype(np.float64)).all()


def test_synthetic_image_from_a_pixel_count():
    assert bench.synthetic_image(1 << 12, "uint8").shape == (64, 64)
    assert bench.synthetic_image(1200, "uint8").size == pytest.approx(1200, rel=0.05)


def test_synthetic_image_is_realistic_not_uniform_noise():
    img = bench.synthetic_image(1 << 16, "uint8")
    counts = np.bincount(img.ravel(), minlength=256)
    # A flat histogram (uniform noise) has a tiny spread of counts; a photo's is large.
    assert counts.std() > 0.5 * counts.mean()
    # Neighbouring pixels are alike (smooth content under the noise).
    assert np.corrcoef(img[:, :-1].ravel(), img[:, 1:].ravel())[0, 1] > 0.5
    u16 = bench.synthetic_image(1 << 14, "uint16")
    assert (u16 % 16 == 0).all()  # a 12-bit sensor scaled to 16 bits: many ties


def test_synthetic_image_is_reproducible_and_seeded():
    a = bench.synthetic_image((32, 32), "float32", seed=1)
    assert np.array_equal(a, bench.synthetic_image((32, 32), "float32", seed=1))
    assert not np.array_equal(a, bench.synthetic_image((32, 32), "float32", seed=2))


@pytest.mark.parametrize("bad", [0, (0, 4), (2, 2, 2)])
def test_synthetic_image_refuses_bad_sizes(bad):
    with pytest.raises(ValueError):
        bench.synthetic_image(bad, "uint8")


def test_synthetic_image_refuses_bad_kinds_and_types():
    with pytest.raises(ValueError):
        bench.synthetic_image(64, "uint8", kind="noise")
    with pytest.raises(ValueError):
        bench.synthetic_image(64, "complex64")


def test_numpy_stats_are_numpys():
    a = np.array([[1, 5, 2], [9, 4, 4]], dtype=np.uint16)
    got = oracle.numpy_stats(a, ["min", "max", "mean", "median", "p25", "p99.9"])
    assert got == {
        "min": 1,
        "max": 9,
        "mean": 25 / 6,
        "median": 4.0,
        "p25": float(np.percentile(a, 25)),
        "p99.9": float(np.percentile(a, 99.9)),
    }


def test_numpy_stats_ignore_nan_like_imgstats():
    a = np.array([1.0, np.nan, 3.0], dtype=np.float32)
    assert oracle.numpy_stats(a, ["median", "max"]) == {"median": 2.0, "max": 3.0}


def test_dask_stats_sorts_q_for_dask_and_returns_every_func():
    import dask.array as da

    a = bench.synthetic_image((64, 64), "uint8")
    got = bench.dask_stats(da.from_array(a, chunks=-1), ["p99", "median", "p1", "max"])
    # One chunk: dask's percentile is numpy's, so any mix-up of q would show.
    ref = oracle.numpy_stats(a, ["p99", "median", "p1", "max"])
    assert list(got) == list(ref)
    assert got == pytest.approx(ref)


def test_errors_against():
    assert oracle.errors_against(
        {"a": 1, "b": 2.5, "c": float("nan")}, {"a": 1, "b": 2.0, "c": float("nan")}
    ) == {"a": 0.0, "b": 0.5, "c": 0.0}


def test_compare_to_numpy_all_samples_and_one_band():
    rgb = np.stack([bench.synthetic_image((40, 30), "uint8", seed=s) for s in range(3)], -1)
    rows = bench.compare_to_numpy(rgb, ["min", "median", "p90"])
    assert [r["func"] for r in rows] == ["min", "median", "p90"]
    assert all(r["equal"] and r["abs_error"] == 0 for r in rows)
    band = bench.compare_to_numpy(rgb, ["p90"], band=1)
    assert band[0]["numpy"] == float(np.percentile(rgb[..., 1], 90))


def test_percentile_comparison_rows():
    a = bench.synthetic_image((64, 64), "uint16")
    rows = bench.percentile_comparison(a, 16, ["p5", "median"])
    assert [r["func"] for r in rows] == ["p5", "median"]
    assert all(r["imgstats error"] == 0 and r["imgstats"] == r["numpy"] for r in rows)
    assert all(r["dask error"] >= 0 for r in rows)


def test_timed_keeps_every_time_and_the_result():
    calls = []
    t = bench.timed(lambda: calls.append(1) or len(calls), repeats=3, warmup=2)
    assert len(calls) == 5 and len(t.times) == 3 and t.result == 5
    assert t.best == min(t.times) and t.best <= t.median
    with pytest.raises(ValueError):
        bench.timed(lambda: None, repeats=0)


def test_peak_memory_sees_a_numpy_allocation():
    size = 8 << 20
    peak = bench.peak_memory(lambda: np.ones(size, dtype=np.uint8).sum())
    assert size <= peak < 2 * size
    assert bench.peak_memory(lambda: None) < 1 << 16


def test_largest_size_fits_the_memory_it_is_given():
    gb = 1 << 30
    assert bench.largest_size("uint8", memory=6 * gb) == 1024
    assert bench.largest_size("float32", memory=6 * gb) == 256
    assert bench.largest_size("float32", memory=1) == 1  # never below the first size


def test_gallery_images_in_natural_order():
    names = [p.name for p in bench.gallery_images()]
    assert names[:2] == ["IMG_1.jpg", "IMG_2.jpg"] and "IMG_10.jpg" in names
    assert names.index("IMG_9.jpg") < names.index("IMG_10.jpg")
    assert not any(n.endswith(".md") for n in names)


@pytest.fixture(scope="module")
def records():
    return bench.run_benchmark(
        sizes_mp=[1 / 64], dtypes=["uint8", "float32"], chunk_pixels=[1 << 12], repeats=1
    )


def test_run_benchmark_records(records):
    assert len(records) == 2 * len(bench.METHODS)
    for rec in records:
        for key in ("method", "dtype", "pixels", "seconds", "abs_error", "exact", "peak_bytes"):
            assert key in rec
        assert any(m in rec["method"] for m in ("numpy", "dask", "imgstats"))
        assert rec["pixels"] == 1 << 14 and rec["seconds"] > 0 and rec["peak_bytes"] >= 0
    json.dumps(records)  # plain JSON
    chunked = [r for r in records if r["layout"] == "chunked"]
    assert all(r["chunks"] == 4 for r in chunked)


def test_numpy_and_imgstats_are_exact(records):
    for rec in records:
        if rec["method"] in ("numpy", "imgstats"):
            assert rec["exact"] and rec["abs_error"] == 0, rec["label"]


def test_exact_flag_is_computed_against_numpy(monkeypatch):
    """A method that is off by one on the median is not exact, whatever it claims."""

    def off_by_one(data, funcs):
        values = oracle.numpy_stats(np.asarray(data), funcs)
        return {**values, "median": values["median"] + 1}

    monkeypatch.setitem(bench._RUNNERS, "imgstats", off_by_one)
    recs = bench.run_benchmark(
        [1 / 256],
        ["uint8"],
        [1 << 10],
        1,
        memory=False,
        methods=[("numpy", "memory"), ("imgstats", "memory")],
    )
    by = {r["method"]: r for r in recs}
    assert by["numpy"]["exact"] and not by["imgstats"]["exact"]
    assert by["imgstats"]["abs_error"] == 1.0 and by["imgstats"]["errors"]["median"] == 1.0
    assert by["imgstats"]["peak_bytes"] is None
    table = {r["method"]: r for r in bench.exactness_table(recs)}
    assert table["numpy"]["exact"] is True and table["imgstats"]["exact"] is False


def test_a_mean_in_the_last_bit_does_not_make_a_method_inexact(monkeypatch):
    def last_bit(data, funcs):
        values = oracle.numpy_stats(np.asarray(data), funcs)
        return {**values, "mean": float(np.nextafter(values["mean"], np.inf))}

    monkeypatch.setitem(bench._RUNNERS, "imgstats", last_bit)
    (rec,) = bench.run_benchmark(
        [1 / 256], ["float32"], [1 << 10], 1, memory=False, methods=[("imgstats", "memory")]
    )
    assert rec["exact"] and rec["abs_error"] == 0 and rec["mean_error"] > 0


def test_run_benchmark_refuses_unknown_methods():
    with pytest.raises(ValueError):
        bench.run_benchmark([1 / 256], methods=[("scipy", "memory")])


def test_tables_and_report(records, tmp_path):
    rows = bench.summary_table(records)
    assert {r["method"] for r in rows} == {
        "numpy",
        "imgstats",
        "dask (chunked)",
        "imgstats (chunked)",
    }
    assert all(r["exact"] for r in rows if r["method"] == "numpy")
    assert all(r["time / numpy"] == 1 for r in rows if r["method"] == "numpy")
    md = bench.to_markdown(rows)
    assert md.splitlines()[0].startswith("| method | dtype |") and "exact" in md
    paths = bench.write_benchmark_report(records, tmp_path, bench.machine_info())
    assert json.loads(paths["json"].read_text()) == json.loads(json.dumps(records))
    text = paths["markdown"].read_text()
    assert "Machine: " in text and "**numpy**: exact" in text and "**imgstats**: exact" in text
    assert bench.summary_table([]) == [] and bench.to_markdown([]) == ""


def test_machine_info_names_the_machine():
    info = bench.machine_info()
    assert info["cores"] >= 1 and info["cpu"] and info["memory_gb"] > 0
    assert f"{info['cores']} cores" in bench.machine_name(info)


def test_latency_table():
    recs = [
        {"phase": "cold", "seconds": 0.5},
        {"phase": "warm", "seconds": 0.01},
        {"phase": "warm", "seconds": 0.03},
    ]
    rows = servers.latency_table(recs)
    assert rows[0]["phase"] == "cold" and rows[0]["requests"] == 1
    assert rows[1]["median ms"] == pytest.approx(20.0)


def test_png_declaring_is_a_bomb_header_pillow_reads():
    import io

    from PIL import Image

    data = bench.png_declaring(4_000, 3_000, colour_type=2)
    assert len(data) < 100
    with Image.open(io.BytesIO(data)) as img:  # the header only: no pixel is decoded
        assert (img.size, img.mode) == ((4_000, 3_000), "RGB")
    with pytest.raises(Image.DecompressionBombError):  # what it is made for
        Image.open(io.BytesIO(bench.png_declaring(40_000, 40_000)))


def test_best_pair_alternates_and_keeps_the_best():
    calls = []
    ref, ours = bench.best_pair(lambda: calls.append("r"), lambda: calls.append("o"), 3)
    assert calls == ["r", "o"] * 4  # one untimed call of each, then turns
    assert 0 <= ref < 1 and 0 <= ours < 1


def test_fresh_process_returns_the_last_json_line():
    out = bench.fresh_process("""
        print("noise")
        print(json.dumps({"imported": "imgstats" in sys.modules, "rss": peak_rss()}))
    """)
    assert out["imported"] is False and out["rss"] > 1 << 20


@pytest.mark.slow
def test_start_server_and_measure_latency(tmp_path):
    log = tmp_path / "server.log"
    with servers.start_server(workers=1, log=log) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.startup_seconds > 0
        assert server.get("/health")[2] == b"OK"
        recs = servers.measure_latency(
            server.url, ["IMG_8.jpg", "IMG_12_uint16.tif"], ["median", "p99"], warm=2
        )
        with pytest.raises(RuntimeError, match="404"):
            servers.measure_latency(server.url, ["no-such-image.png"], warm=0)
    assert server.process.poll() is not None  # stopped on leaving the block
    assert [r["phase"] for r in recs] == ["cold", "warm", "warm"] * 2
    assert [r["func"] for r in recs[:3]] == ["median", "p99", "median"]
    assert all(r["status"] == 200 and r["seconds"] > 0 for r in recs)
    assert recs[0]["value"]["value"] == pytest.approx(
        oracle.numpy_stats(bench.image_array(bench.gallery_images()[7])[0], ["median"])["median"]
    )


@pytest.mark.slow
def test_start_server_reports_a_server_that_dies(tmp_path):
    with pytest.raises(RuntimeError, match="exited"):
        server = servers.start_server(
            timeout=60, env={"IMGSTATS_THREADS": "not-a-number"}, log=tmp_path / "server.log"
        )
        server.stop()  # pragma: no cover - only when the test fails


def test_start_process_stops_a_server_that_never_answers(tmp_path):
    import sys

    port = servers.free_port()
    with pytest.raises(TimeoutError, match="did not answer"):
        servers.start_process(
            [sys.executable, "-c", "import time; time.sleep(60)"], port, timeout=1
        )


def _state(pid: int) -> str:
    """The state letter of process ``pid`` ("" once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return ""


def test_stop_kills_the_workers_of_a_server_that_outlives_its_timeout(tmp_path):
    """A master still alive at the timeout is killed with its process group: its worker (a
    child that ignores SIGTERM, as one busy warming up does) does not outlive it."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "worker.pid"
    worker = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    master = (
        "import pathlib, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"child = subprocess.Popen([sys.executable, '-c', {worker!r}])\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(child.pid))\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", master], start_new_session=True)
    child = None
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        child = int(pid_file.read_text())
        servers.stop(proc, timeout=0.5)
        assert proc.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 30  # killed at once; reaped by init soon after
        while _state(child) not in ("", "Z"):
            assert time.monotonic() < deadline, f"the server's worker {child} outlived it"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if child is not None and _state(child) not in ("", "Z"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


def _taken_then_free(monkeypatch, taken: int) -> list[int]:
    """Make ``free_port`` answer ``taken`` first (as when another process binds the port
    between the choice and the server's bind), then free ports; returns the ports handed."""
    handed = []
    real = servers.free_port

    def free_port():
        handed.append(taken if not handed else real())
        return handed[-1]

    monkeypatch.setattr(servers, "free_port", free_port)
    return handed


@pytest.mark.slow
def test_start_server_takes_another_port_when_its_free_one_was_taken(tmp_path, monkeypatch):
    import socket

    with socket.socket() as other:  # another process's server, listening first
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        handed = _taken_then_free(monkeypatch, taken)
        with servers.start_server(
            env={"IMGSTATS_WARMUP": "0"}, log=tmp_path / "server.log"
        ) as server:
            assert handed[0] == taken and server.port == handed[-1] != taken
            assert server.get("/health")[0] == 200
    assert "Address already in use" in (tmp_path / "server.log").read_text()


@pytest.mark.slow
def test_start_redis_never_hands_out_another_processs_redis(tmp_path, monkeypatch):
    import shutil

    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    other, other_url = servers.start_redis(binary, tmp_path / "a")
    try:
        taken = int(other_url.rsplit(":", 1)[1].split("/")[0])
        handed = _taken_then_free(monkeypatch, taken)
        # was: its PING was answered by the other Redis, and that one was handed out
        proc, url = servers.start_redis(binary, tmp_path / "b")
        try:
            assert handed[0] == taken and url != other_url
            client = redis.Redis.from_url(url)
            assert client.info("server")["process_id"] == proc.pid != other.pid
            client.close()
        finally:
            servers.stop(proc)
    finally:
        servers.stop(other)
