"""The committed notebooks: clean (no outputs), parameterized, named by phase, all run by tasks."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _load(path):
    return json.loads(path.read_text())


def test_there_are_notebooks():
    names = {p.stem for p in NOTEBOOKS}
    assert {"0.1-explore-statistics", "1.0-benchmark-statistics"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_named_by_phase(path):
    assert re.fullmatch(r"\d+\.\d+-[a-z0-9]+(-[a-z0-9]+)*", path.stem), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = _load(path)
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"cell {i} has outputs"
            assert cell["execution_count"] is None, f"cell {i} has an execution count"
        assert "execution" not in cell["metadata"], f"cell {i} has execution metadata"
    assert "widgets" not in nb["metadata"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nbstripout_would_change_nothing(path):
    """The same check `invoke lint` runs: nbstripout's own idea of clean."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "nbstripout", "--verify", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_of_upper_case_constants(path):
    cells = [c for c in _load(path)["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    src = "".join(cells[0]["source"])
    names = re.findall(r"^(\w+)\s*=", src, flags=re.M)
    assert names and all(n.isupper() for n in names), names
    assert "OUTPUT" in names, "every notebook writes its results under OUTPUT"


#: Exploration notebooks (phase 0.x) are for users to copy: imgstats and common libraries only,
#: so the few lines of numpy oracle and plotting they need live in the notebook itself.
EXPLORATION = [p for p in NOTEBOOKS if p.stem.startswith("0.")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_imports_its_logic_from_imgstats_and_benchmarks(path):
    code = [c for c in _load(path)["cells"] if c["cell_type"] == "code"]
    first = "".join(code[0]["source"])
    assert re.search(r"^(import imgstats|from imgstats[ .])", first, flags=re.M), first
    body = "".join("".join(c["source"]) for c in code)
    if path not in EXPLORATION:
        assert not re.search(r"^\s*(def|class) ", body, flags=re.M), (
            "functions belong in imgstats, or in benchmarks/ for the tooling"
        )
    # the tooling left the package: its old home must not come back
    assert not re.search(r"imgstats(\.| import )(bench|plot)\b", body)


@pytest.mark.parametrize("path", EXPLORATION, ids=lambda p: p.name)
def test_an_exploration_notebook_needs_nothing_beside_the_package(path):
    """A user copies it out of the clone: no import of benchmarks/ or other repository code."""
    body = "".join("".join(c["source"]) for c in _load(path)["cells"] if c["cell_type"] == "code")
    imported = set(re.findall(r"^\s*(?:from|import)\s+([\w]+)", body, flags=re.M))
    assert imported <= {
        "imgstats",
        "numpy",
        "pandas",
        "matplotlib",
        "dask",
        "xarray",
        "IPython",
        "json",
        "re",
        "pathlib",
    }, imported


def test_every_notebook_is_run_by_invoke_notebooks():
    sys.path.insert(0, str(ROOT))
    try:
        import tasks
    finally:
        sys.path.remove(str(ROOT))
    assert set(tasks.SMALL) == {p.stem for p in NOTEBOOKS}
    assert set(tasks.FULL) <= set(tasks.SMALL)
