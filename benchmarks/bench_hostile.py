"""Attacks on a real ``imgstats serve`` on 127.0.0.1, and ``/health`` latency during each.

Each attack runs against two servers side by side in one run: the default worker
(:class:`imgstats.web._worker.BufferingWorker`) and gunicorn's plain ``gthread`` worker
(``IMGSTATS_WORKER_CLASS=gthread``, how the service ran before), so a loaded machine slows
both. Printed: ``/health`` p50/p99/max and failed probes, and the attack's own outcome.

Phases: idle; ``--clients`` connections stalled mid-head, then mid-body; as many clients
that ask for a large thumbnail (> the socket buffers) and never read it; a burst of
``--burst`` distinct cold requests (2000 x 1500 noisy PNGs), with a bare Python HTTP server
in its own process probed at the same time (the machine's share of the latency: what
``/health`` waits beyond it is the service's); then wrk on a cached answer while ``--kills``
workers are SIGKILLed (wrk's completed requests and errors).

    uv run python benchmarks/bench_hostile.py [--clients 32] [--probes 100] [--cold-start]

Each server's workers are left to finish their warm-up (no CPU used for half a second)
before the first attack: ``/health`` answers as soon as one worker is up, while another may
still import xarray, pandas and dask and load numba's cache (a thread of a warming worker
was seen to wake 100-150 ms late at those imports, on a loaded machine). ``--cold-start``
attacks at once, as before, which measures the start-up as much as the attack.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.servers import start_server
from imgstats.data import gallery_path

WORKERS = 2
PHASES = ("idle", "head", "body", "readers", "burst", "kills")


def stalled_clients(port: int, count: int, kind: str) -> list[socket.socket]:
    """``count`` connections that send part of a request, then nothing."""
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if kind == "head":
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        else:
            s.sendall(
                b"POST /stats/IMG_1.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                b'\r\nContent-Length: 1000\r\n\r\n{"funcs":'
            )
        socks.append(s)
    return socks


def probe_health(port: int, probes: int, interval: float = 0.05, timeout: float = 2.0):
    """``(latencies in s, failures)`` of ``probes`` GET /health, each on a new connection."""
    times, failures = [], 0
    for _ in range(probes):
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            conn.request("GET", "/health")
            ok = conn.getresponse().status == 200
            conn.close()
        except (OSError, http.client.HTTPException):
            ok = False
        elapsed = time.perf_counter() - start
        if ok:
            times.append(elapsed)
        else:
            failures += 1
        time.sleep(max(0.0, interval - elapsed))
    return times, failures


def summary(times, failures) -> str:
    if not times:
        return f"no answer, {failures} failed"
    # inclusive: the exclusive method extrapolates past the slowest probe with few samples
    q = (
        statistics.quantiles(times, n=100, method="inclusive")
        if len(times) > 1
        else [times[0]] * 99
    )
    return (
        f"p50 {1000 * statistics.median(times):7.1f} ms  p99 {1000 * q[98]:7.1f} ms  "
        f"max {1000 * max(times):7.1f} ms  failed {failures}"
    )


def never_reading(port: int, count: int, path: str) -> list[socket.socket]:
    """``count`` clients with a small receive buffer that ask for ``path`` and read nothing."""
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        socks.append(s)
    return socks


#: A bare HTTP server: every GET gets 200 "OK", from a thread of its own process.
_CONTROL = """
import http.server, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def control_server():
    """A bare Python HTTP server in a process of its own (no imgstats, no GIL shared with a
    worker), probed beside ``/health``: what it waits under the same load is the machine's
    share of ``/health``'s latency; what ``/health`` waits beyond it is the service's."""
    from benchmarks.servers import free_port, start_process

    port = free_port()
    return start_process([sys.executable, "-c", _CONTROL, str(port)], port)


def probe_during_burst(server, names: list[str], probes: int, control=None):
    """``/health`` probes while ``names`` are asked for at once (cold); the probes' result,
    the burst's statuses, and the same probes of ``control`` (a server) at the same time,
    or ``None``."""
    results: dict = {"control": None}

    def probe():
        results["health"] = probe_health(server.port, probes)

    def probe_control():
        results["control"] = probe_health(control.port, probes)

    with ThreadPoolExecutor(len(names)) as pool:
        futures = [pool.submit(server.get, f"/stats/{name}/median", timeout=300) for name in names]
        probers = [threading.Thread(target=probe)]
        if control is not None:
            probers.append(threading.Thread(target=probe_control))
        time.sleep(0.2)
        for prober in probers:
            prober.start()
        statuses = []
        for f in futures:
            try:
                statuses.append(f.result()[0])
            except OSError as exc:
                statuses.append(type(exc).__name__)
        for prober in probers:
            prober.join()
    return results["health"], statuses, results["control"]


