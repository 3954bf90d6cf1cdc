"""The fault tier: sharing through Redis resumes after Redis is frozen or restarted.

A real redis-server on 127.0.0.1 is frozen (SIGSTOP, then SIGCONT) and killed and started
again on the same port while the app answers new images; after each fault, the summaries of
the images asked next are stored in Redis again (the issue measured 0 of 45 and 0 of 48
within the 5 s back-off).
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest
from web_helpers import start_redis, stop

from imgstats.web import create_app
from imgstats.web.cache import PROBE_SECONDS

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def _stored(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return sum(1 for k in client.scan_iter("imgstats:summary:*") if not k.endswith(b":lock"))
    finally:
        client.close()


def test_sharing_resumes_after_a_freeze_and_a_restart(tmp_path, images):
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        pytest.skip("redis-server is not installed")
    for i in range(40):
        shutil.copyfile(images / "IMG_11.png", images / f"c{i:02d}.png")
    proc, url = start_redis(binary, tmp_path)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    app = create_app(
        {"IMAGES": str(images), "WARMUP": False, "REDIS_URL": url, "RACY_SECONDS": 0}
    )  # the default back-off of 5 s
    client = app.test_client()

    def ask(names):
        assert [client.get(f"/stats/{n}/max").status_code for n in names] == [200] * len(names)

    try:
        ask([f"c{i:02d}.png" for i in range(5)])
        assert _stored(url) == 5
        proc.send_signal(signal.SIGSTOP)  # frozen: requests time out on it, and carry on
        try:
            ask([f"c{i:02d}.png" for i in range(5, 10)])
        finally:
            proc.send_signal(signal.SIGCONT)
        time.sleep(2 * PROBE_SECONDS)  # within the back-off: the next probe finds it back
        before = _stored(url)
        ask([f"c{i:02d}.png" for i in range(10, 20)])
        assert _stored(url) - before == 10
        stop(proc)  # dead, then started again, empty, on the same port
        ask([f"c{i:02d}.png" for i in range(20, 25)])
        proc, url2 = start_redis(binary, tmp_path, port=port)
        assert url2 == url
        time.sleep(2 * PROBE_SECONDS)
        ask([f"c{i:02d}.png" for i in range(25, 40)])
        assert _stored(url) == 15
    finally:
        app.extensions["imgstats"].close()
        stop(proc)
