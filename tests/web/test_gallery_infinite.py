"""The gallery's page of a float image holding -inf and +inf: its histogram's bin of -inf is
labelled by a signalling NaN of the image's type, whose cast warned ("invalid value
encountered in cast"), a 500 under warnings-as-errors and a warning in the log otherwise."""

from __future__ import annotations

import warnings

import numpy as np
import tifffile


def test_the_page_of_an_image_with_infinities_is_drawn_without_a_warning(client, images):
    values = np.array([[-np.inf, 1, 2], [3, np.inf, np.nan]], np.float32)
    tifffile.imwrite(images / "infinite.tif", values)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for url in ("/gallery/infinite.tif", "/gallery/infinite.tif/median"):
            got = client.get(url)
            assert got.status_code == 200, got.get_data(as_text=True)[:300]
    median = client.get("/stats/infinite.tif/median").get_json()["value"]
    assert median == float(np.nanmedian(values))
