"""The documentation site builds with --strict and reads offline, as `invoke docs` and CI build it.

In the test suite too, so that a renamed public name (the API reference names each one), a
broken link or anchor, or a page loading a script from the web shows up with the tests, not
only at CI's docs step.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_site_builds_strict_and_offline(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml")]
        + ["--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    home = (site / "index.html").read_text()
    for page in ("python", "http", "cli", "operators", "reference", "notebooks"):
        assert f'href="{page}/"' in home, page  # each user's path, one click from home
    reference = (site / "reference" / "index.html").read_text()
    assert 'id="imgstats.compute"' in reference and "Parameters" in reference
    for html in site.rglob("*.html"):
        text = html.read_text()
        assert not re.search(r"<(script|link)\b[^>]*(src|href)=\"(https?:)?//", text), html
        assert "fonts.googleapis" not in text, html
