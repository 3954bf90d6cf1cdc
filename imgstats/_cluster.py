"""Running a dask graph for the library, with dask.distributed's failures as domain errors.

A task that kills every worker process that runs it (out of memory, a crashing decoder)
ends in dask.distributed's ``KilledWorker`` once the scheduler's ``allowed-failures`` are
spent. That is no bug of the caller's: it becomes :class:`imgstats.errors.WorkersDied`,
an :class:`imgstats.ImgStatsError` that says what happened, with dask's error as its cause.

A worker whose memory passes its pause threshold (``distributed.worker.memory.pause``, 80%
of its ``memory_limit``) stops running tasks until it falls below it again; when every
worker is paused, and stays so, nothing runs and ``dask.compute`` would wait for ever.
On a dask.distributed client the question's futures are therefore watched: every worker
paused for :data:`PAUSED_FOR` seconds in a row ends the question in
:class:`imgstats.errors.WorkersPaused`.
"""

from __future__ import annotations

import threading
import time

from ._lazy import imported
from .errors import WorkersDied, WorkersPaused

__all__ = ["dask_compute"]

#: Seconds every worker may stay paused for memory before the question is given up.
PAUSED_FOR = 30.0
#: Seconds between two looks at the workers' status while a question runs.
_POLL = 1.0


def dask_compute(*objs, scheduler=None) -> tuple:
    """``dask.compute(*objs, scheduler=scheduler)``, with dead workers as :class:`WorkersDied`
    and workers paused for memory (all of them, :data:`PAUSED_FOR` seconds) as
    :class:`WorkersPaused`."""
    import dask

    try:
        client = distributed_client(scheduler)
        if client is not None:
            return _watched(client, objs)
        return dask.compute(*objs, scheduler=scheduler)
    except Exception as exc:
        if not _killed_worker(exc):
            raise
        raise WorkersDied(
            "the dask.distributed workers died running this question (out of memory, or a "
            f"crash in a task), as often as the scheduler allows: {exc}"
        ) from exc


def distributed_client(scheduler):
    """The dask.distributed client that ``scheduler`` runs the graph on, else ``None``:
    ``scheduler`` itself, or the default client for ``"distributed"`` (its other names), or
    for ``None`` unless ``dask.config`` names another scheduler. Nothing is imported: no
    client without ``distributed`` imported."""
    distributed = imported("distributed")
    if distributed is None:
        return None
    if isinstance(scheduler, distributed.Client):
        return scheduler
    if scheduler not in (None, "distributed", "dask.distributed"):
        return None
    if scheduler is None and dask_scheduler_set():
        return None  # dask.config.set(scheduler=...) chose another one
    try:
        return distributed.default_client()
    except ValueError:
        return None


def dask_scheduler_set() -> bool:
    """Whether ``dask.config`` names a scheduler other than a distributed client's."""
    import dask

    chosen = dask.config.get("scheduler", None)
    return chosen not in (None, "dask.distributed", "distributed")


def _watched(client, objs) -> tuple:
    """``client.compute`` of ``objs``, gathered; :class:`WorkersPaused` (the futures
    cancelled) once every worker has been paused for :data:`PAUSED_FOR` seconds."""
    futures = client.compute(list(objs))
    done = _all_done(futures)
    paused_since = None
    try:
        while not done.wait(_POLL):
            if not _all_paused(client):
                paused_since = None
                continue
            now = time.monotonic()
            paused_since = paused_since if paused_since is not None else now
            if now - paused_since >= PAUSED_FOR:
                raise _paused(client)
        return tuple(client.gather(futures))
    finally:
        if any(not f.done() for f in futures):
            client.cancel(futures)


def _all_done(futures) -> threading.Event:
    """An event set once every future is finished, failed or cancelled: watched through the
    futures' own client (``distributed.wait`` would look for the process's default client,
    and the service's client is not one)."""
    done = threading.Event()
    left = [len(futures)]
    lock = threading.Lock()

    def one_done(_future):
        with lock:
            left[0] -= 1
            if left[0] == 0:
                done.set()

    if not futures:
        done.set()
    for future in futures:
        future.add_done_callback(one_done)
    return done


def _workers(client) -> dict:
    """Every worker's facts, by address: ``scheduler_info`` gave only five of them by
    default in some releases of distributed (then, five paused workers of many would
    have ended a question the others were running), so all are asked for where the
    installed release takes ``n_workers``."""
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # a release without it, which gives every worker
        info = client.scheduler_info()
    return info.get("workers", {})


def _all_paused(client) -> bool:
    """Whether the cluster has workers and every one is paused (for memory)."""
    workers = _workers(client)
    return bool(workers) and all(w.get("status") == "paused" for w in workers.values())


def _paused(client) -> WorkersPaused:
    workers = _workers(client)
    limits = sorted({w.get("memory_limit") for w in workers.values() if w.get("memory_limit")})
    limit = f" (memory_limit {', '.join(_mb(v) for v in limits)})" if limits else ""
    return WorkersPaused(
        f"every dask.distributed worker{limit} has been paused for memory for {PAUSED_FOR:g} s "
        "and no task of this question can run: its chunks (or the results held) pass the "
        "workers' pause threshold (distributed.worker.memory.pause). Use smaller chunks, or "
        "give the workers more memory (LocalCluster(memory_limit=...), or fewer workers "
        "per machine)"
    )


def _mb(n) -> str:
    return f"{int(n) / 2**20:.0f} MiB"


def _killed_worker(exc: BaseException) -> bool:
    """Whether ``exc`` is dask.distributed's ``KilledWorker`` (without importing it)."""
    distributed = imported("distributed")
    killed = getattr(distributed, "KilledWorker", None)
    return killed is not None and isinstance(exc, killed)
