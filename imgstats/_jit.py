"""The kernels' decorator: run small inputs as plain Python, compile the rest with numba.

``from ._jit import njit`` replaces ``from numba import njit`` in :mod:`imgstats._kernels`;
the kernels' bodies do not change. Importing numba and loading even a cached kernel costs
about a second in a fresh process (0.6 s for ``import numba``, 0.5 s for LLVM's set-up on
the first cached load), far more than counting a small image. So a decorated kernel is a
:class:`Kernel` that

- runs its own Python body (``py_func``, numpy scalars and arrays: the same code, hence the
  same result) while numba is not loaded and its first argument -- the samples -- holds at
  most :data:`SMALL` elements;
- otherwise loads numba, builds the dispatchers of *every* registered kernel (so a kernel
  that calls another finds a compiled callee) and calls the compiled kernel from then on.

The dispatchers are built with ``cache=True`` when asked: numba keeps the machine code on
disk (``__pycache__`` beside the source, or under ``NUMBA_CACHE_DIR``, or the user's cache
folder when the install is read-only) keyed by the source file's time stamp and size, the
argument types and the CPU, so a warm cache is valid for every later process -- pytest,
gunicorn workers, dask workers. When no cache folder is writable at all, numba refuses
``cache=True``; the kernels are then compiled in memory (and a line is logged) rather than
failing. ``PYTHONDONTWRITEBYTECODE`` does not affect numba's cache.

``IMGSTATS_JIT`` chooses: ``auto`` (the default, as above), ``always`` (numba for every
size) or ``never`` (Python only: slow, for debugging). :func:`load` compiles or loads every
kernel now, for a service before it reports ready.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import types

__all__ = ["njit", "Kernel", "SMALL", "load", "loaded", "mode", "kernels", "cache_misses"]

#: Samples (elements of a kernel's first argument) up to which Python runs a kernel while
#: numba is not loaded: a 128 x 128 image. Pure Python counts about a million samples a
#: second, so this costs at most a few tens of milliseconds against a second for numba.
SMALL = 1 << 14

#: Samples the kernels may run as Python in a process (outermost calls, all sizes added up)
#: before numba is loaded for the next: a dask array of 10,000 chunks of 100 samples, each
#: small, ran every chunk as Python (a 1000 x 1000 float32 array in 40 x 40 chunks took 67 s,
#: 12 s compiled). Four passes over a 128 x 128 image stay below it.
PYTHON_BUDGET = 1 << 16

#: The modules whose kernels use this decorator: :func:`load` imports them all.
KERNEL_MODULES = (
    "imgstats._kernels",
    "imgstats._select_kernels",
    "imgstats._group_kernels",
    "imgstats.io._valid_kernels",
    "imgstats._raster_kernels",
)

_log = logging.getLogger("imgstats")
_lock = threading.RLock()
_registry: list[Kernel] = []
_loaded = False
_mode_override: str | None = None
#: Samples the outermost kernel calls ran as Python so far (against :data:`PYTHON_BUDGET`).
_python_samples = 0
#: Whether numba's dispatchers run their bodies as Python (``NUMBA_DISABLE_JIT=1``).
_numba_python = False


class Kernel:
    """A kernel function: its Python body until numba is needed, then its compiled twin."""

    def __init__(self, func, options: dict):
        self.py_func = func
        self.options = options
        self.dispatcher = None
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__module__ = func.__module__
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    def __call__(self, *args):
        dispatcher = self.dispatcher
        if dispatcher is not None and _mode_override != "never":
            if _numba_python:  # NUMBA_DISABLE_JIT: numba runs the body as Python
                return _run_python(dispatcher, args)
            return dispatcher(*args)
        if _python_runs(args):
            return _run_python(self.py_func, args)
        if _loaded:  # a kernel defined after numba was loaded
            _build_missing()
        else:
            load()
        return self.dispatcher(*args)

    def __repr__(self) -> str:
        state = "compiled" if self.dispatcher is not None else "Python until numba loads"
        return f"<imgstats kernel {self.__module__}.{self.__name__} ({state})>"


_python = threading.local()


def _run_python(func, args):
    """Run a kernel's Python body with numpy's warnings off, as compiled code has none: the
    kernels rely on integer wrap-around (the outermost call sets this for the nested ones)."""
    if getattr(_python, "active", False):
        return func(*args)
    import numpy as np

    _python.active = True
    try:
        with np.errstate(all="ignore"):
            return func(*args)
    finally:
        _python.active = False


def njit(func=None, **options):
    """``numba.njit`` with the same options, applied when numba is first needed."""
    if func is None:
        return lambda f: njit(f, **options)
    kernel = Kernel(func, options)
    with _lock:
        _registry.append(kernel)
    return kernel


def mode() -> str:
    """``auto``, ``always`` or ``never``: ``IMGSTATS_JIT``, unless :func:`forced`."""
    if _mode_override is not None:
        return _mode_override
    value = os.environ.get("IMGSTATS_JIT", "auto").strip().lower()
    return value if value in ("always", "never") else "auto"


def _python_runs(args) -> bool:
    """Whether a call with ``args`` runs as Python (numba not loaded, few samples)."""
    chosen = mode()
    if chosen == "never":
        return True
    if chosen == "always" or _loaded:
        return False
    size = getattr(args[0], "size", 1) if args else 1
    # a type given as the first argument (a kernel's cast) has a descriptor for ``size``
    if not isinstance(size, int):
        return True
    if size > SMALL:
        return False
    if getattr(_python, "active", False):
        return True  # a kernel called by one running as Python: counted in its caller
    global _python_samples
    _python_samples += size  # a race between threads loses a count at worst
    return _python_samples <= PYTHON_BUDGET


def loaded() -> bool:
    """Whether numba and the kernels' dispatchers are loaded in this process."""
    return _loaded


