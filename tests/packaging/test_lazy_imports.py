"""What `import imgstats` and the CLI load, the xarray accessor in either import order, and
`imgstats serve` without the web extra. Each case runs in a fresh interpreter (subprocess):
this test process has long imported everything."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from imgstats.data import gallery_path

#: Never loaded by `import imgstats` (xarray alone takes pandas and about 2 s).
HEAVY = [
    "dask",
    "xarray",
    "pandas",
    "numba",
    "flask",
    "fsspec",
    "gunicorn",
    "redis",
    "zarr",
    "tifffile",
    "imgstats._kernels",
]
JPEG = str(gallery_path() / "IMG_1.jpg")


def python(code: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=240,
    )


def loaded_after(code: str) -> list[str]:
    """The :data:`HEAVY` modules a fresh interpreter holds after ``code``."""
    out = python(
        f"{textwrap.dedent(code)}\nimport json, sys\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_imgstats_loads_no_heavy_module():
    assert loaded_after("import imgstats") == []


def test_public_names_resolve_on_first_use():
    out = python("""
        import imgstats
        names = sorted(n for n in imgstats.__all__ if not hasattr(imgstats, n))
        print(names, imgstats.compute.__module__, imgstats.open_image.__module__)
    """).stdout
    assert out.split() == ["[]", "imgstats.reduce", "imgstats.io._open"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        import imgstats

        imgstats.nothing  # noqa: B018


def test_cli_stats_of_a_jpeg_loads_no_numba_dask_xarray_or_tifffile():
    code = f"""
        import sys
        from imgstats.cli import main
        assert main(["stats", {JPEG!r}, "median", "max", "--json"]) == 0
    """
    assert loaded_after(code) == []
    printed = json.loads(python(code).stdout)
    arr = np.asarray(Image.open(JPEG))
    assert printed == {"median": float(np.median(arr)), "max": int(arr.max())}


def test_cli_stats_of_a_tiny_tiff_loads_no_pillow(tmp_path):
    # io imported Pillow (about 20 ms, a tenth of the whole process) for a TIFF, which
    # tifffile decodes: the first second of `imgstats stats tiny.tif median`
    import tifffile

    tiny = np.random.default_rng(4).integers(0, 65536, (64, 64), dtype=np.uint16)
    path = tmp_path / "tiny.tif"
    tifffile.imwrite(path, tiny)
    out = python(f"""
        import json, sys
        from imgstats.cli import main
        assert main(["stats", {str(path)!r}, "median", "--json"]) == 0
        print(json.dumps([m for m in ("PIL", "PIL.Image") if m in sys.modules]))
    """).stdout.splitlines()
    assert json.loads(out[0]) == {"median": float(np.median(tiny))}
    assert json.loads(out[-1]) == []


def test_compute_on_a_numpy_array_loads_the_kernels_only():
    code = """
        import numpy as np, imgstats
        print(imgstats.compute(np.arange(1001, dtype=np.float32), "p99.9"))
    """
    # a small array runs the kernels' Python bodies: no JIT to wait for (imgstats._jit)
    assert loaded_after(code) == ["imgstats._kernels"]
    assert float(python(code).stdout) == float(
        np.percentile(np.arange(1001, dtype=np.float32), 99.9)
    )
    big = code.replace("1001", "100001")
    assert loaded_after(big) == ["numba", "imgstats._kernels"]
    assert float(python(big).stdout) == float(
        np.percentile(np.arange(100001, dtype=np.float32), 99.9)
    )


ACCESSOR = """
    import numpy as np
    arr = xr.DataArray(np.arange(12, dtype=np.uint16).reshape(3, 4), dims=("y", "x"))
    print(json.dumps(arr.imgstats.compute(["min", "p50", "max"])))
"""


@pytest.mark.parametrize(
    "order",
    [
        "import xarray as xr\nimport imgstats",
        "import imgstats\nimport xarray as xr",
        # a library probing for xarray without importing it must not use up the hook
        "import importlib.util, imgstats\nimportlib.util.find_spec('xarray')\nimport xarray as xr",
        "import imgstats\nimport imgstats.accessor\nimport xarray as xr\n"
        "imgstats.accessor.register()",
    ],
    ids=["xarray-first", "imgstats-first", "probed-first", "registered-twice"],
)
def test_accessor_whichever_is_imported_first(order):
    out = python(f"import json\n{order}\n{textwrap.dedent(ACCESSOR)}").stdout
    assert json.loads(out) == {"min": 0, "p50": 5.5, "max": 11}


def test_the_hook_leaves_xarray_as_its_own_loader_made_it():
    out = python("""
        import sys, imgstats
        from imgstats.accessor import _XarrayHook
        assert any(isinstance(f, _XarrayHook) for f in sys.meta_path)
        import xarray
        assert not any(isinstance(f, _XarrayHook) for f in sys.meta_path)  # one shot
        print(type(xarray.__loader__).__name__, xarray.__spec__.loader is xarray.__loader__)
    """).stdout
    assert out.split() == ["SourceFileLoader", "True"]


@pytest.mark.parametrize("missing", ["flask", "gunicorn"])
def test_serve_without_the_web_extra_says_which_extra_in_one_line(missing):
    """The web extra is simulated as missing: ``sys.modules[name] = None`` makes any import
    of it fail as a package that is not installed does (ModuleNotFoundError)."""
    proc = python(
        f"""
        import sys
        sys.modules[{missing!r}] = None
        from imgstats.cli import main
        sys.exit(main(["serve", "--port", "1"]))
    """,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "imgstats[web]" in proc.stderr and f"{missing} is not installed" in proc.stderr


def test_a_large_local_tiff_is_streamed_without_dask_or_xarray(tmp_path):
    # the plan of a TIFF streamed tile by tile comes from its header: a whole
    # `imgstats stats big.tif` process used to import dask and xarray only to name the bands
    import tifffile

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, rgb, tile=(64, 64), photometric="rgb", compression="zlib")
    out = python(
        f"""
        import json, sys
        import imgstats, imgstats.io._limits
        imgstats.io._limits.EAGER_BYTES = 1000  # "large": streamed, not read whole
        s = imgstats.summarize({str(path)!r})
        values = imgstats.compute({str(path)!r}, ["median", "p99"], band="G")
        print(json.dumps([list(s.band_names), values,
                          [m for m in ("dask", "xarray", "pandas") if m in sys.modules]]))
        """
    ).stdout
    names, values, heavy = json.loads(out.strip().splitlines()[-1])
    assert names == ["R", "G", "B"]
    green = rgb[..., 1].astype(np.float64)
    assert values == {"median": np.percentile(green, 50), "p99": np.percentile(green, 99)}
    assert heavy == []
