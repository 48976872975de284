"""Workflow steps read what they need with the rest of their claim: the pool
worker's batch read (step_reads.preread) and a step's own read give the
same results, a failed batch read leaves each step to read for itself, and
non-step tasks are left alone."""

from __future__ import annotations

from taskq import Queue
from taskq.lease import complete_many
from taskq.workflows import WORKFLOW_QUEUE, Registry, create, get
from taskq.workflows.step_reads import preread
from workers.execution import run_task

S = "tests.integration.workflow_steps"


def diamond() -> Registry:
    reg = Registry()
    reg.register({"namespace": "test", "name": "diamond", "version": "1.0.0", "step_templates": [
        {"name": "source", "handler_class": f"{S}.Source"},
        {"name": "double", "handler_class": f"{S}.double", "depends_on_step": "source"},
        {"name": "add_ten", "handler_class": f"{S}.add_ten", "depends_on_step": "source"},
        {"name": "join", "handler_class": f"{S}.join", "depends_on_step": ["double", "add_ten"]}]})
    return reg


def drain(r, q, batch_read, broken=False):
    """Claim, (batch-)read, run and complete until the queue is empty; how
    many leases carried a preread."""
    carried = 0
    while leases := q.claim(100):
        if batch_read:
            preread(BrokenPipeClient() if broken else r, q.keys, leases)
        carried += sum(lease.preread is not None for lease in leases)
        complete_many(r, [(lease, run_task(lease)) for lease in leases])
    return carried


class BrokenPipeClient:
    def pipeline(self, transaction=False):
        raise ConnectionError("no Redis here")


def test_batch_read_and_own_read_give_the_same_results(r, prefix):
    reg = diamond()
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    runs = {}
    for mode in ("batch", "own", "broken"):
        ids = [create(r, "test.diamond", context={"n": n}, inputs={"add_ten": {"plus": n}},
                      registry=reg, prefix=prefix)["id"] for n in (1, 2, 3)]
        carried = drain(r, q, batch_read=mode != "own", broken=mode == "broken")
        assert carried == (12 if mode == "batch" else 0)
        wfs = [get(r, wid, prefix=prefix) for wid in ids]
        assert all(wf["status"] == "complete" for wf in wfs), [wf["steps"] for wf in wfs]
        runs[mode] = [{s["name"]: s["results"] for s in wf["steps"]} for wf in wfs]
    assert runs["batch"] == runs["own"] == runs["broken"]
    assert runs["batch"][1]["join"] == {"sum": 2 * 2 + 2 + 2, "deps": ["add_ten", "double"]}


def test_plain_tasks_are_left_alone(r, prefix):
    q = Queue("default", redis=r, prefix=prefix)
    q.enqueue("app.tasks:noop")
    leases = q.claim(10)
    preread(r, q.keys, leases)
    assert [lease.preread for lease in leases] == [None]
