"""A module that another thread is still importing is waited for, never read half done.

Found under load: the service's first TIFF of a worker imports xarray (about a second), and
every request that checked ``isinstance(x, xarray.DataArray)`` meanwhile got a 500
(``AttributeError: partially initialized module 'xarray' has no attribute 'DataArray'``).
A module written here stands for xarray: its import waits until the test lets it end, so the
other thread's look-up comes while it is half done, whatever the machine's speed.
"""

from __future__ import annotations

import importlib
import sys
import threading

import pytest

from imgstats._lazy import imported, is_instance

#: The module's source: it says it has started, then waits for the test to let it end.
SLOW_MODULE = """\
import imgstats_test_slow_hook as hook

hook.started.set()
hook.finish.wait()
if hook.fail:
    raise hook.fail("the module's own import failed")


class Thing:
    pass
"""


@pytest.fixture
def half_imported(tmp_path, monkeypatch):
    """The name of a module that a thread is importing, held halfway until ``finish()``."""
    name = "imgstats_test_slow_module"
    hook = type(sys)("imgstats_test_slow_hook")
    hook.started, hook.finish = threading.Event(), threading.Event()
    hook.fail = False
    monkeypatch.setitem(sys.modules, hook.__name__, hook)
    (tmp_path / f"{name}.py").write_text(SLOW_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    importer = threading.Thread(target=_import_quietly, args=(name,))
    importer.start()
    hook.started.wait()
    yield name, hook
    hook.finish.set()
    importer.join()
    sys.modules.pop(name, None)


def _import_quietly(name):
    """Import ``name``, its failure left to the test's look-ups to meet."""
    try:
        importlib.import_module(name)
    except (ImportError, AttributeError):
        pass


def _in_thread(call):
    """Run ``call`` in a thread; return a function giving its result, or raising its error."""
    done = {}

    def run():
        try:
            done["value"] = call()
        except BaseException as exc:  # handed to the test below
            done["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()

    def result():
        thread.join()
        if "error" in done:
            raise done["error"]
        return done["value"]

    return thread, result


def test_is_instance_waits_for_a_module_another_thread_imports(half_imported):
    name, hook = half_imported
    finish = hook.finish.set
    thread, result = _in_thread(lambda: is_instance(object(), name, "Thing"))
    thread.join(0.5)  # the look-up comes while the import is half done (it used to raise here)
    finish()
    assert result() is False


def test_imported_gives_the_whole_module_once_its_import_ends(half_imported):
    name, hook = half_imported
    finish = hook.finish.set
    thread, result = _in_thread(lambda: imported(name).Thing)
    thread.join(0.5)
    finish()
    assert result().__name__ == "Thing"


def test_a_module_never_imported_is_not_imported():
    assert imported("imgstats_test_never_imported") is None
    assert is_instance(object(), "imgstats_test_never_imported", "Thing") is False
    assert "imgstats_test_never_imported" not in sys.modules


@pytest.mark.parametrize("error", [ImportError, AttributeError])
def test_a_module_whose_import_fails_meanwhile_is_not_there(half_imported, error):
    # the other thread's import fails: import_module then tried it again in the waiting
    # thread and raised its error out of is_instance (a 500 for the request); an old
    # package on numpy 2 fails with AttributeError
    name, hook = half_imported
    hook.fail = error
    thread, result = _in_thread(lambda: (imported(name), is_instance(object(), name, "Thing")))
    thread.join(0.5)
    hook.finish.set()
    assert result() == (None, False)
    assert name not in sys.modules
