"""gunicorn's master, with reloads that keep serving: old workers stop once new ones are ready.

On ``SIGHUP`` gunicorn spawns new workers and sends ``SIGTERM`` to the old ones at once. A
new worker answers nothing before its app is made and its kernels are loaded (the warm-up:
seconds), so every request of a reload waited in the listen backlog that long, or timed
out. :class:`ReloadingArbiter` lets the old workers serve until each replacement is ready:
:class:`~imgstats.web._worker.BufferingWorker` marks its worker file when it starts its loop
(:func:`mark_ready`), and the master stops the old workers only once the youngest workers all
bear the mark, or after gunicorn's worker ``timeout`` (a replacement that never gets ready
must not keep the old code running for good).
"""

from __future__ import annotations

import os
import time

from gunicorn.arbiter import Arbiter

__all__ = ["ReloadingArbiter", "mark_ready", "is_ready"]


def mark_ready(worker) -> None:
    """Mark ``worker`` (in its own process) ready: one byte in its gunicorn worker file, which
    gunicorn only ever touches (its mtime is the heartbeat) and the master holds open."""
    os.ftruncate(worker.tmp.fileno(), 1)


def is_ready(worker) -> bool:
    """Whether ``worker`` (seen from the master) has marked itself ready."""
    try:
        return os.fstat(worker.tmp.fileno()).st_size > 0
    except (OSError, ValueError):  # closed: it exited, and is reaped
        return False


class ReloadingArbiter(Arbiter):
    """gunicorn's arbiter, whose surplus (old) workers stop once their replacements are ready."""

    _waiting_since: float | None = None

    def manage_workers(self):
        if len(self.WORKERS) > self.num_workers and not self._replacements_ready():
            return  # the old workers serve on; the main loop asks again within a second
        self._waiting_since = None
        super().manage_workers()

    def reap_workers(self):
        # gunicorn's reload() waits up to its graceful timeout for the old workers to exit,
        # reaping every 0.1 s, without managing them: stop them there as soon as their
        # replacements are ready, so that HUPs in a row do not pile up generations
        super().reap_workers()
        if len(self.WORKERS) > self.num_workers and self._replacements_ready():
            self.manage_workers()

    def _replacements_ready(self) -> bool:
        """Whether the ``num_workers`` youngest workers are all ready (or waited too long)."""
        now = time.monotonic()
        if self._waiting_since is None:
            self._waiting_since = now
        if self.timeout and now - self._waiting_since > self.timeout:
            return True
        youngest = sorted(self.WORKERS.values(), key=lambda w: w.age)[-self.num_workers :]
        return all(is_ready(worker) for worker in youngest)
