"""Workflows filed under their status (taskq.workflows.status): past 2,000
open workflows, with claims, completions, failures, retries, releases and
cancels racing each other, racing follow-ups, sweeps and readers, every
filter and status lists exactly what reading every workflow shows, with
exact totals, and a page costs the same few commands whatever the number."""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest

from taskq import Queue
from taskq.errors import TaskqError
from taskq.keys import Keys, WorkflowKeys
from taskq.lease import complete_many
from taskq.workflows import WORKFLOW_QUEUE, Registry, cancel_step, create, get, list_workflows
from taskq.workflows.status import follow_up
from taskq.workflows.sweep import sweep

from workflow_drive import AUDIT, PAY, SHIP, claim_step, fail

S = "tests.integration.workflow_steps"
FORK = {"namespace": "back", "name": "fork", "version": "2.0.0", "step_templates": [
    {"name": "a", "handler_class": f"{S}.Source"},
    {"name": "b", "handler_class": f"{S}.Source", "depends_on_step": "a", "skippable": True},
    {"name": "c", "handler_class": f"{S}.Source", "depends_on_step": "a"},
    {"name": "d", "handler_class": f"{S}.Source", "depends_on_step": ["b", "c"]}]}
HANDLERS = ["shop.pay", "shop.ship", "back.audit", "back.fork"]
FILTERS = [dict(zip(("namespace", "name", "version"), combo)) for combo in itertools.product(
    [None, "shop", "back"], [None, "pay", "fork"], [None, "1.0.0", "2.0.0"])]
STATUSES = [None, "pending", "in_progress", "complete", "error", "cancelled"]
OPEN = 2_050
"""Workflows left open at the end: more than the 2,000 a listing used to read."""


def registry() -> Registry:
    reg = Registry()
    for h in (PAY, SHIP, AUDIT, FORK):
        reg.register(h)
    return reg


def reference(every, namespace=None, name=None, version=None, status=None):
    return [w["id"] for w in every
            if (namespace is None or w["namespace"] == namespace) and (name is None or w["name"] == name)
            and (version is None or w["version"] == version) and (status is None or w["status"] == status)]


def drive(r, prefix, wfs, seed, rounds):
    """Random step changes through the public paths, each followed up as
    those paths do (taskq.lease, cancel_step)."""
    rng = random.Random(seed)
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    for _ in range(rounds):
        kind = rng.random()
        if kind < 0.12:
            wf = rng.choice(wfs)
            try:
                cancel_step(r, wf["id"], rng.choice(wf["steps"])["name"], prefix=prefix)
            except TaskqError:
                pass  # already finished: refused
            continue
        leases = q.claim(rng.randint(1, 4))
        batch = []
        for lease in leases:
            what = rng.random()
            try:
                if what < 0.45:
                    batch.append((lease, {"ok": True}))
                elif what < 0.6:
                    lease.complete({"ok": 1})
                elif what < 0.7:
                    lease.fail("ValueError: declined", retryable=False)
                elif what < 0.8:
                    lease.fail("ConnectionError: try again", retryable=True)
                elif what < 0.9:
                    lease.release()
                # else: left running
            except TaskqError:
                pass  # cancelled meanwhile: the lease no longer holds
        complete_many(r, batch)


