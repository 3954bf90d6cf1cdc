"""The image service behind the web app: store + summary cache + the core, for one app.

:class:`ImageService` is what views (the API and the gallery) use, at
``current_app.extensions["imgstats"]``. It reads the store live, caches one summary per
``(store, name, version[, page])`` and answers every statistic of an image from it.

Its one entry for statistics is :meth:`ImageService.answer` ``(name, funcs, selections)``: it
parses the functions once, owns the answer cache and its keys, and refines the summary for
every selection in one place. Besides it: :meth:`~ImageService.info` (header facts),
:meth:`~ImageService.list_images`, :meth:`~ImageService.render` (thumbnails) and
:meth:`~ImageService.read` (a file's bytes).

Slow work (store I/O, pixels) runs under :attr:`ImageService.slow`, a bounded set of slots
with a bounded queue, and decodes under :attr:`ImageService.decodes`, a pixel budget; both
refuse with :class:`~imgstats.errors.Busy` rather than tie up every request thread, so
``/health`` and cached answers stay quick while a store hangs.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import logging
import math
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from .._raster import RULE
from ..collection import PromotedPart, merge_summaries, promote, promoted_type, refine_many
from ..errors import (
    Busy,
    ImageNotFound,
    ImgStatsError,
    InvalidOption,
    NeedsRefinement,
    NoValidSamples,
    StoreTimeout,
    StoreUnavailable,
    with_message,
)
from ..functions import Function, parse_function
from ..io import read_header
from ..io._limits import DEFAULT_PIXEL_LIMIT, EAGER_BYTES
from ..io._meaning import check_palette
from ..io._pillow import check_pixels
from ..reduce import compute, refine, summarize
from ..regions import parse_window, polygon_parts
from ..summary import Summary
from ._limits import Gate, acquire, check_request
from .cache import ByteCache, CacheBudget, RedisLayer
from .store import (
    RACY_SECONDS,
    _is_timeout,
    cacheable,
    is_network_error,
    open_store,
    racy,
    store_error,
)

logger = logging.getLogger(__name__)

#: How often a question is asked again when its image changes while it is read (see
#: of_one_version); then it is answered with a one-time racy version.
_REREADS = 3


def of_one_version(ask, answer_racy):
    """``ask()``'s answer, asked again while the image changes as it is read.

    ``ask`` looks at the image's version, then reads its bytes; when the image changed in
    between (an atomic rename just after the look), the values are of the new bytes and
    the answer's version, hence its ``ETag``, of the old. Asked again, the look and the
    read agree; an image that keeps changing is answered with a one-time racy version,
    whose ``ETag`` never validates.

    Parameters
    ----------
    ask : callable
        ``ask()`` returns ``(answer, changed)``: ``changed`` when the image changed while
        it was read (nothing was kept); then ``answer`` is what ``answer_racy`` takes.
    answer_racy : callable
        ``answer_racy(answer)``: the last changed ``answer``, with a one-time racy version.

    Returns
    -------
    The first answer of an unchanged image, else ``answer_racy``'s.
    """
    for _ in range(_REREADS):
        answer, changed = ask()
        if not changed:
            return answer
    return answer_racy(answer)


def _with_racy_version(answer: Answer) -> Answer:
    return replace(answer, version=racy(answer.version))


__all__ = [
    "ImageService",
    "Answer",
    "Region",
    "check_page",
    "is_pattern",
    "needs_refinement",
    "pattern_matcher",
    "MAX_PATTERN_LENGTH",
    "MAX_WILDCARDS",
]


class ImageService:
    """Statistics of the images of one store, cached by image version.

    Parameters
    ----------
    config : Mapping
        The app's settings: ``IMAGES``, ``CACHE_BYTES``, ``CACHE_KEY``, ``REDIS_URL``,
        ``REDIS_TIMEOUT``, ``REDIS_BACKOFF``, ``REDIS_TTL``, ``LOCK_TIMEOUT``, ``LOCK_TTL``,
        ``DASK_SCHEDULER``,
        ``DASK_PIXELS``, ``DASK_TIMEOUT``, ``PIXEL_LIMIT``, ``STORE_TIMEOUT``, ``VERSION_TTL``
        ``STORAGE_OPTIONS``, ``DECODE_PIXELS``, ``DECODE_WAIT``, ``SLOW_WORKERS`` and
        ``SLOW_QUEUE`` (see :data:`imgstats.web.DEFAULTS`).

    Notes
    -----
    Every method raises the core's domain errors: :class:`~imgstats.ImageNotFound` for a name
    that is not an image of the store, :class:`~imgstats.UnknownFunction`,
    :class:`~imgstats.InvalidOption`, :class:`~imgstats.UnreadableImage`,
    :class:`~imgstats.ImageTooLarge`, :class:`~imgstats.StoreUnavailable` (and its subclass
    :class:`~imgstats.errors.StoreTimeout`), and :class:`~imgstats.errors.Busy` when the slots
    for slow work or the decode budget are full.
    """

    def __init__(self, config: Mapping):
        from ..data import gallery_path

        self.config = dict(config)
        self.warmed = False  # set by warm_up(): what /ready reports
        images = config.get("IMAGES") or gallery_path()
        self.store = open_store(
            images,
            timeout=float(config["STORE_TIMEOUT"]),
            version_ttl=float(config["VERSION_TTL"]),
            storage_options=dict(config.get("STORAGE_OPTIONS") or {}),
            racy_seconds=float(config.get("RACY_SECONDS", RACY_SECONDS)),
        )
        self.pixel_limit = int(config["PIXEL_LIMIT"])
        # Summaries, headers and finished answers share one byte budget and one LRU order.
        self.cache_budget = CacheBudget(config["CACHE_BYTES"])
        self.summaries = ByteCache(self.cache_budget)
        self.infos = ByteCache(self.cache_budget)
        #: Finished answers (:class:`Answer`) by (store, name, version, page, funcs, selections).
        self.answers = ByteCache(self.cache_budget)
        #: Finished bodies of ``GET /stats`` by (name, function, query string), each as
        #: ``(version, etag, body)``: a repeated request costs a version check and a lookup.
        self.bodies = ByteCache(self.cache_budget)
        self.redis = None
        if config.get("REDIS_URL"):
            self.redis = RedisLayer(
                config["REDIS_URL"],
                timeout=config["REDIS_TIMEOUT"],
                backoff=config["REDIS_BACKOFF"],
                ttl=config["REDIS_TTL"],
                secret=config.get("CACHE_KEY"),
                max_nbytes=config["CACHE_BYTES"],
                lock_ttl=config["LOCK_TTL"],
            )
        self._dask_client = None
        self._dask_lock = threading.Lock()
        wait = float(config.get("DECODE_WAIT", 20.0))
        #: Slots for slow work (store I/O, pixels): a few run, a few wait, the rest get Busy.
        self.slow = Gate(
            int(config.get("SLOW_WORKERS", 2)),
            wait=wait,
            max_waiting=int(config.get("SLOW_QUEUE", 8)),
            what="slow work slots",
        )
        #: Requests waiting for another request's identical computation (single-flight):
        #: they take no slot of slow work, and at most SLOW_QUEUE wait at once.
        self.max_followers = int(config.get("SLOW_QUEUE", 8))
        self._followers = 0
        self._followers_lock = threading.Lock()
        #: Pixels (width x height) being decoded at once in this process.
        self.decodes = Gate(
            int(config.get("DECODE_PIXELS") or 2 * self.pixel_limit),
            wait=wait,
            what="decode budget",
            retry_after=max(1, math.ceil(wait / 4)),
        )

    # -- the store ---------------------------------------------------------------------------
    def list_images(self) -> list[str]:
        """Sorted names of the image files in the store, read now."""
        if not self.store.remote:
            return self.store.list()
        with self.slow.hold():
            return self.store.list()

    def version(self, name: str) -> str:
        """The image's current version token (``mtime_ns-size``, ETag or generation)."""
        return self.store.stat(name)[0]

    def open(self, name: str):
        """The raw file of ``name``, opened for binary reading (a context manager)."""
        return self.store.open(name)

    def read(self, name: str) -> bytes:
        """The raw bytes of ``name`` (a slow-work slot is held while reading)."""
        with self.slow.hold(), self.store.open(name) as fh:
            return fh.read()

    def render(self, name: str, size: int, quality: int) -> bytes:
        """A WebP rendering of ``name`` whose longer side is at most ``size`` pixels.

        Held in a slow-work slot and in the decode budget; the gallery caches the result.
        """
        from ._thumbs import dataset_mask, render

        info = self.info(name)
        nodata = info.get("nodata")  # the header's, shown as transparent
        with self.slow.hold(), self._decoding(name), self.store.open(name) as fh:
            # an internal or sidecar mask hides pixels too (read lazily: only the rows the
            # preview samples are decoded, within the mask reader's bounded cache)
            mask = dataset_mask(
                fh,
                self.store.source(name),
                info.get("mask"),
                self.pixel_limit,
                self.store.storage_options if self.store.remote else None,
            )
            return render(
                fh, size, quality=quality, pixel_limit=self.pixel_limit, nodata=nodata, mask=mask
            )

    def redact(self, message: str) -> str:
        """``message`` without the store's local location, for clients."""
        return self.store.redact(message)

    # -- header information ------------------------------------------------------------------
    def info(self, name: str) -> dict:
        """Header facts of an image, without decoding pixels; cached by version.

        Returns
        -------
        dict
            ``name``, ``version``, ``bytes``, and the facts of
            :func:`imgstats.io.read_header` (``nodata_problem`` redacted as an error is).
        """
        version, size = self.store.stat(name)
        key = (self.store.url, name, version)
        facts = self.infos.peek(key) if cacheable(version) else None
        if facts is None:
            with self.slow.hold():
                if cacheable(version):
                    facts = self.infos.get_or_fill(key, lambda: self._read_header(name))
                else:  # the file may be being written: read it, keep nothing
                    facts = self._read_header(name)
        return {"name": name, "version": version, "bytes": size, **facts}

    def _read_header(self, name: str) -> dict:
        """The header facts of ``name``, read as its statistics read it: a local image by its
        path, so that its ``.msk`` and ``.aux.xml`` neighbours say which samples count, a
        remote one by its URL (an error names it so; the error handler redacts it, as the
        statistics' errors)."""
        # a remote image by its URL, as the statistics read it: never by its bare name, which
        # the TIFF reader would take for a path in the server's working folder and look
        # for "<name>.aux.xml" and "<name>.msk" there
        source = self.store.source(name)
        try:
            # headers are small: read remote files in 64 KB blocks, not fsspec's 5 MB
            with self.store.open(name, block_size=1 << 16) as fh:
                options = self.store.storage_options if self.store.remote else None
                facts = read_header(fh, source, storage_options=options)
        except ImgStatsError:  # ImageTooLarge from the header is the image's fault, not a 502
            raise
        except Exception as exc:  # fsspec clients raise their own network errors
            if self.store.remote:
                raise store_error(exc, "read") from exc
            raise
        if facts.get("nodata_problem"):  # the 422's message, as the error handler words it
            from .errors import in_http_words

            facts["nodata_problem"] = in_http_words(self.redact(facts["nodata_problem"]))
        return facts

    # -- statistics --------------------------------------------------------------------------
    def answer(
        self,
        name: str,
        funcs,
        selections=(None,),
        *,
        each_band: bool = False,
        histograms: bool = False,
        page: int | None = None,
        window=None,
        polygon=None,
        raw=False,
        nodata=None,
        bbox=None,
        crs=None,
        palette=None,
    ) -> Answer:
        """Answer ``funcs`` for each of ``selections`` of an image: the service's one entry.

        Parameters
        ----------
        name : str
            An image name of the store (``IMG_1.jpg``).
        funcs : str or list of str or Function
            Statistics to answer, each parsed once here (``min``, ``p99.5``...).
        selections : sequence
            Band selections: ``None`` for all samples, an index, a band name or ``"luma"``.
        each_band : bool
            Also answer every band of a multi-band image (``Answer.bands`` lists them).
        histograms : bool
            Also give each selection's histogram (for the gallery; such answers are not kept
            in the answer cache, whose entries stay small).
        page : int, optional
            The image's page (multi-page TIFFs), passed to io; part of every cache key.
        window : str or (x0, y0, x1, y1), optional
            Only the pixels of this half-open window count (clipped to the image); see
            :func:`imgstats.regions.parse_window`. Part of every cache key.
        polygon : list of (x, y) or GeoJSON Polygon or MultiPolygon dict, optional
            Only the pixels whose centre lies inside count (even-odd rule, holes subtracted;
            a MultiPolygon: the union of its parts);
            see :mod:`imgstats.regions`. Part of every cache key (as a digest of its rings).
        raw : bool or str
            Count every sample (NaN aside), ignoring the file's nodata, mask and alpha.
        nodata : number or str, optional
            Samples equal to it do not count, in place of the file's nodata and mask.
            ``raw`` and ``nodata`` are part of every cache key (in Redis too).
        bbox : str or (minx, miny, maxx, maxy), optional
            A box in map coordinates (the raster's CRS, or ``crs``): the pixels whose centre
            lies in it count. It becomes a pixel window (a polygon when reprojected or on a
            rotated raster), cached as that window is.
        crs : str, optional
            The CRS of ``bbox`` (``EPSG:4326``...), reprojected with pyproj (``geo`` extra).
        palette : {"rgb", "index"}, optional
            A palette image's colours (the default) or its class indices (one band ``P``, as
            GDAL reads a paletted TIFF). ``"index"`` is part of every cache key; on an image
            without a palette it is an InvalidOption.

        Returns
        -------
        Answer

        Raises
        ------
        UnknownFunction, InvalidOption, ImageNotFound, UnreadableImage, ImageTooLarge,
        StoreUnavailable, StoreTimeout
            The core's domain errors.
        Busy
            When the slots for slow work (store I/O, pixels) or the decode budget are full.

        Notes
        -----
        A cached answer costs one version check and one lookup, and never waits behind slow
        work: only a miss takes a slot of the bounded pool for slow work.
        """
        parsed = _parse_functions(funcs)  # refuse a bad name before touching the store
        page = check_page(page)
        region = self.region(
            name, window, polygon, raw=raw, nodata=nodata, bbox=bbox, crs=crs, palette=palette
        )
        selections = tuple(dict.fromkeys(selections))
        return of_one_version(
            lambda: self._answer_now(name, page, parsed, selections, each_band, histograms, region),
            _with_racy_version,
        )

    def _answer_now(self, name, page, parsed, selections, each_band, histograms, region):
        """``(answer, changed)`` for the image's current version; ``changed`` when that
        version was settled and the image changed while it was read (nothing was kept)."""
        version = self.version(name)
        key = (
            self.store.url,
            name,
            version,
            page,
            tuple((f.name, f.method, f.scaled) for f in parsed),
            selections,
            each_band,
        )
        if region:
            key += (region.key,)
        keep = not histograms and cacheable(version)
        if keep:
            cached = self.answers.peek(key)
            if cached is not None:
                return cached, False
        if not keep:  # the gallery's histograms, or a racy version: computed, not kept
            with self.slow.hold():
                answer, settled = self._answer(
                    name, version, page, parsed, selections, each_band, histograms, region
                )
            return answer, cacheable(version) and not settled
        slot = self.answers.slot(key)
        with self._single_flight(slot):
            if slot.value is None:
                with self.slow.hold():
                    answer, settled = self._answer(
                        name, version, page, parsed, selections, each_band, region=region
                    )
                if not settled:  # the file changed while it was read: keep nothing
                    return answer, True
                slot.value = answer
            return slot.value, False

    def region(
        self,
        name,
        window=None,
        polygon=None,
        *,
        raw=False,
        nodata=None,
        bbox=None,
        crs=None,
        palette=None,
    ) -> Region:
        """The checked :class:`Region` of a question on image ``name``; a ``bbox`` in map
        coordinates (``crs``: its CRS, else the raster's) becomes pixels here, from the
        header's georeferencing, so it is cached as the pixel window it selects.

        Raises
        ------
        InvalidOption
            A bad window, polygon, raw or nodata; a bbox beside a window, a bad or inverted
            bbox, a ``crs`` without a bbox, an unknown CRS, an image without georeferencing,
            pyproj missing for another CRS (the message names ``imgstats[geo]``).
        NoValidSamples
            The bbox holds no pixel centre of the image.
        """
        if bbox is None and crs is None:
            return Region.of(window, polygon, raw=raw, nodata=nodata, palette=palette)
        Region.of(window, polygon, raw=raw, nodata=nodata, palette=palette)  # refuse bad ones
        if bbox is None:
            raise InvalidOption("crs says the CRS of a bbox: give a bbox too")
        if window is not None:
            raise InvalidOption("give a window in pixels or a bbox in map coordinates, not both")
        if isinstance(bbox, str) and len(bbox) > _MAX_BBOX_TEXT:
            raise InvalidOption(
                f"invalid bbox {bbox[:24]!r}...: use four numbers minx,miny,maxx,maxy"
            )
        if crs is not None and (not isinstance(crs, str) or len(crs) > _MAX_CRS_TEXT):
            raise InvalidOption(
                f"invalid crs {str(crs)[:24]!r}: give a CRS name such as 'EPSG:4326'"
            )
        from ..io._geo import map_region

        map_window, map_polygon = map_region(self._georeference(name), bbox, None, crs)
        if map_polygon is not None and polygon is not None:
            raise InvalidOption(
                "a reprojected (or rotated) bbox is a polygon: give a bbox or a polygon, not both"
            )
        return Region.of(
            map_window,
            polygon if map_polygon is None else map_polygon,
            raw=raw,
            nodata=nodata,
            palette=palette,
        )

    def _georeference(self, name: str):
        """The image's :class:`~imgstats.io._geo.Georeference` from its header facts (read
        once per version, no pixels), or None without georeferencing."""
        from affine import Affine

        from ..io._geo import Georeference

        info = self.info(name)
        transform, crs = info.get("transform"), info.get("crs")
        if transform is None:
            return None
        epsg = int(crs.split(":")[1]) if isinstance(crs, str) and crs.startswith("EPSG:") else None
        return Georeference(Affine(*transform[:6]), epsg, int(info["width"]), int(info["height"]))

    def histogram(
        self,
        name: str,
        selections=(None,),
        *,
        bins=None,
        range=None,
        each_band: bool = False,
        page: int | None = None,
        window=None,
        raw=False,
        nodata=None,
        bbox=None,
        crs=None,
        palette=None,
    ) -> Answer:
        """``numpy.histogram(valid samples, bins, range)`` of each selection of an image.

        An 8/16-bit image's comes from its cached summary (no pixel read on a warm image);
        a 32/64-bit or float image's takes one pass over the pixels (the summary gives the
        default range, its exact min and max). Answers are cached like :meth:`answer`'s.

        Parameters
        ----------
        name, selections, each_band, page, window, raw, nodata, bbox, crs
            As for :meth:`answer`.
        bins : int or str, optional
            1 to :data:`imgstats._histogram.MAX_BINS` equal bins (default 10, numpy's).
        range : str or (lo, hi), optional
            The outer edges; by default the selection's min and max.

        Returns
        -------
        Answer
            Its one function is ``"histogram"``, whose value for a selection is
            ``{"counts": [...], "edges": [...]}`` (``bins`` counts, ``bins + 1`` edges).
        """
        from .. import _histogram

        bins = _histogram.check_bins(bins)
        rng = _histogram.check_range(range)
        page = check_page(page)
        region = self.region(
            name, window, None, raw=raw, nodata=nodata, bbox=bbox, crs=crs, palette=palette
        )
        selections = tuple(dict.fromkeys(selections))
        return of_one_version(
            lambda: self._histogram_now(name, selections, bins, rng, each_band, page, region),
            _with_racy_version,
        )

    def _histogram_now(self, name, selections, bins, rng, each_band, page, region):
        """``(answer, changed)`` of :meth:`histogram` for the image's current version, as
        :meth:`_answer_now`."""
        from .. import _histogram

        version = self.version(name)
        key = (self.store.url, name, version, page, "histogram", bins, rng, selections, each_band)
        key += (region.key,)

        def work():
            summary_key = self._summary_key(name, version, page, region)
            summary, _ = self._summary(summary_key, name, page, region)
            wanted = self._wanted(summary, selections, each_band)
            sels = {sel: summary.selection(sel) for sel in wanted}
            if _histogram.needs_pixels(summary):
                found = self._histogram_pass(
                    summary, name, sorted(set(sels.values())), bins, rng, page, region
                )
            else:
                found = {}
                for sel in set(sels.values()):
                    try:
                        found[sel] = _histogram.of_summary(summary, sel, bins, rng)
                    except NoValidSamples:
                        found[sel] = None
            values, counts, empty = {}, {}, {}
            for sel, key_ in sels.items():
                hist = found[key_]
                values[sel] = None if hist is None else {"histogram": hist}
                if hist is None:
                    empty[sel] = (
                        "no valid samples: the selection is empty, or NaN, nodata or masked"
                    )
                counts[sel] = int(summary.stats(sel).count)
            answer = Answer(
                name,
                version,
                page,
                ("histogram",),
                summary.dtype.name,
                tuple(int(n) for n in summary.shape),
                tuple(summary.band_names),
                self._bands(summary, each_band),
                values,
                counts,
                empty=empty,
                valid=valid_of(summary),
                band_valid=band_valid_of(summary, values),
            )
            return region.answer(answer, summary)

        if not cacheable(version):
            with self.slow.hold():
                return work(), False
        cached = self.answers.peek(key)
        if cached is not None:
            return cached, False
        slot = self.answers.slot(key)
        with self._single_flight(slot):
            if slot.value is None:
                with self.slow.hold():
                    answer = work()
                if not self._settled((self.store.url, name, version)):
                    return answer, True
                slot.value = answer
            return slot.value, False

    def _histogram_pass(self, summary, name, sels, bins, rng, page, region) -> dict:
        """The histograms of a 32/64-bit or float image's selections: one pass over its
        pixels, in this process (under the decode budget)."""
        from .. import _histogram
        from .._passes import _plan, _region

        check_request()
        options = self._options(page, region)
        window, polygon = options.pop("window", None), options.pop("polygon", None)
        with _StoreErrors(self.store.remote), self._decoding(name):
            data, options = _region(self.store.source(name), window, None, polygon, options)
            plan = _plan(data, None, options)
            return _histogram.of_pixels(summary, plan, sels, bins, rng)

    @contextlib.contextmanager
    def _single_flight(self, slot):
        """Hold ``slot``'s lock: at once when no other request computes its value, else
        waiting for that request without taking a slot of slow work (its result is then in
        the slot). At most ``SLOW_QUEUE`` requests wait so at once (then Busy); a waiter
        stops when its client leaves or its time budget ends."""
        if not slot.lock.acquire(blocking=False):
            with self._followers_lock:
                if self._followers >= self.max_followers:
                    raise Busy(
                        "the service is busy (too many requests waiting for the same "
                        "computations): retry later"
                    )
                self._followers += 1
            try:
                acquire(slot.lock)
            finally:
                with self._followers_lock:
                    self._followers -= 1
        try:
            yield slot
        finally:
            slot.lock.release()

    def _answer(
        self, name, version, page, funcs, selections, each_band, histograms=False, region=None
    ):
        """``(answer, settled)``: an :class:`Answer` from the (cached, refined) summary, and
        whether values computed now may be cached (see :meth:`_settled`)."""
        region = region or Region()
        key = self._summary_key(name, version, page, region)
        if not cacheable(version):  # being written: compute, keep nothing, evict nothing
            summary = self._summarize(name, page, region)
            summary, bands = self._refined(
                summary, name, funcs, selections, each_band, page, region
            )
            answer = Answer.of(summary, name, version, page, funcs, selections, bands, histograms)
            return region.answer(answer, summary), False
        slot = self.summaries.slot(key)
        summary = slot.value
        settled = True
        if summary is None:
            with slot.lock:
                summary = slot.value
                if summary is None:
                    summary = self._shared(key, name, region)
                    if summary is None:
                        summary, settled = self._summarize_once(key, name, page, region)
                    slot.value = summary if settled else None
        wanted = self._wanted(summary, selections, each_band)
        if needs_refinement(summary, funcs, wanted):
            with slot.lock:
                summary = slot.value if slot.value is not None else summary
                if needs_refinement(summary, funcs, wanted):
                    summary = self._refine(summary, name, funcs, wanted, page, region)
                    if settled and self._settled(key):
                        slot.value = summary
                        self._share(key, summary)
                    else:
                        settled = False
        answer = Answer.of(
            summary,
            name,
            version,
            page,
            funcs,
            selections,
            self._bands(summary, each_band),
            histograms,
        )
        if slot.value is summary:
            slot.value = summary  # re-weigh: answering keeps cumulative counts on the summary
        return region.answer(answer, summary), settled

    def _bands(self, summary: Summary, each_band: bool) -> tuple:
        """Every band index of a multi-band image when asked for, else ()."""
        if each_band and len(summary.band_names) > 1:
            return tuple(range(len(summary.band_names)))
        return ()

    def _wanted(self, summary: Summary, selections, each_band: bool) -> tuple:
        """The selections to answer (each band too, if asked), each checked against the image."""
        wanted = tuple(dict.fromkeys(tuple(selections) + self._bands(summary, each_band)))
        for sel in wanted:
            summary.selection(sel)  # refuse an unknown band before any pixel pass
        return wanted

    def _refined(self, summary, name, funcs, selections, each_band, page, region=None):
        """``(summary refined for every wanted selection, band indices)``, keeping nothing."""
        wanted = self._wanted(summary, selections, each_band)
        if needs_refinement(summary, funcs, wanted):
            summary = self._refine(summary, name, funcs, wanted, page, region)
        return summary, self._bands(summary, each_band)

    def _summary(self, key, name: str, page: int | None, region: Region):
        """``(summary, slot)`` of ``key`` for a collection's part: filled (from Redis, or from
        the pixels) if it was not cached; the slot is None when the summary may not be kept
        (the version is racy, or the file changed while it was read)."""
        if not cacheable(key[2]):  # being written: compute, keep nothing, evict nothing
            return self._summarize(name, page, region), None
        slot = self.summaries.slot(key)
        summary = slot.value
        if summary is None:
            with slot.lock:
                summary = slot.value
                if summary is None:
                    summary = self._shared(key, name, region)
                    settled = True  # a summary from Redis was settled when it was stored
                    if summary is None:
                        summary, settled = self._summarize_once(key, name, page, region)
                    if not settled:
                        return summary, None
                    slot.value = summary
        return summary, slot

    def _summary_key(
        self, name: str, version: str, page: int | None, region: Region | None = None
    ) -> tuple:
        """The key of an image version's summary (the page only when one is asked for; a
        region's key after the page, so a whole image's keys stay what they were)."""
        if region:
            return (self.store.url, name, version, page, region.key)
        if page is None:
            return (self.store.url, name, version)
        return (self.store.url, name, version, page)

    def _settled(self, key) -> bool:
        """Whether a value just computed for ``key`` (store, name, version[, page]) may be
        cached.

        Not when the version is racy (changed moments before it was read: it may be being
        written), nor when the store has another version now (it changed while it was read:
        the bytes may be half old, half new). Asked after reading, never before.
        """
        return self.store.unchanged(key[1], key[2])

    def _summarize_once(
        self, key, name: str, page: int | None = None, region: Region | None = None
    ) -> tuple[Summary, bool]:
        """Summarize, or wait for the worker process that holds the key's Redis lock; return
        the summary and whether it may be cached (see :meth:`_settled`)."""
        if self.redis is None:
            summary = self._summarize(name, page, region)
            return summary, self._settled(key)
        settled = True

        def compute() -> Summary:
            nonlocal settled
            summary = self._summarize(name, page, region)
            settled = self._settled(key)  # asked after the bytes were read
            return summary

        summary = self.redis.compute_once(
            key, compute, timeout=self.config["LOCK_TIMEOUT"], keep=lambda: settled
        )
        self._check_shared(name, region, summary)  # it may be the lock holder's, from Redis
        return summary, settled

    def _shared(self, key, name: str, region: Region | None) -> Summary | None:
        """The summary of ``key`` another server stored in Redis, if any (None without Redis)."""
        summary = self.redis.get(key) if self.redis is not None else None
        if summary is not None:
            self._check_shared(name, region, summary)
        return summary

    def _check_shared(self, name: str, region: Region | None, summary: Summary) -> None:
        """Refuse a summary from Redis of an image over this server's ``PIXEL_LIMIT``, as
        its decode would be refused: servers with other limits share the Redis (its keys
        name the image, not the limit), and one with a lower limit answered 200 for an
        image it refused with 413 until another server had summarized it."""
        shape = summary.shape
        if region or len(shape) < 2:  # a window's summary has the window's shape
            self.check_limit(name)
        else:
            check_pixels(shape[1], shape[0], self.pixel_limit, name)

    def check_limit(self, name: str) -> None:
        """Raise ImageTooLarge if the header of ``name`` declares more than ``PIXEL_LIMIT``
        pixels (for an answer that another server computed, under its own limit)."""
        info = self.info(name)
        check_pixels(info["width"], info["height"], self.pixel_limit, name)

    def _share(self, key, summary: Summary) -> None:
        if self.redis is not None:
            self.redis.set(key, summary)

    def _options(self, page: int | None = None, region: Region | None = None) -> dict:
        options = {"pixel_limit": self.pixel_limit}
        if self.store.remote:
            options["storage_options"] = self.store.storage_options
        if page is not None:
            options["page"] = page
        if region:
            options.update(region.options())
        return options

    def _summarize(
        self, name: str, page: int | None = None, region: Region | None = None
    ) -> Summary:
        check_request()  # before each image's decode, the step that is not interrupted
        source = self.store.source(name)
        options = self._options(page, region)
        with _StoreErrors(self.store.remote):
            client, lazy = self._cluster_for(name)
            if client is None:
                with self._decoding(name):
                    return summarize(source, **options)
            if lazy:  # a big TIFF: workers read their own chunks from the store
                return summarize(source, scheduler=client, **options)
            future = client.submit(summarize, source, pure=False, **options)
            return self._result(future)

    def _refine(
        self,
        summary: Summary,
        name: str,
        funcs,
        selections,
        page: int | None = None,
        region: Region | None = None,
    ) -> Summary:
        """Refine ``summary`` so that it answers ``funcs`` for every one of ``selections``
        (one pass over the pixels refines them all)."""
        wanted = [sel for sel in selections if needs_refinement(summary, funcs, [sel])]
        if not wanted:
            return summary
        check_request()
        source = self.store.source(name)
        options = self._options(page, region)
        with _StoreErrors(self.store.remote):
            client, lazy = self._cluster_for(name)
            if client is None:
                with self._decoding(name):
                    return refine(summary, source, funcs, wanted, **options)
            if lazy:
                return refine(summary, source, funcs, wanted, scheduler=client, **options)
            return self._result(
                client.submit(refine, summary, source, funcs, wanted, pure=False, **options)
            )

    # -- collections -------------------------------------------------------------------------
    def match(self, pattern: str) -> list[str]:
        """The store's image names matching ``pattern`` (:func:`fnmatch.fnmatchcase` rules),
        sorted.

        Raises
        ------
        InvalidOption
            A pattern longer than :data:`MAX_PATTERN_LENGTH` characters or with more than
            :data:`MAX_WILDCARDS` wildcards.
        """
        matches = pattern_matcher(pattern)
        return [n for n in self.list_images() if matches(n)]

    def collection(
        self,
        pattern: str,
        funcs,
        selections=(None,),
        *,
        each_band: bool = False,
        histograms: bool = False,
        page: int | None = None,
        window=None,
        names=None,
        raw=False,
        nodata=None,
        palette=None,
    ) -> Answer:
        """Answer ``funcs`` over the samples of every image whose name matches ``pattern``.

        The samples of all the matched images are one set: the values equal numpy's on the
        concatenation of every image's samples. Each image's summary is the one its own
        ``/stats`` uses (cached by version, shared through Redis), so after every image was
        seen once an 8- or 16-bit collection reads no pixels; a 32/64-bit percentile reads
        again only the images holding samples in the bins it refines
        (:func:`imgstats.collection.refine_many`), once: the refined merge is cached.

        Parameters
        ----------
        pattern : str
            :func:`fnmatch.fnmatchcase` rules (``*``, ``?``, ``[seq]``) over the store's names.
        funcs, selections, each_band, histograms, page
            As for :meth:`answer`.
        window : str or (x0, y0, x1, y1), optional
            The same window of every image (clipped to each).
        names : sequence of str, optional
            These images of the store rather than those ``pattern`` matches (``pattern`` is
            then only the answer's ``name``): the gallery pools the images of one type.
        raw, nodata : optional
            As for :meth:`answer`, for every image (each image's nodata is checked against
            its own type).

        Returns
        -------
        Answer
            ``name`` is the pattern, ``version`` a digest of every matched image's version,
            ``images`` the matched ``(name, version)`` pairs.

        Raises
        ------
        ImageNotFound
            No image matches.
        InvalidOption
            More than ``COLLECTION_LIMIT`` images match, or their pixel types promote (as
            numpy's :func:`numpy.result_type`) to a type that a 32/64-bit image of them does
            not have: only 8/16-bit images are promoted, from their summaries, as the
            library's :func:`~imgstats.collection.promoted_type` with ``decode_again=False``
            says (the library itself decodes such an image again).
        UnreadableImage, ImageTooLarge, StoreUnavailable...
            The first matched image that fails, named in the message: one unreadable image
            fails the whole question, so an answer is always over exactly ``images``.
        Busy
            As for :meth:`answer`.
        """
        parsed = _parse_functions(funcs)
        page = check_page(page)
        region = Region.of(window, None, raw=raw, nodata=nodata, palette=palette)
        selections = tuple(dict.fromkeys(selections))
        names = self.match(pattern) if names is None else list(dict.fromkeys(names))
        if not names:
            raise ImageNotFound(f"no image matches the pattern {pattern!r}")
        limit = int(self.config.get("COLLECTION_LIMIT", 1000))
        if len(names) > limit:
            raise InvalidOption(
                f"the pattern {pattern!r} matches {len(names)} images, more "
                f"than the limit of {limit}: narrow it"
            )
        return of_one_version(
            lambda: self._collection_now(
                names, pattern, page, region, parsed, selections, each_band, histograms
            ),
            _with_racy_version,
        )

    def _collection_now(
        self, names, pattern, page, region, parsed, selections, each_band, histograms
    ):
        """``(answer, changed)`` of :meth:`collection` for the images' current versions, as
        :meth:`_answer_now`: ``changed`` when an image changed while it was read."""
        images = tuple((name, _named(self.version, name)) for name in names)
        digest = hashlib.sha256(repr(images).encode()).hexdigest()[:32]
        key = (self.store.url, "collection", images, page, region.key)
        answer_key = key + (
            tuple((f.name, f.method, f.scaled) for f in parsed),
            selections,
            each_band,
        )
        # a racy image (it may be being written) makes the whole answer racy: kept nowhere
        keep = all(cacheable(v) for _, v in images)
        if keep and not histograms:
            cached = self.answers.peek(answer_key)
            if cached is not None:
                return cached, False

        def work():
            return self._collect(
                key,
                images,
                digest,
                pattern,
                page,
                region,
                parsed,
                selections,
                each_band,
                histograms,
                keep,
            )

        if histograms or not keep:
            with self.slow.hold():
                answer, settled = work()
            return answer, keep and not settled
        slot = self.answers.slot(answer_key)
        with self._single_flight(slot):
            if slot.value is None:
                with self.slow.hold():
                    answer, settled = work()
                if not settled:  # an image changed while it was read: keep nothing
                    return answer, True
                slot.value = answer
            return slot.value, False

    def _collect(
        self,
        key,
        images,
        digest,
        pattern,
        page,
        region,
        funcs,
        selections,
        each_band,
        histograms,
        keep=True,
    ) -> tuple[Answer, bool]:
        """Merge (and refine) the matched images' summaries into ``(answer, settled)``:
        ``settled`` is False when an image changed while it was read (nothing was kept).

        The parts stream in one at a time (:meth:`_merged`), so a collection holds its merge
        and one part besides the cache. The merge is kept under ``key`` like an image's
        summary: its slot's lock is held while the parts come, so the parts evicting each
        other from the cache never evict it. A new function of an 8/16-bit collection is then
        answered from it alone.
        """
        settled = True
        if not keep:  # racy: merge (and refine) without keeping anything
            merged = self._merged(images, page, region)
        else:
            slot = self.summaries.slot(key)
            merged = slot.value
            if merged is None:
                with slot.lock:
                    merged = slot.value
                    if merged is None:
                        merged = self._merged(images, page, region)
                        settled = self._all_settled(images)  # asked after reading
                        if settled:
                            slot.value = merged
        bands = ()
        if each_band and len(merged.band_names) > 1:
            bands = tuple(range(len(merged.band_names)))
        wanted = tuple(dict.fromkeys(selections + bands))
        for sel in wanted:
            _check_collection_band(merged, sel, pattern, lambda: [self.info(n) for n, _ in images])
        if needs_refinement(merged, funcs, wanted):
            if not keep or not settled:
                merged = self._refine_collection(merged, images, funcs, wanted, page, region)
            else:
                with slot.lock:
                    merged = slot.value if slot.value is not None else merged
                    merged = self._refine_collection(merged, images, funcs, wanted, page, region)
                    settled = self._all_settled(images)
                    if settled:
                        slot.value = merged
        answer = Answer.of(merged, pattern, digest, page, funcs, selections, bands, histograms)
        return replace(answer, images=images, region=region.samples()), settled

    def _all_settled(self, images) -> bool:
        """Whether every ``(name, version)`` of a collection is still its image's settled
        version (see :meth:`_settled`): asked after reading, never before."""
        return all(self.store.unchanged(name, version) for name, version in images)

    def _merged(self, images, page, region) -> Summary:
        """The merge of the images' summaries, each fetched (cached, from Redis, or summarized
        now) and merged as it comes: one part is held at a time besides the merge.

        A mix of types that needs pixels decoded again is refused from the headers first:
        answers come from each image's own summary, of its own type.
        """
        names = [name for name, _ in images]
        dtypes = [_named(lambda n: self.info(n)["dtype"], n) for n in names]
        # numpy's promotion is not associative (int8 with uint16 is int32, and then with
        # float32 float64; all three at once are float32): each part is promoted to the
        # type of the whole set before it is merged
        target = promoted_type(dtypes, names, decode_again=False)
        merged = None
        for name, version in images:
            check_request()
            part = promote([self._part(name, version, page, region)], target, [name])[0]
            if isinstance(part, PromotedPart):  # its summary, of the target type
                part = part.summary
            if merged is None:
                merged = merge_summaries([part], [name])
            else:
                merged = merge_summaries([merged, part], [f"the images before {name}", name])
            del part
        return merged

    def _part(self, name, version, page, region) -> Summary:
        """One image's summary for a collection (errors name the image)."""
        key = self._summary_key(name, version, page, region)
        return _named(lambda n: self._summary(key, n, page, region)[0], name)

    def _refine_collection(self, merged, images, funcs, selections, page, region):
        """Refine a collection's merged summary for every selection (pixels of the images
        holding samples in the refined bins only, one image at a time; their summaries are
        fetched one at a time too, from the cache or summarized again)."""
        names = [name for name, _ in images]
        sources = [self.store.source(name) for name in names]
        options = self._options(page, region)
        wanted = list(funcs)  # Functions: each keeps its percentile method
        widest = max(names, key=lambda n: self.info(n)["width"] * self.info(n)["height"])

        def part(i):
            check_request()
            return self._part(*images[i], page, region)

        with _StoreErrors(self.store.remote), self._decoding(widest):
            for sel in selections:
                if not needs_refinement(merged, funcs, [sel]):
                    continue
                # one image at a time: the decode budget holds the widest image only
                merged = refine_many(merged, part, sources, wanted, sel, max_workers=1, **options)
        return merged

    def _decoding(self, name: str):
        """Hold the image's pixels (width x height from its header) in the decode budget."""
        info = self.info(name)
        return self.decodes.hold(int(info["width"]) * int(info["height"]))

    # -- dask ------------------------------------------------------------------------------
    def _result(self, future):
        """A cluster task's result within ``DASK_TIMEOUT`` (StoreTimeout after that)."""
        try:
            return future.result(timeout=float(self.config["DASK_TIMEOUT"]))
        except TimeoutError as exc:
            future.cancel()
            raise StoreTimeout("the dask cluster did not finish in time") from exc

    def _cluster_for(self, name: str):
        """``(client, lazy)``: the dask client for a large image (else None), and whether the
        image is a TIFF big enough for the core to read it lazily chunk by chunk."""
        if not self.config.get("DASK_SCHEDULER"):
            return None, False
        info = self.info(name)
        check_pixels(info["width"], info["height"], self.pixel_limit, name)
        if info["width"] * info["height"] < int(self.config["DASK_PIXELS"]):
            return None, False
        lazy = info["format"] == "TIFF" and info["bytes"] > EAGER_BYTES
        return self.dask_client(), lazy

    def dask_client(self):
        """The ``distributed.Client`` of ``DASK_SCHEDULER``, connected on first use."""
        with self._dask_lock:
            if self._dask_client is None:
                from distributed import Client

                address = self.config["DASK_SCHEDULER"]
                try:
                    self._dask_client = Client(
                        address,
                        timeout=float(self.config["STORE_TIMEOUT"]),
                        set_as_default=False,
                    )
                except OSError as exc:
                    raise StoreUnavailable(f"the dask cluster at {address} is unreachable") from exc
            return self._dask_client

    # -- lifecycle ---------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Load numba's kernels and walk every reading path once, so no request pays a
        compile, the load of numba's cache or the import of a reader (readiness: ``/ready``).

        Tiny arrays of each pixel type, then tiny files of each kind a store holds: Pillow's
        8-bit images counted in place (grey, RGB, RGBA), and TIFFs of each type, which come
        through tifffile, xarray and dask. Each is summarized, refined and asked for its luma
        where it has one, so every argument type of the kernels is compiled (read-only
        arrays differ from writable ones for numba).
        """
        import tempfile

        import tifffile
        from PIL import Image

        from .. import _jit

        _jit.load()  # else these tiny arrays would be counted by the kernels' Python bodies
        rng = np.random.default_rng(0)
        samples = [
            rng.integers(0, 255, (4, 4, 3), dtype=np.uint8),
            rng.integers(0, 255, (4, 4), dtype=np.uint8),
            rng.integers(0, 60000, (4, 4), dtype=np.uint16),
            rng.integers(-3000, 3000, (4, 4), dtype=np.int16),
            rng.integers(-3000, 3000, (4, 4), dtype=np.int32),
            rng.random((4, 4), dtype=np.float32),
            rng.random((4, 4)),
        ]
        funcs = ["p10", "median"]
        for arr in samples:
            s = summarize(arr)
            refine(s, arr, funcs)
            readonly = arr.copy()
            readonly.flags.writeable = False  # decoders hand out read-only buffers
            refine(summarize(readonly), readonly, funcs)
        from ..zones import zonal

        labels = np.arange(16).reshape(4, 4) % 3
        for arr in samples[1:]:  # the grouped core's kernels, for /zonal
            zonal(arr, labels, funcs + ["mean"])
        # the warm-up's own files (up to 4 MP), whatever IMGSTATS_PIXEL_LIMIT says: a limit
        # under theirs (1e6) refused them, and every worker failed to boot with a traceback
        limit = {"pixel_limit": DEFAULT_PIXEL_LIMIT}
        with tempfile.TemporaryDirectory() as folder:
            paths = []
            for mode, arr in [
                ("RGB", samples[0]),
                ("L", samples[1]),
                # a transparent pixel: alpha-0 pixels leave the counts by their own kernel
                ("RGBA", np.dstack([samples[0], np.where(samples[1] < 128, 0, samples[1])])),
            ]:
                paths.append(os.path.join(folder, f"warm-{mode}.png"))
                Image.fromarray(arr, mode).save(paths[-1])
                if mode != "RGBA":  # the JPEG decoder's plugin and libjpeg, loaded once
                    paths.append(os.path.join(folder, f"warm-{mode}.jpg"))
                    Image.fromarray(arr, mode).save(paths[-1])
            for arr in samples[1:] + [samples[0]]:
                paths.append(os.path.join(folder, f"warm-{arr.dtype}-{arr.ndim}.tif"))
                tifffile.imwrite(paths[-1], arr)
                # tiled and deflated, as most stores' TIFFs are: the codec is loaded here too
                big = np.tile(arr, (8, 8) + (1,) * (arr.ndim - 2))
                paths.append(os.path.join(folder, f"warm-{arr.dtype}-{arr.ndim}-tiled.tif"))
                tifffile.imwrite(paths[-1], big, compression="zlib", tile=(16, 16))
            for path in paths:
                s = summarize(path, **limit)
                refine(s, path, funcs, **limit)
                if len(s.band_names) >= 3:
                    refine(summarize(path, **limit), path, funcs, "luma", **limit)
                    compute(path, "median", "luma", **limit)
            # One TIFF of a store's size, read twice: its tiles are decoded on tifffile's
            # threads and counted on the pool's, whose first buffers of this size (new
            # threads' malloc arenas, fresh pages) made the first such request about twice
            # as slow as the second (measured in benchmarks/bench_startup.py).
            path = os.path.join(folder, "warm-store-size.tif")
            side = 2048
            ramp = np.arange(side * side, dtype=np.uint16).reshape(side, side)
            tifffile.imwrite(path, ramp, compression="zlib", tile=(256, 256))
            for _ in range(2):
                summarize(path, **limit)
            # The same for a photograph: an RGB JPEG large enough to be counted while it
            # decodes (on a thread of its own, see imgstats.io._pillow_memory).
            path = os.path.join(folder, "warm-store-size.jpg")
            photo = np.broadcast_to(ramp[::2, :, None] >> 8, (side // 2, side, 3))
            Image.fromarray(np.ascontiguousarray(photo, np.uint8)).save(path, quality=90)
            for _ in range(2):
                summarize(path, **limit)
        self.warmed = True

    def cache_clear(self) -> None:
        """Forget every cached summary and header (not Redis)."""
        self.summaries.cache_clear()
        self.infos.cache_clear()
        self.answers.cache_clear()
        self.bodies.cache_clear()

    def close(self) -> None:
        """Close the Redis pool and the dask client."""
        if self.redis is not None:
            self.redis.close()
        with self._dask_lock:
            if self._dask_client is not None:
                self._dask_client.close()
                self._dask_client = None


def valid_of(summary: Summary) -> dict | None:
    """What decided which samples ``summary`` counted, as an answer's ``valid`` shows it:
    ``{"mask", "nodata", "source"}``, or ``None`` when that is no one rule."""
    return None if summary.valid is None else summary.valid.as_dict()


def band_valid_of(summary: Summary, selections) -> dict:
    """``{selection: valid}`` of the ``selections`` whose samples counted by another rule
    than the whole summary's (:meth:`Summary.valid_for`: the alpha band alone)."""
    whole = valid_of(summary)
    out = {}
    for sel in selections:
        valid = summary.valid_for(sel)
        valid = None if valid is None else valid.as_dict()
        if valid != whole:
            out[sel] = valid
    return out


