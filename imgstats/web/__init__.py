"""The imgstats HTTP service: a Flask application factory.

Settings come from :data:`DEFAULTS`, then ``IMGSTATS_<KEY>`` environment variables (parsed as
JSON when they are JSON, e.g. ``IMGSTATS_CACHE_BYTES=67108864``, else kept as strings), then the
``config`` mapping given to :func:`create_app`.

Examples
--------
>>> from imgstats.web import create_app
>>> app = create_app({"WARMUP": False})
>>> app.test_client().get("/health").text
'OK'
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from flask import Config, Flask

from ..io import pixel_limit_default

__all__ = ["create_app", "DEFAULTS"]

#: Default settings; each can be set with an ``IMGSTATS_<KEY>`` environment variable.
DEFAULTS = {
    # A folder or an fsspec URL (s3://bucket/prefix, gs://bucket, https://host/prefix/);
    # None serves the bundled gallery.
    "IMAGES": None,
    # Bytes each process keeps in its caches of summaries (about 8 KB for an 8-bit RGB image,
    # 0.5 MB per band for 16-bit and wider types), image headers and finished /stats answers,
    # all together, least recently used dropped first. A summary heavier than this is
    # answered but not kept (nor stored in Redis).
    "CACHE_BYTES": 256 << 20,
    # Optional shared cache: redis://host:port/db, with a short socket timeout (s), a back-off
    # after a failure (s) and an expiry of the entries (s, 0 for none).
    "REDIS_URL": None,
    # Optional secret (at least 16 characters) that signs the values in Redis and names their
    # keys; see the README, "Cache security".
    "CACHE_KEY": None,
    "REDIS_TIMEOUT": 0.25,
    "REDIS_BACKOFF": 5.0,
    "REDIS_TTL": 7 * 24 * 3600,
    # With Redis, a worker waits at most this long (s) for another worker that is already
    # summarizing the same image version, then summarizes it itself. The lock lives LOCK_TTL
    # seconds unless its holder renews it (every third of that), so a waiter takes over
    # within about LOCK_TTL when the holder dies.
    "LOCK_TIMEOUT": 60.0,
    "LOCK_TTL": 5.0,
    # Optional dask.distributed scheduler (tcp://host:8786) for images of at least DASK_PIXELS
    # pixels; DASK_TIMEOUT bounds one computation there (s).
    "DASK_SCHEDULER": None,
    "DASK_PIXELS": 50_000_000,
    "DASK_TIMEOUT": 600.0,
    # Decompression-bomb guard (pixels); default IMGSTATS_PIXEL_LIMIT or 2**30.
    "PIXEL_LIMIT": None,
    # Seconds for any one call to a remote store, and how long a remote image's version
    # (ETag, generation, mtime) is reused before asking the store again. Local folders are
    # always checked with os.stat.
    "STORE_TIMEOUT": 10.0,
    "VERSION_TTL": 2.0,
    # A file changed less than this long (s) before it is read may be being written: its
    # answers are computed but never cached (git's "racily clean" files). 0 trusts timestamps.
    "RACY_SECONDS": 2.0,
    # Extra fsspec options for remote stores (credentials, endpoint_url...).
    "STORAGE_OPTIONS": {},
    # Cache-Control max-age of /stats responses (s); 0 means revalidate with the ETag.
    "CACHE_MAX_AGE": 0,
    # Compile the counting kernels when the app is made, not on the first request.
    "WARMUP": True,
    # Pixels (width x height, from the header) decoded at once per worker process; None is
    # 2 x PIXEL_LIMIT. A request beyond it waits up to DECODE_WAIT seconds for its turn,
    # then gets 503 with Retry-After. An image larger than the budget (but within
    # PIXEL_LIMIT) is decoded alone. Decodes in flight then peak at about DECODE_PIXELS x 5
    # bytes for 8-bit RGB (Pillow keeps 4 bytes per pixel; one 144 MP PNG measured 682 MB),
    # on top of the caches: see benchmarks/bench_decode_memory.py.
    "DECODE_PIXELS": None,
    "DECODE_WAIT": 20.0,
    # Slow work per worker process (a cold summary or refinement, a header, a thumbnail, a
    # remote listing): SLOW_WORKERS run at once, SLOW_QUEUE more wait (up to DECODE_WAIT),
    # and further requests get 503 with Retry-After at once. None sizes the queue by the
    # decode budget: DECODE_PIXELS / 2**25 places, at least 8 (64 by default). Requests
    # asking what another request is already computing wait for it without a slot (at most
    # SLOW_QUEUE of them at once). Under `imgstats serve` the waiting requests are kept
    # whole in the worker's queue, without a thread, and each worker has SLOW_WORKERS + 12
    # threads unless IMGSTATS_THREADS says otherwise (with IMGSTATS_WORKER_CLASS=gthread,
    # SLOW_WORKERS + 2 x SLOW_QUEUE + 4: there each waiting request holds a thread).
    "SLOW_WORKERS": 2,
    "SLOW_QUEUE": None,
    # Seconds a request may work (waits included) before it stops with 503 and Retry-After;
    # what it computed stays cached, so a retry goes further. Work also stops within about
    # a second of its client closing the connection. 0: no budget.
    "REQUEST_SECONDS": 60.0,
    # Largest request body (bytes; POST /stats bodies: a polygon of 10,000 vertices takes
    # about 400 KB of JSON); larger ones get 413. Most images a collection pattern may match.
    "MAX_CONTENT_LENGTH": 1 << 20,
    "COLLECTION_LIMIT": 1000,
    # POST /zonal: the most features and vertices of a polygon layer, and labels of a label
    # raster, in one request (400 beyond).
    "ZONAL_FEATURES": 10_000,
    "ZONAL_VERTICES": 1_000_000,
    "ZONAL_LABELS": 1_000_000,
}

_NUMBERS = {
    "CACHE_BYTES": int,
    "LOCK_TTL": float,
    "REDIS_TIMEOUT": float,
    "REDIS_BACKOFF": float,
    "LOCK_TIMEOUT": float,
    "REDIS_TTL": int,
    "DASK_PIXELS": int,
    "DASK_TIMEOUT": float,
    "STORE_TIMEOUT": float,
    "VERSION_TTL": float,
    "CACHE_MAX_AGE": int,
    "RACY_SECONDS": float,
    "DECODE_WAIT": float,
    "REQUEST_SECONDS": float,
    "SLOW_WORKERS": int,
    "SLOW_QUEUE": int,
    "MAX_CONTENT_LENGTH": int,
    "COLLECTION_LIMIT": int,
    "ZONAL_FEATURES": int,
    "ZONAL_VERTICES": int,
    "ZONAL_LABELS": int,
}


#: The least value of each number setting; ``0.0`` (a float) means greater than 0. A
#: negative timeout timed every request out (HEADER_TIMEOUT: every request a 408), a
#: MAX_CONTENT_LENGTH of 0 refused every body.
_LOWEST = {
    "PIXEL_LIMIT": 1,
    "DECODE_PIXELS": 1,
    "SLOW_WORKERS": 1,
    "SLOW_QUEUE": 0,
    "CACHE_BYTES": 0,
    "LOCK_TTL": 0.0,
    "REDIS_TIMEOUT": 0.0,
    "REDIS_BACKOFF": 0,
    "REDIS_TTL": 0,
    "LOCK_TIMEOUT": 0,
    "DASK_PIXELS": 0,
    "DASK_TIMEOUT": 0.0,
    "STORE_TIMEOUT": 0.0,
    "VERSION_TTL": 0,
    "CACHE_MAX_AGE": 0,
    "RACY_SECONDS": 0,
    "DECODE_WAIT": 0,
    "REQUEST_SECONDS": 0,
    "MAX_CONTENT_LENGTH": 1,
    "COLLECTION_LIMIT": 1,
    "ZONAL_FEATURES": 1,
    "ZONAL_VERTICES": 1,
    "ZONAL_LABELS": 1,
}


#: The URL schemes of ``redis.Redis.from_url``.
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _without_password(url: str) -> str:
    """``url`` to show in a message, its user and password (``user:secret@``) as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:  # a broken IPv6 literal: show nothing of it
        return "?"
    if "@" in parts.netloc:
        url = urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))
    return url[:80]


