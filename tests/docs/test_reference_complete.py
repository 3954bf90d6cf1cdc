"""The reference pages name what the code offers, and only that: every ``IMGSTATS_*`` setting
the code reads is documented, every one the pages name is read, and docs/cli.md's tables list
every option of ``imgstats stats`` and ``imgstats serve``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imgstats.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
#: Read by the test suite only, documented for contributors (docs/gallery.md).
TEST_SETTINGS = {"IMGSTATS_LOOK_DIR", "IMGSTATS_SCREENSHOT_DIR"}


def _read(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.py")))


def _documentation() -> str:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(p.read_text(encoding="utf-8") for p in pages)


def _settings_read() -> set[str]:
    """Every ``IMGSTATS_*`` name the package reads: the app factory's and the gallery's
    defaults (read by prefix, so never spelt whole) and the names the code spells."""
    from imgstats.web import DEFAULTS
    from imgstats.web._serve import _SERVER_NUMBERS
    from imgstats.web.gallery import DEFAULTS as GALLERY

    spelt = set(re.findall(r"IMGSTATS_[A-Z0-9_]*[A-Z0-9]", _read(ROOT / "imgstats")))
    by_prefix = {f"IMGSTATS_{key}" for key in (*DEFAULTS, *GALLERY, *_SERVER_NUMBERS)}
    return spelt | by_prefix


def test_every_setting_the_code_reads_is_documented():
    """CACHE_MAX_AGE, DASK_TIMEOUT, REDIS_TIMEOUT, REDIS_TTL and GALLERY_THUMB_SIZE were
    settings that no page named."""
    documented = set(re.findall(r"IMGSTATS_[A-Z0-9_]*[A-Z0-9]", _documentation()))
    assert _settings_read() - documented == set()


def test_every_setting_the_pages_name_is_read():
    documented = set(re.findall(r"IMGSTATS_[A-Z0-9_]*[A-Z0-9]", _documentation()))
    assert documented - _settings_read() - TEST_SETTINGS == set()


def _options(command: str) -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return {o for a in sub._actions for o in a.option_strings if o.startswith("--")} - {"--help"}


@pytest.mark.parametrize("command", ["stats", "serve"])
def test_the_cli_page_lists_every_option(command):
    """docs/cli.md's table of ``imgstats stats`` lacked --method, --raw, --nodata, --palette,
    --scaled, --scale, --offset, --bbox and --crs."""
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = page.split(f"## `imgstats {command}", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(--[a-z-]+)", section, re.M))
    listed |= set(re.findall(r"^\| `--[a-z-]+[^|]*?`, `(--[a-z-]+)", section, re.M))
    assert _options(command) - listed == set()


def test_serve_help_names_every_route_of_the_json_api():
    """``imgstats serve --help`` named neither ``/zonal`` nor ``/docs``."""
    from imgstats.web import create_app

    app = create_app({"WARMUP": False})
    first = {r.rule.split("/")[1] for r in app.url_map.iter_rules()}
    app.extensions["imgstats"].close()
    api = first - {"", "static", "assets", "gallery", "thumbs", "previews"}
    parser = build_parser()
    serve = next(a for a in parser._actions if a.dest == "command").choices["serve"]
    assert {f"/{segment}" for segment in api if f"/{segment}" not in serve.description} == set()


def test_the_python_reference_shows_every_public_name():
    """``imgstats.zonal`` was public, in ``__all__``, and missing from docs/reference.md."""
    import imgstats
    import imgstats.errors

    page = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"^::: imgstats\.([A-Za-z_]\w*)\s*$", page, re.M))
    errors = set(vars(imgstats.errors)) if "errors" in shown else set()
    assert set(imgstats.__all__) - shown - errors == set()


def test_the_install_table_names_every_extra():
    """docs/python.md's table of what to install lacked the ``geo`` extra (pyproj)."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    page = (ROOT / "docs" / "python.md").read_text(encoding="utf-8")
    intro = page.split("\n## ", 1)[0]
    table = "\n".join(line for line in intro.splitlines() if line.startswith("|"))
    assert {e for e in extras if f"imgstats[{e}]" not in table} == set()
