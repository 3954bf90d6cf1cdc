"""The service reads image headers through imgstats.io: the same band names as open_image,
and the same UnreadableImage (422) for malformed TIFFs on every route, thumbnails included."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import tifffile

import imgstats


def _planar_rgb(path):
    rgb = np.arange(3 * 20 * 30, dtype=np.uint16).reshape(3, 20, 30)
    tifffile.imwrite(path, rgb, photometric="rgb", planarconfig="separate")


def _zero_rows_per_strip() -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((40, 48), np.uint16), compression="zlib", rowsperstrip=8)
    data = bytearray(buf.getvalue())
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        tag = tif.pages[0].tags["RowsPerStrip"]
        offset, fmt = tag.valueoffset, {3: "<H", 4: "<I"}[int(tag.dtype)]
    data[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, 0)
    return bytes(data)


def test_planar_rgb_tiff_bands_match_open_image(images, service, client):
    _planar_rgb(images / "planar.tif")
    expected = [str(b) for b in imgstats.open_image(images / "planar.tif").band.values]
    assert expected == ["R", "G", "B"]
    assert service.info("planar.tif")["bands"] == expected
    body = client.get("/stats/planar.tif/max?band=G").get_json()
    assert body["value"] == 2 * 20 * 30 - 1  # the G plane holds 600..1199


@pytest.mark.parametrize("path", ["/stats/bad.tif/median", "/thumbs/bad.tif"])
def test_malformed_tiff_is_422_everywhere(images, client, path):
    (images / "bad.tif").write_bytes(_zero_rows_per_strip())
    response = client.get(path)
    assert response.status_code == 422
    assert client.get("/health").text == "OK"