def _check_redis_url(url: str) -> None:
    """Refuse a Redis URL that redis-py cannot read, or reads as another database.

    redis-py raised on a bad port, IPv6 literal or query value in each worker as it booted
    (a traceback per worker, and no server), and read a ``/path`` that is no number as
    database 0. The message does not repeat the URL: it may hold a password.
    """
    from redis.connection import parse_url

    from ..errors import InvalidOption

    try:
        parse_url(url)
    except ValueError as exc:
        raise InvalidOption(
            f"invalid imgstats setting: REDIS_URL (IMGSTATS_REDIS_URL) cannot be read: {exc}"
        ) from None
    if url.startswith("unix://"):
        return
    path = urlsplit(url).path
    if path not in ("", "/") and not re.fullmatch(r"/[0-9]+", path):
        raise InvalidOption(
            "invalid imgstats setting: REDIS_URL (IMGSTATS_REDIS_URL) must end with a "
            "database number (redis://host:6379/0), not a path"
        )


def settings(config: Mapping | None = None) -> Config:
    """The service's settings: :data:`DEFAULTS`, then ``IMGSTATS_*`` environment variables,
    then ``config``, each converted to its type and checked.

    Raises
    ------
    imgstats.InvalidOption
        For a setting of the wrong type or out of its range, naming it.
    """
    from .gallery import check_settings as check_gallery

    merged = Config(os.getcwd())
    _load(merged, config)
    check_gallery(merged)
    return merged


