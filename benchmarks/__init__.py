"""Benchmark and report tooling, beside the imgstats package and never in its wheel.

- :mod:`benchmarks.harness`: test images, the methods compared, timing, the benchmark grid,
  tables and reports;
- :mod:`benchmarks.servers`: real server processes (``imgstats serve``, Redis), started one way
  for the tests, the benchmarks and the notebooks;
- :mod:`benchmarks.oracle`: numpy as the oracle, for the tests and the benchmarks alike;
- :mod:`benchmarks.plots`: the notebooks' figures (matplotlib);
- ``bench_*.py``: the benchmarks, each printing ratios measured side by side in one run
  (``uv run python -m benchmarks.bench_startup``; ``uv run invoke bench`` runs them all).

The editable install that ``uv sync`` makes puts the checkout on ``sys.path``, so
``import benchmarks`` works from the notebooks, ``tasks.py`` and the tests. Its dependencies
beyond the library are the ``bench`` dependency group (in ``dev``). It uses imgstats' public
API only.
"""
