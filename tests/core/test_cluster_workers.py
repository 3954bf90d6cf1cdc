"""The paused-workers watch looks at every worker, whatever the release of distributed.

Some releases of distributed gave only five workers from ``Client.scheduler_info()`` by
default: five paused workers of many would have ended a question the others were running.
Those releases cannot be installed here beside the one the project runs, so their
``scheduler_info`` is stood in for by two small classes (its only part the watch calls).
"""

from imgstats import _cluster

FACTS = {f"w{i}": {"status": "paused" if i < 5 else "running"} for i in range(6)}


class FiveByDefault:
    def scheduler_info(self, n_workers: int = 5):
        shown = list(FACTS)[: n_workers if n_workers > 0 else None]
        return {"workers": {k: FACTS[k] for k in shown}}


class WithoutTheArgument:
    def scheduler_info(self):
        return {"workers": dict(FACTS)}


def test_five_paused_workers_of_six_are_not_all_paused():
    assert not _cluster._all_paused(FiveByDefault())
    assert not _cluster._all_paused(WithoutTheArgument())
    assert len(_cluster._workers(FiveByDefault())) == 6
