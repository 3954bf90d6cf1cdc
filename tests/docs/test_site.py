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
    # the HTTP API page draws the service's own OpenAPI document with Swagger UI's local files
    import json

    import imgstats
    from imgstats.web.openapi import openapi_document

    served = json.loads((site / "openapi.json").read_text())
    assert served == json.loads(json.dumps(openapi_document(imgstats.__version__)))
    http_api = (site / "http-api" / "index.html").read_text()
    assert 'src="../assets/swagger-ui/swagger-ui-bundle.js"' in http_api
    assert (site / "assets" / "swagger-ui" / "swagger-ui-bundle.js").stat().st_size > 100_000
    for html in site.rglob("*.html"):
        text = html.read_text()
        assert not re.search(r"<(script|link)\b[^>]*(src|href)=\"(https?:)?//", text), html
        assert "fonts.googleapis" not in text, html


def test_readme_links_point_to_files_of_the_repository():
    """The README is read on the forge, outside the site: its relative links must resolve."""
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    relative = [link for link in links if "://" not in link and not link.startswith("mailto:")]
    assert relative
    missing = [link for link in relative if not (ROOT / link).exists()]
    assert missing == []
