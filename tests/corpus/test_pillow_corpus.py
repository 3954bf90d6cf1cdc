"""Every real image either answers what it means or raises an ImgStatsError (issue 16, item 6).

Over the thousand test images of Pillow's sdist (see ``conftest.py``): ``compute`` on each
path must answer or raise an :class:`imgstats.ImgStatsError` -- any other exception fails, as
a traceback in the CLI or a 500 in the service would. Where Pillow itself decodes a file to
a mode imgstats reads as Pillow does, the answer must equal numpy on Pillow's pixels (GDAL's
valid samples: the colour bands of the pixels that are not transparent, the greys that are not
a PNG's transparent grey or colour); a TIFF's answer must equal numpy on its eager read
(``open_image``), whichever way ``compute`` read it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

import imgstats
from benchmarks.oracle import check_all
from imgstats.errors import ImgStatsError

pytestmark = [pytest.mark.slow, pytest.mark.corpus]
FUNCS = ["min", "max", "mean", "median", "p5", "p95"]
#: Pillow modes whose pixels imgstats reads as numpy.asarray of the image (after the
#: documented conversions: palettes to RGB(A), bilevel to L).
_SAME = {"L", "RGB", "RGBA", "LA", "I", "F", "I;16", "P", "PA", "1"}


def _deep_jp2(path) -> bool:
    """Whether a JPEG 2000 holds samples of 9 to 16 bits, or signed ones."""
    from imgstats.io._pillow import _JP2_HEAD, _jp2_deep_layout

    with open(path, "rb") as fh:
        return _jp2_deep_layout(fh.read(_JP2_HEAD)) is not None


def _stored_jp2(path):
    """The samples of a deep or signed one-component JPEG 2000 as stored (imagecodecs, not
    imgstats' reader), ``None`` for several components (their alpha is the JP2's to say)."""
    import imagecodecs

    arr = imagecodecs.jpeg2k_decode(path.read_bytes())
    return arr if arr.ndim == 2 else None


def _undeclared_jp2_alpha(path, fmt) -> bool:
    """Whether a JPEG 2000 Pillow opens as LA or RGBA has a last component GDAL does not read
    as alpha (no cdef box calls it opacity; tests/io/test_jp2_boxes.py): a band like the
    others then, every pixel counted."""
    if fmt != "JPEG2000":
        return False
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path) as src:
            return src.colorinterp[-1].name != "alpha"


def _pillow_oracle(path):
    """numpy's view of what the file means, by Pillow, or ``None`` when Pillow cannot say."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                fmt = img.format
                if img.format == "TIFF" or img.mode not in _SAME:
                    return None
                # a greyscale PNG's transparent grey (tRNS): GDAL's nodata
                key = img.info.get("transparency") if img.format == "PNG" else None
                key = key if isinstance(key, int) and img.mode in ("1", "L", "I", "I;16") else None
                if key is not None and img.tile and img.tile[0].args in ("L;2", "L;4"):
                    return None  # Pillow scales these greys to 0..255, but not their key
                if img.format == "PNG" and img.tile and str(img.tile[0].args).endswith("16B"):
                    return None  # Pillow keeps 8 of the 16 bits (tests/core/test_odd_files.py)
                if img.format == "JPEG2000" and _deep_jp2(path):
                    # Pillow scales or cuts these, imgstats reads them as stored, as GDAL
                    return _stored_jp2(path)  # does (tests/io/test_jp2_bits.py)
                if img.mode in ("P", "PA"):
                    transparent = "transparency" in img.info or img.mode == "PA"
                    img = img.convert("RGBA" if transparent else "RGB")
                elif img.mode == "1":
                    img = img.convert("L")
                elif img.mode == "RGB" and isinstance(img.info.get("transparency"), tuple):
                    img = img.convert("RGBA")  # an RGB PNG's transparent colour (tRNS)
                arr = np.asarray(img)
    except Exception:  # noqa: BLE001 -- Pillow cannot read it: imgstats must refuse it cleanly
        return None
    if arr.ndim == 3 and arr.shape[-1] in (2, 4) and not _undeclared_jp2_alpha(path, fmt):
        return arr[..., :-1][arr[..., -1] != 0]  # alpha: transparent pixels do not count
    return arr if key is None else arr[arr != key]


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_every_file_answers_or_raises_an_imgstats_error(pillow_corpus):
    answered, refused, wrong, crashed = 0, 0, [], []
    for path in _files(pillow_corpus):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                result = imgstats.compute(path, FUNCS)
        except ImgStatsError:
            refused += 1
            continue
        except Exception as exc:  # noqa: BLE001 -- the failure this tier exists to catch
            crashed.append(f"{path.name}: {type(exc).__name__}: {exc}")
            continue
        answered += 1
        want = _pillow_oracle(path)
        if want is None and path.suffix.lower() in (".tif", ".tiff"):
            try:
                img = imgstats.open_image(path)
            except ImgStatsError:
                crashed.append(f"{path.name}: compute answered, open_image refused")
                continue
            arr = np.asarray(img.values)
            names = img.coords["band"].values.tolist() if img.ndim == 3 else []
            if names and names[-1] == "A":
                arr = arr[..., :-1][arr[..., -1] != 0]
            want = arr
        if want is None or want.size == 0:
            continue
        try:
            check_all(result, want, FUNCS)
        except AssertionError as exc:
            wrong.append(f"{path.name}: {exc}")
    assert not crashed, "\n".join(crashed)
    assert not wrong, "\n".join(wrong)
    assert answered > 500 and refused > 0  # the corpus was really read
