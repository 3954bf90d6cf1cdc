"""What a newcomer's tab completion offers on ``imgstats.``: the API, not the module's helpers."""

from __future__ import annotations

import imgstats


def test_dir_offers_every_public_name_and_no_helper():
    names = dir(imgstats)
    assert set(imgstats.__all__) <= set(names)
    assert "__version__" in names
    for helper in ("TYPE_CHECKING", "importlib", "annotations", "ModuleType"):
        assert helper not in names
    assert [n for n in names if n.startswith("_") and not n.startswith("__")] == []


def test_every_name_dir_offers_can_be_read():
    for name in dir(imgstats):
        getattr(imgstats, name)  # a lazy name resolves; a listed submodule is loaded
