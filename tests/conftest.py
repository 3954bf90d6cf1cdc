"""Shared pytest setup. Each test folder (core, web, browser, notebooks) has its own fixtures."""

import pytest


@pytest.fixture(autouse=True)
def _settled_files(monkeypatch):
    """Test stores are filled moments before they are read, and a service does not cache a
    file changed within IMGSTATS_RACY_SECONDS (2 s) of being read: trust their timestamps
    here. tests/web/test_versions.py sets the window itself and tests it; the servers that
    tests start inherit this environment."""
    monkeypatch.setenv("IMGSTATS_RACY_SECONDS", "0")


@pytest.fixture
def file_looks(monkeypatch):
    """A Counter of ``(kind, file name)``: each ``open`` and ``os.path.isfile`` the test
    makes afterwards (the look-ups of what lies beside or after an image)."""
    import builtins
    import os
    from collections import Counter

    seen: Counter = Counter()
    real_open, real_isfile = builtins.open, os.path.isfile

    def counted_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            seen["open", os.path.basename(os.fspath(file))] += 1
        return real_open(file, *args, **kwargs)

    def counted_isfile(path):
        seen["isfile", os.path.basename(os.fspath(path))] += 1
        return real_isfile(path)

    monkeypatch.setattr(builtins, "open", counted_open)
    monkeypatch.setattr(os.path, "isfile", counted_isfile)
    return seen
