"""numpy as the oracle of the core tests: benchmarks/oracle.py, the one the benchmarks use too."""

import numpy as np

from benchmarks.harness import png_declaring
from benchmarks.oracle import (
    ALL_DTYPES,
    FLOAT_DTYPES,
    INT_DTYPES,
    NAMED,
    check_all,
    expected_mean,
    expected_percentile,
    numpy_ranks,
    same_number,
    valid_samples,
)

__all__ = [
    "ALL_DTYPES",
    "FLOAT_DTYPES",
    "INT_DTYPES",
    "NAMED",
    "check_all",
    "expected_mean",
    "expected_percentile",
    "numpy_ranks",
    "png_declaring",
    "same_number",
    "valid_samples",
    "gdal_valid",
    "colour_bands",
]


def colour_bands(values, bands=None):
    """Every sample of the bands ``band=None`` pools: all but an alpha band (the last of 2
    or 4 bands, named ``"A"`` when ``bands`` is given), transparent pixels included."""
    arr = np.asarray(values)
    if arr.ndim != 3 or arr.shape[-1] not in (2, 4):
        return arr
    if bands is not None and list(bands)[-1] != "A":
        return arr
    return arr[..., :-1]


def gdal_valid(values, bands=None):
    """The samples GDAL's masked reading pools (issue 16): with an alpha band (the last of
    4 bands, or of 2; or the band named ``"A"``), the colour bands of the pixels whose alpha
    is not 0; every sample otherwise."""
    arr = np.asarray(values)
    if arr.ndim != 3 or arr.shape[-1] not in (2, 4):
        return arr
    if bands is not None and list(bands)[-1] != "A":
        return arr
    return arr[..., :-1][arr[..., -1] != 0]
