"""Running a dask graph for the library, with dask.distributed's failures as domain errors.

A task that kills every worker process that runs it (out of memory, a crashing decoder)
ends in dask.distributed's ``KilledWorker`` once the scheduler's ``allowed-failures`` are
spent. That is no bug of the caller's: it becomes :class:`imgstats.errors.WorkersDied`,
an :class:`imgstats.ImgStatsError` that says what happened, with dask's error as its cause.
"""

from __future__ import annotations

import sys

from .errors import WorkersDied

__all__ = ["dask_compute"]


def dask_compute(*objs, scheduler=None) -> tuple:
    """``dask.compute(*objs, scheduler=scheduler)``, with dead workers as :class:`WorkersDied`."""
    import dask

    try:
        return dask.compute(*objs, scheduler=scheduler)
    except Exception as exc:
        if not _killed_worker(exc):
            raise
        raise WorkersDied(
            "the dask.distributed workers died running this question (out of memory, or a "
            f"crash in a task), as often as the scheduler allows: {exc}"
        ) from exc


def _killed_worker(exc: BaseException) -> bool:
    """Whether ``exc`` is dask.distributed's ``KilledWorker`` (without importing it)."""
    distributed = sys.modules.get("distributed")
    killed = getattr(distributed, "KilledWorker", None)
    return killed is not None and isinstance(exc, killed)
