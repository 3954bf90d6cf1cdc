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


@pytest.mark.parametrize("n_cores", [1, 2])
def test_jobs_run_on_one_thread_per_core_and_a_slow_one_takes_fewer(cores, n_cores):
    """No more threads than cores (a third thread on two cores only takes turns with the
    others), and the threads take the next job as they finish theirs: a thread held up by
    its job takes no other while the rest are done.

    The first job is held up until the seven others are done, not for a time: a 0.3 s job
    let the other thread, slowed by a busy machine, leave it a second job (3 runs in 200)."""
    import time

    cores(n_cores)
    names = []
    lock = threading.Lock()
    rest_done = threading.Event()
    done = []

    def job(i):
        with lock:
            names.append(threading.current_thread().name)
        if i == 0 and n_cores > 1:
            rest_done.wait(30)  # a thread that took all the jobs fails below, late
        else:
            time.sleep(0.01)  # long enough for a third thread, were there one, to take a job
        with lock:
            done.append(i)
            if len(done) == 7 and 0 not in done:
                rest_done.set()
        return threading.current_thread().name

    got = _plan.on_threads(job, [(i,) for i in range(8)])
    assert len(set(names)) == n_cores
    if n_cores == 2:
        assert got.count(got[0]) == 1  # the thread of the slow job ran no other
