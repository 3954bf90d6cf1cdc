"""Real server processes for the tests, the benchmarks and the notebooks: the one way to start them.

:func:`start_server` runs ``imgstats serve`` (gunicorn, or Flask's server with ``dev=True``)
through its public command line, on a free loopback port, and waits for ``/health`` to answer
``OK``; :func:`start_process` does the same for any other server command (the service
benchmark's naive baseline). :func:`start_redis` runs a throwaway ``redis-server``. Every
process is stopped by :meth:`Server.stop`, on leaving a ``with`` block, and at exit.
Only the standard library talks HTTP here, so the tests need no client package.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "free_port",
    "http_get",
    "wait_for_http",
    "Server",
    "start_process",
    "start_server",
    "serve_command",
    "start_redis",
    "stop",
    "measure_latency",
    "latency_table",
]


#: Ports tried by :func:`start_server` and :func:`start_redis` when they choose the port: one
#: free when chosen may be taken by another process (another test run on the machine) before
#: the server binds it, a second or so later.
PORT_ATTEMPTS = 3
#: What ``imgstats serve`` (its own check, then gunicorn's) logs for a port taken.
_PORT_TAKEN = ("Address already in use", "Connection in use")


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now (it may be taken a moment later:
    :func:`start_server` and :func:`start_redis` try another then)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(
    base: str,
    path: str,
    headers=None,
    method: str = "GET",
    timeout: float = 30,
    conn: http.client.HTTPConnection | None = None,
):
    """``(status, headers, body bytes)`` of one request sent with the raw ``path``.

    ``conn`` reuses a keep-alive connection (it is left open); otherwise one is opened and
    closed for this request.
    """
    own = conn is None
    if own:
        host, port = base.removeprefix("http://").rstrip("/").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        if own:
            conn.close()


def wait_for_http(
    base: str, path: str = "/health", timeout: float = 60, proc=None, log: Path | None = None
) -> None:
    """Poll ``base + path`` until it answers 200.

    Raises
    ------
    RuntimeError
        ``proc`` exited first (the end of ``log`` is in the message).
    TimeoutError
        No 200 within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}{_tail(log)}")
        # a worker still booting accepts the connection but answers late
        with contextlib.suppress(OSError):
            if http_get(base, path, timeout=5)[0] == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{base}{path} did not answer within {timeout} s{_tail(log)}")


def _tail(log: Path | None) -> str:
    if log is None or not Path(log).exists():
        return ""
    return ":\n" + Path(log).read_text(errors="replace")[-3000:]


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate a process we started (SIGTERM, then SIGKILL after ``timeout``) and reap it.

    A process that leads a session of its own (a server from :func:`start_process`) is
    killed with its whole process group: a gunicorn master killed alone left its workers
    running, reparented to init (one still warming up kept a core busy for minutes after
    its test had failed, slowing every test after it).
    """
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait(timeout)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc``, and its process group when it leads one (before it is reaped, while
    its pid cannot name another group)."""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
            return
    except ProcessLookupError:
        return
    proc.kill()


