"""Every example of README.md and docs/*.md runs, so the documentation cannot drift.

For each page, in order and in one fresh namespace per page, from a temporary folder laid out
like a clone (``imgstats/data/gallery/`` holds the bundled gallery):

- a ```` ```python ```` block is executed;
- a ```` ```pycon ```` block (``>>>`` prompts) is run as a doctest, its printed output compared
  with ``...`` standing for any text;
- in a ```` ```console ```` block, each ``$ imgstats ...`` (or ``$ uv run imgstats ...``) command
  runs in a shell and must exit 0 and print what the block shows below it (``...`` for any
  text); each ``$ curl`` of ``http://127.0.0.1:8181/...`` (the service ``imgstats serve``
  starts on the bundled gallery) is sent to that service, made by the app factory in the test,
  and must answer what the block shows, whitespace aside (``...`` for any text);
  ``imgstats serve`` and other commands (``pip``, ``docker``...) are shown, not run.

A page shows an example that cannot run here (a private bucket, a server of your own) by
putting ``<!-- docs-test: skip -->`` on the line just above its fence. New pages are found by
the glob: nothing to register.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SKIP = "<!-- docs-test: skip"
_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)")
#: ``uv run`` and its options, before the command it runs.
_UV_RUN = re.compile(r"^uv\s+run\s+((--(extra|with|group|python|package)(=|\s+)\S+|-\S+)\s+)*")
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass
class Block:
    lang: str
    line: int  # 1-based line of the opening fence
    code: str
    skip: bool


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order (indented ones too, dedented)."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, start = m["fence"], i
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        i += 1
        while i < len(lines) and not close.match(lines[i]):
            i += 1
        above = next((s for s in reversed(lines[:start]) if s.strip()), "")
        found.append(
            Block(
                lang=m["lang"].lower(),
                line=start + 1,
                code=textwrap.dedent("\n".join(lines[start + 1 : i])),
                skip=above.strip().startswith(SKIP),
            )
        )
        i += 1
    return found


def commands(console: str) -> list[tuple[str, str]]:
    """``(command, expected output)`` of a console block's ``$`` lines (``\\`` continues one)."""
    result, command, output = [], None, []
    lines = console.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            if command is not None:
                result.append((command, "\n".join(output)))
            command, output = line[2:], []
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
        elif command is not None:
            output.append(line)
        i += 1
    if command is not None:
        result.append((command, "\n".join(output)))
    return result


def _runnable(command: str) -> str | None:
    """The shell command to run for a documented one, or None when it is only shown."""
    command = re.sub(r"\s+#.*$", "", command.strip())  # a trailing comment
    command = _UV_RUN.sub("", command)  # the environment is this one
    words = command.split()
    if len(words) < 2 or words[0] != "imgstats" or words[1] == "serve":
        return None
    return command


#: Where the documented ``imgstats serve`` listens.
SERVICE = "http://127.0.0.1:8181"


def curl_request(command: str) -> dict | None:
    """The request a documented ``curl`` sends to the service, or None when it is not one."""
    try:
        words = shlex.split(re.sub(r"\s+#.*$", "", command.strip()))
    except ValueError:
        return None
    if not words or words[0] != "curl":
        return None
    request = {"method": "GET", "headers": {}, "data": None, "url": None}
    args = iter(words[1:])
    for word in args:
        if word in ("-s", "--silent", "-sS"):
            continue
        if word in ("-X", "--request"):
            request["method"] = next(args, "GET")
        elif word in ("-H", "--header"):
            name, _, value = next(args, "").partition(":")
            request["headers"][name.strip()] = value.strip()
        elif word in ("-d", "--data", "--data-raw"):
            request["data"] = next(args, "")
            if request["method"] == "GET":
                request["method"] = "POST"
        elif word.startswith(SERVICE + "/") and request["url"] is None:
            request["url"] = word[len(SERVICE) :]
        else:  # an option this reading does not know: shown, not run
            return None
    return request if request["url"] else None