def test_every_status_listing_is_exact_past_2000_open(r, prefix):
    reg = registry()
    rng = random.Random(20)
    wfs = [create(r, rng.choice(HANDLERS), registry=reg, prefix=prefix) for _ in range(OPEN + 400)]
    keys = Keys(prefix)
    stop = threading.Event()
    errors: list[BaseException] = []

    def guarded(fn, *args):
        try:
            fn(*args)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def reread_loop(seed):
        """Racing follow-ups and readers of the same workflows."""
        rnd = random.Random(seed)
        while not stop.is_set():
            follow_up(r, keys, {w["id"]: WORKFLOW_QUEUE for w in rnd.sample(wfs, 20)})
            list_workflows(r, status=rnd.choice(STATUSES), limit=5, prefix=prefix)
            if rnd.random() < 0.2:
                sweep(r, prefix)

    drivers = [threading.Thread(target=guarded, args=(drive, r, prefix, wfs, seed, 60))
               for seed in range(6)]
    readers = [threading.Thread(target=guarded, args=(reread_loop, 100 + i)) for i in range(2)]
    for t in drivers + readers:
        t.start()
    for t in drivers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors

    every = [get(r, w["id"], prefix=prefix) for w in reversed(wfs)]  # newest first
    counts = {s: sum(w["status"] == s for w in every) for s in STATUSES[1:]}
    assert all(counts.values()), counts  # every status is there
    assert counts["pending"] + counts["in_progress"] > 2000, counts
    wk = WorkflowKeys(prefix)
    from taskq.workflows import indexes
    for status, filters in itertools.product(STATUSES, FILTERS):
        want = reference(every, status=status, **filters)
        key = wk.scoped(status or "all", indexes.scope(**filters))
        assert (r.zrevrange(key, 0, -1), r.zcard(key)) == (want, len(want)), (status, filters)
        page, total = list_workflows(r, status=status, offset=len(want) // 2, limit=3, prefix=prefix,
                                     **filters)
        assert ([w["id"] for w in page], total) == (want[len(want) // 2:len(want) // 2 + 3], len(want))
        assert all(w["status"] == status for w in page if status)


def test_a_status_page_costs_a_page_past_2000_open(r, prefix, counted):
    """A page of any status, filter and offset: one range, one count, the
    page's records and their steps (two round trips), whatever the number."""
    reg = registry()
    wfs = [create(r, "back.fork", registry=reg, prefix=prefix) for _ in range(OPEN)]
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    running = q.claim(800)  # 800 in progress, 1,250 pending
    complete_many(r, [(lease, None) for lease in running[:100]])
    for lease in running[100:120]:
        lease.fail("ValueError: declined", retryable=False)
    for wf in wfs[-10:]:
        cancel_step(r, wf["id"], "a", prefix=prefix)
    want = {"pending": OPEN - 810, "in_progress": 780, "error": 20, "cancelled": 10, "complete": 0}
    for status, filters in itertools.product(STATUSES, [{}, {"namespace": "back", "name": "fork"}]):
        total = want.get(status, OPEN)
        for offset in (0, total // 2, max(0, total - 10)):
            counted.counts.clear()
            page, n = list_workflows(counted, status=status, offset=offset, limit=10, prefix=prefix,
                                     **filters)
            assert n == total and len(page) == min(10, total - offset)
            sent = sum(counted.counts.values())
            assert sent <= 2 + 10 + 10 * 4, (status, offset, counted.counts)  # 4 steps a workflow


def test_a_follow_up_from_an_older_observation_changes_nothing(r, prefix):
    """Observations filed out of order: the newest wins."""
    from taskq.workflows.status import file, observe
    reg = registry()
    wf = create(r, "shop.ship", registry=reg, prefix=prefix)
    keys = Keys(prefix)
    older = observe(r, keys, {wf["id"]: WORKFLOW_QUEUE})  # pending
    lease = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix).claim(1)[0]  # in progress (filed)
    assert list_workflows(r, status="in_progress", prefix=prefix)[1] == 1
    assert file(r, keys, older) == 0
    assert list_workflows(r, status="in_progress", prefix=prefix)[1] == 1
    assert list_workflows(r, status="pending", prefix=prefix)[1] == 0
    lease.release()  # back to pending: its follow-up is newer than the claim's
    assert [w["id"] for w in list_workflows(r, status="pending", prefix=prefix)[0]] == [wf["id"]]


def test_a_reopened_workflow_moves_back_and_counts_once(r, prefix):
    """A failed step retried by hand through the plain task API (Queue.retry,
    as /api/tasks/{id}/retry does): its workflow moves back to in_progress;
    its outcome stays counted once."""
    from taskq.workflows import performance
    reg = registry()
    wf = create(r, "shop.pay", registry=reg, prefix=prefix)
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    q.claim(1)[0].fail("ValueError: declined", retryable=False)
    assert list_workflows(r, status="error", prefix=prefix)[1] == 1
    q.retry(wf["steps"][0]["task_id"])
    assert get(r, wf["id"], prefix=prefix)["status"] == "in_progress"
    assert r.zscore(WorkflowKeys(prefix).check, wf["id"]) is not None  # swept again from now on
    assert [w["id"] for w in list_workflows(r, status="in_progress", prefix=prefix)[0]] == [wf["id"]]
    assert list_workflows(r, status="error", prefix=prefix)[1] == 0
    q.claim(1)[0].complete(None)
    assert [w["id"] for w in list_workflows(r, status="complete", prefix=prefix)[0]] == [wf["id"]]
    stats = performance(r, prefix=prefix)["task_statistics"]
    assert (stats["total_tasks"], stats["failed"], stats["completed"]) == (1, 1, 0)


def test_a_step_deleted_or_cancelled_through_the_task_api_files_its_workflow(r, prefix):
    reg = registry()
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    gone = create(r, "shop.ship", registry=reg, prefix=prefix)
    q.delete(gone["steps"][1]["task_id"])
    stopped = create(r, "shop.ship", registry=reg, prefix=prefix)
    q.cancel(stopped["steps"][0]["task_id"], mode="force")
    assert {w["id"] for w in list_workflows(r, status="cancelled", prefix=prefix)[0]} == {
        gone["id"], stopped["id"]}
    assert get(r, gone["id"], prefix=prefix)["status"] == "cancelled"
    assert list_workflows(r, status="pending", prefix=prefix)[1] == 0


def test_a_step_reaped_after_its_worker_died_is_filed_by_the_sweep(r, prefix):
    reg = registry()
    wf = create(r, "shop.pay", registry=reg, prefix=prefix)
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    lease = q.claim(1, lease=0.05)[0]  # its holder dies: nothing follows up its end
    r.hset(q.keys.queue(WORKFLOW_QUEUE).task(lease.id), "max_retries", 0)
    deadline = time.monotonic() + 10
    while q.get(lease.id).status != "failed":
        assert time.monotonic() < deadline
        q.reap()
        time.sleep(0.05)
    assert list_workflows(r, status="in_progress", prefix=prefix)[1] == 1
    r.zadd(WorkflowKeys(prefix).check, {wf["id"]: 0})  # its next look is due
    sweep(r, prefix)
    assert [w["id"] for w in list_workflows(r, status="error", prefix=prefix)[0]] == [wf["id"]]
    assert list_workflows(r, status="in_progress", prefix=prefix)[1] == 0


def test_a_record_of_an_older_release_is_filed_by_the_sweep(r, prefix):
    """An unfinished workflow written before the status indexes (in 'open',
    no state) is moved to its status by the sweep's next look."""
    from taskq.workflows import indexes
    reg = registry()
    wf = create(r, "back.audit", registry=reg, prefix=prefix)
    wk = WorkflowKeys(prefix)
    for pending, old in zip(indexes.state_keys(wk, "pending", "back", "audit", "1.0.0"),
                            indexes.state_keys(wk, "open", "back", "audit", "1.0.0")):
        score = r.zscore(pending, wf["id"])
        r.zrem(pending, wf["id"])
        r.zadd(old, {wf["id"]: score})
    r.hdel(wk.workflow(wf["id"]), "state")
    assert list_workflows(r, status="pending", prefix=prefix)[1] == 0
    sweep(r, prefix)
    assert [w["id"] for w in list_workflows(r, status="pending", prefix=prefix)[0]] == [wf["id"]]
    assert all(r.zcard(k) == 0 for k in indexes.state_keys(wk, "open", "back", "audit", "1.0.0"))


@pytest.mark.parametrize("decode", [True, False])
def test_a_pool_worker_files_the_workflows_it_runs(r, prefix, redis_url, decode):
    """Steps run by a pool worker (its follower thread reads for them and
    follows them up), some failing, with cancels racing: every listing
    matches a full read once it stops; a client that does not decode
    replies works the same."""
    from redis_clients import plain_client
    from workers.pool import PoolWorker
    reg = Registry()
    reg.register({"namespace": "t", "name": "diamond", "version": "1.0.0", "step_templates": [
        {"name": "source", "handler_class": f"{S}.Source"},
        {"name": "double", "handler_class": f"{S}.double", "depends_on_step": "source"},
        {"name": "add_ten", "handler_class": f"{S}.add_ten", "depends_on_step": "source"},
        {"name": "join", "handler_class": f"{S}.join", "depends_on_step": ["double", "add_ten"]}]})
    reg.register({"namespace": "t", "name": "broken", "version": "1.0.0", "step_templates": [
        {"name": "first", "handler_class": f"{S}.Source"},
        {"name": "bad", "handler_class": f"{S}.broken", "depends_on_step": "first",
         "default_retryable": False}]})
    ids = [create(r, rng_name, context={"n": i}, registry=reg, prefix=prefix)["id"]
           for i, rng_name in enumerate(["t.diamond", "t.diamond", "t.broken"] * 40)]
    for wid in ids[::7]:
        cancel_step(r, wid, "first" if get(r, wid, prefix=prefix)["name"] == "broken" else "double",
                    prefix=prefix)
    client = plain_client(redis_url, decode_responses=decode)
    worker = PoolWorker(client, [WORKFLOW_QUEUE], concurrency=4, prefix=prefix, capacity=20)
    worker.run(burst=True)
    client.close()
    every = [get(r, wid, prefix=prefix) for wid in reversed(ids)]
    assert {w["status"] for w in every} == {"complete", "error", "cancelled"}
    for status in STATUSES:
        page, total = list_workflows(r, status=status, limit=200, prefix=prefix)
        want = reference(every, status=status)
        assert ([w["id"] for w in page], total) == (want, len(want)), status
    results = {w["name"]: w["steps"][-1]["results"] for w in every if w["status"] == "complete"}
    assert results["diamond"]["deps"] == ["add_ten", "double"]
    # every attempt's facts counted once, in the worker's batches
    wk = WorkflowKeys(prefix)
    markers = 0
    for w in every:
        record = r.hgetall(wk.workflow(w["id"]))
        ran = {s["name"] for s in w["steps"] if s["status"] == "complete" or s["attempts"]}
        assert {f"fact:{name}:1" for name in ran} <= set(record), (w["status"], w["steps"])
        markers += sum(1 for field in record if field.startswith("fact:"))
    runs = sum(int(v) for key in r.scan_iter(f"{wk.stats_prefix}*")
               for field, v in r.hgetall(key).items() if field.endswith("|runs"))
    assert runs == markers > 0


def test_a_pool_worker_keeps_running_steps_when_a_follow_up_breaks(r, prefix, redis_url):
    """A record its follow-up cannot read (its steps field is not JSON) and
    a step task whose kwargs are not a step's: the other workflows still
    run and are filed; the broken ones are left to the sweep."""
    from workers.pool import PoolWorker
    reg = registry()
    good = [create(r, "shop.ship", context={"n": i}, registry=reg, prefix=prefix) for i in range(6)]
    bad = create(r, "shop.ship", context={"n": 9}, registry=reg, prefix=prefix)
    wk = WorkflowKeys(prefix)
    r.hset(wk.workflow(bad["id"]), "steps", "{not json")
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    odd = q.enqueue_call("taskq.workflows.runner:run_step", kwargs={"workflow": 5})
    worker = PoolWorker(r, [WORKFLOW_QUEUE], concurrency=2, prefix=prefix, capacity=4)
    worker.run(burst=True)
    assert [w["status"] for w in (get(r, wf["id"], prefix=prefix) for wf in good)] == ["complete"] * 6
    assert {w["id"] for w in list_workflows(r, status="complete", prefix=prefix)[0]} == {
        wf["id"] for wf in good}
    assert q.get(odd.id).status != "completed"  # its runner raised (TypeError: retried)


def test_a_start_moves_only_a_pending_workflow_and_outranks_older_looks(r, prefix):
    """A pool worker files a workflow started from its claim's time, without
    looking at its steps: an older look that saw it pending changes nothing
    afterwards, a newer one does, and a start never moves it from another status."""
    from taskq.workflows.status import file, observe
    reg = registry()
    keys = Keys(prefix)

    def now_us():
        sec, usec = r.time()
        return int(sec) * 1_000_000 + int(usec)

    wf = create(r, "back.audit", registry=reg, prefix=prefix)
    older = observe(r, keys, {wf["id"]: WORKFLOW_QUEUE})  # pending
    assert file(r, keys, [], started=[(wf["id"], now_us())]) == 0
    assert [w["id"] for w in list_workflows(r, status="in_progress", prefix=prefix)[0]] == [wf["id"]]
    file(r, keys, older)
    assert list_workflows(r, status="in_progress", prefix=prefix)[1] == 1
    assert list_workflows(r, status="pending", prefix=prefix)[1] == 0
    file(r, keys, observe(r, keys, {wf["id"]: WORKFLOW_QUEUE}))  # newer: pending (nothing claimed)
    assert list_workflows(r, status="pending", prefix=prefix)[1] == 1

    failed = create(r, "back.audit", registry=reg, prefix=prefix)
    before = now_us()
    fail(r, prefix, failed, "check")  # followed up: error
    file(r, keys, [], started=[(failed["id"], now_us())])
    assert [w["id"] for w in list_workflows(r, status="error", prefix=prefix)[0]] == [failed["id"]]
    released = create(r, "back.audit", registry=reg, prefix=prefix)
    claim_step(r, prefix, released, "check").release()  # followed up: pending, seen after `before`
    file(r, keys, [], started=[(released["id"], before)])  # a start older than that look
    assert {w["id"] for w in list_workflows(r, status="pending", prefix=prefix)[0]} == {
        wf["id"], released["id"]}
