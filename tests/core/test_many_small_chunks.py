"""A dask array of many small chunks, in a fresh process.

Each chunk holds fewer samples than :data:`imgstats._jit.SMALL`, so each ran the kernels as
Python (numba not loaded), whatever the whole array's size: a 1000 x 1000 float32 array in
40 x 40 chunks took 67 s, 12 s with the kernels compiled. The samples run as Python now add
up, and numba is loaded once they pass :data:`imgstats._jit.PYTHON_BUDGET`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np

from imgstats import _jit


def _fresh(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "IMGSTATS_JIT": "auto"},
    )
    return json.loads(out.stdout)


def test_many_small_chunks_load_the_compiled_kernels():
    got = _fresh("""
        import json, sys
        import dask.array as da, numpy as np, imgstats
        x = da.from_array(np.arange(400 * 500, dtype=np.float32).reshape(400, 500) % 997,
                          chunks=(40, 50))
        funcs = ["median", "p99", "mean"]
        print(json.dumps({"stats": imgstats.compute(x, funcs), "numba": "numba" in sys.modules}))
    """)
    values = np.arange(400 * 500, dtype=np.float32) % 997
    assert 400 * 500 > 2 * _jit.PYTHON_BUDGET  # and every chunk is small
    assert got["numba"]
    assert got["stats"] == {
        "median": float(np.median(values)),
        "p99": float(np.percentile(values, 99)),
        "mean": float(values.astype(np.float64).mean()),
    }


def test_one_small_array_still_runs_as_python():
    got = _fresh("""
        import json, sys
        import numpy as np, imgstats
        a = np.arange(128 * 128, dtype=np.float32).reshape(128, 128)
        stats = imgstats.compute(a, ["median", "p99", "mean", "max"])
        print(json.dumps({"stats": stats, "numba": "numba" in sys.modules}))
    """)
    assert not got["numba"]
    assert got["stats"]["median"] == float(np.median(np.arange(128 * 128, dtype=np.float32)))
