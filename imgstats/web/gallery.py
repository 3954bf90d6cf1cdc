"""The gallery: server-rendered HTML pages over the same service as the JSON API.

Routes (blueprint ``gallery``):

* ``/`` -- what the service does, a link to the gallery, a health-check button;
* ``/gallery`` -- thumbnails of every image in the store, paginated (``?page=2``);
* ``/gallery/all`` -- the statistics of every image in the store as one set, with a histogram,
  merged from the cached per-image summaries;
* ``/gallery/<image>`` -- the image, a button per function, a percentile form, a window form,
  a table of the statistics and a histogram per band; the forms land here (``?func=min``,
  ``?p=99.5``, ``?x0=..&y0=..&x1=..&y1=..``) and are redirected to the result or window view,
  or refused in the page's own words with the API's status;
* ``/gallery/<image>?window=x0,y0,x1,y1`` -- the window view: the same table and histograms
  for a half-open window of pixels, as drawn on the image (image pixels, as stored);
* ``/gallery/<image>/<func>`` -- the result view: the value, and a link to the API URL giving it;
* ``/thumbs/<image>``, ``/previews/<image>`` -- small WebP renderings, cached by image version;
  when an image cannot be rendered, a small SVG saying so, with the error's status (see
  :func:`thumb`).

Every statistic comes from the service's cached summary: the pages never read pixels for them.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from concurrent.futures import wait as wait_for_all
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import BuildError

from .._version import fingerprint
from ..errors import (
    Busy,
    ImageNotFound,
    ImageTooLarge,
    ImgStatsError,
    InvalidOption,
    NoValidSamples,
    StoreTimeout,
    StoreUnavailable,
    UnknownFunction,
    UnreadableImage,
)
from ..functions import NAMED_FUNCTIONS, SCALAR_FUNCTIONS, parse_function
from . import _plots
from ._conditional import conditional
from ._settings import check_range, number
from ._thumbs import MEDIA_TYPE, BackgroundRenders, RenderCache, default_folder
from .api import GET_PARAMETERS, check_once, check_query, parse_band
from .errors import prefers_json, status_of
from .service import of_one_version
from .store import cacheable, racy

__all__ = ["bp", "render_error", "placeholder", "DEFAULTS", "TABLE_FUNCTIONS"]

bp = Blueprint(
    "gallery",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets/gallery",
)

#: Configuration keys of the gallery and their defaults (override with ``IMGSTATS_<KEY>``).
DEFAULTS = {
    "GALLERY_PAGE_SIZE": 48,
    "GALLERY_ALL_PAGE_SIZE": 100,  # image rows a page of /gallery/all
    # Seconds a gallery page waits for its thumbnails, rendered concurrently, so that an image
    # that cannot be rendered gets an error card; renderings still running after that go on
    # in the background and the page shows their cards as usual. 0 never waits. A quarter of
    # a second covers the small images of a typical gallery; a page of large photographs is
    # shown at once and fills in (waiting longer only delays it: measured with bench_gallery).
    "GALLERY_PAGE_WAIT": 0.25,
    "GALLERY_THUMB_SIZE": 200,  # longer side, pixels
    "GALLERY_PREVIEW_SIZE": 1024,  # images larger than this are shown reduced
    "GALLERY_CACHE_BYTES": 64 << 20,  # thumbnails and previews held in memory, per process
    # Renderings shared by the worker processes and kept across restarts ("" for none), and
    # the size the folder is pruned to.
    # None: imgstats-gallery-<uid> in the temporary folder, private (0700) to this user
    "GALLERY_CACHE_DIR": None,
    "GALLERY_DISK_CACHE_BYTES": 512 << 20,
}

#: The statistics in the table of an image page.
TABLE_FUNCTIONS = ("min", "p1", "p5", "p25", "median", "mean", "p75", "p95", "p99", "max")
#: Readings of which samples counted, shown beside the table's (valid) count.
VALIDITY_FUNCTIONS = ("masked_pixels", "valid_percent")
#: The percentile marked on the histogram when none was asked for.
DEFAULT_PERCENTILE = "p99"
_EXTENSION = "imgstats.gallery"
_BACKGROUND = "imgstats.gallery.background"
#: Rendering errors that a version of an image always gives: kept, not rendered again.
_LASTING = (UnreadableImage, ImageTooLarge)
_WEB_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
_ORIGINAL_MAX_BYTES = 2 << 20  # small web images are shown as they are, larger ones reduced


#: The gallery's number settings: (type, least value; a float means greater than it).
_NUMBERS = {
    "GALLERY_PAGE_SIZE": (int, 1),
    "GALLERY_ALL_PAGE_SIZE": (int, 1),
    "GALLERY_THUMB_SIZE": (int, 1),
    "GALLERY_PREVIEW_SIZE": (int, 1),
    "GALLERY_CACHE_BYTES": (int, 0),
    "GALLERY_DISK_CACHE_BYTES": (int, 0),
    "GALLERY_PAGE_WAIT": (float, 0),
}


def check_settings(config) -> None:
    """Fill in the gallery's defaults and convert and check its number settings in
    ``config`` (InvalidOption naming a bad one): a thumbnail size of ``abc`` was a 500 on
    every page, a page size of 0 an empty gallery."""
    for key, value in DEFAULTS.items():
        config.setdefault(key, value)
    for key, (kind, lowest) in _NUMBERS.items():
        config[key] = number(config, key, kind)
        check_range(key, config[key], lowest)
    folder = config["GALLERY_CACHE_DIR"]
    if isinstance(folder, (int, float)):  # IMGSTATS_GALLERY_CACHE_DIR=2026, read as JSON: a
        config["GALLERY_CACHE_DIR"] = str(folder)  # TypeError in every worker as it booted


@bp.record_once
def _setup(state) -> None:
    """Build the gallery's rendering cache inside the app and register its error page."""
    app = state.app
    check_settings(app.config)
    folder = app.config["GALLERY_CACHE_DIR"]
    if folder is None:  # private to this user, or refused (see _thumbs.private_folder)
        folder = default_folder()
    app.extensions[_EXTENSION] = RenderCache(
        int(app.config["GALLERY_CACHE_BYTES"]),
        folder or None,
        int(app.config["GALLERY_DISK_CACHE_BYTES"]),
        remember=_LASTING,
        secret=app.config.get("CACHE_KEY"),
    )
    # as many threads as the service has slots for slow work (more would only wait for one),
    # and room for two pages of renderings
    app.extensions[_BACKGROUND] = BackgroundRenders(
        int(app.config.get("SLOW_WORKERS", 2)),
        2 * max(1, int(app.config["GALLERY_PAGE_SIZE"])),
    )
    app.extensions["imgstats.render_error"] = render_error
    app.jinja_env.filters.setdefault("stat", readable)
    app.jinja_env.filters.setdefault("exact", format_value)
    app.jinja_env.globals.setdefault("exact_toggle", _exact_toggle)


