"""The service's caches: in-process LRUs bounded in bytes, single-flight, and a Redis layer.

Keys are ``(store, name, version)`` (and more for answers): a changed image has a new version,
so it can never be answered from a stale entry.

* :class:`ByteCache` maps a key to a :class:`Slot`, a small box with a lock made at once on a
  miss: the first request fills it while the others wait on its lock (single-flight), and a
  refined summary replaces its value in place. Caches that share one :class:`CacheBudget`
  share one byte bound and one least-recently-used order: each entry weighs what its value
  really holds (:func:`weigh`), and an entry heavier than the whole budget is answered but
  not kept.
* :class:`RedisLayer` is a second level shared by every worker process and surviving
  restarts. It stores data-only bytes (:mod:`imgstats._codec`), never pickles, bound to
  their key and optionally signed (HMAC-SHA256); anything else found there is ignored and
  recomputed. A per-key lock with a short TTL, renewed by a heartbeat while its holder
  works, extends single-flight across processes: a waiter takes over within about one TTL
  when the holder dies. Any Redis failure is logged once, Redis is skipped for a back-off
  period, and the service carries on from the LRU and the pixels.

See the README, "Cache security", for the threat model.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import struct
import sys
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

from .._codec import FORMAT_VERSION, CorruptSummary
from .._version import fingerprint
from ..summary import Summary, summary_arrays
from ._limits import check_request

logger = logging.getLogger(__name__)

__all__ = ["Slot", "ByteCache", "CacheBudget", "CacheInfo", "RedisLayer", "weigh"]

#: Bytes an entry costs besides its value: the slot, its lock, the key's tuple and the
#: bookkeeping of the LRU order (measured with tracemalloc: about 0.5 KB).
ENTRY_OVERHEAD = 512


# -- weights --------------------------------------------------------------------------------
def weigh(value) -> int:
    """Bytes of memory ``value`` holds, counting each numpy buffer once (views included).

    A summary's histograms are often rows of one 2-D array; a row's ``nbytes`` would count
    only itself while it keeps the whole array alive.
    """
    seen: set[int] = set()
    return _weigh(value, seen)


def _weigh(value, seen: set) -> int:
    if value is None or isinstance(value, (bool, int, float)):
        return 0 if value is None else sys.getsizeof(value)
    if isinstance(value, Summary):
        # its arrays (histograms, refinements), plus whatever else it holds now, such as
        # results that compute() keeps for the next call
        size = sum(_weigh(a, seen) for a in summary_arrays(value))
        return size + _weigh_attributes(value, seen) + 200 * len(value.refined)
    if isinstance(value, np.ndarray):
        root = value
        while isinstance(root.base, np.ndarray):
            root = root.base
        if id(root) in seen:
            return 0
        seen.add(id(root))
        return sys.getsizeof(value) + root.nbytes
    if isinstance(value, (bytes, bytearray, str)):
        return sys.getsizeof(value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(
            _weigh(k, seen) + _weigh(v, seen) for k, v in value.items()
        )
    if isinstance(value, (list, tuple, set, frozenset)):
        return sys.getsizeof(value) + sum(_weigh(v, seen) for v in value)
    return _weigh_attributes(value, seen)  # another object (e.g. an answer)


def _weigh_attributes(value, seen: set) -> int:
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if hasattr(value, "__dict__"):
        size += _weigh(vars(value), seen)
    for name in getattr(type(value), "__slots__", ()):
        size += _weigh(getattr(value, name, None), seen)
    return size


# -- the in-process caches ----------------------------------------------------------------------
class Slot:
    """One cache entry: ``value`` (None until filled) guarded by ``lock``.

    Setting ``value`` re-weighs the entry in its cache (and may evict others, or this one
    when it alone is heavier than the budget; the value stays readable from the slot).
    Assign the same value again to re-weigh a value that grew (a summary keeps some of
    what :meth:`Summary.compute` worked out).
    """

    __slots__ = ("lock", "key", "_value", "_owner")

    def __init__(self, key=None, owner: ByteCache | None = None):
        self.lock = threading.Lock()
        self.key = key
        self._value = None
        self._owner = owner

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, value) -> None:
        self._value = value
        owner = self._owner
        if owner is not None:
            owner._reweigh(self)


@dataclass(frozen=True)
class CacheInfo:
    """Statistics of one :class:`ByteCache` (``nbytes``/``maxbytes`` are its budget's)."""

    hits: int
    misses: int
    currsize: int
    nbytes: int
    maxbytes: int


class CacheBudget:
    """A byte bound and one least-recently-used order shared by several :class:`ByteCache`.

    Parameters
    ----------
    maxbytes : int
        The most bytes the entries of every cache of this budget weigh together.
    """

    def __init__(self, maxbytes: int):
        if maxbytes < 0:
            raise ValueError("the cache budget cannot be negative")
        self.maxbytes = int(maxbytes)
        self.nbytes = 0
        self.lock = threading.Lock()
        #: (cache id, key) -> (cache, slot, weight), least recently used first
        self.order: OrderedDict = OrderedDict()

    def _evict(self, keep: Slot | None = None) -> None:
        """Drop least recently used entries until the total fits (lock held).

        Entries being filled or refined (their lock held) are skipped: dropping them would
        let a second request start the same computation.
        """
        excess = self.nbytes - self.maxbytes
        if excess <= 0:
            return
        victims = []
        for node, (cache, slot, weight) in self.order.items():  # oldest first, no copy
            if excess <= 0:
                break
            if slot is keep or slot.lock.locked():
                continue
            victims.append((node, cache, slot, weight))
            excess -= weight
        for node, cache, slot, weight in victims:
            del self.order[node]
            cache._slots.pop(slot.key, None)
            slot._owner = None
            self.nbytes -= weight


class ByteCache:
    """A least-recently-used map of :class:`Slot`, bounded by the bytes its values hold.

    Parameters
    ----------
    budget : int or CacheBudget
        Bytes for this cache alone, or a budget shared with other caches.

    Examples
    --------
    >>> cache = ByteCache(1 << 20)
    >>> cache.get_or_fill(("store", "a.png", "v1"), lambda: 42)
    42
    >>> cache.get_or_fill(("store", "a.png", "v1"), lambda: 0)  # not called again
    42
    """

    def __init__(self, budget: int | CacheBudget):
        self.budget = budget if isinstance(budget, CacheBudget) else CacheBudget(budget)
        self._slots: dict[Hashable, Slot] = {}
        self._hits = self._misses = 0

    def slot(self, key: Hashable) -> Slot:
        """Return the slot of ``key``, made empty on a miss (one slot per key at a time)."""
        budget = self.budget
        with budget.lock:
            slot = self._slots.get(key)
            if slot is not None:
                self._hits += 1
                budget.order.move_to_end((id(self), key))
                return slot
            self._misses += 1
            slot = self._slots[key] = Slot(key, self)
            weight = ENTRY_OVERHEAD + weigh(key)
            budget.order[(id(self), key)] = (self, slot, weight)
            budget.nbytes += weight
            budget._evict(keep=slot)  # an empty slot stays until filled, even over budget
            return slot

    def _reweigh(self, slot: Slot) -> None:
        budget = self.budget
        weight = ENTRY_OVERHEAD + weigh(slot.key) + weigh(slot.value)
        with budget.lock:
            node = (id(self), slot.key)
            entry = budget.order.get(node)
            if entry is None or entry[1] is not slot:
                return  # evicted meanwhile: the value is answered, not kept
            budget.nbytes += weight - entry[2]
            budget.order[node] = (self, slot, weight)
            budget.order.move_to_end(node)
            if weight > budget.maxbytes:  # heavier than everything: never kept
                self._drop(slot)
            else:
                budget._evict(keep=slot)

    def _drop(self, slot: Slot) -> None:
        """Forget ``slot`` (budget lock held); whoever holds it still reads its value."""
        _, _, weight = self.budget.order.pop((id(self), slot.key))
        self._slots.pop(slot.key, None)
        slot._owner = None
        self.budget.nbytes -= weight

    def peek(self, key: Hashable):
        """Return the cached value of ``key`` or None, without waiting for a fill."""
        with self.budget.lock:
            slot = self._slots.get(key)
        return None if slot is None else slot.value

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

    def cache_info(self) -> CacheInfo:
        """Hits, misses and entries of this cache; bytes used and allowed by its budget."""
        with self.budget.lock:
            return CacheInfo(
                self._hits, self._misses, len(self._slots), self.budget.nbytes, self.budget.maxbytes
            )

    def cache_clear(self) -> None:
        """Drop every entry of this cache."""
        with self.budget.lock:
            for slot in list(self._slots.values()):
                self._drop(slot)
            self._hits = self._misses = 0


# -- Redis ----------------------------------------------------------------------------------
# Delete the lock only if it still holds our token (it may have expired and been retaken).
_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# Extend the lock only if it is still ours.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""

#: Seconds between two probes (PING) of a Redis that failed, while backing off.
PROBE_SECONDS = 0.5

#: b"ISRV", envelope version, flags, key length; then the MAC (if signed), the key, the body.
_ENVELOPE = struct.Struct("<4sBBH")
_MAGIC = b"ISRV"
_VERSION = 1
_SIGNED = 1
_MAC_SIZE = 32


class RedisLayer:
    """Summaries in Redis as signed or plain data-only bytes, tolerant of Redis going away.

    A value is an envelope holding the Redis key it was written for and a zlib-compressed
    :meth:`Summary.to_bytes` body, with an HMAC-SHA256 of both when ``secret`` is set.
    :meth:`get` ignores (logs, at most once a minute, and counts in :attr:`rejected`) any
    value that is not such an envelope for the key asked, so the caller recomputes. Redis
    keys are an HMAC of the cache key under ``secret``, or else under a random salt that the
    first worker stores in Redis (``<prefix>salt``): they cannot be guessed from the store,
    name and version that the API prints.

    A failed call is logged, then Redis is not tried again for ``backoff`` seconds; meanwhile
    :meth:`get` returns None, :meth:`set` does nothing and :meth:`compute_once` computes.

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
    secret : str or bytes, optional
        ``IMGSTATS_CACHE_KEY``: signs the values and names the keys.
    max_nbytes : int, optional
        Summaries weighing more than this once decoded are neither stored nor read.
    lock_ttl : float
        Seconds a compute lock lives without renewal; the holder renews it every third.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 0.25,
        backoff: float = 5.0,
        ttl: int = 0,
        prefix: str = "imgstats:",
        secret: str | bytes | None = None,
        max_nbytes: int | None = None,
        lock_ttl: float = 5.0,
    ):
        import redis

        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=None,
            health_check_interval=0,
        )
        self._errors = (redis.RedisError, OSError)
        self._wrong_type = redis.ResponseError
        self.backoff = float(backoff)
        self.ttl = int(ttl)
        self.prefix = prefix
        self.max_nbytes = max_nbytes
        self.lock_ttl = float(lock_ttl)
        if isinstance(secret, str):
            secret = secret.encode()
        self._sign_key = _derive(secret, b"values") if secret else None
        self._name_key = _derive(secret, b"names") if secret else None
        self._salt_lock = threading.Lock()
        self._salt_value: bytes | None = None
        self._down_until = 0.0
        self._next_probe = 0.0
        self._probe_lock = threading.Lock()
        self.rejected = 0
        self._next_warning = 0.0
        #: outages (failures after Redis was in use) not logged since the last one logged
        self.outages = 0
        self._next_outage_warning = 0.0
        self._outage_logged = False
        self._heartbeat = _Heartbeat(self)

    @property
    def available(self) -> bool:
        """False while backing off after a failure, unless a probe finds Redis back.

        While backing off, one caller at most every :data:`PROBE_SECONDS` sends a ``PING``
        (bounded by the socket timeout): Redis restarted, or resumed after a freeze, is used
        again within that time rather than after the whole back-off.
        """
        now = time.monotonic()
        if now >= self._down_until:
            return True
        if now < self._next_probe or not self._probe_lock.acquire(blocking=False):
            return False
        try:
            self._next_probe = now + PROBE_SECONDS
            self._client.ping()
        except self._errors:
            return False
        finally:
            self._probe_lock.release()
        self._down_until = 0.0
        if self._outage_logged:  # said once per outage that was said
            self._outage_logged = False
            logger.warning("Redis is back; using it again")
        return True

    # -- keys -------------------------------------------------------------------------------
    def key(self, key: tuple) -> str:
        """The Redis key of a cache key (may ask Redis for the deployment's salt once).

        imgstats' code is part of it (:func:`~imgstats._version.fingerprint`, the release
        and a digest of the package's files): Redis outlives the workers, and other code may
        count other samples (which pixels are valid, what a band means), so a new release, or
        any change of the code, never reads the summaries of the code before, nor they its own.
        """
        name_key = self._name_key or self._salt()  # a CACHE_KEY, else the salt
        # the summary's format too: an entry of another format is never even looked at
        named = f"{fingerprint()}\0{FORMAT_VERSION}\0{key!r}".encode()
        digest = hmac.new(name_key, named, hashlib.sha256).hexdigest()
        return f"{self.prefix}summary:{digest}"

    def _salt(self, refresh: bool = False) -> bytes:
        """The key naming this deployment's keys, derived from a random salt in Redis.

        The first worker stores the salt; the others read it. ``refresh`` (on each cold
        computation) reads it again, which keeps it recent for an ``allkeys-lru`` Redis, puts
        it back if it was evicted or flushed, and adopts another worker's if it changed.
        """
        with self._salt_lock:
            if self._name_key is None or refresh:
                name = self.prefix + "salt"
                mine = self._salt_value or os.urandom(32).hex().encode()
                pipe = self._client.pipeline(transaction=False)
                pipe.set(name, mine, nx=True)
                pipe.get(name)
                salt = pipe.execute()[1] or mine
                if salt != self._salt_value:
                    self._salt_value = salt
                    self._name_key = _derive(salt, b"names")
            return self._name_key

    # -- values -----------------------------------------------------------------------------
    def get(self, key: tuple) -> Summary | None:
        """Return the summary stored for ``key``, or None (missing, invalid, or no Redis)."""
        return self._fetch(key, self._decode)

    def _fetch(self, key: tuple, decode):
        """``decode(name, blob)`` of what is stored for ``key``, or None (missing, invalid,
        or no Redis): the one read behind :meth:`get` and :meth:`get_bytes`."""
        if not self.available:
            return None
        try:
            name = self.key(key)
            blob = self._client.get(name)
        except self._errors as exc:
            if isinstance(exc, self._wrong_type) and str(exc).startswith("WRONGTYPE"):
                self._reject("not a string")  # e.g. a list stored under the key
            else:
                self._failed(exc)
            return None
        if blob is None:
            return None
        try:
            return decode(name, blob)
        except CorruptSummary as exc:
            self._reject(str(exc))
            return None

    def set(self, key: tuple, value: Summary) -> None:
        """Store ``value`` for ``key`` (best effort; nothing for a summary over max_nbytes)."""
        if not self.available:
            return
        if self.max_nbytes is not None and weigh(value) > self.max_nbytes:
            return
        try:
            name = self.key(key)
            self._client.set(name, self._encode(name, value), ex=self.ttl or None)
        except self._errors as exc:
            self._failed(exc)

    def get_bytes(self, key: tuple) -> bytes | None:
        """The bytes stored for ``key`` by :meth:`set_bytes` (an answer already encoded,
        e.g. a zonal response), or None (missing, invalid, or no Redis)."""
        return self._fetch(key, self._unwrap)

    def set_bytes(self, key: tuple, raw: bytes) -> None:
        """Store ``raw`` bytes for ``key``, in the same envelope as a summary: bound to its
        key, signed with a ``CACHE_KEY``, bounded by ``max_nbytes`` (best effort)."""
        if not self.available:
            return
        if self.max_nbytes is not None and len(raw) > self.max_nbytes:
            return
        try:
            name = self.key(key)
            self._client.set(name, self._wrap(name, raw), ex=self.ttl or None)
        except self._errors as exc:
            self._failed(exc)

    def _encode(self, name: str, value: Summary) -> bytes:
        return self._wrap(name, value.to_bytes())

    def _wrap(self, name: str, raw: bytes) -> bytes:
        ident = name.encode()
        body = zlib.compress(raw, 1)
        flags = _SIGNED if self._sign_key else 0
        head = _ENVELOPE.pack(_MAGIC, _VERSION, flags, len(ident))
        mac = self._mac(head, ident, body) if self._sign_key else b""
        return head + mac + ident + body

    def _decode(self, name: str, blob: bytes) -> Summary:
        """The summary of an entry; one that does not say which samples it counted (of
        format version 3 or before) is no entry: summarized again, never answered with a
        ``valid`` of null, which would read as "nothing was left out"."""
        limit = self.max_nbytes if self.max_nbytes is not None else 1 << 34
        summary = Summary.from_bytes(self._unwrap(name, blob), max_nbytes=limit)
        if summary.valid is None:
            raise CorruptSummary("a summary that does not say which samples it counted")
        return summary

    def _unwrap(self, name: str, blob: bytes) -> bytes:
        """The raw bytes of an envelope checked against its key (and signature)."""
        if len(blob) < _ENVELOPE.size:
            raise CorruptSummary("too short")
        magic, version, flags, size = _ENVELOPE.unpack_from(blob)
        if magic != _MAGIC or version != _VERSION:
            raise CorruptSummary("not an imgstats cache entry of this version")
        if flags != (_SIGNED if self._sign_key else 0):
            raise CorruptSummary("signed entry without a key, or unsigned with one")
        pos = _ENVELOPE.size
        mac = blob[pos : pos + _MAC_SIZE] if self._sign_key else b""
        pos += len(mac)
        ident, body = blob[pos : pos + size], blob[pos + size :]
        if self._sign_key and not hmac.compare_digest(
            mac, self._mac(blob[: _ENVELOPE.size], ident, body)
        ):
            raise CorruptSummary("bad signature")
        if ident != name.encode():
            raise CorruptSummary("an entry written for another key")
        limit = self.max_nbytes if self.max_nbytes is not None else 1 << 34
        inflate = zlib.decompressobj()
        try:
            # a few KB can inflate to gigabytes: stop past what a summary may weigh
            raw = inflate.decompress(body, limit + 4096)
        except zlib.error as exc:
            raise CorruptSummary(f"bad compression: {exc}") from None
        if inflate.unconsumed_tail or not inflate.eof or inflate.unused_data:
            raise CorruptSummary("truncated, oversized or padded body")
        return raw

    def _mac(self, head: bytes, ident: bytes, body: bytes) -> bytes:
        return hmac.new(self._sign_key, head + ident + body, hashlib.sha256).digest()

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        now = time.monotonic()
        if now >= self._next_warning:
            self._next_warning = now + 60.0
            logger.warning(
                "ignoring a value in Redis that is not a valid summary for its key "
                "(%s); %d ignored so far; recomputing",
                reason,
                self.rejected,
            )

    # -- single-flight across processes ------------------------------------------------------
    def compute_once(
        self,
        key: tuple,
        compute: Callable[[], Summary],
        timeout: float,
        keep: Callable[[], bool] | None = None,
    ) -> Summary:
        """The value of ``key``: from Redis, or computed by this process, or by another.

        The process that takes the key's lock computes and stores the value; the others wait
        for it. A holder that dies stops renewing its lock, which then expires within
        ``lock_ttl``: one waiter takes the lock over. After ``timeout`` seconds of waiting for
        a live holder, or without Redis, a process computes the value itself. A value computed
        here is stored in Redis only when ``keep()`` (asked after computing) is true.
        """
        deadline = time.monotonic() + timeout
        if self._sign_key is None and self.available:
            try:
                self._salt(refresh=True)
            except self._errors as exc:
                self._failed(exc)
        while True:
            token = self.lock(key)
            if token:
                try:
                    value = self.get(key)  # the previous holder may have just finished
                    if value is None:
                        value = compute()
                        if keep is None or keep():
                            self.set(key, value)
                    return value
                finally:
                    self.unlock(key, token)
            if token == "":
                value, gone = self._wait(key, deadline)
                if value is not None:
                    return value
                if gone:
                    continue  # the holder finished without a value, or died: take over
            value = compute()  # no Redis, or waited long enough for a live holder
            if keep is None or keep():
                self.set(key, value)
            return value

    def lock(self, key: tuple) -> str | None:
        """Take the compute lock of ``key``, renewed by a heartbeat until :meth:`unlock`.

        Returns a token when taken, ``""`` when another process holds it, None when Redis is
        unavailable.
        """
        if not self.available:
            return None
        token = uuid.uuid4().hex
        try:
            name = self.key(key) + ":lock"
            taken = self._client.set(name, token, nx=True, px=self._ttl_ms())
        except self._errors as exc:
            self._failed(exc)
            return None
        if taken:
            self._heartbeat.hold(name, token)
            return token
        return ""

    def unlock(self, key: tuple, token: str) -> None:
        """Release a lock taken with :meth:`lock` (only if it is still ours)."""
        if not token:
            return
        try:
            name = self.key(key) + ":lock"
            self._heartbeat.release(name)
            if self.available:
                self._client.eval(_UNLOCK, 1, name, token)
        except self._errors as exc:
            self._failed(exc)

    def _wait(self, key: tuple, deadline: float) -> tuple[Summary | None, bool]:
        """Poll until the value appears (``(value, True)``), the lock goes (``(None, True)``)
        or the deadline passes or Redis fails (``(None, False)``)."""
        poll = 0.01
        while time.monotonic() < deadline and self.available:
            value = self.get(key)
            if value is not None:
                return value, True
            try:
                if not self._client.exists(self.key(key) + ":lock"):
                    return self.get(key), True
            except self._errors as exc:
                self._failed(exc)
                return None, False
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
            poll = min(poll * 1.5, 0.25)
            check_request()  # the waiting request's client may leave, or its time end
        return None, False

    def _ttl_ms(self) -> int:
        return max(1, int(self.lock_ttl * 1000))

    def _renew(self, held: dict) -> None:
        """Extend every lock this process holds (called by the heartbeat thread)."""
        for name, token in held.items():
            try:
                self._client.eval(_RENEW, 1, name, token, self._ttl_ms())
            except self._errors as exc:  # the next beat tries again; the lock may expire
                logger.debug("could not renew %s: %s", name, exc)

    # -- failures ---------------------------------------------------------------------------
    def _failed(self, exc: BaseException) -> None:
        """Back off after a failed call, and say so at most once a minute: a Redis that
        answers PING but refuses writes (full, with ``noeviction``) is found back by every
        probe and fails again at the next write, twice a second for as long as it lasts."""
        now = time.monotonic()
        if now >= self._down_until:  # Redis was in use: a new outage
            if now >= self._next_outage_warning:
                self._next_outage_warning = now + 60.0
                self._outage_logged = True
                unsaid = f"; {self.outages} more outage(s) since" if self.outages else ""
                logger.warning(
                    "Redis unavailable (%s); probing it every %.2f s, at most %.0f s%s",
                    _reason(exc),
                    PROBE_SECONDS,
                    self.backoff,
                    unsaid,
                )
                self.outages = 0
            else:
                self.outages += 1
        self._down_until = now + self.backoff
        self._next_probe = now + PROBE_SECONDS

    def close(self) -> None:
        """Stop renewing locks and close the connection pool."""
        self._heartbeat.stop()
        self._client.close()


class _Heartbeat:
    """One daemon thread per layer renewing its held locks every third of their TTL.

    Started on the first lock (and again in a forked child, where threads do not survive).
    """

    def __init__(self, layer: RedisLayer):
        self.layer = layer
        self.held: dict[str, str] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.stopped = False

    def hold(self, name: str, token: str) -> None:
        with self.lock:
            self.held[name] = token
            if self.thread is None or not self.thread.is_alive():
                self.stopped = False
                self.wake.clear()
                self.thread = threading.Thread(
                    target=self._run, name="imgstats-lock-heartbeat", daemon=True
                )
                self.thread.start()

    def release(self, name: str) -> None:
        with self.lock:
            self.held.pop(name, None)

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            self.held.clear()
        self.wake.set()

    def _run(self) -> None:
        while True:
            self.wake.wait(self.layer.lock_ttl / 3)
            with self.lock:
                if self.stopped:
                    return
                held = dict(self.held)
            if held:
                self.layer._renew(held)


def _reason(exc: BaseException) -> str:
    """What failed, for the log: a pipeline's error names its command with its arguments,
    which hold the deployment's salt (\"Command # 1 (SET <prefix>salt <salt> NX) of pipeline
    caused error: ...\"); only the error is kept."""
    return str(exc).rpartition(" of pipeline caused error: ")[2]


def _derive(secret: bytes, purpose: bytes) -> bytes:
    """A key for one purpose, so that naming keys and signing values use different keys."""
    return hmac.new(secret, b"imgstats cache " + purpose, hashlib.sha256).digest()