def kernels() -> list[Kernel]:
    """Every registered kernel."""
    return list(_registry)


def cache_misses() -> dict[str, int]:
    """``{kernel: signatures compiled in this process}`` for the cached kernels that could
    not load a signature from numba's cache; empty when every call so far was a cache hit.

    A container image fills the cache at build time and checks with this, in a fresh process
    under the run-time user and settings, that the cache stays valid where it runs.
    """
    found = {f"{k.__module__}.{k.__name__}": k.dispatcher for k in _registry}
    for name in KERNEL_MODULES:  # and kernels decorated by numba itself
        for attr, obj in vars(sys.modules.get(name) or types.ModuleType(name)).items():
            if not isinstance(obj, Kernel) and hasattr(obj, "stats") and hasattr(obj, "py_func"):
                found[f"{name}.{attr}"] = obj
    out = {}
    for name, dispatcher in found.items():
        stats = getattr(dispatcher, "stats", None)
        cached = type(getattr(dispatcher, "_cache", None)).__name__ != "NullCache"
        if stats is not None and cached and stats.cache_misses:
            out[name] = sum(stats.cache_misses.values())
    return out


def load() -> None:
    """Import numba and build the dispatchers of every kernel (idempotent).

    Each dispatcher compiles (or loads from numba's cache) per argument types on its first
    call; a service's warm-up makes those calls before it reports ready.
    """
    global _loaded
    import importlib
    import importlib.util

    for name in KERNEL_MODULES:  # importing them registers their kernels
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    with _lock:
        _build_missing()
        _loaded = True


def _build_missing() -> None:
    """Build the dispatchers of the registered kernels that have none yet."""
    global _numba_python
    import numba

    with _lock:
        _numba_python = bool(numba.config.DISABLE_JIT)
        by_module: dict[str, list[Kernel]] = {}
        for k in _registry:
            if k.dispatcher is None:
                by_module.setdefault(k.__module__, []).append(k)
        for name, group in by_module.items():
            # The compiled kernels see each other's dispatchers: a namespace like the
            # module's, where every Kernel is replaced by its dispatcher.
            namespace = dict(vars(sys.modules[name]))
            namespace.update(_intrinsics(namespace))
            for k in _registry:
                if k.dispatcher is not None and k.__module__ == name:
                    namespace[k.__name__] = k.dispatcher
            built = []
            for k in group:
                f = k.py_func
                twin = types.FunctionType(
                    f.__code__, namespace, f.__name__, f.__defaults__, f.__closure__
                )
                twin.__qualname__, twin.__doc__ = f.__qualname__, f.__doc__
                twin.__kwdefaults__ = f.__kwdefaults__
                dispatcher = _dispatcher(numba, twin, k.options)
                namespace[f.__name__] = dispatcher
                built.append((k, dispatcher))
            for k, dispatcher in built:
                k.dispatcher = dispatcher


def trailing_zeros(x):
    """The trailing zero bits of ``x`` (a uint64, not 0). Kernels call it as Python runs it;
    their compiled twins call numba's intrinsic instead, one instruction (:func:`_intrinsics`)."""
    import numpy as np

    x = int(x)
    return np.uint64((x & -x).bit_length() - 1)