def needs_refinement(summary: Summary, funcs, bands) -> bool:
    """True when a 32/64-bit percentile of ``funcs`` needs another pixel pass for a band.

    8- and 16-bit summaries hold the whole histogram and answer everything on their own.
    """
    if not funcs or summary.dtype.itemsize <= 2:
        for band in bands:
            summary.selection(band)  # still refuse an unknown band
        return False
    return bool(summary.missing(funcs, list(bands)))


class _StoreErrors:
    """Turn network failures met while reading pixels into StoreTimeout / StoreUnavailable.

    The core reports a failed open as StoreUnavailable; a timeout deeper down may surface
    as another error, so the cause chain decides.
    """

    def __init__(self, remote: bool):
        self.remote = remote

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not self.remote or isinstance(exc, StoreTimeout):
            return False
        if isinstance(exc, (ImgStatsError, OSError)) and _is_timeout(exc):
            raise store_error(exc, "read") from exc
        # a failed or cut-off read, which a decoder may have called a corrupt file
        if not isinstance(exc, StoreUnavailable) and is_network_error(exc):
            raise store_error(exc, "read") from exc
        return False


#: The longest collection pattern (characters), and the most wildcards (``*``, ``?``, ``[``)
#: in one: each distinct pattern costs a regular expression compiled for it.
MAX_PATTERN_LENGTH = 256
MAX_WILDCARDS = 16


