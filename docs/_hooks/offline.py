"""mkdocs hook: the site reads offline, so no page may load a script, style or font from the web.

nbconvert's notebook template always adds a MathJax ``<script>`` (from a CDN by default, with an
empty address when none is set); the notebooks hold no equations, so it is removed. Any other
remote script, stylesheet or font fails the build, naming the page.
"""

from __future__ import annotations

import re

from mkdocs.exceptions import PluginError

_MATHJAX = re.compile(
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL | re.IGNORECASE
)
_REMOTE = re.compile(
    r"""<(?:script|img|iframe)\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?//"""
    r"""|@import\s+(?:url\()?["']?(?:https?:)?//""",
    re.IGNORECASE,
)


def on_post_page(output, page, config):
    output = _MATHJAX.sub("", output)
    found = _REMOTE.search(output)
    if found:
        start = max(found.start() - 80, 0)
        raise PluginError(
            f"{page.file.src_uri} loads something from the web, the site must read offline: "
            f"{output[start : found.end() + 80]!r}"
        )
    return output
