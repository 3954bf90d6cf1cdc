"""Every documented ``curl`` answers the same from the real ``imgstats serve``.

``test_examples.py`` sends each ``$ curl http://127.0.0.1:8181/...`` of README.md and docs/ to
a test client of the app. A new user sends it with curl to ``imgstats serve``: gunicorn and
the buffering worker, which read the request and write the answer themselves. This runs each
one as written, with curl, but for the port (a free one, not 8181, which may be taken), against
the service on the bundled gallery, and compares what it prints with what the page shows
(``...`` for any text, whitespace aside).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from benchmarks.servers import start_server, wait_for_http
from tests.docs.test_examples import (
    PAGES,
    ROOT,
    SERVICE,
    _same,
    blocks,
    commands,
    curl_request,
)

pytestmark = pytest.mark.slow


def documented_curls() -> list[tuple[str, str, str]]:
    """``(where, command, expected output)`` of every documented curl of the service."""
    found = []
    for page in PAGES:
        for block in blocks(page.read_text(encoding="utf-8")):
            if block.lang != "console" or block.skip:
                continue
            for command, expected in commands(block.code):
                if curl_request(command) is not None:
                    where = f"{page.relative_to(ROOT)}, the console block at line {block.line}"
                    found.append((where, re.sub(r"\s+#.*$", "", command.strip()), expected))
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The base URL of ``imgstats serve`` on the bundled gallery, once its worker is ready."""
    log = tmp_path_factory.mktemp("served") / "serve.log"
    with start_server(workers=1, log=log) as server:
        wait_for_http(server.url, "/ready", timeout=300, proc=server.process, log=log)
        yield server.url


def test_the_pages_show_curls_of_the_service():
    assert len(documented_curls()) >= 10  # README's and http.md's at least


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize(
    "where, command, expected",
    [
        pytest.param(*curl, id=f"{curl[0].split(',')[0]}:{n}")
        for n, curl in enumerate(documented_curls())
    ],
)
def test_a_documented_curl_answers_as_the_page_shows(served, where, command, expected):
    done = subprocess.run(
        ["bash", "-c", command.replace(SERVICE, served) + " --silent --show-error"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{where}: `{command}` exits {done.returncode}: {done.stderr}"
    if expected.strip():
        assert _same(expected, done.stdout.strip(), ignore_space=True), (
            f"{where}: `{command}` answers\n{done.stdout}\nwhere the page shows\n{expected}"
        )
