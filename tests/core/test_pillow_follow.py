"""A large RGB JPEG counted row by row on a second core while it decodes (the cold request's
target: a first request within 1.3x the decode).

The decoder writes each row whole, its pixels' pad bytes (255) with their colours; a row
whose last pad byte reads 255 is counted (the byte is set to 0 before the decode), the rest
once the decode ends. What breaks such code: a row counted twice or never, a row counted
before it is written, a reader that never starts (a busy pool), a decode that fails half
way, files that do not decode row by row. Pillow is the oracle: ``img.histogram()`` and
``img.convert("L").histogram()`` of the same file, numpy for the statistics.
"""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

import imgstats
from imgstats import UnreadableImage, _jit, _passes
from imgstats.io import _pillow_memory as memory
from imgstats.io import _plan

from .oracle import check_all

FUNCS = ["min", "max", "mean", "p1", "median", "p99"]
pytestmark = pytest.mark.skipif(
    not (hasattr(Image.core, "new_block") and hasattr(Image.Image, "__arrow_c_array__")),
    reason="this Pillow has no one-block images or Arrow export",
)


@pytest.fixture(autouse=True)
def followable(monkeypatch):
    """The kernels loaded, two cores, an x86 machine, and small images followed too."""
    _jit.load()
    monkeypatch.setattr(memory, "FOLLOW_PIXELS", 4096)
    monkeypatch.setattr(_plan, "workers", lambda: 2)
    monkeypatch.setattr("platform.machine", lambda: "x86_64")


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth colours with noise: a JPEG of it uses most values of each band."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (h + w)], axis=-1)
    noise = np.random.default_rng(seed).integers(-20, 21, (h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _jpeg(path, h, w, seed=0, **options):
    Image.fromarray(_photo(h, w, seed)).save(path, "JPEG", quality=90, **options)
    return path


class Spy:
    """A row counter that records the rows it is given, and the threads that gave them."""

    def __init__(self, slow: float = 0.0):
        self.counter = _passes._RowCounter()
        self.calls = []  # (address of the first row, rows, bytes per row)
        self.threads = set()
        self.slow = slow
        self.lock = threading.Lock()

    def __call__(self, rows):
        assert not rows.flags.writeable
        with self.lock:
            self.calls.append((rows.ctypes.data, rows.shape[0], rows.strides[0]))
            self.threads.add(threading.get_ident())
        if self.slow:
            time.sleep(self.slow)
        self.counter(rows)

    def tiles(self, height: int) -> bool:
        """Whether the rows given are every row of the image once, none twice."""
        calls = sorted(self.calls)
        for (a, n, step), (b, _, _) in zip(calls, calls[1:], strict=False):
            if a + n * step != b:
                return False
        return sum(n for _, n, _ in calls) == height


def _plan_of(path, spy):
    return _plan.open_plan(str(path), follow=spy)


def _pillow_counts(path):
    with Image.open(path) as img:
        bands = np.asarray(img.histogram(), np.int64).reshape(3, 256)
        luma = np.asarray(img.convert("L").histogram(), np.int64)
    return bands, luma


@pytest.mark.parametrize(
    "h, w, options",
    [
        (301, 517, {}),  # 4:2:0, odd sides: a last MCU row and column cut short
        (256, 256, {"subsampling": 0}),  # 4:4:4: MCU rows of 8
        (200, 333, {"progressive": True}),  # every row written at the end
        (97, 1200, {"optimize": True, "subsampling": 2}),
        (1500, 64, {}),  # many short rows
    ],
)
def test_every_row_is_counted_once_and_equals_pillow(tmp_path, h, w, options):
    path = _jpeg(tmp_path / "photo.jpg", h, w, **options)
    spy = Spy()
    plan = _plan_of(path, spy)
    assert plan.counted is spy
    assert spy.tiles(h)
    bands, luma = spy.counter.counts()
    want_bands, want_luma = _pillow_counts(path)
    np.testing.assert_array_equal(bands, want_bands)
    np.testing.assert_array_equal(luma, want_luma)


def _taken(monkeypatch) -> list:
    """Record every ``(while decoding?, first row, end row)`` a thread takes."""
    taken = []
    original = memory._RowReader._take

    def take(self, whole):
        got = original(self, whole)
        if got is not None and got[0] < got[1]:
            taken.append((not whole, *got))
        return got

    monkeypatch.setattr(memory._RowReader, "_take", take)
    return taken


def test_rows_are_counted_while_the_image_decodes(tmp_path, monkeypatch):
    """A reader faster than the decode takes rows before it ends: the point of it all."""
    path = _jpeg(tmp_path / "tall.jpg", 4000, 600)
    taken = _taken(monkeypatch)
    spy = Spy()
    _plan_of(path, spy)
    assert spy.tiles(4000)
    assert sum(b - a for early, a, b in taken if early) > 0


def test_a_reader_that_starts_late_leaves_the_rows_to_both_threads(tmp_path, monkeypatch):
    """A reader thread that only starts once the image is decoded (a loaded machine):
    every row is counted once the decode ends, by this thread and the reader's."""
    original = memory._RowReader.run

    def late(self):
        if threading.current_thread().name == "imgstats-rows":
            self.decoded.wait()
        original(self)

    monkeypatch.setattr(memory._RowReader, "run", late)
    taken = _taken(monkeypatch)
    path = _jpeg(tmp_path / "photo.jpg", 3000, 64, seed=3)
    spy = Spy()
    assert _plan_of(path, spy).counted is spy
    assert spy.tiles(3000)
    assert taken and not any(early for early, _, _ in taken)
    np.testing.assert_array_equal(spy.counter.counts()[0], _pillow_counts(path)[0])


def test_a_slow_reader_is_caught_up_by_both_threads(tmp_path):
    path = _jpeg(tmp_path / "photo.jpg", 3000, 64, seed=4)
    spy = Spy(slow=0.01)
    _plan_of(path, spy)
    assert spy.tiles(3000)
    assert len(spy.threads) == 2
    np.testing.assert_array_equal(spy.counter.counts()[1], _pillow_counts(path)[1])


def test_a_truncated_jpeg_is_unreadable_and_nothing_hangs(tmp_path):
    data = (_jpeg(tmp_path / "photo.jpg", 400, 400)).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableImage):
        _plan_of(path, Spy())
    with pytest.raises(UnreadableImage):
        imgstats.compute(str(path), "mean")


@pytest.mark.parametrize("name", ["grey.jpg", "rgb.png", "rgba.png", "small.jpg"])
def test_other_images_are_counted_once_decoded(tmp_path, name, monkeypatch):
    """Grey JPEGs and RGBA have no pad byte, a PNG may write rows out of order (Adam7):
    read once decoded, as before, and the spy gets no row."""
    monkeypatch.setattr(memory, "FOLLOW_PIXELS", 100 * 100)
    arr = _photo(120, 90)
    path = tmp_path / name
    if name == "grey.jpg":
        Image.fromarray(arr[..., 0]).save(path, quality=90)
    elif name == "rgba.png":
        Image.fromarray(np.dstack([arr, arr[..., :1]])).save(path)
    elif name == "small.jpg":
        Image.fromarray(arr[:50]).save(path, quality=90)
    else:
        Image.fromarray(arr).save(path)
    spy = Spy()
    assert _plan_of(path, spy).counted is None
    assert not spy.calls


def test_not_on_machines_that_may_show_the_pad_byte_first(tmp_path, monkeypatch):
    monkeypatch.setattr("platform.machine", lambda: "aarch64")
    spy = Spy()
    assert _plan_of(_jpeg(tmp_path / "photo.jpg", 200, 200), spy).counted is None
    assert not spy.calls


@pytest.mark.parametrize("cores", [1, 2])
def test_summaries_and_answers_equal_numpy(tmp_path, cores, monkeypatch):
    """Through the public API: counted while decoding on two cores, once decoded on one."""
    monkeypatch.setattr(_plan, "workers", lambda: cores)
    made = []  # per plan opened: whether its rows were counted while it decoded
    original = _plan.open_plan

    def open_plan(*args, **kwargs):
        plan = original(*args, **kwargs)
        made.append(plan.counted is not None)
        return plan

    monkeypatch.setattr(_plan, "open_plan", open_plan)
    path = _jpeg(tmp_path / "photo.jpg", 333, 444, seed=7)
    with Image.open(path) as img:
        arr = np.asarray(img)
        grey = np.asarray(img.convert("L"))
    summary = imgstats.summarize(str(path))
    assert made == [cores > 1]
    check_all(summary.compute(FUNCS), arr, FUNCS)
    check_all(summary.compute(FUNCS, band="luma"), grey, FUNCS)
    for b in range(3):
        check_all(imgstats.compute(str(path), FUNCS, band=b), arr[..., b], FUNCS)
    # the file's bytes, not a path: nothing to follow, the same answers
    blob = io.BytesIO(path.read_bytes())
    assert imgstats.summarize(Image.open(blob)).compute(FUNCS) == summary.compute(FUNCS)


def test_no_row_is_read_before_the_decoder_has_written_it(tmp_path):
    """A decoder slowed down row by row (Pillow's own load replaced by one that writes the
    decoded rows into the same block, a row every 0.2 ms, after filling the block with
    another value): every row given is the decoded one, and rows are given while it runs."""
    path = _jpeg(tmp_path / "photo.jpg", 200, 150, seed=9)
    with Image.open(path) as done:
        want = np.asarray(done.convert("RGBA")).copy()
    want[..., 3] = 255  # RGB as Pillow holds it: RGBX, the pad byte 255
    rows = want.reshape(200, -1)
    block = {}

    def slow_load():
        view = memory._block_view("RGB", img.size, img.im)
        block["at"] = view.ctypes.data
        view[:, :-1] = 0x11  # not the picture: a row read too early shows it
        for r in range(rows.shape[0]):
            view[r] = rows[r]
            time.sleep(0.0002)

    spy = Spy()

    def check(got):
        spy(got)
        first = (got.ctypes.data - block["at"]) // rows.shape[1]
        np.testing.assert_array_equal(got, rows[first : first + got.shape[0]])

    with Image.open(path) as img:
        img.load = slow_load
        assert memory.load_single_block(img, check)
    assert spy.tiles(200)
    assert len(spy.calls) > 2  # a few rows at a time while it ran


def test_a_failure_of_the_reader_thread_is_raised_not_lost(tmp_path):
    """A row counter that fails on the reader's thread: the error reaches the caller (its
    rows would be missing from the counts otherwise)."""
    path = _jpeg(tmp_path / "photo.jpg", 3000, 64)

    def follow(rows):
        if threading.current_thread().name == "imgstats-rows":
            raise MemoryError("no room for the tables")
        time.sleep(0.005)  # the decoding thread is slow: the reader's takes rows surely

    with Image.open(path) as img, pytest.raises(MemoryError, match="no room"):
        memory.load_single_block(img, follow)
