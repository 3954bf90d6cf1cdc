"""numpy as the oracle of the core tests: benchmarks/oracle.py, the one the benchmarks use too."""

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
]
