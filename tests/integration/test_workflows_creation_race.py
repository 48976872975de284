"""A workflow's record is written before its steps are enqueued (two slots
on a cluster, so two calls): readers between the two must see a workflow
not yet enqueued as pending, never file it cancelled, and a creation whose
steps never came is filed cancelled only after a grace."""

from __future__ import annotations

import threading
import uuid

import pytest

from taskq import Queue
from taskq.keys import WorkflowKeys
from taskq.workflows import WORKFLOW_QUEUE, create, get, list_workflows, performance
from taskq.workflows import sweep as sweep_module
from taskq.workflows.states import CREATE_GRACE
from taskq.workflows.outcomes import redis_ms
from taskq.workflows.sweep import sweep

from workflow_drive import complete, lost_follow_ups, registry


class Paused:
    """Stands in for Queue.enqueue_specs: the creator stops between its two
    writes until the test lets it go."""

    def __init__(self, real):
        self.real, self.reached, self.go = real, threading.Event(), threading.Event()

    def __call__(self, queue, specs):
        self.reached.set()
        assert self.go.wait(30), "the test never released the creator"
        return self.real(queue, specs)


@pytest.fixture
def paused(monkeypatch):
    p = Paused(Queue.enqueue_specs)
    monkeypatch.setattr(Queue, "enqueue_specs", lambda self, specs: p(self, specs))
    return p


def test_readers_between_the_record_and_its_steps_see_it_pending(r, prefix, paused):
    reg = registry()
    wid = str(uuid.uuid4())
    made = {}
    creator = threading.Thread(target=lambda: made.update(
        create(r, "shop.ship", registry=reg, prefix=prefix, workflow_id=wid)), daemon=True)
    creator.start()
    assert paused.reached.wait(30)
    # The window: the record is indexed and due for the sweep, no step exists.
    assert sweep(r, prefix)["recorded"] == 0
    assert list_workflows(r, status="cancelled", prefix=prefix) == ([], 0)
    page, total = list_workflows(r, status="pending", prefix=prefix)
    assert total == 1 and page[0]["id"] == wid
    seen = get(r, wid, prefix=prefix)
    assert seen["status"] == "pending"
    assert {s["status"] for s in seen["steps"]} == {"pending"}
    assert r.hget(WorkflowKeys(prefix).workflow(wid), "outcome") is None
    paused.go.set()
    creator.join(30)
    assert made["status"] == "pending"

    with lost_follow_ups():  # the sweep files it
        complete(r, prefix, made)
    later = redis_ms(r) + int(sweep_module.MAX_RECHECK * 1000)  # its next check is due
    assert sweep(r, prefix, now_ms=later)["recorded"] == 1
    rec = r.hgetall(WorkflowKeys(prefix).workflow(wid))
    assert rec["outcome"] == "complete"
    assert int(rec["finished"]) >= int(rec["created"])
    assert "creating" not in rec
    assert list_workflows(r, status="cancelled", prefix=prefix)[1] == 0
    assert [w["id"] for w in list_workflows(r, status="complete", prefix=prefix)[0]] == [wid]
    counts = performance(r, prefix=prefix)["task_statistics"]
    assert counts["completed"] == 1 and counts["cancelled"] == 0, counts


def test_sweeps_and_listings_racing_many_creates_file_no_workflow_cancelled(r, prefix, redis_url):
    reg = registry()
    creators, each = 8, 40
    stop = threading.Event()
    errors: list[BaseException] = []

    def read_loop(read) -> None:
        while not stop.is_set():
            try:
                read()
            except BaseException as exc:
                errors.append(exc)
                return

    readers = [threading.Thread(target=read_loop, args=(f,), daemon=True) for f in (
        lambda: sweep(r, prefix),
        lambda: list_workflows(r, status="cancelled", prefix=prefix),
        lambda: list_workflows(r, status="complete", prefix=prefix))]
    made: list[dict] = []

    def create_many() -> None:
        try:
            for _ in range(each):
                made.append(create(r, "shop.pay", registry=reg, prefix=prefix))
        except BaseException as exc:
            errors.append(exc)

    for t in readers:
        t.start()
    writers = [threading.Thread(target=create_many, daemon=True) for _ in range(creators)]
    for t in writers:
        t.start()
    for t in writers:
        t.join(120)
    stop.set()
    for t in readers:
        t.join(30)
    assert errors == []
    assert len(made) == creators * each
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    while leases := q.claim(100):
        for lease in leases:
            lease.complete({"ok": True})
    list_workflows(r, status="complete", prefix=prefix)  # records every finished one
    wk = WorkflowKeys(prefix)
    outcomes = [r.hget(wk.workflow(wf["id"]), "outcome") for wf in made]
    assert outcomes == ["complete"] * len(made)
    assert list_workflows(r, status="cancelled", prefix=prefix)[1] == 0


class Died(Exception):
    """The creator's end between its two writes."""


def test_a_creation_whose_steps_never_come_is_filed_cancelled_after_the_grace(r, prefix, monkeypatch):
    reg = registry()
    wid = str(uuid.uuid4())

    def die(self, specs):
        raise Died()

    with monkeypatch.context() as m:
        m.setattr(Queue, "enqueue_specs", die)
        with pytest.raises(Died):
            create(r, "shop.ship", registry=reg, prefix=prefix, workflow_id=wid)
    wk = WorkflowKeys(prefix)
    created = int(r.hget(wk.workflow(wid), "created"))
    assert get(r, wid, prefix=prefix)["status"] == "pending"
    grace_ms = int(CREATE_GRACE * 1000)
    assert sweep(r, prefix, now_ms=created + grace_ms - 1)["recorded"] == 0
    assert list_workflows(r, status="pending", prefix=prefix)[1] == 1
    rechecked = created + grace_ms + int(sweep_module.MAX_RECHECK * 1000)  # its next check
    assert sweep(r, prefix, now_ms=rechecked)["recorded"] == 1
    rec = r.hgetall(wk.workflow(wid))
    assert (rec["outcome"], int(rec["finished"])) == ("cancelled", created)
    wf = get(r, wid, prefix=prefix)
    assert wf["status"] == "cancelled" and {s["status"] for s in wf["steps"]} == {"cancelled"}
    assert [w["id"] for w in list_workflows(r, status="cancelled", prefix=prefix)[0]] == [wid]


def test_calling_again_with_the_workflow_id_finishes_an_interrupted_creation(r, prefix, monkeypatch):
    reg = registry()
    wid = str(uuid.uuid4())
    with monkeypatch.context() as m:
        m.setattr(Queue, "enqueue_specs", lambda self, specs: (_ for _ in ()).throw(Died()))
        with pytest.raises(Died):
            create(r, "shop.pay", registry=reg, prefix=prefix, workflow_id=wid)
    wf = create(r, "shop.pay", registry=reg, prefix=prefix, workflow_id=wid)
    assert wf["status"] == "pending" and wf["steps"][0]["task_id"]
    assert r.hget(WorkflowKeys(prefix).workflow(wid), "creating") is None
    assert Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix).get(wf["steps"][0]["task_id"]).status == "queued"
    later = redis_ms(r) + int(CREATE_GRACE * 1000) + 1
    with lost_follow_ups():  # the sweep files it, past the creation grace
        complete(r, prefix, wf)
    assert sweep(r, prefix, now_ms=later)["recorded"] == 1
    assert r.hget(WorkflowKeys(prefix).workflow(wid), "outcome") == "complete"
