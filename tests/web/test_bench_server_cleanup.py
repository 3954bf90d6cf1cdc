"""A benchmark ended by SIGTERM (``timeout``, CI's cancel) stops the server it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import time
    from benchmarks.servers import start_server

    with start_server(workers=1) as server:
        print(server.process.pid, flush=True)
        time.sleep(600)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[1].startswith("Z"))


def test_sigterm_to_a_benchmark_stops_its_server():
    # it left 'imgstats serve' running, orphaned in a session of its own: SIGTERM ends
    # Python without running atexit or the with block's exit
    with subprocess.Popen(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as bench:
        server = int(bench.stdout.readline())
        try:
            assert _alive(server)
            bench.send_signal(signal.SIGTERM)
            assert bench.wait(timeout=120) == 128 + signal.SIGTERM
            assert not _alive(server)
        finally:
            bench.kill()
            if _alive(server):  # the failure this test is about: do not leave it running
                os.killpg(server, signal.SIGKILL)
