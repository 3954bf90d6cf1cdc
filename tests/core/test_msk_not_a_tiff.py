"""A ``.msk`` beside an image that is not a TIFF is no mask, as GDAL has none: GDAL opens the
sidecar as a dataset and leaves it out when it cannot. The likeliest such file is the HTML
page a web server answers with 200 for a path it does not have: every image on such a
server was refused ("not a readable mask") once sidecars were read beside URLs. numpy and
rasterio (local files) are the oracles."""

from __future__ import annotations

import functools
import http.server
import io
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
import tifffile

import imgstats
from imgstats.errors import ImgStatsError

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

H, W = 20, 30
FUNCS = ["count", "min", "max", "mean"]
PAGE = b"<!doctype html><html><body>Not found</body></html>"


def _data() -> np.ndarray:
    return (np.arange(H * W, dtype=np.uint16).reshape(H, W) % 11) * 5


def _want(values: np.ndarray) -> dict:
    return dict(zip(FUNCS, (values.size, values.min(), values.max(), values.mean()), strict=True))


@pytest.mark.parametrize("body", [PAGE, b"", b"\x00\x01 junk"])
def test_a_local_msk_that_is_no_tiff_is_no_mask_as_gdal_reads(tmp_path, body):
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, _data())
    (tmp_path / "a.tif.msk").write_bytes(body)
    with rasterio.open(path) as src:
        gdal = src.read(1, masked=True).compressed()
    assert gdal.size == H * W
    assert imgstats.compute(str(path), FUNCS) == pytest.approx(_want(gdal))


def test_a_msk_that_is_a_corrupt_tiff_is_still_refused(tmp_path):
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, _data())
    (tmp_path / "a.tif.msk").write_bytes(b"II*\x00 not a mask")
    with pytest.raises(ImgStatsError, match="mask"):
        imgstats.compute(str(path), "mean")


class _Soft404(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, and an HTML page with 200 for any path it does not have (as a web
    app's catch-all route does); no range requests."""

    def log_message(self, *args):
        pass

    def send_head(self):
        if Path(self.translate_path(self.path)).is_file():
            return super().send_head()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        return io.BytesIO(PAGE)


@pytest.fixture
def soft404(tmp_path):
    """``(folder, base_url)``: :class:`_Soft404` on loopback, in a thread."""
    handler = functools.partial(_Soft404, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_image_on_a_server_of_soft_404s_is_read_without_a_mask(soft404):
    folder, base = soft404
    data = _data()
    tifffile.imwrite(folder / "a.tif", data)
    assert imgstats.compute(f"{base}/a.tif", FUNCS) == pytest.approx(_want(data))


def _gdal_metadata(*items: str) -> list:
    """tifffile's ``extratags`` of a GDAL_METADATA tag holding ``items``."""
    return [(42112, "s", 0, "<GDALMetadata>" + "".join(items) + "</GDALMetadata>", True)]


_FLAGS = '<Item name="INTERNAL_MASK_FLAGS_1">2</Item>'


@pytest.mark.parametrize(
    ("tags", "honoured"),
    [
        ([], False),  # tifffile's own .msk: no GDAL_METADATA at all
        (_gdal_metadata('<Item name="OTHER">1</Item>'), False),
        (_gdal_metadata('<Item name="INTERNAL_MASK_FLAGS_1" sample="0">2</Item>'), False),
        (_gdal_metadata('<Item name="INTERNAL_MASK_FLAGS_1" domain="X">2</Item>'), False),
        (_gdal_metadata(_FLAGS), True),  # what GDAL's write_mask puts there
        (_gdal_metadata('<Item name="A">b</Item>', _FLAGS), True),
    ],
)
def test_a_msk_is_a_mask_only_with_gdal_s_mask_flags(tmp_path, tags, honoured):
    # before: any TIFF beside the image was its mask; GDAL reads a .msk's mask only when its
    # metadata holds INTERNAL_MASK_FLAGS_1 (GDALDefaultOverviews::GetMaskFlags), so a mask
    # written by tifffile left out samples rasterio's masked read counts (count 300 of 600)
    path = tmp_path / "a.tif"
    data = _data()
    tifffile.imwrite(path, data)
    valid = np.full((H, W), 255, np.uint8)
    valid[:, : W // 2] = 0
    tifffile.imwrite(tmp_path / "a.tif.msk", valid, extratags=tags)
    with rasterio.open(path) as src:
        gdal = src.read(1, masked=True).compressed()
    assert gdal.size == (H * W // 2 if honoured else H * W)
    assert imgstats.compute(str(path), FUNCS) == pytest.approx(_want(gdal))
    assert ("mask_sidecar" in imgstats.open_image(str(path)).attrs) == honoured
