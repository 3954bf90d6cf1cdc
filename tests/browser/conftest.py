"""Browser tests: a real ``imgstats serve`` process driven by Debian's headless Chromium.

Every test gets a ``page`` that records JavaScript errors (the test fails if any page had one)
and, when the test fails, saves a screenshot of each page it visited in its ``tmp_path``.
With ``IMGSTATS_SCREENSHOT_DIR`` set, the tests also write the README's screenshots there.
``IMGSTATS_TEST_CHROMIUM`` names another Chromium binary; without one the folder is skipped.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from benchmarks.servers import start_server
from imgstats.data import gallery_path

CHROMIUM = Path(os.environ.get("IMGSTATS_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
_REPORTS = pytest.StashKey[dict]()


def pytest_collection_modifyitems(config, items):
    """Skip this folder, before any server starts, on a machine without the browser."""
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} is missing: install Debian's chromium (apt install chromium)"
    )
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


# -- the server ---------------------------------------------------------------------------------
def _serve(folder: Path, log: Path):
    """``imgstats serve`` (2 gunicorn workers) over ``folder``, with a thumbnail cache of its
    own, so "cold" is cold whatever ran before (:func:`benchmarks.servers.start_server`)."""
    server = start_server(
        folder,
        workers=2,
        # generous: the first server of a fresh clone compiles numba's kernels in both
        # workers at once (over 100 s on a busy 2-core machine); an exit still fails at once
        timeout=300,
        log=log,
        env={"IMGSTATS_GALLERY_CACHE_DIR": str(log.parent / "renders")},
    )
    with server:
        yield server


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A server over a copy of the bundled gallery."""
    root = tmp_path_factory.mktemp("server")
    folder = root / "images"
    shutil.copytree(gallery_path(), folder, ignore=shutil.ignore_patterns("*.md"))
    yield from _serve(folder, root / "server.log")


@pytest.fixture(scope="session")
def big_server(tmp_path_factory):
    """A server over 200 images (copies of the gallery's under distinct names)."""
    root = tmp_path_factory.mktemp("big-server")
    folder = root / "images"
    folder.mkdir()
    sources = sorted(p for p in gallery_path().iterdir() if p.name.startswith("IMG_"))
    for i in range(200):
        src = sources[i % len(sources)]
        shutil.copy(src, folder / f"photo_{i:03d}{src.suffix}")
    yield from _serve(folder, root / "server.log")


# -- the browser --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        yield browser
        browser.close()


class PageErrors:
    """JavaScript errors and console errors of a page; expected ones can be allowed."""

    def __init__(self):
        self.errors: list[str] = []
        self.allowed: list[str] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(pattern)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(re.search(a, e) for a in self.allowed)]


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport=VIEWPORT)
    yield context
    context.close()


def _watch(page) -> list[str]:
    """Record the page's JavaScript and console errors in ``page.errors``; return visited URLs."""
    errors = PageErrors()
    visited: list[str] = []
    page.on("pageerror", lambda exc: errors.errors.append(f"{page.url}: {exc}"))
    page.on(
        "console",
        lambda msg: (
            msg.type == "error" and errors.errors.append(f"{page.url}: console: {msg.text}")
        ),
    )
    page.on(
        "framenavigated",
        lambda frame: (
            frame == page.main_frame and frame.url not in visited and visited.append(frame.url)
        ),
    )
    page.errors = errors
    return visited


@pytest.fixture
def page(request, context, tmp_path):
    """A fresh page; fails the test on any JavaScript error, screenshots every page on failure."""
    page = context.new_page()
    visited = _watch(page)
    yield page
    reports = request.node.stash.get(_REPORTS, {})
    if any(r.failed for r in reports.values()):
        _screenshot_pages(context, page, visited, tmp_path)
    assert not page.errors.unexpected(), f"JavaScript errors: {page.errors.unexpected()}"


@pytest.fixture
def fresh_page(browser):
    """``fresh_page()``: a page in a new context (an empty browser cache), watched for errors."""
    pages = []

    def make(**options):
        page = browser.new_context(viewport=VIEWPORT, **options).new_page()
        _watch(page)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.context.close()
    errors = [e for page in pages for e in page.errors.unexpected()]
    assert not errors, f"JavaScript errors: {errors}"


def _screenshot_pages(context, page, visited: list[str], folder: Path) -> None:
    """Save the page as it is, then each page the test visited, as PNGs in ``folder``."""
    page.screenshot(path=folder / "00-at-failure.png", full_page=True)
    for i, url in enumerate(visited, 1):
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", url.split("://", 1)[-1])[:80]
        other = context.new_page()
        try:
            other.goto(url)
            other.screenshot(path=folder / f"{i:02d}-{slug}.png", full_page=True)
        finally:
            other.close()
    sys.stderr.write(f"\nscreenshots of the visited pages are in {folder}\n")


@pytest.fixture
def readme_screenshot():
    """``readme_screenshot(page, name)``: a compact PNG for the README when asked for.

    Written to ``$IMGSTATS_SCREENSHOT_DIR/<name>.png`` only when that variable is set
    (``invoke screenshots``); reduced to 256 colours, which keeps a 1280 px page near 100 KB.
    """
    folder = os.environ.get("IMGSTATS_SCREENSHOT_DIR")

    def take(page, name: str, full_page: bool = False) -> None:
        if not folder:
            return
        from PIL import Image

        png = page.screenshot(full_page=full_page)
        with Image.open(io.BytesIO(png)) as img:
            small = img.convert("RGB").quantize(
                256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
            )
            Path(folder).mkdir(parents=True, exist_ok=True)
            small.save(Path(folder) / f"{name}.png", optimize=True)

    return take


# -- accessibility: axe-core from npm ------------------------------------------------------------
#: axe-core, installed by ``npm ci --prefix tests/browser`` (``.ci/run`` does it when missing).
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
#: The rules checked: WCAG 2.0 and 2.1, levels A and AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture
def axe():
    """``axe(page)``: the WCAG 2.1 A/AA violations axe-core finds on the page, as text lines."""
    if not AXE.exists():
        pytest.skip("axe-core is missing: run `npm ci --prefix tests/browser`")

    def check(page) -> list[str]:
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
        )
        return [
            f"{v['id']} ({v['impact']}): {v['help']} -- "
            + "; ".join(n["html"][:120] for n in v["nodes"][:3])
            for v in result["violations"]
        ]

    return check