def _runnable_blocks(page: Path) -> list[Block]:
    runnable = []
    for block in blocks(page.read_text(encoding="utf-8")):
        if block.skip:
            continue
        if block.lang in ("python", "py", "pycon"):
            runnable.append(block)
        elif block.lang == "console" and any(
            _runnable(c) or curl_request(c) for c, _ in commands(block.code)
        ):
            runnable.append(block)
    return runnable


def _pages_with_examples() -> list[Path]:
    return [page for page in PAGES if _runnable_blocks(page)]


@pytest.fixture
def service():
    """``service()``: a test client of the service that ``imgstats serve`` runs (the gallery)."""
    clients = []

    def make():
        if not clients:
            from imgstats.web import create_app

            clients.append(create_app({"WARMUP": False}).test_client())
        return clients[0]

    return make


@pytest.fixture
def clone_like(tmp_path, monkeypatch):
    """A temporary working folder where ``imgstats/data/gallery/`` is the bundled gallery."""
    from imgstats.data import gallery_path

    (tmp_path / "imgstats" / "data").mkdir(parents=True)
    (tmp_path / "imgstats" / "data" / "gallery").symlink_to(gallery_path())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


def _where(page: Path, block: Block) -> str:
    return f"{page.relative_to(ROOT)}, the {block.lang} block at line {block.line}"


def _run_python(page: Path, block: Block, namespace: dict) -> None:
    try:
        exec(compile(block.code, f"{page.relative_to(ROOT)}:{block.line}", "exec"), namespace)
    except Exception as error:
        raise AssertionError(f"{_where(page, block)} fails: {error!r}") from error


def _run_pycon(page: Path, block: Block, namespace: dict) -> None:
    name = f"{page.relative_to(ROOT)}:{block.line}"
    test = doctest.DocTestParser().get_doctest(block.code, namespace, name, str(page), block.line)
    out = []
    runner = doctest.DocTestRunner(optionflags=_FLAGS)
    runner.run(test, out=out.append, clear_globs=False)
    if runner.failures:
        raise AssertionError(f"{_where(page, block)} fails:\n" + "".join(out))


def _same(expected: str, got: str, ignore_space: bool = False) -> bool:
    """``got`` is what the page shows, ``...`` standing for any text."""
    if ignore_space:
        expected, got = re.sub(r"\s+", "", expected), re.sub(r"\s+", "", got)
    return doctest.OutputChecker().check_output(expected.strip() + "\n", got + "\n", _FLAGS)


def _run_console(page: Path, block: Block, folder: Path, service) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    checker = doctest.OutputChecker()
    for documented, expected in commands(block.code):
        request = curl_request(documented)
        if request is not None:
            with service().open(
                request["url"],
                method=request["method"],
                headers=request["headers"],
                data=request["data"],
            ) as answer:
                text = answer.get_data(as_text=True)
            if expected.strip() and not _same(expected, text.strip(), ignore_space=True):
                raise AssertionError(
                    f"{_where(page, block)}: `{documented}` answers\n{text}\n"
                    f"where the page shows\n{expected}"
                )
            continue
        command = _runnable(documented)
        if command is None:
            continue
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{_where(page, block)}: `{documented}` exits {done.returncode}:\n{done.stderr}"
            )
        if expected.strip() and not checker.check_output(
            expected.strip() + "\n", done.stdout, _FLAGS
        ):
            raise AssertionError(
                f"{_where(page, block)}: `{documented}` prints\n{done.stdout}\n"
                f"where the page shows\n{expected}"
            )


@pytest.mark.parametrize("page", _pages_with_examples(), ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_of_the_page_run(page, clone_like, service):
    namespace = {"__name__": "__main__"}  # fresh for each page, shared by its blocks in order
    for block in _runnable_blocks(page):
        if block.lang == "console":
            _run_console(page, block, clone_like, service)
        elif block.lang == "pycon":
            _run_pycon(page, block, namespace)
        else:
            _run_python(page, block, namespace)
