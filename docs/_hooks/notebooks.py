"""mkdocs hook: the notebooks of ``notebooks/`` as pages of the site, under ``notebooks/``.

A notebook is committed without outputs. When ``uv run invoke notebooks`` has written a newer
executed copy into ``reports/`` (papermill, small parameters), the site shows that one, with
its tables and plots; otherwise the committed notebook, code and text only.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
_folder: Path | None = None  # this build's copies of the notebooks


def source(name: str) -> Path:
    """The notebook to render for ``notebooks/<name>``: the executed report when it is newer."""
    committed = ROOT / "notebooks" / name
    report = ROOT / "reports" / name
    if report.exists() and report.stat().st_mtime >= committed.stat().st_mtime:
        return report
    return committed


@event_priority(100)  # before mkdocs-jupyter turns .ipynb files into pages
def on_files(files, config):
    # mkdocs-jupyter's pages need a plain File (src_dir + src_uri), not a generated one: copy
    # each chosen notebook to <temporary folder>/notebooks/<name>.
    global _folder
    folder = _folder = Path(tempfile.mkdtemp(prefix="imgstats-docs-"))
    (folder / "notebooks").mkdir()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copyfile(source(path.name), folder / "notebooks" / path.name)
        files.append(
            File(
                f"notebooks/{path.name}",
                src_dir=str(folder),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


def on_post_build(config):
    if _folder is not None:
        shutil.rmtree(_folder, ignore_errors=True)
