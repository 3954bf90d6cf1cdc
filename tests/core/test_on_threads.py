"""The shared pool's job runner (:func:`imgstats.io._plan.on_threads`): every job once, the
results in the jobs' order, an error raised in the caller, the pool serving after it, and a
pool thread that asks for jobs running them itself."""

from __future__ import annotations

import threading

import pytest

from imgstats.io import _plan


@pytest.fixture
def cores(monkeypatch):
    def use(n):
        monkeypatch.setattr(_plan, "workers", lambda: n)

    return use


@pytest.mark.parametrize("n_cores", [1, 2, 3])
@pytest.mark.parametrize("n_jobs", [0, 1, 2, 7, 40])
def test_every_job_runs_once_and_results_keep_the_jobs_order(cores, n_cores, n_jobs):
    cores(n_cores)
    ran = []
    lock = threading.Lock()

    def job(i, j):
        with lock:
            ran.append(i)
        return i * 10 + j

    got = _plan.on_threads(job, [(i, 1) for i in range(n_jobs)])
    assert got == [i * 10 + 1 for i in range(n_jobs)]
    assert sorted(ran) == list(range(n_jobs))


@pytest.mark.parametrize("failing", [0, 3])
def test_an_error_in_any_thread_is_raised_and_the_pool_keeps_serving(cores, failing):
    cores(2)

    def job(i):
        if i == failing:
            raise ValueError(f"job {i}")
        return i

    with pytest.raises(ValueError, match=f"job {failing}"):
        _plan.on_threads(job, [(i,) for i in range(6)])
    assert _plan.on_threads(job, [(i,) for i in range(6) if i != failing]) == [
        i for i in range(6) if i != failing
    ]


def test_a_pool_thread_runs_its_jobs_itself(cores):
    """A job that asks for jobs of its own from a pool thread never waits on the pool."""
    cores(2)

    def inner(i):
        return threading.current_thread().name

    def outer(i):
        return threading.current_thread().name, _plan.on_threads(inner, [(0,), (1,)])

    got = _plan.on_threads(outer, [(0,), (1,), (2,), (3,)])
    in_pool = [names for me, names in got if me.startswith("imgstats_")]
    assert in_pool  # the caller runs the first job, the pool the others
    for names in in_pool:
        assert len(set(names)) == 1  # both inner jobs in the pool thread that ran outer
