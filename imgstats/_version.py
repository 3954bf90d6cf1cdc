"""The version of imgstats, in a module of its own so that any module may import it.

:data:`__version__` names the release; :func:`fingerprint` names the code that answers (this
package's and its decoders' versions), for the caches whose answers outlive a process (ETags,
Redis keys, the thumbnail folder).
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__version__ = "0.1.0"

#: The libraries whose versions decide the samples decoded and the bytes rendered: an
#: upgrade of one may change an answer without a change of imgstats' code.
DECODERS = ("numpy", "PIL", "tifffile", "imagecodecs")

#: The other libraries on an answer's path, named by their installed version (read from their
#: metadata, never imported: dask alone takes a second): numba and llvmlite compile the
#: counting kernels; dask, xarray and zarr carry a remote or large image's chunks (zarr is
#: tifffile's chunk store); affine places a polygon's coordinates on the pixels. Each answer
#: is meant to be the same whatever their versions, but a cached one must not outlive a
#: change of the code that made it. Core dependencies only: pyproj (the ``geo`` extra) is
#: left out, so that a wheel installed alone and a checkout with the extras share their keys
#: (without pyproj a reprojection is refused, never answered otherwise).
LIBRARIES = ("numba", "llvmlite", "dask", "xarray", "zarr", "affine")

#: The libraries Pillow links whose versions may change its answers: the lossy decoders
#: (JPEG, JPEG 2000, a JPEG in a TIFF) and the WebP encoder of the thumbnails. A wheel's
#: Pillow version names them; a Pillow built against the system's libraries does not.
PILLOW_LIBRARIES = ("jpg", "libjpeg_turbo", "jpg_2000", "libtiff", "webp")


@functools.cache
def fingerprint() -> str:
    """The release and a digest of the code that answers: ``"0.1.0+<16 hex>"``.

    Answers cached beyond a process (a client's ``ETag``, a summary in Redis, a thumbnail in
    the gallery's folder) are keyed by it rather than by the release alone: any change of
    the package's code, released or not, installed from a wheel or editable, or of the
    version of a decoder (:data:`DECODERS`) or of another library on the way
    (:data:`LIBRARIES`) gives new keys, so no client or cache keeps an
    answer of other code. Computed once per process, on first use (the service's app factory
    asks at start-up, before the files could change under it).
    """
    import hashlib  # here, not at import: __version__ alone is what `import imgstats` reads
    from pathlib import Path

    digest = hashlib.sha256(code_digest(Path(__file__).parent).encode())
    digest.update(f"\0{decoder_versions()}".encode())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def decoder_versions() -> str:
    """The versions of :data:`DECODERS`, from their ``__version__``, of
    :data:`PILLOW_LIBRARIES`, and of :data:`LIBRARIES`, from their installed metadata:
    ``"numpy=2.4.6 PIL=13.0.0 PIL.jpg=6.2 ... numba=0.68.1 ..."``.

    Each decoder is imported (the service imports them all at start-up, for its warm-up, so
    this costs nothing more there; importing tifffile costs about 40 ms otherwise), so the
    answer does not depend on which were imported before; one that cannot be imported is
    ``absent``. The other libraries are not imported (:func:`installed_version`).
    """
    versions = []
    for name in DECODERS:
        try:
            version = getattr(importlib.import_module(name), "__version__", "unknown")
        except ImportError:
            version = "absent"
        versions.append(f"{name}={version}")
        if name == "PIL" and version != "absent":
            from PIL import features  # the libraries' versions: under 1 ms

            versions += (f"PIL.{lib}={features.version(lib)}" for lib in PILLOW_LIBRARIES)
    versions += (f"{name}={installed_version(name)}" for name in LIBRARIES)
    return " ".join(versions)


def installed_version(name: str) -> str:
    """The version of distribution ``name`` as installed, ``absent`` without one: from its
    metadata, without importing it (about 60 ms for :mod:`importlib.metadata` and 7 lookups,
    once per process; numba, which the service loads first, has imported it already)."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def code_digest(package: Path) -> str:
    """The SHA-256 of the code under ``package``: the paths of its ``.py`` files relative to
    it (in ``/`` form, sorted) and their bytes; not mtimes, ``__pycache__`` or where the
    package lies. A sourceless ``.pyc`` beside them (an install that ships bytecode only)
    counts as a source does: such an install still changes keys when its code changes.

    About 1.3 MB in 70 files: about 10 ms, once per process.
    """
    import hashlib

    digest = hashlib.sha256()
    files = [*package.rglob("*.py"), *package.rglob("*.pyc")]
    names = (path.relative_to(package) for path in files)
    for name in sorted(n.as_posix() for n in names if "__pycache__" not in n.parts):
        data = (package / name).read_bytes()
        # each file framed by its name and length: moving bytes between files changes it too
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()
