"""Patterns of sources: ``"photos/*.jpg"``, ``"s3://bucket/2024-??/*.tif"``, one grammar.

The library (:func:`imgstats.compute`, :func:`imgstats.summarize`, :func:`imgstats.refine`)
and ``imgstats stats`` expand a pattern the same way: glob rules (``*``, ``?``, ``[abc]``;
``**`` for any depth), local paths with :mod:`glob`, URLs with the fsspec filesystem of
their scheme (for ``http(s)://`` that is the links of the folder's index page, as fsspec's
HTTP filesystem lists them; there ``?`` starts the query string, as in any URL, and is no
wildcard). The matches are sorted; their samples count as one set. An existing file whose
name holds a glob character is a file, not a pattern.

A match is a :class:`Matched` path (a ``str``): the collection leaves one out that is no
image (a ``LICENSES.md`` beside the pictures), naming it, where a file named on its own
fails. A match that is a GDAL sidecar of another match (``a.tif.msk``, ``a.tif.aux.xml``
beside ``a.tif``) is part of that image, not an image of its own: it is no match.
"""

from __future__ import annotations

import os
import re

from .errors import ImageNotFound, StoreUnavailable

__all__ = ["is_pattern", "expand", "Matched"]


class Matched(str):
    """A path or URL that a pattern matched (not one named on its own): the collection
    leaves it out when it is no image (:class:`~imgstats.errors.NotAnImage`)."""

    __slots__ = ()

    def __reduce__(self):
        return (Matched, (str(self),))


_GLOB = re.compile(r"[*?\[]")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_pattern(source) -> bool:
    """Whether ``source`` is a path or URL pattern rather than one image."""
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        return False
    if _URL.match(source) is not None:
        if source.lower().startswith(("http://", "https://")):
            source = source.partition("?")[0]  # a query string, not a wildcard
        return _GLOB.search(source) is not None
    return _GLOB.search(source) is not None and not os.path.exists(source)


def expand(source, storage_options: dict | None = None) -> list[str]:
    """The sources a pattern matches, sorted.

    Parameters
    ----------
    source : str or path
        A local pattern (``"photos/*.jpg"``) or a URL pattern (``"s3://b/*.tif"``).
    storage_options : dict, optional
        For the URL's fsspec filesystem.

    Returns
    -------
    list of str

    Raises
    ------
    ImageNotFound
        Nothing matches.
    StoreUnavailable
        The store could not be listed.
    """
    text = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
    if _URL.match(text) is None:
        import glob

        found = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
    else:
        found = _expand_url(text, storage_options or {})
    if not found:
        raise ImageNotFound(f"no file matches {text!r}")
    return [Matched(p) for p in _without_sidecars(found)]


def _without_sidecars(found: list[str]) -> list[str]:
    """``found`` without the GDAL sidecars (``.msk``, ``.aux.xml``) of another of them."""
    from .io._sources import SIDECAR_SUFFIXES

    names = set(found)
    return [
        p
        for p in found
        if not any(p.endswith(s) and p[: -len(s)] in names for s in SIDECAR_SUFFIXES)
    ]


def _expand_url(url: str, storage_options: dict) -> list[str]:
    import fsspec

    from .io._sources import check_host, not_installed

    try:
        check_host(url)
        fs, path = fsspec.core.url_to_fs(url, **storage_options)
        matches = fs.glob(path)
    except FileNotFoundError:
        return []
    except ImportError as exc:
        raise not_installed(repr(url), exc) from exc
    except ValueError as exc:  # an unknown protocol, no host
        raise ImageNotFound(f"cannot resolve {url!r}: {exc}") from exc
    except Exception as exc:  # network clients raise their own types (aiohttp, botocore)
        raise StoreUnavailable(f"could not list {url!r}: {exc}") from exc
    out = []
    for match in sorted(matches):
        full = fs.unstrip_protocol(match) if not _URL.match(match) else match
        if not full.endswith("/"):
            out.append(full)
    return out