def _workers(master: int) -> list[int]:
    """Pids of the gunicorn master's worker processes."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == master:
                    pids.append(int(entry.name))
    return pids


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def wait_until_warm(server, timeout: float = 120.0) -> None:
    """Wait until every worker of ``server`` has finished its warm-up: each builds its app
    after the fork (imports of xarray, pandas and dask, numba's cache), which holds its GIL
    and a core for seconds, while another worker already answers ``/health``. Warm workers
    sit idle: no CPU tick for half a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = _workers(server.process.pid)
        before = {pid: _cpu_ticks(pid) for pid in pids}
        time.sleep(0.5)
        if pids and all(_cpu_ticks(pid) - t <= 1 for pid, t in before.items()):
            return
    raise TimeoutError("the workers did not settle")


def kill_under_load(server, seconds: float, kills: int, connections: int) -> str:
    """wrk on a cached answer for ``seconds``, SIGKILLing a worker ``kills`` times; wrk's
    requests and errors."""
    import re
    import signal
    import subprocess

    wrk = shutil.which("wrk")
    if wrk is None:
        return "wrk is not installed (apt-get install wrk)"
    path = "/stats/IMG_1.jpg/median"
    for _ in range(20):  # every worker caches it
        server.get(path)
    proc = subprocess.Popen(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds:g}s", f"{server.url}{path}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    for _ in range(kills):
        time.sleep(seconds / (kills + 1))
        victims = sorted(_workers(server.process.pid), key=_cpu_ticks)
        if victims:  # the busiest: gthread may serve every connection from one worker
            os.kill(victims[-1], signal.SIGKILL)
    out, _ = proc.communicate(timeout=seconds + 30)
    done = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        f"{done.group(1) if done else '?'} requests, socket errors: "
        f"{errors.group(1) if errors else 'none'}, non-2xx: {non2xx.group(1) if non2xx else 0}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32, help="stalled connections")
    parser.add_argument("--probes", type=int, default=100, help="/health probes per phase")
    parser.add_argument("--threads", type=int, default=14, help="threads per worker")
    parser.add_argument("--wrk-seconds", type=float, default=12.0, help="0: no kill phase")
    parser.add_argument("--kills", type=int, default=2, help="workers killed under wrk")
    parser.add_argument("--connections", type=int, default=32, help="wrk's connections")
    parser.add_argument("--burst", type=int, default=32, help="distinct cold requests at once")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"comma-separated, of {','.join(PHASES)}"
    )
    parser.add_argument(
        "--servers", default="BufferingWorker,gthread", help="comma-separated worker labels"
    )
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="attack as soon as /health answers, while the workers may still warm up",
    )
    args = parser.parse_args(argv)
    phases = set(args.phases.split(","))
    if args.wrk_seconds <= 0:
        phases.discard("kills")
    folder = Path(tempfile.mkdtemp(prefix="imgstats-hostile-"))
    try:
        return _run(args, phases, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # ~300 MB of images


def _run(args, phases: set, folder: Path) -> int:
    (folder / "IMG_1.jpg").write_bytes((gallery_path() / "IMG_1.jpg").read_bytes())
    rng = np.random.default_rng(0)
    # a thumbnail of ~8 MB: more than loopback's socket buffers hold
    Image.fromarray(rng.integers(0, 255, (3600, 3600, 3), dtype=np.uint8)).save(
        folder / "noise.png", compress_level=1
    )
    Image.fromarray(rng.integers(0, 255, (1500, 2000, 3), dtype=np.uint8)).save(
        folder / "heavy_00.png", compress_level=1
    )
    heavy = [f"heavy_{i:02d}.png" for i in range(args.burst)]
    for name in heavy[1:]:
        (folder / name).write_bytes((folder / "heavy_00.png").read_bytes())
    print(
        f"# {args.clients} stalled clients, {args.probes} /health probes per phase, "
        f"{WORKERS} workers x {args.threads} threads, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    servers = [("BufferingWorker", {}), ("gthread", {"IMGSTATS_WORKER_CLASS": "gthread"})]
    for label, env in [(label, env) for label, env in servers if label in args.servers]:
        # 14 threads per worker, the default before the queue followed the decode budget:
        # 32 stalled clients outnumber them
        env = {
            **env,
            # warmed up, as served: else the burst's first requests load numba's kernels,
            # which holds the GIL for a while
            "IMGSTATS_HEADER_TIMEOUT": "60",
            "IMGSTATS_BODY_TIMEOUT": "60",
            "IMGSTATS_THREADS": str(args.threads),
            "IMGSTATS_GALLERY_THUMB_SIZE": "3600",
        }
        with start_server(folder, workers=WORKERS, env=env) as server:
            if not args.cold_start:
                wait_until_warm(server)
            if "idle" in phases:
                result = probe_health(server.port, args.probes)
                print(f"{label:16s} idle           {summary(*result)}")
            for kind in [kind for kind in ("head", "body") if kind in phases]:
                socks = stalled_clients(server.port, args.clients, kind)
                try:
                    result = probe_health(server.port, args.probes)
                finally:
                    for s in socks:
                        with contextlib.suppress(OSError):
                            s.close()
                print(f"{label:16s} stalled {kind:6s} {summary(*result)}")
            if "readers" in phases:
                status, _, thumb = server.get("/thumbs/noise.png", timeout=300)  # rendered once
                socks = never_reading(server.port, args.clients, "/thumbs/noise.png")
                try:
                    result = probe_health(server.port, args.probes)
                finally:
                    for s in socks:
                        with contextlib.suppress(OSError):
                            s.close()
                print(
                    f"{label:16s} slow readers   {summary(*result)}  "
                    f"({len(thumb) >> 20} MB thumbnail, status {status})"
                )
            if "burst" in phases:
                with control_server() as control:
                    result, statuses, beside = probe_during_burst(
                        server, heavy, args.probes, control
                    )
                counts = {c: statuses.count(c) for c in sorted(set(statuses), key=str)}
                print(f"{label:16s} cold burst     {summary(*result)}  (burst: {counts})")
                print(f"{'  bare server':16s} same time      {summary(*beside)}")
            if "kills" in phases:
                outcome = kill_under_load(server, args.wrk_seconds, args.kills, args.connections)
                print(f"{label:16s} {args.kills} kills under wrk: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