def _exact_toggle() -> tuple[bool, str]:
    """Whether this page shows exact values (``?exact=1``), and the URL that toggles it."""
    exact = request.args.get("exact") == "1"
    args = {k: v for k, v in request.args.items() if k != "exact"}
    if not exact:
        args["exact"] = "1"
    return exact, url_for(request.endpoint, **(request.view_args or {}), **args)


def _service():
    return current_app.extensions["imgstats"]


def cache() -> RenderCache:
    """The app's cache of thumbnails and previews (``cache().cache_clear()`` in tests)."""
    return current_app.extensions[_EXTENSION]


def format_value(value) -> str:
    """A statistic exactly: the shortest text that round-trips, like the JSON."""
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
    return repr(value)


def readable(value) -> str:
    """A statistic as people read it: integers whole, other numbers to 4 decimals.

    ``114.61029942830403`` shows as ``114.6103``; small numbers keep 4 significant digits
    (``0.0001235``), very large or very small ones use an exponent. The pages give the
    exact value (:func:`format_value`) beside it, in a ``title`` and a ``<data>`` value.
    """
    if not isinstance(value, float) or not math.isfinite(value):
        return format_value(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    size = abs(value)
    if size >= 1e15 or size < 1e-4:
        return f"{value:.4e}"
    if size >= 1:
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return f"{value:.4g}"


def natural_key(name: str) -> tuple:
    """A sort key that orders ``IMG_2`` before ``IMG_10``: runs of digits compare as numbers.

    Text compares case-insensitively, then as written, so the order is total.
    """
    parts = re.split(r"(\d+)", name)
    return (
        tuple((0, int(p), "") if i % 2 else (1, 0, p.casefold()) for i, p in enumerate(parts)),
        name,
    )


_ORDER = {"min": (0.0, 0), "median": (50.0, 0), "mean": (50.0, 1), "max": (100.0, 2)}


def in_order(funcs) -> list[str]:
    """Function names in the order of their percentiles: min, p1, ..., median, mean, ..., max.

    ``mean`` sits after ``median`` (where tables put it), ``max`` after ``p100``; readings
    that are no order statistic (``sum``, ``count``, ``valid_percent``...) come last, in the
    order given.
    """
    names = list(dict.fromkeys(funcs))

    def key(name: str):
        if name in _ORDER:
            return _ORDER[name]
        q = parse_function(name).q
        return (q, 0) if q is not None else (200.0, names.index(name))

    return sorted(names, key=key)


# -- error pages ------------------------------------------------------------------------------
#: Headings of the error pages and cards, by domain error (most specific class first).
TITLES: dict[type[Exception], str] = {
    ImageNotFound: "Unknown image",
    UnknownFunction: "Unsupported function",
    InvalidOption: "Invalid option",
    UnreadableImage: "This image cannot be read",
    ImageTooLarge: "This image is too large",
    NoValidSamples: "No valid samples",
    StoreTimeout: "The image store did not answer in time",
    StoreUnavailable: "The image store is unavailable",
    Busy: "The service is busy",
    ImgStatsError: "This image cannot be shown",
}


def title_of(exc: BaseException) -> str:
    """A human heading for an error (never a class name such as ``UnreadableImage``)."""
    if isinstance(exc, HTTPException):
        return exc.name
    for cls in type(exc).__mro__:
        if cls in TITLES:
            return TITLES[cls]
    return "Something went wrong"


def render_error(exc: Exception, status: int) -> Response:
    """Render the gallery's HTML error page for ``exc`` with HTTP ``status``.

    The service's error handlers call this (``app.extensions["imgstats.render_error"]``) for
    requests to the gallery, so pages answer with the same status codes as the API.
    """
    title = title_of(exc)
    message = exc.description if isinstance(exc, HTTPException) else str(exc)
    service = current_app.extensions.get("imgstats")
    if service is not None:  # no local paths of the store in pages
        message = service.redact(message)
    image = (request.view_args or {}).get("image") if request else None
    back = None
    if image and not isinstance(exc, ImageNotFound) and request.endpoint != "gallery.image":
        back = url_for("gallery.image", image=image)
    body = render_template(
        "gallery/error.html", title=title, message=message, status=status, back=back
    )
    response = Response(body, status=status, mimetype="text/html")
    # as the JSON errors: never stored, since a 404 is cacheable by default and this page
    # is the answer to an Accept of HTML (a proxy kept it, and served it to a JSON client)
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Accept")
    if isinstance(exc, Busy):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


# -- pages ------------------------------------------------------------------------------------
#: The query parameters of the gallery's own forms and page links, which its pages refuse
#: empty in their own words ("The field is empty.", "x0 is empty", no page "").
_FORM_FIELDS = ("p", "x0", "y0", "x1", "y1", "page")


@bp.before_request
def _once() -> None:
    """A query parameter given twice is a 400 on gallery pages as on the API: of
    ``?window=a&window=b`` the page showed the first, silently. The picture routes check
    their own query, to answer an ``<img>`` with a placeholder."""
    if request.endpoint not in ("gallery.thumb", "gallery.preview"):
        check_once(own=_FORM_FIELDS)
    if request.endpoint in ("gallery.image", "gallery.result"):
        _not_applied()


#: The API's query parameters that an image's gallery pages do not apply: they show the
#: first page's valid samples, with numpy's linear percentiles.
_API_ONLY = sorted(GET_PARAMETERS - {"band", "window"})


def _not_applied() -> None:
    """Refuse an API parameter the page would ignore (400): ``/gallery/m.tif/max?page=1``
    showed page 0's max under the title "max of m.tif", as if it answered the question."""
    ignored = [name for name in _API_ONLY if name in request.args]
    if ignored:
        shown = ", ".join(f"?{name}=" for name in ignored)
        raise InvalidOption(
            f"the gallery shows the first page's valid samples, without {shown}: "
            "ask the API (/stats) for those"
        )


@bp.get("/")
def home():
    """What the service does, a way into the gallery and a health check."""
    return render_template("gallery/home.html", health_url=_health_url())


@bp.get("/gallery")
def gallery():
    """Thumbnails of the images in the store, a page at a time."""
    names = sorted(_service().list_images(), key=natural_key)
    size = max(1, int(current_app.config["GALLERY_PAGE_SIZE"]))
    pages = max(1, math.ceil(len(names) / size))
    page = _page_number(pages)
    cards = _cards(names[(page - 1) * size : page * size])
    return render_template(
        "gallery/gallery.html",
        cards=cards,
        page=page,
        pages=pages,
        total=len(names),
        first=(page - 1) * size + 1,
        page_links=_page_links(page, pages),
    )


def _page_number(pages: int) -> int:
    """The ``?page=`` asked for (1 without one): ``?page=abc`` and ``?page=1e999`` showed
    page 1, where ``?page=0`` said there is none.

    Raises
    ------
    werkzeug.exceptions.NotFound
        Saying which pages there are; the error handlers answer it as every gallery error (a
        page, or JSON to a client that asks for JSON: it got the HTML page).
    """
    text = request.args.get("page", "1")
    if text.isascii() and text.isdigit() and len(text) <= 10 and 1 <= int(text) <= pages:
        return int(text)
    raise NotFound(f"There is no page {_shown(text)}: pages go from 1 to {pages}.")


def _shown(text: str, limit: int = 12) -> str:
    """What a client sent, as a page's message shows it: at most ``limit`` characters (an
    ellipsis for the rest), and each control character as its escape (``\\x1b``), never
    itself: ``?page=%1b]0;x%07`` put ESC and BEL in the page, and a terminal that printed
    it (``curl``) ran the sequence."""
    if len(text) > limit:
        text = text[: limit - 2] + "…"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _page_links(page: int, pages: int, around: int = 2) -> list[int | None]:
    """Page numbers to link: the first, the last and a few around ``page``; None for a gap."""
    shown = sorted({1, pages, *range(max(1, page - around), min(pages, page + around) + 1)})
    links: list[int | None] = []
    for n in shown:
        if links and n - links[-1] == 2:
            links.append(n - 1)  # a gap of one page: show that page rather than "…"
        elif links and n - links[-1] > 2:
            links.append(None)
        links.append(n)
    return links


#: The statistics of each image's row on ``/gallery/all``, and of each pooled row.
WHOLE_FUNCTIONS = ("min", "p1", "median", "mean", "p99", "max")


@bp.get("/gallery/all")
def whole():
    """Every image of the store: a row each, and pooled rows where pooling means something.

    Each image's row comes from its own cached summary, so one unreadable file is one row
    saying so, not an error page. The images of one pixel type are pooled as one set of
    samples (exact, merged from the same summaries), with a histogram; images of different
    types (an int32 and a float32 raster) are not pooled together, and neither is a type with
    more images than ``COLLECTION_LIMIT``. The rows come ``GALLERY_ALL_PAGE_SIZE`` at a time
    (``?page=2``), so a store of any size gives a page. After each image was seen once this
    page reads no pixels. (Image names have an extension, so no image is called ``all``.)
    """
    service = _service()
    names = sorted(service.list_images(), key=natural_key)
    size = max(1, int(current_app.config["GALLERY_ALL_PAGE_SIZE"]))
    pages = max(1, math.ceil(len(names) / size))
    page = _page_number(pages)
    funcs = list(WHOLE_FUNCTIONS)
    rows = [_image_row(name, funcs) for name in names[(page - 1) * size : page * size]]
    groups: dict[str, list[str]] = {}
    unreadable = 0
    for name in names:  # headers only, cached by version
        try:
            groups.setdefault(str(service.info(name)["dtype"]), []).append(name)
        except ImgStatsError:
            unreadable += 1
    limit = int(current_app.config.get("COLLECTION_LIMIT", 1000))
    # a type with one image pools nothing: its row below says it all
    pooled = [
        _pooled(dtype, group, funcs, limit)
        for dtype, group in sorted(groups.items())
        if len(group) > 1
    ]
    alone = sorted((dtype for dtype, group in groups.items() if len(group) == 1))
    return render_template(
        "gallery/whole.html",
        rows=[],  # no statistics table in the histograms' section: the tables are above
        image_rows=rows,
        pooled=pooled,
        alone=alone,
        funcs=funcs,
        total=len(names),
        unreadable=unreadable,
        page=page,
        pages=pages,
        first=(page - 1) * size + 1,
        page_links=_page_links(page, pages),
        mark=DEFAULT_PERCENTILE,
        plots=[p["plot"] for p in pooled if p.get("plot")],
        api_url=_api_url("*", "median"),
    )


def _image_row(name: str, funcs) -> dict:
    """One image's row: its type and statistics, or what is wrong with it."""
    try:
        info = _service().info(name)
        answer = _service().answer(name, funcs, [None])
    except ImgStatsError as exc:
        return {"name": name, "error": _service().redact(str(exc)), "title": title_of(exc)}
    return {
        "name": name,
        "dtype": answer.dtype,
        "description": _describe(info),
        "count": answer.counts[None],
        "values": answer.values[None] or dict.fromkeys(funcs),
    }


def _pooled(dtype: str, names: list[str], funcs, limit: int) -> dict:
    """The pooled row of the images of one pixel type, with its histogram, or why not."""
    label = f"All {dtype} images"
    row = {"label": label, "dtype": dtype, "images": len(names)}
    if len(names) > limit:
        row["error"] = (
            f"Not pooled: {len(names)} images, more than the limit of {limit} images "
            "in one collection."
        )
        return row
    plotted = ["min", "median", "mean", DEFAULT_PERCENTILE]
    try:
        answer = _service().collection(
            f"{dtype} images", funcs, [None], histograms=True, names=names
        )
    except ImgStatsError as exc:  # an image of the type that cannot be read: said, not pooled
        row["error"] = "Not pooled: " + _service().redact(str(exc))
        return row
    row["count"] = answer.counts[None]
    row["values"] = answer.values[None] or dict.fromkeys(funcs)
    row["plot"] = _plot(answer, None, f"every {dtype} sample", DEFAULT_PERCENTILE, plotted)
    return row


#: The window form's fields, in the order of ``?window=x0,y0,x1,y1``.
WINDOW_FIELDS = ("x0", "y0", "x1", "y1")


@bp.get("/gallery/<image>")
def image(image: str):
    """An image with its statistics; the function buttons and the forms submit here.

    ``?window=x0,y0,x1,y1`` shows the statistics of that window instead of the whole image.
    """
    band = _band(image)
    # the forms of a window view carry it: their statistic is of the window, as its table
    of_window = (
        request.args.get("window") if "func" in request.args or "p" in request.args else None
    )
    func = request.args.get("func")
    if func is not None:
        parse_function(func)  # an unsupported name gets the API's 404 error page
        target = url_for("gallery.result", image=image, func=func, band=band, window=of_window)
        return redirect(target, 303)
    if "p" in request.args:
        text = request.args["p"]
        try:
            func = _percentile_function(text)
        except UnknownFunction as exc:  # the page asked from: the window view's, if it was
            if prefers_json():  # a script's: the API's JSON error, not the form again
                raise
            window = _window(image, _entered_window()) if of_window is not None else None
            page = _image_page(
                image,
                DEFAULT_PERCENTILE,
                form_error=str(exc),
                entered=text,
                band=band,
                window=window,
            )
            return _form_error(page, exc)
        target = url_for("gallery.result", image=image, func=func, band=band, window=of_window)
        return redirect(target, 303)
    if any(name in request.args for name in WINDOW_FIELDS) or "window" in request.args:
        entered = _entered_window()
        try:
            window = _window(image, entered)
        except InvalidOption as exc:
            if prefers_json():
                raise
            page = _image_page(
                image, DEFAULT_PERCENTILE, window_error=str(exc), window_entered=entered
            )
            return _form_error(page, exc)
        if "window" not in request.args:  # the form: one shareable spelling
            shared = ",".join(map(str, window))
            return redirect(url_for("gallery.image", image=image, window=shared, band=band), 303)
        return _image_page(image, DEFAULT_PERCENTILE, window=window, band=band)
    return _image_page(image, DEFAULT_PERCENTILE, band=band)


def _form_error(page, exc: Exception) -> Response:
    """An image page whose form says what was wrong, under ``exc``'s status; as the error
    page, never stored, and varying by ``Accept`` (a JSON client gets the API's error)."""
    response = current_app.make_response((page, status_of(exc)))
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Accept")
    return response


@bp.get("/gallery/<image>/<func>")
def result(image: str, func: str):
    """The result view: one statistic of one image, with the API URL that gives it."""
    parsed = parse_function(func)
    if parsed.kind == "value_counts":  # a dict, not one number: the API answers it
        raise UnknownFunction(f"the gallery shows one number per statistic; {func} is a dict")
    entered = parsed.name[1:] if parsed.name.startswith("p") else None  # "p99.5" -> "99.5"
    # ?window=: the statistic of that window (the window view's buttons ask so); it was
    # ignored, and the window view's "median" gave the whole image's
    window = _window(image, _entered_window()) if "window" in request.args else None
    return _image_page(image, func, result=func, entered=entered, band=_band(image), window=window)


# -- renderings -------------------------------------------------------------------------------
@bp.get("/thumbs/<image>")
def thumb(image: str):
    """A thumbnail (WebP, longer side ``GALLERY_THUMB_SIZE``), rendered once per version.

    An image that cannot be rendered (unreadable, too large, unknown, a busy service or
    store) is answered, for a client whose ``Accept`` takes images at least as much as HTML
    (an ``<img>``, ``Accept: */*``), with a small SVG saying so in words
    (:func:`placeholder`), under the status code the API gives that error (422, 413, 404, 503
    with ``Retry-After``, 502, 504) and ``Cache-Control: no-store``: browsers show an image
    body whatever the status, so the gallery shows no broken picture, and the status still
    says it is an error. A client that prefers HTML (a browser opening the URL itself) or
    sends no ``Accept`` gets the gallery's HTML error page, as before. The ``/stats`` API's
    JSON errors are not concerned: these are the gallery's picture routes.
    """
    size = int(current_app.config["GALLERY_THUMB_SIZE"])
    try:
        _picture_query(image)
        return _rendering(image, "thumb", size, 75)
    except ImgStatsError as exc:
        return _placeholder_or_raise(exc, size)


@bp.get("/previews/<image>")
def preview(image: str):
    """The image as a browser shows it: the file itself when small and web-ready, else reduced.

    Errors are answered as for :func:`thumb`: a placeholder SVG with the error's status.
    """
    try:
        _picture_query(image)
        return _preview(image)
    except ImgStatsError as exc:
        return _placeholder_or_raise(exc, int(current_app.config["GALLERY_PREVIEW_SIZE"]))


def _picture_query(image: str) -> None:
    """Refuse a query parameter but ``v`` (400): a picture is of the first page, whole, so
    ``?page=1`` (or ``?band=``, ``?window=``) answered page 0's picture, silently. A
    one-band image's ``?band=0`` (or its band's name) is its whole picture, as it is all its
    samples on ``/stats``: taken."""
    band = request.args.get("band")
    known = {"v"}
    if band:
        info = _service().info(image)
        if _whole_band(info, _band_name(info, band)):
            known.add("band")
    check_query(known, "only v, the version token the gallery's links carry")


def _preview(image: str) -> Response:
    service = _service()
    info = service.info(image)
    limit = int(current_app.config["GALLERY_PREVIEW_SIZE"])
    mimetype = _WEB_FORMATS.get(str(info.get("format", "")).upper())
    if (
        mimetype
        and max(info["width"], info["height"]) <= limit
        and info.get("bytes", 0) <= _ORIGINAL_MAX_BYTES
    ):
        data, version = of_one_version(lambda: _original_now(image), _racy_read)
        return _image_response(data, mimetype, _picture_token(version, "preview"))
    return _rendering(image, "preview", limit, 85)


def _original_now(image: str):
    """``((bytes, version), changed)``: the file's bytes and the version they were read at;
    ``changed`` when the file changed while it was read (see ``of_one_version``)."""
    service = _service()
    version = service.version(image)
    data = service.read(image)
    return (data, version), cacheable(version) and not service.store.unchanged(image, version)


def _racy_read(read: tuple[bytes, str]) -> tuple[bytes, str]:
    """The bytes of a file that kept changing as it was read, with a one-time version."""
    return read[0], racy(read[1])


def _rendering(image: str, kind: str, size: int, quality: int) -> Response:
    data, version = of_one_version(lambda: _rendered_now(image, kind, size, quality), _racy_read)
    return _image_response(data, MEDIA_TYPE, _picture_token(version, kind))


#: How each picture route renders: its size setting and WebP quality.
_PICTURES = {"thumb": ("GALLERY_THUMB_SIZE", 75), "preview": ("GALLERY_PREVIEW_SIZE", 85)}


def _picture_token(version: str, kind: str) -> str:
    """The ``ETag`` and ``?v=`` of a picture route's answer: the image's version and a digest
    of how the route renders it (imgstats' code fingerprint, the size setting, the quality).

    The bare version kept a browser's picture (cached a year under ``?v=``, or revalidated
    by its ``ETag``) after a new size setting or an imgstats whose rendering differs: the
    same version, so the same URL and a 304.
    """
    setting, quality = _PICTURES[kind]
    how = f"{fingerprint()}|{kind}|{current_app.config[setting]}|{quality}"
    return f"{version}.{hashlib.sha256(how.encode()).hexdigest()[:12]}"


def _rendered_now(image: str, kind: str, size: int, quality: int):
    """``((bytes, version), changed)``: a rendering of the image's current version, from the
    gallery's cache or made by the service; ``changed`` when the image changed while it was
    rendered (the bytes may be of the new file: see ``of_one_version``)."""
    version = _service().version(image)
    data, changed = _render_job(image, version, kind, size, quality)()
    return (data, version), changed


def _render_key(image: str, version: str, kind: str, size: int, quality: int) -> tuple | None:
    """The rendering's key in the gallery's cache; None for a racy version (never kept)."""
    if not cacheable(version):  # the file may be being written
        return None
    # the store's address keeps two stores with the same file names apart in a shared folder
    store = getattr(getattr(_service(), "store", None), "url", "")
    # imgstats' code: the folder outlives the process, and other code may render anew
    return (store, fingerprint(), kind, size, quality, image, version)


class _Changed(Exception):
    """A rendering made while the image changed: its bytes (``args[0]``) may be of the new
    file, so they are not kept under the version looked at before."""


def _render_job(image: str, version: str, kind: str, size: int, quality: int):
    """A call giving ``(bytes, changed)``: the rendering (from the cache, made by the service
    on a miss) and whether the image changed while it was made (then nothing was kept). It
    needs no app context, so a background thread can run it."""
    service, renders = _service(), cache()
    key = _render_key(image, version, kind, size, quality)

    def make() -> bytes:
        data = service.render(image, size, quality)
        if not service.store.unchanged(image, version):
            raise _Changed(data)  # not kept: the cache keeps no error but those it remembers
        return data

    def job() -> tuple[bytes, bool]:
        if key is None:
            return service.render(image, size, quality), False
        try:
            return renders.get_or_render(key, make), False
        except _Changed as changed:  # this caller's rendering, or the one it waited for
            return changed.args[0], True

    return job


def placeholder(title: str, size: int) -> str:
    """A ``size`` pixels square SVG saying ``title`` (``This image cannot be read``).

    It has a ``<title>`` and ``role="img"`` with an ``aria-label`` for when it is opened by
    itself; in the gallery the ``<img>``'s alt text names the image.
    """
    lines: list[str] = []
    for word in title.split():  # about 18 characters of 14 px text fit in 200 px
        if lines and len(lines[-1]) + 1 + len(word) <= 18:
            lines[-1] += " " + word
        else:
            lines.append(word)
    top = 100 - 9 * (len(lines) - 1)
    text = "".join(
        f'<tspan x="100" y="{top + 18 * i}">{html.escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    label = html.escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 200 200" role="img" aria-label="{label}"><title>{label}</title>'
        '<rect width="200" height="200" fill="#f3f3f3" stroke="#767676" stroke-width="2" '
        'stroke-dasharray="6 4"/><text font-family="system-ui, sans-serif" font-size="14" '
        f'fill="#333" text-anchor="middle" dominant-baseline="middle">{text}</text></svg>'
    )


def _placeholder_or_raise(exc: ImgStatsError, size: int) -> Response:
    """The placeholder SVG for ``exc`` with its status, or ``exc`` raised again for a client
    that prefers HTML to images (it then gets the gallery's error page)."""
    accept = request.accept_mimetypes
    # by quality: best_match prefers the more specific of equals, so "image/*, text/html"
    # (images as much as HTML) got the HTML page
    svg = accept.quality("image/svg+xml")
    if not accept or svg == 0 or svg < accept.quality("text/html"):
        raise exc
    response = Response(placeholder(title_of(exc), size), status=status_of(exc))
    response.mimetype = "image/svg+xml"
    response.headers["Cache-Control"] = "no-store"
    if isinstance(exc, Busy):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _image_response(data: bytes, mimetype: str, token: str) -> Response:
    """A picture under its :func:`_picture_token`: cached for a year when the URL names it."""
    response = Response(data, mimetype=mimetype)
    response.set_etag(token)
    if request.args.get("v") == token:
        # the URL names the version: it never changes, so browsers need not ask again
        response.cache_control.public = True
        response.cache_control.max_age = 365 * 24 * 3600
        response.cache_control.immutable = True
    else:
        response.cache_control.no_cache = True
    return conditional(response)


# -- helpers ----------------------------------------------------------------------------------
_ASK = "Enter a percentile from 0 to 100, such as 99.5."
#: A number as typed: ASCII digits, an optional point and exponent (HTML's floating-point
#: number, a sign and a bare point allowed).
_TYPED_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _percentile_function(text: str) -> str:
    """The ``pXXX`` name for a number typed in the percentile field, validated as in the API.

    Browsers send what was typed (``99.50``, ``1e2``, ``.5``); a finite decimal is written back
    in the API's grammar, which then decides, so a number the API refuses is refused here too.
    Only ASCII digits make a number: ``Decimal`` also reads ``9_9`` and ``٩٩`` as 99.
    The refusal is in the page's words (the field's, not the API's ``pXXX`` grammar).
    """
    text = text.strip()
    if not text:
        raise UnknownFunction(f"The field is empty. {_ASK}")
    shown = _shown(text, 24)
    number = None
    if len(text) <= 64 and _TYPED_NUMBER.fullmatch(text):
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
    if number is None or number.is_nan():
        raise UnknownFunction(f"“{shown}” is not a number. {_ASK}")
    if not number.is_finite() or not 0 <= number <= 100 or number.is_signed():
        raise UnknownFunction(f"{shown} is outside 0 to 100. {_ASK}")
    try:
        return parse_function(f"p{format(number.normalize(), 'f')}").name
    except UnknownFunction:
        raise UnknownFunction(
            f"{shown} has more decimals than the service can compute. {_ASK}"
        ) from None


def _entered_window() -> dict[str, str]:
    """What the window form (or ``?window=``) holds, field by field, as typed."""
    if "window" in request.args:
        parts = request.args["window"].split(",")
        if len(parts) == 4:
            return dict(zip(WINDOW_FIELDS, (p.strip() for p in parts), strict=True))
        return {"window": request.args["window"]}
    return {name: request.args.get(name, "").strip() for name in WINDOW_FIELDS}


def _window(image: str, entered: dict[str, str]) -> tuple[int, int, int, int]:
    """The window ``(x0, y0, x1, y1)`` the form or URL asks for, checked against the image.

    Raises
    ------
    InvalidOption
        In the page's words: a field that is not a whole number, an empty or inverted
        window, or one that lies outside the image.
    """
    if "window" in entered:
        count = len(entered["window"].split(","))
        raise InvalidOption(f"A window is four whole numbers x0,y0,x1,y1; this one has {count}.")
    values = []
    for name in WINDOW_FIELDS:
        text = entered[name]
        if not text:
            raise InvalidOption(f"{name} is empty: enter a whole number of pixels.")
        if not (text.isascii() and text.lstrip("+-").isdigit() and len(text) <= 10):
            raise InvalidOption(f"{name} is “{_shown(text)}”: enter a whole number of pixels.")
        values.append(int(text))
    x0, y0, x1, y1 = values
    if x1 <= x0:
        raise InvalidOption(f"x1 ({x1}) must be greater than x0 ({x0}): the window has no width.")
    if y1 <= y0:
        raise InvalidOption(f"y1 ({y1}) must be greater than y0 ({y0}): the window has no height.")
    info = _service().info(image)
    width, height = info["width"], info["height"]
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise InvalidOption(
            f"The window lies outside the image, which is {width} × {height} "
            f"pixels: x from 0 to {width}, y from 0 to {height}."
        )
    return x0, y0, x1, y1


def _cards(names: list[str]) -> list[dict]:
    """What the gallery shows of each image: its header, or what is wrong with it.

    The thumbnails are rendered (and cached) concurrently by the gallery's background threads,
    each in a slot of the service's slow work and the decode budget, and the page waits for
    them at most ``GALLERY_PAGE_WAIT`` seconds in all. An image whose rendering failed by then
    gets an error card rather than a broken picture. The others get their usual card: their
    renderings go on, so the browser's request for the thumbnail that follows finds it in the
    cache or waits for that same rendering (never a second one); if it fails there, the
    browser gets :func:`placeholder`. A busy service is no fault of the image: its card is
    usual too, and the thumbnail request tries again.
    """
    size = int(current_app.config["GALLERY_THUMB_SIZE"])
    renders, background = cache(), current_app.extensions[_BACKGROUND]
    cards: list[dict] = []
    # every header first: they need slow-work slots too, which the renderings would hold
    for name in names:
        try:
            info = dict(_service().info(name))
        except ImgStatsError as exc:  # one unreadable file must not take the whole page down
            cards.append(_error_card(name, exc))
            continue
        info["thumb_width"], info["thumb_height"] = _fit(info["width"], info["height"], size)
        info["thumb_token"] = _picture_token(info["version"], "thumb")
        info["description"] = _describe(info)
        cards.append(info)
    waiting = {}  # card index -> future of its rendering
    for index, card in enumerate(cards):
        if "error" in card:
            continue
        name, version = card["name"], card["version"]
        key = _render_key(name, version, "thumb", size, 75)
        try:
            if key is not None and renders.peek(key) is not None:
                continue
        except ImgStatsError as exc:  # a failure kept from an earlier rendering
            cards[index] = _error_card(name, exc)
            continue
        future = background.submit(_render_job(name, version, "thumb", size, 75))
        if future is not None:  # else the queue is full: the browser's request renders it
            waiting[index] = future
    if waiting:
        wait_for_all(waiting.values(), timeout=float(current_app.config["GALLERY_PAGE_WAIT"]))
    for index, future in waiting.items():
        if not future.done() or future.cancelled():
            continue
        exc = future.exception()
        if exc is None or isinstance(exc, Busy):
            continue
        if not isinstance(exc, ImgStatsError):  # a bug: the page fails as it would have inline
            raise exc
        cards[index] = _error_card(cards[index]["name"], exc)
    return cards


def _error_card(name: str, exc: ImgStatsError) -> dict:
    return {"name": name, "error": _service().redact(str(exc)), "title": title_of(exc)}


def _fit(width: int, height: int, size: int) -> tuple[int, int]:
    """The size of a rendering whose longer side is at most ``size`` (as Pillow's thumbnail)."""
    scale = min(1.0, size / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _describe(info: dict) -> str:
    """``512 × 512 · RGB · uint8``: pixel size, bands and sample type."""
    bands = info.get("bands")
    if isinstance(bands, (list, tuple)):
        if len(bands) == 1:
            band_text = "greyscale"
        elif all(b in ("R", "G", "B", "A", "L") for b in bands):
            band_text = "".join(bands)  # RGB, RGBA, LA
        else:
            band_text = f"{len(bands)} bands"
    elif isinstance(bands, int):
        band_text = "greyscale" if bands == 1 else f"{bands} bands"
    else:
        band_text = str(bands)
    return f"{info['width']} × {info['height']} · {band_text} · {info['dtype']}"


def _api_url(image: str, func: str) -> str:
    """The JSON API URL that answers the same question."""
    try:
        return url_for("api.stats", image=image, func=func)
    except BuildError:  # the endpoint's name is the service's; the path is the contract
        return f"{request.script_root}/stats/{quote(image, safe='')}/{quote(func, safe='')}"


def _query(band: str | None, window) -> str:
    """The API query of a result view: its ``band`` and ``window``, if any."""
    parts = [f"band={quote(band, safe='')}"] if band else []
    if window:
        parts.append("window=" + ",".join(map(str, window)))
    return "?" + "&".join(parts) if parts else ""


def _health_url() -> str:
    try:
        return url_for("api.health")
    except BuildError:
        return f"{request.script_root}/health"


#: The CSS class of each selection's histogram (the band colours of the stylesheet).
_BAND_CLASSES = {None: "band-all", "luma": "band-luma"}


def _has_luma(info: dict) -> bool:
    """Whether the image has a luma (8-bit R, G, B: Pillow's ``L``, counted with the bands)."""
    bands = info.get("bands")
    return (
        info.get("dtype") == "uint8"
        and isinstance(bands, (list, tuple))
        and list(bands[:3]) == ["R", "G", "B"]
    )


def _choices(info: dict) -> list[tuple[str | None, str]]:
    """The samples a statistic can be asked of: ``(value of ?band=, label)``, all first."""
    bands = info.get("bands")
    names = list(bands) if isinstance(bands, (list, tuple)) else []
    choices: list[tuple[str | None, str]] = [(None, "All samples")]
    if _has_luma(info):
        choices.append(("luma", "Luma"))
    if len(names) > 1:
        choices += [(str(n), f"Band {n}") for n in names]
    return choices


def _band_name(info: dict, band: str) -> str:
    """``?band=``'s band name: an index (``0``, ``-1``) names the band it is on ``/stats``."""
    bands = info.get("bands")
    names = list(bands) if isinstance(bands, (list, tuple)) else []
    index = parse_band(band)
    if isinstance(index, int) and -len(names) <= index < len(names):
        return str(names[index])
    return band


def _one_band(info: dict) -> str | None:
    """The name of a one-band image's band, which is all its samples; None for others."""
    bands = info.get("bands")
    return str(bands[0]) if isinstance(bands, (list, tuple)) and len(bands) == 1 else None


def _whole_band(info: dict, band: str) -> bool:
    """Whether band name ``band`` is the one band of a one-band image (all its samples)."""
    one = _one_band(info)
    return one is not None and band == one


def _band(image: str) -> str | None:
    """The ``?band=`` of a page (None for all samples), checked against the image.

    Raises
    ------
    InvalidOption
        A band the image does not have, in the page's words (a 400 page).
    """
    band = request.args.get("band") or None
    if band is None:
        return None
    info = _service().info(image)
    band = _band_name(info, band)
    if _whole_band(info, band):
        return None  # a one-band image's band is all its samples: the page shows them
    choices = _choices(info)
    allowed = [value for value, _ in choices if value is not None]
    if band not in allowed:
        shown = _shown(band)
        one = _one_band(info)
        offer = ", ".join(allowed) if allowed else "none"
        if one is not None:
            offer = f"one, 0 (or {one}): all its samples"
        raise InvalidOption(f"This image has no band “{shown}”. Its bands: {offer}.")
    return band


def _image_page(
    image: str,
    mark: str,
    *,
    result: str | None = None,
    form_error=None,
    entered=None,
    window=None,
    window_error=None,
    window_entered=None,
    band: str | None = None,
) -> str:
    """Render the page of one image: preview, statistics table and histograms.

    ``mark`` is the percentile drawn on the histograms besides min, median and mean;
    ``window`` restricts the statistics to ``(x0, y0, x1, y1)``; ``band`` is the selection
    the forms ask about (None: all samples, ``"luma"``, or a band name). The result view
    (``result``) shows the value and the histogram of that selection, not the table again.
    """
    service = _service()
    info = dict(service.info(image))
    if parse_function(mark).kind != "percentile" or mark == "median":
        mark = DEFAULT_PERCENTILE  # min, max, mean and median have lines of their own
    funcs = in_order([*TABLE_FUNCTIONS, mark] + ([result] if result else []))
    # which samples counted: the table's count row is the valid samples; these say the rest
    validity = [f for f in VALIDITY_FUNCTIONS if f in NAMED_FUNCTIONS]
    funcs += [f for f in validity if f not in funcs]
    plotted = list(dict.fromkeys(["min", "median", "mean", mark]))
    luma = _has_luma(info)
    # one question for the whole page: every function, all samples, the luma and each band
    try:
        answer = service.answer(
            image,
            funcs,
            [None, "luma"] if luma else [None],
            each_band=True,
            histograms=True,
            window=window,
        )
    except InvalidOption:
        if not luma:
            raise
        luma = False  # the header said R, G, B but the summary has no luma: without it
        answer = service.answer(
            image, funcs, [None], each_band=True, histograms=True, window=window
        )
    if answer.values.get(None) is None:  # no valid sample at all: the error page (422)
        raise NoValidSamples(answer.empty.get(None, "no valid samples"))
    shown = answer.region.get("window") if window else None
    names = answer.band_names
    # the selection the forms ask about, as the answer keys it (band names by index)
    selected = band
    if band not in (None, "luma"):
        selected = list(names).index(band) if band in names else None
    value = answer.value(result, selected) if result else None
    selections = [(None, "All samples")] + ([("luma", "Luma")] if luma else [])
    selections += [(b, f"Band {names[b]}") for b in answer.bands]
    rows = [_row(label, answer, sel, funcs, chosen=sel == selected) for sel, label in selections]
    if result:  # the result view: the histogram of the samples it is about
        plotted = list(dict.fromkeys([*plotted, result]))
        plots = [_plot(answer, selected, _label(selected, names), mark, plotted, result)]
    else:
        drawn = [s for s, _ in selections if s is not None] or [None]
        plots = [_plot(answer, s, _label(s, names), mark, plotted) for s in drawn]
    limit = int(current_app.config["GALLERY_PREVIEW_SIZE"])
    width, height = _fit(info["width"], info["height"], limit)
    if window_entered is None:
        window_entered = dict(zip(WINDOW_FIELDS, map(str, shown), strict=True)) if shown else {}
    selection = None
    if shown:  # the window drawn over the preview, in percent of the image's size
        x0, y0, x1, y1 = shown
        selection = {
            "left": 100 * x0 / info["width"],
            "top": 100 * y0 / info["height"],
            "width": 100 * (x1 - x0) / info["width"],
            "height": 100 * (y1 - y0) / info["height"],
        }
    facts = _facts(info, answer)
    choices = _choices(info) if luma else [c for c in _choices(info) if c[0] != "luma"]
    return render_template(
        "gallery/image.html",
        window=shown,
        asked_window=window,
        selection=selection,
        window_error=window_error,
        window_entered=window_entered,
        window_fields=WINDOW_FIELDS,
        window_api_url=(
            _api_url(image, "median") + "?window=" + ",".join(map(str, window)) if window else None
        ),
        info=info,
        description=_describe(info),
        preview_width=width,
        preview_height=height,
        preview_token=_picture_token(info["version"], "preview"),
        reduced=(width, height) != (info["width"], info["height"]),
        table_funcs=funcs,
        rows=[] if result else rows,  # the result view does not repeat the image's table
        plots=plots,
        mark=mark,
        result=result,
        value=value,
        api_url=_api_url(image, result) + _query(band=band, window=shown) if result else None,
        named_functions=SCALAR_FUNCTIONS,  # buttons of one number each: no value_counts
        form_error=form_error,
        entered=entered,
        band=band,
        band_label=dict(choices).get(band, "All samples"),
        label_rasters=[] if result or window else _label_rasters(image, info),
        facts=facts,
        zonal_url=_zonal_url(image),
        choices=[(v, label, _with_band(v)) for v, label in choices] if len(choices) > 1 else [],
    )


#: At most this many names of the store are looked at for label rasters to offer on a page.
LABEL_CANDIDATES = 500


def _label_rasters(image: str, info: dict) -> list[str]:
    """Images of the store that can label the zones of ``image``: integer pixels, one band,
    the same width and height (headers only, cached by version)."""
    service = _service()
    found = []
    names = sorted(service.list_images(), key=natural_key)[:LABEL_CANDIDATES]
    for name in names:
        if name == image:
            continue
        try:
            other = service.info(name)
        except ImgStatsError:
            continue
        bands = other.get("bands")
        single = not isinstance(bands, (list, tuple)) or len(bands) == 1
        kind = str(other.get("dtype", ""))
        if (
            single
            and kind.startswith(("uint", "int"))
            and (other["width"], other["height"]) == (info["width"], info["height"])
        ):
            found.append(name)
    return found


def _zonal_url(image: str) -> str:
    """``POST /zonal/<image>``: the zones' statistics (the zonal blueprint's contract)."""
    try:
        return url_for("zonal.zonal_stats", image=image)
    except BuildError:
        return f"{request.script_root}/zonal/{quote(image, safe='')}"


def _with_band(band: str | None) -> str:
    """This page's address with ``?band=`` set to ``band`` (dropped for all samples)."""
    args = {k: v for k, v in request.args.items() if k in ("window", "exact")}
    if band is not None:
        args["band"] = band
    return url_for(request.endpoint, **(request.view_args or {}), **args)


#: How the page says where the file's validity comes from (the header's ``mask``).
_MASK_WORDS = {
    "internal": "the file's internal mask",
    "sidecar": "a .msk sidecar mask",
    "nodata": "the nodata value",
    "alpha": "the alpha band (0: transparent)",
    None: "none: every sample but NaN counts",
}


def _facts(info: dict, answer) -> list[tuple[str, str]]:
    """What the page says of which samples count and where the image lies: valid and masked
    samples (of the selection asked), the nodata value, the mask, the CRS and the bounds (those
    the header gives)."""
    facts = []
    values = answer.values.get(None) or {}
    count = answer.counts.get(None)
    if count is not None:
        text = f"{count:,}"
        if isinstance(values.get("valid_percent"), float):
            text += f" ({readable(values['valid_percent'])}% of the samples)"
        facts.append(("Valid samples", text))
    if "masked_pixels" in values:
        facts.append(("Masked samples", f"{int(values['masked_pixels']):,} (NaN, nodata, mask)"))
    if info.get("band_nodata"):  # each band its own
        each = ", ".join(
            "none" if v is None else v if isinstance(v, str) else format_value(v)
            for v in info["band_nodata"]
        )
        facts.append(("Nodata", f"each band its own: {each}"))
    elif "nodata" in info:
        nodata = info["nodata"]
        facts.append(("Nodata", "none" if nodata is None else format_value(nodata)))
    if "mask" in info:
        facts.append(("Mask", _MASK_WORDS.get(info["mask"], str(info["mask"]))))
    scales = info.get("scales")
    if scales:
        pairs = {(float(s), float(o)) for s, o in scales}
        shown = "; ".join(f"× {s:.10g} + {o:.10g}" for s, o in sorted(pairs))
        facts.append(("Scale, offset", f"{shown} (physical values with scaled=1)"))
    if "crs" in info:
        facts.append(("CRS", info["crs"] or "none: pixel coordinates only"))
    bounds = info.get("bounds")
    if bounds:
        left, bottom, right, top = (float(v) for v in bounds)
        facts.append(
            (
                "Bounds",
                f"x {left:.10g} to {right:.10g}, y {bottom:.10g} to {top:.10g}",
            )
        )
    return facts


def _label(selection, names) -> str:
    """How a histogram's title names a selection: ``all samples``, ``luma``, ``band R``."""
    if selection is None:
        return "all samples"
    if selection == "luma":
        return "luma"
    return f"band {names[selection]}"


def _plot(answer, selection, name: str, mark: str, plotted, result: str | None = None) -> dict:
    """The histogram of one selection, with min, median, mean and ``mark`` drawn on it, in
    both layouts (the page's CSS shows the one that fits its column)."""
    values, counts = answer.histograms[selection]
    found = answer.values[selection] or {}
    kinds = {"min": "min", "median": "median", "mean": "mean", mark: "percentile"}
    if result and result not in kinds:
        kinds[result] = "result"
    marks = [_plots.Mark(f, found[f], kind) for f, kind in kinds.items() if f in found]
    title = f"Histogram of {name}"
    if selection is None or selection == "luma":
        band_class = _BAND_CLASSES[selection]
    else:
        band_class = f"band-{answer.band_names[selection]}"
    span = (found["min"], found["max"]) if "min" in found and "max" in found else None
    return {
        "title": title,
        "note": _plots.SCALE_NOTE,
        "svgs": [
            _plots.histogram_svg(
                values,
                counts,
                marks,
                title=title,
                band_class=band_class,
                span=span,
                layout=layout,
            )
            for layout in _plots.LAYOUTS
        ],
    }


def _row(label: str, answer, band, funcs, chosen: bool = False) -> dict:
    values = answer.values[band] or dict.fromkeys(funcs)
    return {"label": label, "count": answer.counts[band], "values": values, "chosen": chosen}
