"""Shared pytest setup. Each test folder (core, web, browser, notebooks) has its own fixtures."""

import pytest


@pytest.fixture(autouse=True)
def _settled_files(monkeypatch):
    """Test stores are filled moments before they are read, and a service does not cache a
    file changed within IMGSTATS_RACY_SECONDS (2 s) of being read: trust their timestamps
    here. tests/web/test_versions.py sets the window itself and tests it; the servers that
    tests start inherit this environment."""
    monkeypatch.setenv("IMGSTATS_RACY_SECONDS", "0")
