"""imgstats: exact image statistics at any scale.

``min``, ``max``, ``mean``, ``median`` and any percentile ``pXXX`` of an image's samples, equal
to numpy's on the same values whatever the chunking, from one mergeable pass.

Examples
--------
>>> import numpy as np, imgstats
>>> imgstats.compute(np.arange(101, dtype=np.uint8), ["median", "p99.5"])
{'median': 50.0, 'p99.5': 99.5}
"""

from . import accessor as _accessor  # noqa: F401 -- registers DataArray.imgstats
from .collection import summarize_many
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
from .io import open_image
from .reduce import compute, refine, summarize
from .summary import BandStats, Summary

__version__ = "0.1.0"

__all__ = [
    "compute",
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
