"""The docs test's Markdown reading and the site's offline guard do what they promise."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError

from tests.docs.test_examples import _runnable, blocks, commands, curl_request

ROOT = Path(__file__).resolve().parents[2]

PAGE = """\
# A page

```python
x = 1
```

- a list item with an indented block:

    ```pycon
    >>> x + 1
    2
    ```

<!-- docs-test: skip (needs a bucket) -->
```python
imgstats.compute("s3://private/huge.tif", "median")
```

````console
$ uv run imgstats stats a.jpg \\
    median --json
{"median": 1.0}
$ curl http://127.0.0.1:8181/health
OK
````
"""


def test_blocks_are_found_in_order_with_their_language_line_and_skip_mark():
    found = blocks(PAGE)
    assert [(b.lang, b.line, b.skip) for b in found] == [
        ("python", 3, False),
        ("pycon", 9, False),
        ("python", 15, True),
        ("console", 19, False),
    ]
    assert found[1].code == ">>> x + 1\n2"  # dedented


def test_console_commands_join_continuations_and_keep_their_output():
    (console,) = [b for b in blocks(PAGE) if b.lang == "console"]
    assert commands(console.code) == [
        ("uv run imgstats stats a.jpg  median --json", '{"median": 1.0}'),
        ("curl http://127.0.0.1:8181/health", "OK"),
    ]


@pytest.mark.parametrize(
    ("documented", "run"),
    [
        ("uv run imgstats stats a.jpg median", "imgstats stats a.jpg median"),
        ("imgstats --version   # the version", "imgstats --version"),
        ("uv run --extra web imgstats stats a.jpg", "imgstats stats a.jpg"),
        ("uv run imgstats serve", None),
        ("curl http://127.0.0.1:8181/health", None),
        ("uv sync", None),
    ],
)
def test_only_imgstats_commands_other_than_serve_run(documented, run):
    assert _runnable(documented) == run


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "_hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAGE_OBJ = SimpleNamespace(file=SimpleNamespace(src_uri="page.md"))


@pytest.mark.parametrize(
    "html",
    [
        '<script src="https://cdn.example.org/x.js"></script>',
        "<script src='//cdn.example.org/x.js'></script>",
        '<link rel="stylesheet" href="https://fonts.example.org/css?family=Roboto">',
        "<style>@import url(https://fonts.example.org/css);</style>",
        '<img src="http://example.org/a.png">',
    ],
)
def test_a_page_loading_from_the_web_fails_the_build(html):
    with pytest.raises(PluginError, match="page.md loads something from the web"):
        _hook("offline").on_post_page(f"<html>{html}</html>", PAGE_OBJ, {})


def test_links_stay_and_nbconvert_mathjax_is_removed():
    mathjax = (
        '<!-- Load mathjax -->\n<script src="https://cdnjs.example/mathjax.js"> </script>\n'
        "<script>init()</script>\n<!-- End of mathjax configuration -->"
    )
    html = f'<a href="https://numpy.org">numpy</a>{mathjax}<script src="assets/x.js"></script>'
    out = _hook("offline").on_post_page(html, PAGE_OBJ, {})
    assert out == '<a href="https://numpy.org">numpy</a><script src="assets/x.js"></script>'


@pytest.mark.parametrize(
    ("documented", "request_"),
    [
        (
            "curl http://127.0.0.1:8181/health",
            {"method": "GET", "headers": {}, "data": None, "url": "/health"},
        ),
        (
            "curl -s 'http://127.0.0.1:8181/stats/*.jpg/median?band=R'",
            {"method": "GET", "headers": {}, "data": None, "url": "/stats/*.jpg/median?band=R"},
        ),
        (
            "curl -X POST http://127.0.0.1:8181/stats/a.jpg -H 'Content-Type: application/json'"
            ' -d \'{"funcs": ["min"]}\'',
            {
                "method": "POST",
                "headers": {"Content-Type": "application/json"},
                "data": '{"funcs": ["min"]}',
                "url": "/stats/a.jpg",
            },
        ),
        ("curl https://example.org/stats/a.jpg/median", None),  # not the documented service
        ("curl -o out.json http://127.0.0.1:8181/health", None),  # an option it does not know
        ("uv run imgstats stats a.jpg median", None),
    ],
)
def test_curl_lines_become_requests_to_the_service(documented, request_):
    assert curl_request(documented) == request_
