"""numba's cache, filled by the service's warm-up, serves every kernel of the next process.

The container image relies on this: its build runs the warm-up once with ``NUMBA_CACHE_DIR``
set, and a new container then loads the kernels instead of compiling them before ``/ready``.
The Dockerfile checks the same with :func:`imgstats._jit.cache_misses` in the final image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

WARM_UP = """
import json
from imgstats import _jit
from imgstats.web import create_app

create_app({"WARMUP": True})
print(json.dumps(_jit.cache_misses()))
"""


def _misses(cache_dir) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "IMGSTATS_JIT": "auto"}
    out = subprocess.run(
        [sys.executable, "-c", WARM_UP], check=True, capture_output=True, text=True, env=env
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_warm_up_fills_a_cache_that_the_next_process_only_reads(tmp_path):
    cache = tmp_path / "numba"
    first = _misses(cache)
    assert first, "an empty cache, yet no kernel was compiled"
    assert {"imgstats._kernels.hist8", "imgstats._group_kernels.count_labels"} <= set(first)
    assert _misses(cache) == {}  # every kernel and signature the warm-up needs, from disk


def test_no_misses_are_reported_before_numba_is_loaded():
    out = subprocess.run(
        [sys.executable, "-c", "from imgstats import _jit; print(_jit.cache_misses())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip() == "{}"
