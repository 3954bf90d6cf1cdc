"""Data shipped inside the imgstats package.

``gallery/`` holds the default offline image gallery (real photographs from
scikit-image's bundled public-domain / CC0 sample data, plus TIFFs derived from
them); see ``gallery/LICENSES.md`` for the source and licence of each file.
"""

from importlib.resources import files
from pathlib import Path


def gallery_path() -> Path:
    """Return the folder of the default gallery shipped with imgstats (works offline).

    Examples
    --------
    >>> import imgstats
    >>> from imgstats.data import gallery_path
    >>> imgstats.compute(gallery_path() / "IMG_1.jpg", ["min", "median", "max"])
    {'min': 0, 'median': 120.0, 'max': 255}
    """
    return Path(str(files("imgstats.data") / "gallery"))
