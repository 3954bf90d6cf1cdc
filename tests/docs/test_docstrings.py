"""The docstrings' examples run, and every name of the API reference shows one.

docs/reference.md renders the docstrings; a reader copies their ``>>>`` examples into a
notebook. Nothing ran them: each module's examples are run here as doctests (numpy's
``...`` and whitespace rules, as the pages' ``pycon`` blocks), from an empty folder.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import imgstats

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(imgstats.__path__, "imgstats.")
    if not m.name.endswith("__main__")  # runs the command line on import
)
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_every_docstring_example_runs(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    failed = []
    for test in doctest.DocTestFinder().find(module):
        if not test.examples:
            continue
        runner = doctest.DocTestRunner(optionflags=_FLAGS)
        report: list[str] = []
        runner.run(test, out=report.append)
        if runner.failures:
            failed.append("".join(report))
    assert not failed, "\n".join(failed)


def _reference_names() -> list[str]:
    page = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    return re.findall(r"^::: (\S+)$", page, re.M)


def _resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise LookupError(dotted)


def _public(obj) -> list[tuple[str, object]]:
    """``obj`` itself, and for an accessor class its public methods (each a page section)."""
    found = [(obj.__qualname__, obj)]
    if inspect.isclass(obj) and obj.__module__ == "imgstats.accessor":
        found += [
            (f"{obj.__qualname__}.{k}", v)
            for k, v in vars(obj).items()
            if not k.startswith("_") and inspect.isfunction(v)
        ]
    return found


@pytest.mark.parametrize("dotted", _reference_names())
def test_every_name_of_the_reference_shows_an_example(dotted):
    """refine, Function, Summary, merge_summaries, refine_many, promote, rasterize_polygon,
    gallery_path, create_app and six accessor methods had none."""
    obj = _resolve(dotted)
    if inspect.ismodule(obj):  # imgstats.errors: one-line exception classes
        return
    missing = [n for n, o in _public(obj) if "Examples\n" not in (inspect.getdoc(o) or "")]
    assert missing == []
