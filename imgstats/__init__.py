"""imgstats: exact image statistics at any scale.

``min``, ``max``, ``mean``, ``median`` and any percentile ``pXXX`` of an image's samples, equal
to numpy's on the same values whatever the chunking, from one mergeable pass.

``import imgstats`` loads the package's small modules only, not even numpy, so that the
command line's ``--help`` and its argument errors print at once. numpy and the summary load on
first use of :class:`Summary` or :class:`BandStats`; the reductions and io (with Pillow and
tifffile) on first use of :func:`compute`, :func:`summarize`, :func:`refine` or
:func:`open_image`; dask, xarray, fsspec and the numba kernels when an input needs them.
The ``.imgstats`` accessor of xarray DataArrays is registered whenever xarray is imported,
before or after imgstats (see :mod:`imgstats.accessor`).

Examples
--------
>>> import numpy as np, imgstats
>>> imgstats.compute(np.arange(101, dtype=np.uint8), ["median", "p99.5"])
{'median': 50.0, 'p99.5': 99.5}
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from . import accessor as _accessor
from ._version import __version__ as __version__
from .errors import (
    ImageNotFound,
    ImageTooLarge,
    ImgStatsError,
    InvalidOption,
    NoValidSamples,
    StoreUnavailable,
    UnknownFunction,
    UnreadableImage,
)
from .functions import Function, parse_function

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from ._histogram import histogram
    from .collection import summarize_many
    from .io import open_image
    from .reduce import compute, refine, summarize
    from .summary import BandStats, Summary
    from .zones import zonal

__all__ = [
    "compute",
    "histogram",
    "zonal",
    "summarize",
    "summarize_many",
    "refine",
    "open_image",
    "parse_function",
    "Function",
    "Summary",
    "BandStats",
    "ImgStatsError",
    "UnknownFunction",
    "InvalidOption",
    "ImageNotFound",
    "UnreadableImage",
    "ImageTooLarge",
    "StoreUnavailable",
    "NoValidSamples",
]

#: Public names imported on first use: ``name -> module`` (SPEC 1's lazy loading, by hand).
_LAZY = {
    "compute": ".reduce",
    "histogram": "._histogram",
    "summarize": ".reduce",
    "refine": ".reduce",
    "summarize_many": ".collection",
    "open_image": ".io",
    "zonal": ".zones",
    "Summary": ".summary",
    "BandStats": ".summary",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imgstats' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    """The public names, the loaded submodules and the dunders: what tab completion offers.

    Not the module's own helpers (``TYPE_CHECKING``, ``importlib``, ``annotations``), which a
    completion list would show beside ``compute`` as if they were part of the API.
    """
    own = {
        name
        for name, value in globals().items()
        if (name.startswith("__") and name.endswith("__"))
        or (
            not name.startswith("_")
            and isinstance(value, ModuleType)
            and value.__name__.startswith(__name__ + ".")
        )
    }
    return sorted(own | set(__all__))


_accessor.register_when_xarray_is_imported()
