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


def _tiffs(folder):
    import tifffile

    rng = np.random.default_rng(3)
    made = {
        "grey16.tif": (rng.integers(0, 65536, (64, 64), dtype=np.uint16), {}),
        "rgb8.tif": (rng.integers(0, 256, (20, 30, 3), dtype=np.uint8), {"photometric": "rgb"}),
        "f32.tif": (rng.standard_normal((17, 9)).astype(np.float32), {}),
        "white.tif": (
            rng.integers(0, 256, (8, 8), dtype=np.uint8),
            {"photometric": "miniswhite"},
        ),
        "two.tif": (rng.integers(-5, 5, (2, 6, 7), dtype=np.int16), {}),
    }
    for name, (arr, kw) in made.items():
        tifffile.imwrite(folder / name, arr, **kw)
    return [folder / name for name in made]


@pytest.mark.parametrize("page", [0, 1])
def test_a_small_tiff_is_read_whole_as_open_image_reads_it(tmp_path, page):
    """The small-TIFF plan (numpy, no xarray) matches the one built from open_image."""
    from imgstats.io._plan import _plan_of_object, _stream_plan

    for path in _tiffs(tmp_path):
        if page and path.name != "two.tif":
            continue
        fast = _stream_plan(path, page, None)
        img = imgstats.open_image(path, page=page)
        slow = _plan_of_object(img)
        assert fast is not None and fast.kind == "array" and fast.transform is None
        assert isinstance(fast.pixels, np.ndarray)
        np.testing.assert_array_equal(fast.pixels, np.asarray(slow.pixels))
        assert fast.band_names == slow.band_names, path.name
        assert fast.photometric == slow.photometric, path.name
        assert (fast.shape, fast.dtype, fast.format) == (slow.shape, slow.dtype, slow.format)
        assert fast.pages == int(img.attrs["pages"])
        assert fast.source == img.attrs["source"]


def test_the_cli_on_a_small_tiff_imports_neither_xarray_nor_dask(tmp_path):
    path = _tiffs(tmp_path)[0]
    out = _fresh(
        "import sys\n"
        f"sys.argv = ['imgstats', 'stats', {str(path)!r}, 'median', 'max']\n"
        "from imgstats.cli import main\n"
        "main()\n"
        "print(sorted(m for m in ('xarray', 'dask', 'pandas', 'numba') if m in sys.modules))"
    )
    import tifffile

    arr = tifffile.imread(path)
    lines = out.splitlines()
    assert lines[0] == f"median {np.median(arr)}"
    assert lines[1] == f"max {arr.max()}"
    assert lines[2] == "[]"


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["--help"], 0),
        (["stats", "--help"], 0),
        (["zonal", "--help"], 0),
        (["serve", "--help"], 0),
        (["stats", "photo.jpg"], 2),  # no FUNC: a usage error
        (["stats", "photo.jpg", "median", "--page", "x"], 2),
        (["nosuch"], 2),
    ],
)
def test_the_cli_s_help_and_usage_errors_import_no_numpy(argv, status):
    """``imgstats --help`` imported numpy (and the summary) through the package's
    ``__init__``, about half a second before any help was printed."""
    out = _fresh(
        "import sys\n"
        f"sys.argv = ['imgstats', *{argv!r}]\n"
        "from imgstats.cli import main\n"
        "try:\n"
        "    status = main()\n"
        "except SystemExit as exc:\n"
        "    status = exc.code\n"
        "print('STATUS', status, 'numpy' in sys.modules)"
    )
    assert out.splitlines()[-1] == f"STATUS {status} False"


def test_python_m_imgstats_prints_help_without_numpy():
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "imgstats", "--help"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "imgstats stats photo.jpg median" in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    assert "imgstats.cli" in imported and "numpy" not in imported


def test_import_imgstats_offers_the_same_names_before_and_after_first_use():
    out = _fresh(
        "import sys, imgstats\n"
        "before = [n for n in dir(imgstats) if n in imgstats.__all__]\n"
        "print('numpy' in sys.modules, before == sorted(imgstats.__all__))\n"
        "from imgstats import Summary, BandStats\n"
        "print(Summary.__module__, BandStats.__module__, Summary is imgstats.Summary)"
    )
    assert out.splitlines() == ["False True", "imgstats.summary imgstats.summary True"]


#: Modules a first small statistic has no use for: numpy.ma (about a sixth of numpy's own
#: import, loaded by the first ``np.ma`` read), statistics (with random) and hashlib.
UNNEEDED = ("numpy.ma", "statistics", "hashlib")


def test_a_first_small_statistic_loads_no_module_it_does_not_use(tmp_path):
    path = _tiffs(tmp_path)[0]
    out = _fresh(
        "import sys, numpy as np, imgstats\n"
        "print(imgstats.compute(np.arange(16, dtype=np.uint8).reshape(4, 4), 'median'))\n"
        f"print(imgstats.compute({str(path)!r}, 'median'))\n"
        f"print([m for m in {UNNEEDED!r} if m in sys.modules])"
    )
    import tifffile

    lines = out.splitlines()
    assert lines[:2] == ["7.5", str(np.median(tifffile.imread(path)))]
    assert lines[2] == "[]"


def test_a_masked_array_is_still_read_by_its_mask():
    # numpy.ma is no longer imported to ask whether an input is a masked array
    out = _fresh(
        "import numpy as np, imgstats\n"
        "a = np.ma.masked_array(np.arange(16, dtype=np.uint8), mask=np.arange(16) > 9)\n"
        "print(imgstats.compute(a, ['max', 'median', 'count']))"
    )
    assert out.strip() == "{'max': 9, 'median': 4.5, 'count': 10}"