def _load(target: Config, config: Mapping | None) -> None:
    target.from_mapping(DEFAULTS)
    target.from_prefixed_env("IMGSTATS")
    target.from_mapping(config or {})
    _normalize(target)


def create_app(config: Mapping | None = None) -> Flask:
    """Create the imgstats web application.

    Parameters
    ----------
    config : Mapping, optional
        Settings overriding :data:`DEFAULTS` and the ``IMGSTATS_*`` environment (tests pass
        ``{"IMAGES": tmp_path}``).

    Returns
    -------
    flask.Flask
        With blueprints ``api``, ``gallery`` and ``zonal`` and the
        :class:`~imgstats.web.service.ImageService` at ``app.extensions["imgstats"]``.

    Raises
    ------
    imgstats.InvalidOption
        For a setting of the wrong type.

    Examples
    --------
    >>> from imgstats.web import create_app
    >>> app = create_app({"WARMUP": False})  # the bundled gallery; no kernels loaded first
    >>> app.test_client().get("/stats/IMG_1.jpg/median").json["value"]
    120.0
    >>> app.extensions["imgstats"].close()
    """
    from .._version import fingerprint
    from ._conditional import static_view
    from ._target import check_target
    from .api import bp as api_bp
    from .api import check_body
    from .apidocs import bp as apidocs_bp
    from .errors import register_error_handlers
    from .gallery import bp as gallery_bp
    from .service import ImageService
    from .zonal import bp as zonal_bp

    # no app-wide /static/: Flask's default served the gallery's files a second time, beside
    # /assets/gallery/, a route nobody links to; each blueprint serves its own
    app = Flask(__name__, static_folder=None)
    # "a%2F%2Fb" decodes to "a//b": answer 404, not a redirect to a path the client never sent
    app.url_map.merge_slashes = False
    _load(app.config, config)

    # the code's fingerprint (ETags, Redis keys) read at start-up, from the files the
    # process starts with, not at a first request that a deployment replacing them follows
    fingerprint()
    service = ImageService(app.config)
    app.extensions["imgstats"] = service
    if app.config["WARMUP"]:
        service.warm_up()
    app.before_request(check_target)  # Host, and OPTIONS *: before any route
    _install_request_budget(app)
    _install_one_look(app)
    app.before_request(check_body)  # every POST: JSON declared, size bounded, chunked too
    app.register_blueprint(api_bp)
    app.register_blueprint(gallery_bp)
    app.register_blueprint(zonal_bp)
    app.register_blueprint(apidocs_bp)
    for endpoint, view in list(app.view_functions.items()):
        if endpoint == "static" or endpoint.endswith(".static"):  # the gallery's, /docs'
            app.view_functions[endpoint] = static_view(view)
    register_error_handlers(app)
    return app


