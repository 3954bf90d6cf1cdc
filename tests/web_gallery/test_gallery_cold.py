"""A cold gallery page: thumbnails rendered concurrently, waited for at most GALLERY_PAGE_WAIT,
each rendered once per image version; placeholders for the thumbnails that cannot be shown."""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from imgstats.errors import Busy, InvalidOption
from imgstats.web import create_app
from imgstats.web._thumbs import BackgroundRenders, RenderCache
from imgstats.web.gallery import cache

#: What Chromium sends for an ``<img>``.
IMG_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
#: What Chromium sends when the address is opened itself.
PAGE_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
SVG = "{http://www.w3.org/2000/svg}"


def _until(condition, timeout: float = 30.0) -> None:
    """Wait for ``condition()`` (the test fails if it does not come within ``timeout``)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("the condition did not come")
        time.sleep(0.005)


class CountedRenders:
    """The service's renders, counted by image and held (in a slow-work slot) until released."""

    def __init__(self, service, *, held: bool = False):
        self.service = service
        self.real = service.render
        self.counts: Counter[str] = Counter()
        self.release = threading.Event()
        if not held:
            self.release.set()
        self._lock = threading.Lock()
        service.render = self

    def __call__(self, name: str, size: int, quality: int) -> bytes:
        with self._lock:
            self.counts[name] += 1
        with self.service.slow.hold():  # held as the real rendering holds it
            if not self.release.wait(timeout=60):
                raise AssertionError("the test never released the renders")
            return self.real(name, size, quality)


@pytest.fixture
def make_app(images):
    """An app over the test images with every image on one page and the given settings."""
    apps = []

    def make(**config):
        app = create_app(
            {
                "IMAGES": str(images),
                "WARMUP": False,
                "GALLERY_PAGE_SIZE": 48,
                "GALLERY_CACHE_DIR": str(images.parent / f"renders-{len(apps)}"),
                **config,
            }
        )
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["imgstats"].close()