def _check_collection_band(merged, band, pattern: str, headers) -> None:
    """Refuse a band a collection's merge lacks; when its images' bands differ (the merge has
    the one band ``all``), say so, as :func:`imgstats.compute` does for a list of images:
    the bare "unknown band 'R'" did not say why an RGB image's band is unknown.

    A band index of such a merge is refused too when some image has several bands (the
    images' ``headers()`` say): ``band=0`` read the one band ``all``, and pooled an RGB
    image's G and B with a grey image's samples as band 0 of each, as the library did.
    """
    mixed = merged.band_names == ("all",) and band not in (None, "all", "luma")
    try:
        merged.selection(band)
    except InvalidOption as exc:
        if not mixed:
            raise
        cause = exc
    else:
        if not mixed or not any(len(info["bands"]) > 1 for info in headers()):
            return
        cause = None
    raise InvalidOption(
        f"the images {pattern!r} matches have different bands, so all their samples "
        "count as one band, 'all': ask for band=None, or match images with the same bands"
    ) from cause


def pattern_matcher(pattern: str):
    """A function telling whether a name matches ``pattern`` (fnmatch rules, case-sensitive).

    Compiled here rather than by :func:`fnmatch.fnmatchcase`, whose cache keeps up to 32,768
    compiled patterns per process, each distinct pattern a client sends.

    Raises
    ------
    InvalidOption
        Longer than :data:`MAX_PATTERN_LENGTH` or with more than :data:`MAX_WILDCARDS`
        wildcards.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidOption(
            f"the pattern is {len(pattern)} characters long: at most {MAX_PATTERN_LENGTH}"
        )
    wildcards = sum(pattern.count(c) for c in "*?[")
    if wildcards > MAX_WILDCARDS:
        raise InvalidOption(
            f"the pattern has {wildcards} wildcards (*, ?, [): at most {MAX_WILDCARDS}"
        )
    return re.compile(fnmatch.translate(pattern), re.DOTALL).match


def is_pattern(name: str) -> bool:
    """Whether an image name in a URL is a collection pattern (it holds ``*`` or ``?``)."""
    return "*" in name or "?" in name


def _named(fn, name: str):
    """``fn(name)``, with ``name`` put in the message of a domain error that lacks it."""
    try:
        return fn(name)
    except Busy:
        raise
    except ImgStatsError as exc:
        if name in str(exc):
            raise
        raise with_message(exc, f"{name}: {exc}") from exc


#: The longest ``window`` text accepted (four coordinates of up to 15 digits each).
_MAX_WINDOW_TEXT = 64
#: The longest ``bbox`` text (four numbers of up to 24 characters each) and ``crs`` name.
_MAX_BBOX_TEXT, _MAX_CRS_TEXT = 128, 256
#: Polygon coordinates beyond this (pixels) are refused: no image is that large, and the
#: rasterizer's arithmetic stays exact within it.
_MAX_COORDINATE = 2.0**31


@dataclass(frozen=True)
class Region:
    """The checked region of a question: which pixels (a window, a polygon, both, or
    neither) and which of their samples count (the file's valid samples, every sample with
    ``raw``, or those not equal to ``nodata``). Falsy for the whole image as the file means it.

    Attributes
    ----------
    window : tuple of int or None
        ``(x0, y0, x1, y1)`` as given (checked, not yet clipped).
    polygon : list or dict or None
        The polygon as given (vertices or GeoJSON), checked.
    raw : bool
        Every sample counts (NaN aside): the file's nodata, mask and alpha are ignored.
    nodata : int or float or None
        Samples equal to it do not count, in place of the file's nodata and mask (checked
        against the image's type when the pixels are read).
    key : tuple
        What the caches key it by: the window, a digest of the polygon's rings, and what
        changes the samples (``raw``, ``nodata``), so an answer over one set of samples is
        never served for another.
    """

    window: tuple | None = None
    polygon: object = None
    key: tuple = ()
    raw: bool = False
    nodata: float | int | None = None
    palette: str | None = None

    @classmethod
    def of(cls, window=None, polygon=None, *, raw=False, nodata=None, palette=None) -> Region:
        """Check a window, a polygon (either may be None) and the validity options.

        Raises
        ------
        InvalidOption
            See :func:`imgstats.regions.parse_window` and
            :func:`imgstats.regions.polygon_parts`; also coordinates beyond 2**31 pixels, a
            ``nodata`` that is no number, ``raw`` with a ``nodata``, and a ``palette`` other
            than ``"rgb"`` or ``"index"``.
        """
        key = ()
        if palette is not None:
            palette = check_palette(palette)
            palette = None if palette == "rgb" else palette  # the default reading: no key
        raw = check_raw(raw)
        nodata = check_nodata_text(nodata)
        if raw and nodata is not None:
            raise InvalidOption("raw counts every sample: it takes no nodata")
        if window is not None:
            if isinstance(window, str) and len(window) > _MAX_WINDOW_TEXT:
                raise InvalidOption(
                    f"invalid window {window[:24]!r}...: use four whole "
                    "numbers x0,y0,x1,y1 (pixels)"
                )
            window = parse_window(window)
            if max(abs(v) for v in window) > _MAX_COORDINATE:
                raise InvalidOption(f"window {window}: coordinates beyond 2**31 pixels")
            key += ("window", window)
        if polygon is not None:
            key += ("polygon", RULE, _polygon_digest(polygon))
        if raw:
            key += ("raw",)
        if nodata is not None:
            # repr tells 0 from 0.0 apart only where the type does; NaN's repr is stable
            key += ("nodata", repr(nodata))
        if palette is not None:
            key += ("palette", palette)
        return cls(window, polygon, key, raw, nodata, palette)

    def __bool__(self) -> bool:
        return bool(self.key)

    def options(self) -> dict:
        """Keyword arguments of :func:`imgstats.summarize` and :func:`imgstats.refine`."""
        out = {}
        if self.window is not None:
            out["window"] = self.window
        if self.polygon is not None:
            out["polygon"] = self.polygon
        if self.raw:
            out["raw"] = True
        if self.nodata is not None:
            out["nodata"] = self.nodata
        if self.palette is not None:
            out["palette"] = self.palette
        return out

    @property
    def pixels(self) -> bool:
        """Whether a window or polygon picks the pixels (else the whole image)."""
        return self.window is not None or self.polygon is not None

    def answer(self, answer: Answer, summary: Summary) -> Answer:
        """``answer`` with what this region selected (itself when there is no region)."""
        return replace(answer, region=self.describe(summary)) if self else answer

    def describe(self, summary: Summary) -> dict:
        """What the question selected: the pixels of a window or polygon (see
        :meth:`_pixels`), and ``raw`` or ``nodata`` when they were asked for."""
        out = self._pixels(summary) if self.pixels else {}
        return {**out, **self.samples()}

    def samples(self) -> dict:
        """``raw`` or ``nodata`` when they were asked for, as an answer shows them."""
        out = {}
        if self.raw:
            out["raw"] = True
        if self.nodata is not None:
            nodata = self.nodata
            if isinstance(nodata, float) and not math.isfinite(nodata):
                nodata = str(nodata)  # JSON has no NaN or infinity, as the header's facts
            out["nodata"] = nodata
        if self.palette is not None:
            out["palette"] = self.palette
        return out

    def _pixels(self, summary: Summary) -> dict:
        """What the region selected: ``pixels`` and, for a window alone, the clipped window.

        A window's summary has the cut's ``(height, width[, band])`` shape, and clipping only
        moves ``x0``, ``y0`` up to 0 and ``x1``, ``y1`` down to the image's size, so the
        clipped window follows from the shape alone.
        """
        shape = tuple(int(n) for n in summary.shape)
        if self.polygon is None and self.window is not None and len(shape) >= 2:
            x0, y0 = max(self.window[0], 0), max(self.window[1], 0)
            return {"window": [x0, y0, x0 + shape[1], y0 + shape[0]], "pixels": shape[0] * shape[1]}
        # a polygon's samples are (pixels, 1[, band]), or (y, x[, band]) when it is a
        # rectangle of pixels (read as a window): either way the first two multiply
        return {"pixels": math.prod(shape[:2])}


def _polygon_digest(polygon) -> str:
    """Check a polygon or MultiPolygon (:func:`imgstats.regions.polygon_parts`) and return
    the digest of its rings that the caches key it by.

    A polygon's digest is its rings' bytes, as before MultiPolygons were taken (so a cached
    polygon answer stays valid); a MultiPolygon of several parts first digests its shape
    (ring lengths per part), so neither a polygon with holes nor another split of the same
    rings shares its key. The shape's first bytes read as a float beyond 2**31, which no
    polygon's first coordinate is.

    Raises
    ------
    InvalidOption
        A bad polygon or part, or coordinates beyond 2**31 pixels.
    """
    parts = polygon_parts(polygon)
    if max(float(np.abs(r).max()) for rings in parts for r in rings) > _MAX_COORDINATE:
        raise InvalidOption("polygon coordinates beyond 2**31 pixels")
    digest = hashlib.sha256()
    if len(parts) > 1:
        digest.update(repr([[len(r) for r in rings] for rings in parts]).encode() + b"|")
    for rings in parts:
        for ring in rings:
            digest.update(np.ascontiguousarray(ring, dtype="<f8").tobytes() + b"|")
    return digest.hexdigest()


_PAGE = re.compile(r"[0-9]{1,6}")


def check_page(page) -> int | None:
    """``page`` as an int >= 0 (None stays None); a digit string is read as one.

    Raises
    ------
    InvalidOption
        For anything else (negative, fractional, signed, non-ASCII digits, over 6 digits).
    """
    if page is None or (isinstance(page, int) and not isinstance(page, bool) and page >= 0):
        return page
    if isinstance(page, str) and _PAGE.fullmatch(page):
        return int(page)
    shown = str(page)[:32]
    raise InvalidOption(f"invalid page {shown!r}: use a whole number from 0 (the first page)")


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def check_raw(raw) -> bool:
    """``raw`` as a bool: a JSON boolean, or ``1``/``true``/``yes``/``on`` (and ``0``,
    ``false``, ``no``, ``off``) in a query string.

    Raises
    ------
    InvalidOption
        For anything else.
    """
    if raw is None:
        return False
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    shown = str(raw)[:32]
    raise InvalidOption(f"invalid raw {shown!r}: use true or false (1 or 0)")


#: A nodata value as text: an integer, a decimal or scientific number, nan or [+-]inf.
_NUMBER = re.compile(
    r"[+-]?(?:[0-9]+|[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?"
    r"|[0-9]+[eE][+-]?[0-9]+|nan|inf|infinity)",
    re.IGNORECASE,
)


def check_nodata_text(nodata) -> int | float | None:
    """A ``nodata`` option as a number: a JSON number, or its text in a query string (an
    integer stays an int, so a 64-bit nodata keeps every digit). Whether it fits the image's
    type is checked when the pixels are read (:func:`imgstats.io._valid.check_nodata`).

    Raises
    ------
    InvalidOption
        Not a number (``nodata=abc``, a boolean, a list, over 64 characters).
    """
    if nodata is None:
        return None
    if isinstance(nodata, bool):
        raise InvalidOption(f"nodata must be a number, not {nodata!r}")
    if isinstance(nodata, int):
        return nodata
    if isinstance(nodata, str) and len(nodata) <= 64 and _NUMBER.fullmatch(nodata.strip()):
        text = nodata.strip()
        if re.fullmatch(r"[+-]?[0-9]+", text):
            return int(text)
        nodata = float(text)
    if isinstance(nodata, float):
        # 7.0 is the question 7 is (one cache key); beyond 2**53 a float is not a whole int
        if nodata.is_integer() and abs(nodata) <= 2**53:
            return int(nodata)
        return nodata
    shown = str(nodata)[:32]
    raise InvalidOption(f"nodata must be a number (e.g. -9999, 0.5, nan), not {shown!r}")


def _parse_functions(funcs) -> tuple[Function, ...]:
    """Parse a request's function names once (a name, a Function or a list of them)."""
    if isinstance(funcs, (str, Function)):
        funcs = [funcs]
    return tuple(dict.fromkeys(parse_function(f) for f in funcs))


