"""The summary cache: a bounded in-process LRU, single-flight, and an optional Redis layer.

Keys are ``(store, name, version)``: a changed image has a new version, so it can never be
answered from a stale entry. The LRU is :func:`functools.lru_cache` over *slots*: a slot is a
small mutable box with a lock, made at once on a miss. The first request for a key fills the
slot while the others wait on its lock (single-flight), and a refined summary replaces the
slot's content in place. Redis, when configured, is a second level shared by every worker
process and surviving restarts; any Redis failure is logged once, Redis is skipped for a
back-off period, and the service carries on from the LRU and the pixels. With Redis, a
short-lived lock per key extends single-flight across worker processes.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import pickle
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Hashable

logger = logging.getLogger(__name__)

__all__ = ["Slot", "SlotCache", "RedisLayer"]

# Delete the lock only if it still holds our token (it may have expired and been retaken).
_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Slot:
    """One cache entry: ``value`` (None until filled) guarded by ``lock``."""

    __slots__ = ("lock", "value")

    def __init__(self):
        self.lock = threading.Lock()
        self.value = None


class SlotCache:
    """A bounded LRU of :class:`Slot` keyed by any hashable key.

    Parameters
    ----------
    maxsize : int
        Most slots kept; the least recently used is dropped first.

    Examples
    --------
    >>> cache = SlotCache(2)
    >>> cache.get_or_fill(("store", "a.png", "v1"), lambda: 42)
    42
    >>> cache.get_or_fill(("store", "a.png", "v1"), lambda: 0)  # not called again
    42
    """

    def __init__(self, maxsize: int):
        if maxsize < 1:
            raise ValueError("the cache size must be at least 1")
        self._lock = threading.Lock()
        self._slots = functools.lru_cache(maxsize=maxsize)(_new_slot)

    def slot(self, key: Hashable) -> Slot:
        """Return the slot of ``key``, made empty on a miss (one slot per key at a time)."""
        with self._lock:  # lru_cache may call _new_slot twice under a race: serialize it
            return self._slots(key)

    def peek(self, key: Hashable):
        """Return the cached value of ``key`` or None, without waiting for a fill."""
        return self.slot(key).value

    def get_or_fill(self, key: Hashable, fill: Callable[[], object]):
        """Return the value of ``key``, calling ``fill()`` once if it is not cached yet."""
        slot = self.slot(key)
        value = slot.value
        if value is not None:
            return value
        with slot.lock:
            if slot.value is None:
                slot.value = fill()
            return slot.value

    def cache_info(self):
        """:func:`functools.lru_cache` statistics of the slots."""
        return self._slots.cache_info()

    def cache_clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._slots.cache_clear()


def _new_slot(key) -> Slot:
    return Slot()


class RedisLayer:
    """Summaries in Redis, pickled and zlib-compressed, tolerant of Redis going away.

    Only this service writes these keys: the pickles come from our own workers. A failed call
    is logged, then Redis is not tried again for ``backoff`` seconds; meanwhile :meth:`get`
    returns None and :meth:`set` does nothing.

    Parameters
    ----------
    url : str
        ``redis://host:port/db``.
    timeout : float
        Socket connect and read timeout in seconds (keep it short).
    backoff : float
        Seconds without trying Redis after a failure.
    ttl : int
        Seconds a summary lives in Redis (0: no expiry).
    prefix : str
        Prefix of the keys.
    """

    def __init__(self, url: str, timeout: float = 0.25, backoff: float = 5.0, ttl: int = 0,
                 prefix: str = "imgstats:summary:"):
        import redis

        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=None,
            health_check_interval=0,
        )
        self._errors = (redis.RedisError, OSError)
        self.backoff = float(backoff)
        self.ttl = int(ttl)
        self.prefix = prefix
        self._down_until = 0.0

    @property
    def available(self) -> bool:
        """False while backing off after a failure."""
        return time.monotonic() >= self._down_until

    def key(self, key: tuple) -> str:
        """The Redis key of a cache key."""
        return self.prefix + hashlib.sha256(repr(key).encode()).hexdigest()

    def get(self, key: tuple):
        """Return the object stored for ``key``, or None (missing, or Redis unavailable)."""
        if not self.available:
            return None
        try:
            blob = self._client.get(self.key(key))
        except self._errors as exc:
            self._failed(exc)
            return None
        if blob is None:
            return None
        try:
            return pickle.loads(zlib.decompress(blob))
        except (zlib.error, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            logger.warning("dropping an unreadable cache entry from Redis")
            return None

    def set(self, key: tuple, value) -> None:
        """Store ``value`` for ``key`` (best effort)."""
        if not self.available:
            return
        blob = zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), 1)
        try:
            self._client.set(self.key(key), blob, ex=self.ttl or None)
        except self._errors as exc:
            self._failed(exc)

    def lock(self, key: tuple, ttl: float) -> str | None:
        """Try to take the compute lock of ``key`` for ``ttl`` seconds, across processes.

        Returns a token when taken, ``""`` when another process holds it, None when Redis is
        unavailable (compute locally then).
        """
        if not self.available:
            return None
        token = uuid.uuid4().hex
        try:
            taken = self._client.set(self.key(key) + ":lock", token, nx=True,
                                     px=max(1, int(ttl * 1000)))
        except self._errors as exc:
            self._failed(exc)
            return None
        return token if taken else ""

    def unlock(self, key: tuple, token: str) -> None:
        """Release a lock taken with :meth:`lock` (only if it is still ours)."""
        if not token or not self.available:
            return
        try:
            self._client.eval(_UNLOCK, 1, self.key(key) + ":lock", token)
        except self._errors as exc:
            self._failed(exc)

    def wait(self, key: tuple, timeout: float, poll: float = 0.02):
        """Wait for another process to store ``key``; None if its lock goes or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.available:
            value = self.get(key)
            if value is not None:
                return value
            try:
                if not self._client.exists(self.key(key) + ":lock"):
                    return self.get(key)
            except self._errors as exc:
                self._failed(exc)
                return None
            time.sleep(poll)
        return None

    def _failed(self, exc: BaseException) -> None:
        if self.available:
            logger.warning("Redis unavailable (%s); retrying in %.0f s", exc, self.backoff)
        self._down_until = time.monotonic() + self.backoff

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