def leading_zeros(x):
    """The leading zero bits of ``x`` (a uint64), as :func:`trailing_zeros`."""
    import numpy as np

    return np.uint64(64 - int(x).bit_length())


def compress_bins(src, i, dst, m, lo, shift, d0, d1, d2, d3):
    """Copy the keys ``k`` of ``src[i:i + lanes]`` whose bin ``(k - lo) >> shift`` is one of
    ``d0`` to ``d3`` to ``dst[m:]`` in order, and return ``m`` plus their number.

    ``src`` and ``dst`` hold unsigned keys of one type, ``lanes`` of them fill 512 bits (32
    of 16 bits, 16 of 32, 8 of 64), no key of ``src[i:i + lanes]`` is below ``lo``, and
    ``dst`` has room for ``lanes`` keys at ``m``. Compiled kernels call
    :func:`imgstats._simd.compress_bins`, a few vector instructions, where
    :data:`VECTOR_COMPRESS` says the CPU has them.
    """
    import numpy as np

    block = src[i : i + 64 // src.itemsize]
    bins = (block.astype(np.uint64) - np.uint64(lo)) >> np.uint64(shift)
    kept = block[(bins == d0) | (bins == d1) | (bins == d2) | (bins == d3)]
    dst[m : m + kept.size] = kept
    return m + kept.size


def _vector_compress() -> bool:
    """Whether the CPU compresses a vector of 16-bit lanes in one instruction (x86's AVX-512
    VBMI2, as Linux names its flags). Read from ``/proc/cpuinfo``, not from llvmlite: the
    kernels' modules read it at import, long before numba is loaded, if ever. When numba is
    told to compile for another CPU (``NUMBA_CPU_NAME``, ``NUMBA_CPU_FEATURES``: a cache
    made for many machines), only a feature list naming ``+avx512vbmi2`` says yes."""
    if os.environ.get("NUMBA_CPU_NAME") or os.environ.get("NUMBA_CPU_FEATURES"):
        return "+avx512vbmi2" in os.environ.get("NUMBA_CPU_FEATURES", "").split(",")
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "avx512_vbmi2" in line.split()
    except OSError:
        pass
    return False


#: Whether the kernels copy the keys of a few bins with :func:`compress_bins` (else with
#: their scalar loops, faster than LLVM's expansion of a compress on other CPUs). A compiled
#: kernel takes it as a constant (and numba's cache is kept per CPU).
VECTOR_COMPRESS = _vector_compress()

#: The helpers above, and the numba intrinsic each becomes in a compiled kernel (Python
#: cannot run an intrinsic, and the kernels run as Python on small inputs).
_INTRINSICS = {
    trailing_zeros: ("numba.cpython.unsafe.numbers", "trailing_zeros"),
    leading_zeros: ("numba.cpython.unsafe.numbers", "leading_zeros"),
    compress_bins: ("imgstats._simd", "compress_bins"),
}


def _intrinsics(namespace: dict) -> dict:
    """``{name: numba intrinsic}`` for each name of a kernel module's ``namespace`` bound to
    one of :data:`_INTRINSICS`' helpers; none with ``NUMBA_DISABLE_JIT=1``, where numba runs
    the kernels as Python, which cannot call an intrinsic (the helpers' Python bodies do)."""
    import importlib

    if _numba_python:
        return {}
    return {
        name: getattr(importlib.import_module(_INTRINSICS[obj][0]), _INTRINSICS[obj][1])
        for name, obj in namespace.items()
        if callable(obj) and obj in _INTRINSICS
    }


def _dispatcher(numba, func, options: dict):
    """``numba.njit(**options)(func)``; in memory when ``cache=True`` finds no cache folder."""
    try:
        return numba.njit(**options)(func)
    except RuntimeError as exc:
        if not options.get("cache") or "cannot cache" not in str(exc):
            raise
        _log.warning("imgstats: numba cannot cache %s (%s); compiling in memory", func, exc)
        return numba.njit(**{**options, "cache": False})(func)


@contextlib.contextmanager
def forced(value: str):
    """Run the kernels ``always`` compiled or ``never`` (Python) inside the block (tests)."""
    global _mode_override
    if value not in ("always", "never", "auto"):
        raise ValueError(f"unknown kernel mode {value!r}")
    previous, _mode_override = _mode_override, value
    try:
        yield
    finally:
        _mode_override = previous
