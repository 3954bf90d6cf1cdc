"""No import cycles among imgstats's modules (issue 17).

The graph is read from the source's import statements, function-level ones included: a lazy
import is still a dependency, and a cycle of them is a responsibility in the wrong room.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import imgstats

PACKAGE = Path(imgstats.__file__).parent


def _modules(root: Path, name: str) -> dict[str, Path]:
    """``{dotted module name: its file}`` for every module of the package under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules ``module`` imports (``from pkg import sub`` counts ``sub``)."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    deps = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                head = ".".join(package[: len(package) - node.level + 1])
                base = f"{head}.{node.module}" if node.module else head
            else:
                base = node.module or ""
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
            targets = subs + ([base] if len(subs) < len(node.names) else [])
        else:
            continue
        deps.update(t for t in targets if t in modules and t != module)
    return deps


def import_cycles(root: Path, name: str) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    modules = _modules(root, name)
    graph = {m: _imports(m, p, modules) for m, p in modules.items()}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_imgstats_has_no_import_cycle():
    cycles = import_cycles(PACKAGE, "imgstats")
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize(
    ("files", "want"),
    [
        # a function-level import closes a cycle as much as a top-level one
        ({"a.py": "from . import b", "b.py": "def f():\n    from .a import x\n"}, [["p.a", "p.b"]]),
        # through a package face, with a relative import two levels up
        (
            {
                "__init__.py": "from .io import read",
                "io/__init__.py": "from ._x import read",
                "io/_x.py": "from .. import core",
                "core.py": "import p.io",
            },
            [["p.core", "p.io", "p.io._x"]],
        ),
        # a chain is no cycle, nor is a module importing itself by name
        ({"a.py": "from .b import f", "b.py": "import p.b\nimport os"}, []),
    ],
)
def test_the_check_finds_cycles(tmp_path, files, want):
    for rel, text in files.items():
        path = tmp_path / "p" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert import_cycles(tmp_path / "p", "p") == want
