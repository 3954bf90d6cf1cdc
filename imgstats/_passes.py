"""The two passes over one image's read plan: summarizing, and refining when asked.

Both are calls of the plan's one map-reduce (:meth:`~imgstats.io.ReadPlan.map_reduce`) with the
per-block work of :mod:`imgstats._blocks`. :mod:`imgstats.reduce` (one image, the public entry
points) and :mod:`imgstats.collection` (many images) build on them; they import neither.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import replace
from functools import partial

import numpy as np

from ._blocks import finish_refinements, merge_refinements, refine_block, summarize_block
from .errors import InvalidOption
from .summary import Summary, collect_limit

#: Refinement passes after which a radix selection must have found every order statistic:
#: 64-bit keys in a bin too full to collect descend 16 bits per pass.
_MAX_REFINE_PASSES = 4


# -- the two passes ----------------------------------------------------------------------------
def _region(data, window, mask, polygon, io_options, scheduler=None):
    """The samples of ``data`` in a region (see :mod:`imgstats.regions`), else ``data``.

    A window alone of a local TIFF counted in this process becomes a stream plan over that
    window (:func:`imgstats.io._plan.window_plan`), which decodes only the tiles or strips it
    touches on every core; summarizing and refining then read the same segments.
    """
    from .io._geo import pixel_region
    from .io._plan import OPEN_OPTIONS, is_local

    # a bbox or a geometry in map coordinates becomes a pixel window or polygon (issue 16)
    window, polygon, io_options = pixel_region(data, window, polygon, io_options)
    if window is None and mask is None and polygon is None:
        return data, io_options
    # window_plan takes open_plan's options, no other
    plain = set(io_options) <= set(OPEN_OPTIONS)
    if mask is None and polygon is None and is_local(scheduler) and plain:
        from .io._plan import window_plan

        plan = window_plan(data, window, **io_options)
        if plan is not None:
            return plan, {}
    from .selection import select

    return select(data, window=window, mask=mask, polygon=polygon, **io_options), {}


def _plan(data, scheduler, io_options, count: bool = False):
    """The read plan of ``data``; files are streamed or read by Pillow only when counted here.

    ``count``: the plan is for a summary: a large RGB JPEG is then counted row by row on a
    second core while it decodes (:class:`_RowCounter`), when the kernels are loaded and
    there is a second core."""
    from .io._plan import is_local, open_plan, workers

    local = is_local(scheduler)
    follow = None
    if count and local and _kernels_loaded() and workers() > 1:
        follow = _RowCounter()  # open_plan gives it rows of a path's large RGB JPEG only
    return open_plan(data, local=local, follow=follow, **io_options)


class _RowCounter:
    """The band and luma histograms of whole rows of Pillow's memory of an L, RGB or RGBA
    image (``nb`` bands; RGB by default, the luma counted), added up call after call, each
    thread in its own tables. :func:`_count_in_place` gives it row slices on every core;
    as ``follow`` of :func:`imgstats.io._pillow_memory.load_single_block` it counts an RGB
    JPEG's rows on a second core while the first decodes them: the 12 MP JPEG's 17 ms of
    counting are done when its 28 ms decode is."""

    def __init__(self, nb: int = 3, luma: bool = True):
        self.nb = nb
        self.luma = luma
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, rows: np.ndarray) -> None:
        from . import _kernels

        mine = self._tables.get(threading.get_ident())
        if mine is None:
            mine = (np.zeros((self.nb, 256), np.int64), np.zeros(256, np.int64))
            self._tables[threading.get_ident()] = mine
        flat = rows.reshape(-1)  # whole rows of one block: contiguous
        if self.nb == 1:
            _kernels.hist8(flat, 1, 0, mine[0])
        else:
            _kernels.hist8_px4(flat, self.nb, mine[0], mine[1], self.luma)

    def counts(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(band counts (nb, 256), luma counts (256,))`` of every row given; the luma is
        ``None`` when not counted, and an L image's own counts."""
        tables = list(self._tables.values())
        bands = sum(t[0] for t in tables)
        if not self.luma:
            return bands, None
        return bands, bands[0].copy() if self.nb == 1 else sum(t[1] for t in tables)


def _summarize(plan, luma: bool, scheduler, progress: bool, candidates=()) -> Summary:
    """The summarizing pass; ``luma``: also count the luma (8-bit RGB(A) only);
    ``candidates``: bins to refine in the same pass (see :func:`_candidates`). The summary
    says which samples it counted (``valid``, from the plan)."""
    summary = _summarize_plan(plan, luma, scheduler, progress, candidates)
    return replace(summary, valid=plan.valid_samples(), half=plan.half)


def _summarize_plan(plan, luma: bool, scheduler, progress: bool, candidates=()) -> Summary:
    """The summary of :func:`_summarize`, without its ``valid``."""
    if plan.kind == "pillow" and plan.transform is None:
        return _pillow_summary(plan, luma)
    if plan.scales is not None and len(plan.scales) == len(plan.band_names):
        summary = _summarize_plan(replace(plan, scales=None), luma, scheduler, progress, candidates)
        return replace(summary, scales=plan.scales)  # for the physical readings
    work = partial(
        summarize_block,
        band_names=plan.band_names,
        luma=luma,
        shape=plan.shape,
        candidates=candidates,
    )
    return plan.map_reduce(work, _merge_summaries, scheduler=scheduler, progress=progress)


