"""The HTTP API against its own OpenAPI document: schemathesis against a real gunicorn.

Every operation of ``/api/openapi.json`` gets a bounded number of generated requests (valid
and invalid paths, functions, bands and pages): no answer may be a 5xx, and every answer must
match the document (status documented, content type, body schema).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, settings
from web_helpers import fill_store, free_port, stop, wait_for_http

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.specs.openapi.checks import (  # noqa: E402 -- after the importorskip
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from imgstats import __version__  # noqa: E402
from imgstats.web.openapi import openapi_document  # noqa: E402

pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_dict(openapi_document(__version__))
#: Generated requests per operation (4 operations): the whole module stays well under 2 min.
EXAMPLES = int(os.environ.get("IMGSTATS_FUZZ_EXAMPLES", "60"))


def not_a_server_error(ctx, response, case):
    """No 5xx other than the documented ones that mean the store or the load (never 500)."""
    if response.status_code == 500 or response.status_code > 504:
        raise AssertionError(f"{case.method} {case.formatted_path}: {response.status_code}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``imgstats serve`` (gunicorn, 2 workers) over the test images, on a free port."""
    folder = fill_store(tmp_path_factory.mktemp("fuzz") / "images")
    port = free_port()
    log = open(folder.parent / "gunicorn.log", "wb")  # noqa: SIM115 -- closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imgstats.cli",
            "serve",
            "--images",
            str(folder),
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env={**os.environ, "IMGSTATS_WARMUP": "0"},
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base, proc=proc)
        yield base
    finally:
        stop(proc)
        log.close()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
def test_api_conforms_to_its_openapi_document(case, server):
    case.call_and_validate(
        base_url=server,
        timeout=30,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
