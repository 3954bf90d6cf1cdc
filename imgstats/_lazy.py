"""Heavy modules imported on first use, so that ``import imgstats`` costs numpy and little more.

``da = lazy_module("dask.array")`` stands for the module and imports it the first time one of
its attributes is read: call sites keep reading ``da.Array``, ``xr.DataArray``. Unlike
:class:`importlib.util.LazyLoader`, nothing enters ``sys.modules`` before that first use.
:func:`is_instance` answers ``isinstance`` without importing: no object can be a dask array in
a process that never imported dask.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["lazy_module", "imported", "is_instance", "is_masked_array"]


class _LazyModule:
    """A stand-in for a module, imported when an attribute is first read."""

    __slots__ = ("_name",)

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        state = "imported" if self._name in sys.modules else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str):
    """Return a stand-in for module ``name`` that imports it on first attribute access."""
    return _LazyModule(name)


def imported(name: str):
    """Module ``name`` if it is imported, else None (without importing it).

    ``sys.modules`` holds a module from the start of its import, so another thread may find it
    there half done (``import xarray`` takes a second): its attributes are not set yet, and
    reading one raised ``AttributeError: partially initialized module``, a 500 for the
    service's requests that came while its first TIFF imported xarray. Such a module is taken
    through :func:`importlib.import_module`, which waits for that thread's import to end.
    When that import fails, whatever its error (the module is gone from ``sys.modules``, and
    ``import_module`` tried it again here), or the wait would close a circle of imports
    between threads (``_DeadlockError``), the answer is what ``sys.modules`` holds then:
    never that import's error.
    """
    mod = sys.modules.get(name)
    if mod is not None and getattr(getattr(mod, "__spec__", None), "_initializing", False):
        try:
            mod = importlib.import_module(name)
        except Exception:  # its import failed (any error: an old package on a new numpy
            mod = sys.modules.get(name)  # raises AttributeError), or a deadlock was seen
    return mod


def is_instance(obj, module: str, name: str) -> bool:
    """``isinstance(obj, module.name)``, False without importing ``module`` when it is not."""
    cls = getattr(imported(module), name, None)  # None: this thread is importing it
    return cls is not None and isinstance(obj, cls)


def is_masked_array(obj) -> bool:
    """``isinstance(obj, numpy.ma.MaskedArray)`` without importing :mod:`numpy.ma`, which
    numpy loads on first use of ``np.ma`` (about a sixth of ``import numpy``'s time): a
    first small statistic of a plain array or TIFF needs none of it."""
    return is_instance(obj, "numpy.ma", "MaskedArray")