def _refine(summary: Summary, plan, func, band, scheduler, progress: bool) -> Summary:
    """Refinement passes until ``summary`` answers ``func`` for ``band`` (one, as a rule)."""
    limit = collect_limit(summary.dtype)
    for _ in range(_MAX_REFINE_PASSES):
        targets = summary.missing(func, band)
        if not targets:
            return summary
        work = partial(
            refine_block, targets=targets, dtype=summary.dtype, limit=limit, pooled=summary.pooled
        )
        found = plan.map_reduce(work, _merge_found, scheduler=scheduler, progress=progress)
        _check_found(found, targets)
        summary = summary.with_refinements(finish_refinements(found))
    if summary.missing(func, band):
        raise RuntimeError("radix selection did not converge; this is a bug")  # pragma: no cover
    return summary


def _check_found(found: dict, targets) -> None:
    """Refuse a refinement whose bins do not hold the samples the summary counted in them:
    the pixels are not those summarized (``refine(summary, another_image)``), and reading it
    would index past its keys."""
    for sel, shift, prefix, count in targets:
        if shift < 0:  # the exact squares, the distinct values: no bin to compare
            continue
        kind, data = found.get((sel, shift, prefix), ("keys", np.zeros(0)))
        held = data.size if kind == "keys" else int(data.sum())
        if held != count:
            raise InvalidOption(
                f"these pixels do not match the summary: a bin it counts {count} samples in "
                f"holds {held} here; refine a summary with the image (and region) it was made of"
            )


def _pillow_summary(plan, luma: bool) -> Summary:
    """Summarize an 8-bit L, RGB or RGBA image in Pillow's memory, without a copy to numpy.

    When the numba kernels are loaded already (a service warmed up, a notebook, any process
    that counted an array) and the image sits in one block (see
    :mod:`imgstats.io._pillow_memory`), they count it in place on every core, the luma in
    the same pass: 12 MP RGB, 16 ms with Pillow's single-threaded ``histogram()``, about
    half on two cores. Otherwise, Pillow counts it, the luma on the second core beside the
    bands (Pillow releases the GIL in ``convert()`` and ``histogram()``); a cold process
    does not import numba for this, which costs far more than it saves on one image.
    Splitting Pillow's count into two cropped halves was measured too: the crops' copies
    and page faults cost more than the second core saves (57 -> 60 ms per 12 MP JPEG).
    """
    from ._blocks import small_int_stats

    img = plan.pixels
    luma = luma and img.mode != "L"
    if plan.counted is not None:  # counted while it decoded: every row, bands and luma
        counted = plan.counted.counts()
    elif _kernels_loaded():
        counted = _count_in_place(img, luma)
    else:
        counted = None
    if counted is None:
        counted = _count_with_pillow(plan, img, luma)
    counts, lhist = counted
    u8 = np.dtype(np.uint8)
    bands = tuple(small_int_stats(u8, h) for h in counts)
    luma_stats = small_int_stats(u8, lhist) if luma else None
    return Summary(bands, plan.band_names, luma_stats, plan.shape)


def _kernels_loaded() -> bool:
    """Whether numba's kernels are compiled in this process (see :mod:`imgstats._jit`)."""
    jit = sys.modules.get("imgstats._jit")
    return jit is not None and jit.loaded()


def _count_with_pillow(plan, img, luma: bool):
    """``(band counts (bands, 256), luma counts or None)`` by Pillow's ``histogram()``."""
    from .io import decoding
    from .io._plan import submit

    with decoding(plan.source):  # io's one error mapping, whatever Pillow raises
        future = submit(lambda: img.convert("L").histogram()) if luma else None
        counts = np.asarray(img.histogram(), np.int64).reshape(-1, 256)
        lhist = np.asarray(future.result(), np.int64) if luma else None
    return counts, lhist


def _count_in_place(img, luma: bool):
    """Like :func:`_count_with_pillow` by the kernels on Pillow's memory, row slices on every
    core (an L image is its own luma); ``None`` when that memory cannot be viewed (several
    blocks, an older Pillow)."""
    from .io._pillow_memory import pixel_view
    from .io._plan import PARALLEL_SAMPLES, submit, workers

    view = pixel_view(img)
    if view is None:
        return None
    counter = _RowCounter(len(img.getbands()), luma)
    height = view.shape[0]
    parts = max(1, min(workers(), view.size // PARALLEL_SAMPLES, height))
    cuts = [height * i // parts for i in range(parts + 1)]
    futures = [submit(counter, view[a:b]) for a, b in zip(cuts[1:-1], cuts[2:], strict=True)]
    counter(view[cuts[0] : cuts[1]])
    for f in futures:
        f.result()
    return counter.counts()


def _merge_summaries(parts):
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p)
    return out


def _merge_found(parts):
    out = parts[0]
    for p in parts[1:]:
        out = merge_refinements(out, p)
    return out
