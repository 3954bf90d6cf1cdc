"""Dask graphs of many blocks, built in time linear in the blocks.

A tree of ``dask.delayed`` merges over ``Array.to_delayed()`` blocks merges the whole
graph again at every call (each block's Delayed carries the array's graph): a 1000 x 1000
array in 10 x 10 chunks spent most of its 220 s building the graph. Here the blocks'
optimized graph is taken once, and the per-block and merge tasks are added to it as plain
tasks (dask's own reductions build theirs so), each a callable with its literal arguments
bound by :func:`functools.partial` and the blocks' keys as its only arguments.
"""

from __future__ import annotations

from functools import partial

import numpy as np

__all__ = ["block_keys", "tree_reduce"]

#: Results merged by one task.
FAN_IN = 8


def block_keys(dsk: dict, array) -> np.ndarray:
    """Add ``array``'s optimized graph to ``dsk`` (a dict); return its blocks' keys, an
    object array shaped like its blocks (dask fuses a chunk's read with the work on it)."""
    keys = array.__dask_keys__()
    dsk.update(array.__dask_optimize__(array.__dask_graph__(), keys))
    out = np.empty(array.numblocks, object)
    for index in np.ndindex(*array.numblocks):
        k = keys
        for i in index:
            k = k[i]
        out[index] = k
    return out


def tree_reduce(dsk: dict, leaves: list, merge, name: str, first=None):
    """A ``Delayed`` of ``merge`` over the results of the keys ``leaves``, in levels of
    :data:`FAN_IN` (``first``, when given, merges the first level instead).

    ``merge`` and ``first`` take one list of results. ``name`` names the merge tasks: make
    it unique to the question (a token of its inputs and work)."""
    from dask.delayed import Delayed

    if not leaves:
        raise ValueError("nothing to reduce")  # the callers return early: a bug
    level, fn = 0, first or merge
    keys = list(leaves)
    while len(keys) > 1 or (level == 0 and first is not None):
        out = []
        for i in range(0, len(keys), FAN_IN):
            key = (name, level, i // FAN_IN)
            dsk[key] = (_apply_list, fn, keys[i : i + FAN_IN])
            out.append(key)
        keys, level, fn = out, level + 1, merge
    return Delayed(keys[0], dsk)


def _apply_list(fn, results):
    return fn(list(results))


def task(fn, *literals, **kw):
    """``fn`` with literal arguments bound: the keys after them are its only task arguments
    dask reads (a literal tuple or list would be searched for keys)."""
    return partial(fn, *literals, **kw)