@dataclass(frozen=True)
class Answer:
    """What :meth:`ImageService.answer` found: values per selection, and the image's facts.

    Attributes
    ----------
    name, version : str
        The image and the version the values were computed from.
    page : int or None
        The page asked for.
    funcs : tuple of str
        The function names, in the order asked.
    dtype : str
        The samples' numpy type.
    shape : tuple of int
        The image's shape, as the summary records it.
    band_names : tuple of str
    bands : tuple of int
        The band indices answered besides ``selections`` (``each_band``), else ().
    values : dict
        ``{selection: {func: value}}``; a selection without valid samples maps to None.
    counts : dict
        ``{selection: valid sample count}``.
    histograms : dict
        ``{selection: (values, counts)}`` when asked for, else empty.
    empty : dict
        ``{selection: message}`` for the selections without valid samples.
    region : dict
        For a window or polygon: ``pixels`` selected and, for a window, the clipped
        ``window``; else empty.
    images : tuple of (str, str)
        For a collection: the matched images' ``(name, version)``; ``name`` is then the
        pattern and ``version`` a digest of theirs. Else ().
    valid : dict or None
        What decided which samples counted (``Summary.valid.as_dict()``: ``mask``,
        ``nodata``, ``source``); ``None`` for a collection whose images counted by different
        rules.
    band_valid : dict
        ``{selection: valid}`` for the selections counted by another rule than ``valid``
        (the alpha band alone: every sample, no rule); :meth:`valid_for` reads it.
    """

    name: str
    version: str
    page: int | None
    funcs: tuple
    dtype: str
    shape: tuple
    band_names: tuple
    bands: tuple
    values: dict
    counts: dict
    histograms: dict = field(default_factory=dict)
    empty: dict = field(default_factory=dict)
    region: dict = field(default_factory=dict)
    images: tuple = ()
    valid: dict | None = None
    band_valid: dict = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        summary: Summary,
        name,
        version,
        page,
        funcs,
        selections,
        bands,
        histograms: bool = False,
    ) -> Answer:
        """Read an answer off a summary that is refined for every selection."""
        values, counts, hists, empty = {}, {}, {}, {}
        for sel in dict.fromkeys(tuple(selections) + tuple(bands)):
            try:
                values[sel] = summary.compute(list(funcs), sel)
            except NoValidSamples as exc:
                values[sel] = None
                empty[sel] = str(exc)
            except NeedsRefinement as exc:  # an ImgStatsError, but no fault of the request's
                raise RuntimeError(f"the summary of {name} was read before its refinement") from exc
            counts[sel] = int(summary.stats(sel).count)
            if histograms:
                hists[sel] = summary.histogram(sel)
        return cls(
            name,
            version,
            page,
            tuple(f.name for f in funcs),
            summary.dtype.name,
            tuple(int(n) for n in summary.shape),
            tuple(summary.band_names),
            tuple(bands),
            values,
            counts,
            hists,
            empty,
            valid=valid_of(summary),
            band_valid=band_valid_of(summary, values),
        )

    def valid_for(self, selection=None) -> dict | None:
        """What decided which samples of ``selection`` counted (see :attr:`band_valid`)."""
        return self.band_valid.get(selection, self.valid)

    def value(self, func: str, selection=None):
        """One value; raises :class:`~imgstats.NoValidSamples` for an empty selection."""
        values = self.values[selection]
        if values is None:
            raise NoValidSamples(self.empty.get(selection, "no valid samples"))
        return values[func]