def _cut_jpeg(images) -> str:
    """A truncated JPEG: its header reads, its pixels do not."""
    jpeg = (images / "IMG_1.jpg").read_bytes()
    (images / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    return "cut.jpg"


def _cards(html: str) -> dict[str, str]:
    cards = {}
    for item in re.findall(r'<li class="card[^"]*">(.*?)</li>', html, re.S):
        cards[re.search(r'<span class="name">([^<]*)</span>', item).group(1)] = item
    return cards


def _names(images) -> list[str]:
    return sorted(p.name for p in images.iterdir())


def test_page_shows_every_card_and_an_error_card_for_a_render_that_fails(make_app, images):
    broken = _cut_jpeg(images)
    app = make_app(GALLERY_PAGE_WAIT=60)
    renders = CountedRenders(app.extensions["imgstats"])
    client = app.test_client()
    cards = _cards(client.get("/gallery").text)
    assert sorted(cards) == _names(images)
    assert "error-frame" in cards[broken] and "<img" not in cards[broken]
    assert all("<img" in card for name, card in cards.items() if name != broken)
    # the browser's requests that follow render nothing again, the failure included
    for name in cards:
        client.get(f"/thumbs/{name}", headers={"Accept": IMG_ACCEPT})
    assert renders.counts == Counter(_names(images))


def test_page_does_not_wait_with_no_page_wait_and_thumbnails_come_from_the_renders(
    make_app, images
):
    app = make_app(GALLERY_PAGE_WAIT=0)
    renders = CountedRenders(app.extensions["imgstats"], held=True)
    client = app.test_client()
    response = client.get("/gallery")  # no rendering can finish before this answers
    cards = _cards(response.text)
    assert response.status_code == 200 and sorted(cards) == _names(images)
    assert all("<img" in card and "error-frame" not in card for card in cards.values())
    renders.release.set()
    for name in cards:
        thumb = client.get(f"/thumbs/{name}", headers={"Accept": IMG_ACCEPT})
        assert thumb.status_code == 200 and thumb.mimetype == "image/webp"
    with app.app_context():
        assert cache().misses == len(cards)
    assert renders.counts == Counter(_names(images))  # one rendering per image version


def test_thumbnail_request_joins_the_rendering_in_flight(make_app, images):
    app = make_app(GALLERY_PAGE_WAIT=0)
    renders = CountedRenders(app.extensions["imgstats"], held=True)
    app.test_client().get("/gallery")
    _until(lambda: renders.counts)  # a background rendering has started, and is held
    (name,) = list(renders.counts)[:1]
    with app.app_context():
        rendering = cache()
    answers = []
    asker = threading.Thread(
        target=lambda: answers.append(app.test_client().get(f"/thumbs/{name}"))
    )
    asker.start()
    _until(lambda: any(f.waiters for f in list(rendering._flights.values())))
    renders.release.set()
    asker.join(timeout=60)
    assert answers[0].status_code == 200 and answers[0].mimetype == "image/webp"
    assert rendering.joined >= 1 and renders.counts[name] == 1


def test_a_thumbnail_that_fails_is_a_placeholder_with_the_errors_status(make_app, images):
    broken = _cut_jpeg(images)
    app = make_app(GALLERY_PAGE_WAIT=0)
    renders = CountedRenders(app.extensions["imgstats"])
    client = app.test_client()
    for _ in range(2):
        response = client.get(f"/thumbs/{broken}", headers={"Accept": IMG_ACCEPT})
        assert response.status_code == 422 and response.mimetype == "image/svg+xml"
        assert response.headers["Cache-Control"] == "no-store"
        svg = ET.fromstring(response.data)
        assert svg.tag == f"{SVG}svg" and svg.get("role") == "img"
        assert svg.find(f"{SVG}title").text == "This image cannot be read"
        assert " ".join(svg.find(f"{SVG}text").itertext()) == "This image cannot be read"
    assert renders.counts[broken] == 1  # a version that cannot be read is tried once
    # opened as a page it is the gallery's HTML page; the API's errors stay JSON
    page = client.get(f"/thumbs/{broken}", headers={"Accept": PAGE_ACCEPT})
    assert page.status_code == 422 and page.mimetype == "text/html"
    api = client.get(f"/stats/{broken}/mean", headers={"Accept": IMG_ACCEPT})
    assert api.status_code == 422 and api.mimetype == "application/json"
    assert api.json["type"] == "UnreadableImage"


@pytest.mark.parametrize(
    ("name", "data", "status", "title"),
    [
        ("broken.png", b"not a png at all", 422, "This image cannot be read"),
        ("nope.png", None, 404, "Unknown image"),
    ],
)
@pytest.mark.parametrize("route", ["thumbs", "previews"])
def test_previews_and_thumbnails_of_bad_images_are_placeholders(
    make_app, images, route, name, data, status, title
):
    if data is not None:
        (images / name).write_bytes(data)
    client = make_app().test_client()
    # images as much as HTML: "image/*, text/html" got the HTML page (the more specific)
    for accept in ("*/*", "image/*, text/html", "text/html, image/*", IMG_ACCEPT):
        response = client.get(f"/{route}/{name}", headers={"Accept": accept})
        assert response.status_code == status and response.mimetype == "image/svg+xml"
        assert ET.fromstring(response.data).find(f"{SVG}title").text == title
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for accept in (browser, "text/html", "application/json"):  # a page, or the JSON error
        response = client.get(f"/{route}/{name}", headers={"Accept": accept})
        assert response.status_code == status and response.mimetype != "image/svg+xml"


def test_busy_renders_give_usual_cards_and_placeholders_with_retry_after(make_app, images):
    app = make_app(GALLERY_PAGE_WAIT=60)
    service = app.extensions["imgstats"]

    def busy(name, size, quality):
        raise Busy("the service is busy (test)", retry_after=3)

    service.render = busy
    client = app.test_client()
    cards = _cards(client.get("/gallery").text)
    assert all("<img" in card for card in cards.values())  # no fault of the images
    response = client.get("/thumbs/IMG_1.jpg", headers={"Accept": IMG_ACCEPT})
    assert response.status_code == 503 and response.headers["Retry-After"] == "3"
    assert response.mimetype == "image/svg+xml"


def test_a_burst_still_gets_503_while_the_page_renders_in_the_background(make_app, images):
    app = make_app(GALLERY_PAGE_WAIT=0, SLOW_WORKERS=1, SLOW_QUEUE=0)
    renders = CountedRenders(app.extensions["imgstats"], held=True)
    client = app.test_client()
    assert client.get("/gallery").status_code == 200
    _until(lambda: renders.counts)  # the one slot is held by a background rendering
    (rendering,) = renders.counts
    other = next(n for n in _names(images) if n != rendering)
    response = client.get(f"/thumbs/{other}", headers={"Accept": IMG_ACCEPT})
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert client.get(f"/stats/{other}/mean").status_code == 503
    renders.release.set()


def test_background_renders_are_bounded_in_threads_and_queue():
    pool = BackgroundRenders(workers=2, max_pending=3)
    release = threading.Event()
    running, most = [0], [0]
    lock = threading.Lock()

    def job():
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(timeout=60)
        with lock:
            running[0] -= 1
        return threading.current_thread().name

    futures = [pool.submit(job) for _ in range(3)]
    assert None not in futures and pool.submit(job) is None  # the queue is full
    _until(lambda: running[0] == 2)
    release.set()
    names = {f.result(timeout=60) for f in futures}
    assert most[0] == 2 and names == {"imgstats-render"}
    assert pool.submit(job).result(timeout=60) == "imgstats-render"  # room again


def test_render_cache_renders_a_key_once_for_concurrent_callers():
    renders = RenderCache(1 << 20)
    release = threading.Event()
    made = []

    def make():
        made.append(1)
        release.wait(timeout=60)
        return b"webp"

    results = []
    callers = [
        threading.Thread(target=lambda: results.append(renders.get_or_render(("k",), make)))
        for _ in range(3)
    ]
    for caller in callers:
        caller.start()
    _until(lambda: sum(f.waiters for f in list(renders._flights.values())) == 2)
    release.set()
    for caller in callers:
        caller.join(timeout=60)
    assert made == [1] and results == [b"webp"] * 3 and renders.joined == 2


def test_processes_sharing_a_folder_render_a_key_once(tmp_path):
    """Two caches over one folder, as two worker processes have (flock locks are per open
    file, so two caches in one process exclude each other as two processes do)."""
    first, second = RenderCache(1 << 20, tmp_path), RenderCache(1 << 20, tmp_path)
    release = threading.Event()
    made = []

    def make():
        made.append(1)
        release.wait(timeout=60)
        return b"webp"

    results = []
    leader = threading.Thread(target=lambda: results.append(first.get_or_render(("k",), make)))
    leader.start()
    _until(lambda: made)  # the first process renders, holding the key's lock
    other = threading.Thread(target=lambda: results.append(second.get_or_render(("k",), make)))
    other.start()
    _until(lambda: ("k",) in second._flights)
    time.sleep(0.2)  # let it reach the lock (not needed for a right answer, only to test one)
    release.set()
    leader.join(timeout=60)
    other.join(timeout=60)
    assert made == [1] and results == [b"webp"] * 2
    assert (second.misses, second.hits) == (0, 1)


def test_render_cache_keeps_lasting_failures_only():
    renders = RenderCache(1 << 20, remember=(ValueError,))
    calls = Counter()

    def fail(kind):
        def make():
            calls[kind.__name__] += 1
            raise kind("no")

        return make

    for _ in range(2):
        with pytest.raises(ValueError):
            renders.get_or_render(("lasting",), fail(ValueError))
        with pytest.raises(OSError):
            renders.get_or_render(("passing",), fail(OSError))
    assert calls == {"ValueError": 1, "OSError": 2}
    renders.cache_clear()
    with pytest.raises(ValueError):
        renders.get_or_render(("lasting",), fail(ValueError))
    assert calls["ValueError"] == 2


def test_page_wait_is_a_setting(make_app, monkeypatch):
    monkeypatch.setenv("IMGSTATS_GALLERY_PAGE_WAIT", "0.25")
    assert make_app().config["GALLERY_PAGE_WAIT"] == 0.25
    for wrong in ("-1", "soon"):
        monkeypatch.setenv("IMGSTATS_GALLERY_PAGE_WAIT", wrong)
        with pytest.raises(InvalidOption, match="GALLERY_PAGE_WAIT"):
            make_app()