def _install_one_look(app: Flask) -> None:
    """Look once per request at what lies beside or after a local image (its ``.msk``,
    ``.MSK`` and ``.aux.xml``, GDAL's mask after a JPEG's picture): the header facts and the
    plan of a cold request share the answers (:func:`imgstats.io._beside.one_look`)."""
    from flask import g

    from ..io._beside import one_look

    @app.before_request
    def _begin_look():
        g.one_look = contextlib.ExitStack()
        g.one_look.enter_context(one_look())

    @app.teardown_request
    def _end_look(_exc=None):
        looks = g.pop("one_look", None)
        if looks is not None:
            looks.close()


def _install_request_budget(app: Flask) -> None:
    """Give every request a :class:`~imgstats.web._limits.RequestBudget`: its deadline
    (``REQUEST_SECONDS``) and its client's connection, which slow work looks at."""
    from flask import request

    from ._limits import RequestBudget, _local

    seconds = float(app.config["REQUEST_SECONDS"])

    @app.before_request
    def _start_budget():
        environ = request.environ
        sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
        _local.budget = RequestBudget(seconds, sock)

    @app.teardown_request
    def _end_budget(_exc=None):
        _local.budget = None


def _normalize(config) -> None:
    """Coerce settings read from the environment to their types."""
    from ..errors import InvalidOption
    from ._limits import slow_queue_default
    from ._settings import check_range, number

    # the library reads IMGSTATS_PIXEL_LIMIT itself where no limit is passed: one it refuses
    # ("1e9") must stop the service at start, not fail its workers as they boot
    try:
        default = pixel_limit_default()
    except InvalidOption:
        raise InvalidOption(
            "invalid imgstats setting: PIXEL_LIMIT (IMGSTATS_PIXEL_LIMIT) must be a whole "
            "number of pixels of 1 or more, in digits (the library reads it too), not "
            f"{os.environ.get('IMGSTATS_PIXEL_LIMIT')!r}"
        ) from None
    if config["PIXEL_LIMIT"] in (None, ""):
        config["PIXEL_LIMIT"] = default
    config["PIXEL_LIMIT"] = number(config, "PIXEL_LIMIT", int)
    if config["DECODE_PIXELS"] in (None, ""):
        config["DECODE_PIXELS"] = 2 * config["PIXEL_LIMIT"]
    config["DECODE_PIXELS"] = number(config, "DECODE_PIXELS", int)
    if config["SLOW_QUEUE"] in (None, ""):
        config["SLOW_QUEUE"] = slow_queue_default(config["DECODE_PIXELS"])
    for key, kind in _NUMBERS.items():
        config[key] = number(config, key, kind)
    if isinstance(config["WARMUP"], str):
        word = config["WARMUP"].strip().lower()
        if word not in ("0", "false", "no", "off", "1", "true", "yes", "on"):
            raise InvalidOption(
                f"invalid imgstats setting: WARMUP (IMGSTATS_WARMUP) must be true or false "
                f"(1 or 0), not {config['WARMUP']!r}"
            )
        config["WARMUP"] = word in ("1", "true", "yes", "on")
    for key in ("IMAGES", "REDIS_URL", "DASK_SCHEDULER"):
        if config[key] in ("", None):
            config[key] = None
        else:
            config[key] = str(config[key])
    for key, lowest in _LOWEST.items():
        check_range(key, config[key], lowest)
    if config["REDIS_URL"] and not config["REDIS_URL"].startswith(_REDIS_SCHEMES):
        raise InvalidOption(
            "invalid imgstats setting: REDIS_URL (IMGSTATS_REDIS_URL) must be a redis:// "
            f"rediss:// or unix:// URL, not {_without_password(config['REDIS_URL'])!r}"
        )
    if config["REDIS_URL"]:
        _check_redis_url(config["REDIS_URL"])
    if config["CACHE_KEY"] in ("", None):
        config["CACHE_KEY"] = None
    elif len(str(config["CACHE_KEY"])) < 16:
        raise InvalidOption(
            "invalid imgstats setting: CACHE_KEY (IMGSTATS_CACHE_KEY) must be at least 16 "
            "characters long"
        )
    else:
        config["CACHE_KEY"] = str(config["CACHE_KEY"])  # an all-digit key was parsed as JSON
    if not isinstance(config["STORAGE_OPTIONS"], Mapping):
        raise InvalidOption(
            "invalid imgstats setting: STORAGE_OPTIONS (IMGSTATS_STORAGE_OPTIONS) must be a "
            "JSON object"
        )
