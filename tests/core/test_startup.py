"""Start-up: small inputs are counted by the kernels' Python bodies, without numba.

The Python body and the compiled kernel are the same code: these tests check that they give
equal summaries (and numpy's answers) for every pixel type, edge values included, and that a
fresh process computing a small image's statistics never imports numba.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import imgstats
from imgstats import _jit
from imgstats._blocks import refine_block, summarize_block
from imgstats.summary import collect_limit

from .oracle import check_all

DTYPES = ["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8"]
FUNCS = ["min", "p0", "p3.5", "median", "p99.9", "max", "mean"]


def _edges(dtype: np.dtype, rng, shape) -> np.ndarray:
    """Random samples of ``dtype`` with its extremes, ties and (floats) NaN, inf, +-0."""
    if dtype.kind == "f":
        a = rng.standard_cauchy(shape).astype(dtype)
        flat = a.reshape(-1)
        edge = [np.nan, np.inf, -np.inf, 0.0, -0.0, np.finfo(dtype).tiny / 4, 1, 1, 1]
        flat[: len(edge)] = edge[: flat.size]
        return a
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    edge = [info.min, info.max, 0, 0, 0]
    a.reshape(-1)[: len(edge)] = edge[: a.size]
    return a


def _summary_and_answers(a: np.ndarray):
    names = tuple("RGB"[: a.shape[2]]) if a.ndim == 3 else ("0",)
    summary = summarize_block(a, names, luma=False, shape=a.shape)
    targets = summary.missing(FUNCS, None)
    if targets:
        found = refine_block(a, targets=targets, dtype=summary.dtype, limit=collect_limit(a.dtype))
        from imgstats._blocks import finish_refinements

        summary = summary.with_refinements(finish_refinements(found))
    return summary, summary.compute(FUNCS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(23, 17), (9, 7, 3), (3, 1)])
def test_python_and_compiled_kernels_agree(dtype, shape):
    a = _edges(np.dtype(dtype), np.random.default_rng(7), shape)
    with _jit.forced("never"):
        py_summary, py_answers = _summary_and_answers(a)
    with _jit.forced("always"):
        nb_summary, nb_answers = _summary_and_answers(a)
    assert py_summary == nb_summary
    np.testing.assert_equal(py_answers, nb_answers)  # NaN equals NaN here
    check_all(py_answers, a, FUNCS)


def test_the_python_body_is_the_kernel():
    from imgstats import _kernels

    kernel = _kernels.hist8
    assert isinstance(kernel, _jit.Kernel)
    assert kernel.__wrapped__ is kernel.py_func
    assert kernel.__name__ == "hist8"


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown kernel mode"):
        with _jit.forced("sometimes"):
            pass


def _fresh(code: str, **env) -> str:
    import os

    return subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    ).stdout


def test_a_small_array_is_counted_without_numba():
    out = _fresh(
        "import sys, numpy as np, imgstats\n"
        "a = np.arange(16, dtype=np.uint8).reshape(4, 4)\n"
        "print(imgstats.compute(a, 'median'), 'numba' in sys.modules)"
    )
    assert out.split() == ["7.5", "False"]


def test_a_large_array_loads_numba_and_every_kernel():
    out = _fresh(
        "import sys, numpy as np, imgstats\n"
        "from imgstats import _jit\n"
        f"a = np.ones({_jit.SMALL + 1}, np.uint16)\n"
        "print(imgstats.compute(a, 'max'), 'numba' in sys.modules,"
        " all(k.dispatcher is not None for k in _jit.kernels()))"
    )
    assert out.split() == ["1", "True", "True"]


@pytest.mark.parametrize(("value", "expected"), [("never", "False"), ("always", "True")])
def test_imgstats_jit_chooses(value, expected):
    out = _fresh(
        "import sys, numpy as np, imgstats\n"
        "print(imgstats.compute(np.ones(5, np.float32), 'median'), 'numba' in sys.modules)",
        IMGSTATS_JIT=value,
    )
    assert out.split() == ["1.0", expected]


def test_without_a_cache_folder_the_kernels_compile_in_memory(caplog):
    """numba refuses ``cache=True`` when no folder is writable: compile in memory instead.

    A stand-in for numba's ``njit`` reproduces that refusal (making every cache folder of
    this machine unwritable is not possible from a test).
    """

    calls = []

    def fake_njit(**options):
        calls.append(options)
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'x'")
        return lambda f: ("compiled", f)

    fake = type(sys)("fake_numba")
    fake.njit = fake_njit
    with caplog.at_level("WARNING", logger="imgstats"):
        out = _jit._dispatcher(fake, len, {"cache": True, "nogil": True})
    assert out == ("compiled", len)
    assert calls == [{"cache": True, "nogil": True}, {"cache": False, "nogil": True}]
    assert "compiling in memory" in caplog.text


def test_other_numba_errors_are_not_hidden():
    def fake_njit(**options):
        raise RuntimeError("something else")

    fake = type(sys)("fake_numba")
    fake.njit = fake_njit
    with pytest.raises(RuntimeError, match="something else"):
        _jit._dispatcher(fake, len, {"cache": True})


def test_compute_still_answers_after_numba_loaded():
    a = np.arange(16, dtype=np.uint8).reshape(4, 4)
    _jit.load()
    assert _jit.loaded()
    assert imgstats.compute(a, "median") == 7.5
