"""A cold ``/stats`` looks once at what lies beside or after a local image.

Its header facts (the service's info) and its plan each looked for the image's ``.msk``,
``.MSK`` and ``.aux.xml`` and read its last bytes (GDAL's mask after a JPEG's picture): the
request opened the image four times. The store's own version checks (which count the
sidecars too) use ``os.stat`` and are not counted here.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIDECARS = (".msk", ".MSK", ".aux.xml")


def test_a_cold_stats_looks_beside_the_image_once(images, client, file_looks):
    values = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(values).save(images / "solo.jpg", quality=95)
    expected = float(np.median(np.asarray(Image.open(images / "solo.jpg"))))
    file_looks.clear()
    response = client.get("/stats/solo.jpg/median")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["value"] == expected
    assert file_looks["open", "solo.jpg"] == 2  # the header's, then the picture's
    for suffix in SIDECARS:
        assert file_looks["isfile", "solo.jpg" + suffix] == 1
