"""The image service behind the web app: store + summary cache + the core, for one app.

:class:`ImageService` is what views (the API and the gallery) use, at
``current_app.extensions["imgstats"]``. It reads the store live, caches one summary per
``(store, name, version)`` and answers every statistic of an image from it: after the first
request for an image, a new function costs one version check and an LRU lookup.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

import numpy as np

from ..errors import ImgStatsError, StoreTimeout, StoreUnavailable
from ..functions import parse_function
from ..io import EAGER_BYTES, read_header
from ..io._pillow import check_pixels
from ..reduce import refine, summarize
from ..summary import Summary
from .cache import ByteCache, CacheBudget, RedisLayer
from .store import (
    RACY_SECONDS,
    _is_timeout,
    cacheable,
    is_network_error,
    open_store,
    store_error,
)

logger = logging.getLogger(__name__)

__all__ = ["ImageService", "needs_refinement"]


class ImageService:
    """Statistics of the images of one store, cached by image version.

    Parameters
    ----------
    config : Mapping
        The app's settings: ``IMAGES``, ``CACHE_BYTES``, ``CACHE_KEY``, ``REDIS_URL``,
        ``REDIS_TIMEOUT``, ``REDIS_BACKOFF``, ``REDIS_TTL``, ``LOCK_TIMEOUT``, ``LOCK_TTL``,
        ``DASK_SCHEDULER``,
        ``DASK_PIXELS``, ``DASK_TIMEOUT``, ``PIXEL_LIMIT``, ``STORE_TIMEOUT``, ``VERSION_TTL``
        and ``STORAGE_OPTIONS`` (see :data:`imgstats.web.DEFAULTS`).

    Notes
    -----
    Every method raises the core's domain errors: :class:`~imgstats.ImageNotFound` for a name
    that is not an image of the store, :class:`~imgstats.UnknownFunction`,
    :class:`~imgstats.InvalidOption`, :class:`~imgstats.UnreadableImage`,
    :class:`~imgstats.ImageTooLarge`, :class:`~imgstats.StoreUnavailable` (and its subclass
    :class:`~imgstats.errors.StoreTimeout`).
    """

    def __init__(self, config: Mapping):
        from ..data import gallery_path

        self.config = dict(config)
        images = config.get("IMAGES") or gallery_path()
        self.store = open_store(
            images, timeout=float(config["STORE_TIMEOUT"]),
            version_ttl=float(config["VERSION_TTL"]),
            storage_options=dict(config.get("STORAGE_OPTIONS") or {}),
            racy_seconds=float(config.get("RACY_SECONDS", RACY_SECONDS)),
        )
        self.pixel_limit = int(config["PIXEL_LIMIT"])
        # Summaries, headers and finished answers share one byte budget and one LRU order.
        self.cache_budget = CacheBudget(config["CACHE_BYTES"])
        self.summaries = ByteCache(self.cache_budget)
        self.infos = ByteCache(self.cache_budget)
        #: Finished API answers (JSON bytes) by (store, name, version, func, band).
        self.answers = ByteCache(self.cache_budget)
        self.redis = None
        if config.get("REDIS_URL"):
            self.redis = RedisLayer(
                config["REDIS_URL"], timeout=config["REDIS_TIMEOUT"],
                backoff=config["REDIS_BACKOFF"], ttl=config["REDIS_TTL"],
                secret=config.get("CACHE_KEY"), max_nbytes=config["CACHE_BYTES"],
                lock_ttl=config["LOCK_TTL"],
            )
        self._dask_client = None
        self._dask_lock = threading.Lock()

    # -- the store ---------------------------------------------------------------------------
    def list_images(self) -> list[str]:
        """Sorted names of the image files in the store, read now."""
        return self.store.list()

    def version(self, name: str) -> str:
        """The image's current version token (``mtime_ns-size``, ETag or generation)."""
        return self.store.stat(name)[0]

    def open(self, name: str):
        """The raw file of ``name``, opened for binary reading (a context manager)."""
        return self.store.open(name)

    def redact(self, message: str) -> str:
        """``message`` without the store's local location, for clients."""
        return self.store.redact(message)

    # -- header information ------------------------------------------------------------------
    def info(self, name: str) -> dict:
        """Header facts of an image, without decoding pixels; cached by version.

        Returns
        -------
        dict
            ``name``, ``version``, ``bytes``, ``width``, ``height``, ``bands`` (list of
            names), ``dtype`` (numpy name) and ``format`` (``"JPEG"``, ``"PNG"``, ``"TIFF"``...).
        """
        version, size = self.store.stat(name)
        key = (self.store.url, name, version)
        if cacheable(version):
            facts = self.infos.get_or_fill(key, lambda: self._read_header(name))
        else:  # the file may be being written: read it, keep nothing
            facts = self._read_header(name)
        return {"name": name, "version": version, "bytes": size, **facts}

    def _read_header(self, name: str) -> dict:
        try:
            # headers are small: read remote files in 64 KB blocks, not fsspec's 5 MB
            with self.store.open(name, block_size=1 << 16) as fh:
                return read_header(fh, name)
        except ImgStatsError:
            raise
        except Exception as exc:  # fsspec clients raise their own network errors
            if self.store.remote:
                raise store_error(exc, "read") from exc
            raise

    # -- statistics --------------------------------------------------------------------------
    def summary(self, name: str, funcs=None, band=None) -> Summary:
        """The image's summary, refined so that it answers ``funcs`` for ``band`` on its own.

        Parameters
        ----------
        name : str
            An image name of the store (``IMG_1.jpg``).
        funcs : str or list of str, optional
            Statistics the summary must answer; 32- and 64-bit percentiles may need a
            refinement pass, whose result is stored back in the cache.
        band : None, int or str
            The selection (``None`` for all samples, an index, a band name or ``"luma"``).

        Returns
        -------
        Summary
        """
        return self.lookup(name, funcs, [band])[1]

    def lookup(self, name: str, funcs=None, bands=(None,), version: str | None = None,
               ) -> tuple[str, Summary]:
        """Return ``(version, summary)``: a summary answering ``funcs`` for each of ``bands``.

        Concurrent cold requests for one version compute its summary once (single-flight).
        ``version``, when the caller has just read it, saves a second look at the store.
        """
        funcs = [funcs] if isinstance(funcs, str) else list(funcs or [])
        for func in funcs:
            parse_function(func)  # refuse a bad name before touching the store
        if version is None:
            version, _ = self.store.stat(name)
        if not cacheable(version):  # being written: compute, keep nothing, evict nothing
            summary = self._summarize(name)
            for band in bands:
                if needs_refinement(summary, funcs, [band]):
                    summary = self._refine(summary, name, funcs, band)
            return version, summary
        key = (self.store.url, name, version)
        slot = self.summaries.slot(key)
        summary = slot.value
        if summary is not None and not needs_refinement(summary, funcs, bands):
            return version, summary
        with slot.lock:
            summary = slot.value
            if summary is None:
                summary = self.redis.get(key) if self.redis is not None else None
                settled = True  # a summary from Redis was settled when it was stored
                if summary is None:
                    summary, settled = self._summarize_once(key, name)
                slot.value = summary if settled else None
            if needs_refinement(summary, funcs, bands):  # one pass refines every band
                summary = self._refine(summary, name, funcs, list(bands))
                if slot.value is not None and self._settled(key):
                    slot.value = summary
                    self._share(key, summary)
        return version, summary

    def _settled(self, key) -> bool:
        """Whether a value just computed for ``key`` (store, name, version) may be cached.

        Not when the version is racy (changed moments before it was read: it may be being
        written), nor when the store has another version now (it changed while it was read:
        the bytes may be half old, half new). Asked after reading, never before.
        """
        return self.store.unchanged(key[1], key[2])

    def stats(self, name: str, funcs, band=None) -> dict:
        """``{func: value}`` for an image (values as :meth:`Summary.compute` gives them)."""
        funcs = [funcs] if isinstance(funcs, str) else list(funcs)
        return self.summary(name, funcs, band).compute(funcs, band)

    def _summarize_once(self, key, name: str) -> tuple[Summary, bool]:
        """Summarize, or wait for the worker process that holds the key's Redis lock; return
        the summary and whether it may be cached (see :meth:`_settled`)."""
        if self.redis is None:
            summary = self._summarize(name)
            return summary, self._settled(key)
        settled = True

        def compute() -> Summary:
            nonlocal settled
            summary = self._summarize(name)
            settled = self._settled(key)  # asked after the bytes were read
            return summary

        summary = self.redis.compute_once(key, compute, timeout=self.config["LOCK_TIMEOUT"],
                                          keep=lambda: settled)
        return summary, settled

    def _share(self, key, summary: Summary) -> None:
        if self.redis is not None:
            self.redis.set(key, summary)

    def _options(self) -> dict:
        options = {"pixel_limit": self.pixel_limit}
        if self.store.remote:
            options["storage_options"] = self.store.storage_options
        return options

    def _summarize(self, name: str) -> Summary:
        source = self.store.source(name)
        with _StoreErrors(self.store.remote):
            client, lazy = self._cluster_for(name)
            if client is None:
                return summarize(source, **self._options())
            if lazy:  # a big TIFF: workers read their own chunks from the store
                return summarize(source, scheduler=client, **self._options())
            future = client.submit(summarize, source, pure=False, **self._options())
            return self._result(future)

    def _refine(self, summary: Summary, name: str, funcs, band) -> Summary:
        source = self.store.source(name)
        with _StoreErrors(self.store.remote):
            client, lazy = self._cluster_for(name)
            if client is None:
                return refine(summary, source, funcs, band, **self._options())
            if lazy:
                return refine(summary, source, funcs, band, scheduler=client, **self._options())
            future = client.submit(refine, summary, source, funcs, band, pure=False,
                                   **self._options())
            return self._result(future)

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
                        address, timeout=float(self.config["STORE_TIMEOUT"]),
                        set_as_default=False,
                    )
                except OSError as exc:
                    raise StoreUnavailable(f"the dask cluster at {address} is unreachable") from exc
            return self._dask_client

    # -- lifecycle ---------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Run the counting kernels once on tiny arrays so no request pays their compile."""
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
        for arr in samples:
            s = summarize(arr)
            refine(s, arr, ["p10", "median"])

    def cache_clear(self) -> None:
        """Forget every cached summary and header (not Redis)."""
        self.summaries.cache_clear()
        self.infos.cache_clear()
        self.answers.cache_clear()

    def close(self) -> None:
        """Close the Redis pool and the dask client."""
        if self.redis is not None:
            self.redis.close()
        with self._dask_lock:
            if self._dask_client is not None:
                self._dask_client.close()
                self._dask_client = None


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