@dataclass
class Server:
    """A running server process (see :func:`start_server`).

    Attributes
    ----------
    url : str
        ``http://127.0.0.1:<port>``.
    process : subprocess.Popen
    startup_seconds : float
        From spawning the process to the first ``/health`` answering 200.
    log : pathlib.Path or None
        The server's output, when one was asked for.
    """

    url: str
    process: subprocess.Popen
    startup_seconds: float = math.nan
    log: Path | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def get(self, path: str, **kwargs):
        """``(status, headers, body)`` of ``GET path`` (see :func:`http_get`)."""
        return http_get(self.url, path, **kwargs)

    def get_json(self, path: str):
        """The JSON body of ``GET path``; raises ``RuntimeError`` on any status but 200."""
        status, _, body = self.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        return json.loads(body)

    def stop(self, timeout: float = 10) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        stop(self.process, timeout)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_command(
    images=None, *, port: int, workers: int | None = 1, host: str = "127.0.0.1", dev: bool = False
) -> list[str]:
    """The ``imgstats serve`` command line this interpreter runs (the public CLI)."""
    cmd = [sys.executable, "-m", "imgstats.cli", "serve", "--host", host, "--port", str(port)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if images is not None:
        cmd += ["--images", os.fspath(images)]
    if dev:
        cmd.append("--dev")
    return cmd


def _exit_on_sigterm() -> None:
    """Let SIGTERM end this process through ``SystemExit``, so that atexit stops its servers.

    By default SIGTERM ends Python at once, atexit unrun: ``timeout 500 python -m
    benchmarks.bench_startup`` left the ``imgstats serve`` it was timing running, orphaned,
    in a session of its own. Only from the main thread, and only while no handler is set (a
    notebook kernel keeps its own).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_exit)


def _raise_exit(signum, frame) -> None:
    raise SystemExit(128 + signum)


def start_process(
    cmd: Sequence[str],
    port: int,
    *,
    timeout: float = 60,
    env: dict | None = None,
    log=None,
    health: str = "/health",
) -> Server:
    """Start ``cmd``, a server that listens on 127.0.0.1:``port``, and wait until it is healthy.

    Parameters
    ----------
    cmd : sequence of str
    port : int
    timeout : float
        Seconds to wait for ``health`` to answer 200.
    env : dict, optional
        Extra environment variables.
    log : str or path, optional
        File for the server's output (default: discarded).
    health : str
        The path polled.

    Returns
    -------
    Server

    Raises
    ------
    RuntimeError, TimeoutError
        When the server exits or is not healthy within ``timeout`` (it is stopped then).
    """
    _exit_on_sigterm()
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the process
    start = time.perf_counter()
    # A session of its own: a notebook kernel's interrupt (SIGINT to its process group, as
    # papermill sends on shutdown) must not reach the server; stop() and atexit end it.
    proc = subprocess.Popen(
        list(cmd),
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    if log:
        out.close()
    server = Server(f"http://127.0.0.1:{port}", proc, math.nan, Path(log) if log else None)
    atexit.register(server.stop)
    try:
        wait_for_http(server.url, health, timeout, proc=proc, log=server.log)
    except BaseException:
        server.stop()
        raise
    server.startup_seconds = time.perf_counter() - start
    return server


def start_server(
    images=None,
    *,
    port: int | None = None,
    workers: int | None = 1,
    dev: bool = False,
    timeout: float = 300,
    env: dict | None = None,
    log=None,
) -> Server:
    """Start the real service, ``imgstats serve``, and wait until ``/health`` answers.

    Parameters
    ----------
    images : str or path, optional
        The image store (default: the bundled gallery).
    port : int, optional
        Default: a free port (another one, up to :data:`PORT_ATTEMPTS` times, when the
        server's log says that another process took it first).
    workers : int or None
        gunicorn worker processes (``None``: the service's default, ``IMGSTATS_WORKERS``).
    dev : bool
        Flask's development server instead of gunicorn.
    timeout : float
        Seconds to wait for ``/health``. Generous: on a busy 2-core machine a fresh clone's
        workers compile or load numba's kernels for over a minute; a server that exits
        still fails at once.
    env : dict, optional
        Extra environment variables (e.g. ``IMGSTATS_REDIS_URL``).
    log : str or path, optional
        File for the server's output (default: discarded).

    Returns
    -------
    Server
        Use it as a context manager, or call :meth:`Server.stop`.

    Raises
    ------
    RuntimeError, TimeoutError
        When the server exits or is not healthy within ``timeout``.
    """
    if port is not None:
        cmd = serve_command(images, port=port, workers=workers, dev=dev)
        return start_process(cmd, port, timeout=timeout, env=env, log=log)
    for attempt in range(PORT_ATTEMPTS):
        port = free_port()
        cmd = serve_command(images, port=port, workers=workers, dev=dev)
        try:
            return start_process(cmd, port, timeout=timeout, env=env, log=log)
        except RuntimeError as exc:  # the server exited: was the port taken meanwhile?
            if attempt + 1 == PORT_ATTEMPTS or not any(m in str(exc) for m in _PORT_TAKEN):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def start_redis(binary: str, folder, timeout: float = 10, port: int | None = None):
    """A throwaway ``redis-server`` (``binary``) on a loopback port, persisting nothing.

    ``folder`` is its working directory; ``port`` a free one unless given (a restart on the
    same port, as the fault tests do). It is ready when it answers as itself (the
    ``process_id`` of ``INFO``): a Redis of another process that took the port first is never
    handed out; with a port chosen here, another is tried (:data:`PORT_ATTEMPTS`).

    Returns
    -------
    (subprocess.Popen, str)
        The process and its URL, ``redis://127.0.0.1:<port>/0``.
    """
    for attempt in range(1 if port is not None else PORT_ATTEMPTS):
        chosen = free_port() if port is None else port
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(chosen),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                os.fspath(folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if _redis_pid(chosen) == proc.pid:
                return proc, f"redis://127.0.0.1:{chosen}/0"
            time.sleep(0.05)
        stop(proc)
        if proc.returncode is not None and proc.returncode > 0 and attempt + 1 < PORT_ATTEMPTS:
            continue  # it exited: its port was taken (it could not listen)
        break
    raise TimeoutError(f"redis-server did not start on 127.0.0.1:{chosen}")


def _redis_pid(port: int) -> int | None:
    """The ``process_id`` of the Redis answering on 127.0.0.1:``port``, or None."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as s:
        s.settimeout(2)
        s.sendall(b"INFO server\r\n")
        data = b""
        while b"process_id:" not in data or not data.split(b"process_id:", 1)[1].count(b"\r"):
            chunk = s.recv(4096)
            if not chunk:
                return None
            data += chunk
        return int(data.split(b"process_id:", 1)[1].split(b"\r", 1)[0])
    return None


# -- latency ------------------------------------------------------------------------------------
def measure_latency(
    url: str, images: Sequence[str], funcs: Sequence[str] = ("median",), warm: int = 5
) -> list[dict]:
    """Measure cold and warm latency of ``GET /stats/<image>/<func>``.

    The first request for an image is *cold* (the server decodes and summarizes it); the
    ``warm`` requests after it are answered from the server's summary cache, also for other
    statistics of the same image. One keep-alive connection carries them all.

    Parameters
    ----------
    url : str
        The server, e.g. ``Server.url``.
    images : sequence of str
        Image names in the server's store.
    funcs : sequence of str
        Statistics asked for, in turn.
    warm : int
        Warm requests per image.

    Returns
    -------
    list of dict
        One record per request: ``image``, ``func``, ``phase`` ("cold" or "warm"),
        ``seconds``, ``status`` and ``value`` (the JSON answer).

    Raises
    ------
    RuntimeError
        On any answer but 200.
    """
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    out = []
    try:
        for image in images:
            for i in range(1 + warm):
                func = funcs[i % len(funcs)]
                start = time.perf_counter()
                status, _, body = http_get(url, f"/stats/{image}/{func}", conn=conn)
                seconds = time.perf_counter() - start
                if status != 200:
                    raise RuntimeError(f"GET /stats/{image}/{func}: {status} {body[:300]!r}")
                out.append(
                    {
                        "image": image,
                        "func": func,
                        "phase": "cold" if i == 0 else "warm",
                        "seconds": seconds,
                        "status": status,
                        "value": json.loads(body),
                    }
                )
    finally:
        conn.close()
    return out


def latency_table(records: list[dict]) -> list[dict]:
    """Median, fastest and slowest cold and warm latency (ms) from :func:`measure_latency`."""
    rows = []
    for phase in ("cold", "warm"):
        ms = [r["seconds"] * 1000 for r in records if r["phase"] == phase]
        if ms:
            rows.append(
                {
                    "phase": phase,
                    "requests": len(ms),
                    "median ms": statistics.median(ms),
                    "min ms": min(ms),
                    "max ms": max(ms),
                }
            )
    return rows
