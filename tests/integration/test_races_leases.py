"""Races against a real Redis, part 1: many claimers, one lease, expiry.

Every transition in taskq is one Lua script, and Redis runs one script at a
time, so racing callers are serialized. These tests show what that buys a
user: a task is leased to one claimer at a time, a lease whose holder went
quiet passes to the next claimer and the old holder can no longer change
anything, a concurrency limit holds at every moment, and whatever races with
whatever, each task ends in exactly one state, agreed on by its hash, the
status indexes and the queue's counters.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
import time
import traceback
from collections import Counter

import pytest

from taskq import InvalidState, LeaseLost, Queue, complete_many
from taskq.keys import STATUSES

from race_helpers import assert_consistent, run_threads, own_client


# -- many processes draining one queue ---------------------------------------

def _drain(url, prefix, name, worker_no, batch, use_complete_many, barrier, out):
    """A worker process: claim in batches and complete until the queue is empty."""
    try:
        client = own_client(url)
        q = Queue(name, redis=client, prefix=prefix)
        worker = f"proc-{worker_no}"
        claimed: list[str] = []
        barrier.wait(timeout=60)
        while True:
            leases = q.claim(batch, worker=worker)
            if not leases:
                break  # no task ever goes back to queued here, so empty means done
            claimed += [lease.id for lease in leases]
            if use_complete_many:
                done = complete_many(client, [(lease, {"by": worker}) for lease in leases])
            else:
                done = [lease.complete({"by": worker}) for lease in leases]
            if not all(done):
                raise AssertionError(f"{worker}: a fresh lease did not complete")
        out.put((worker_no, claimed, None))
    except BaseException:  # noqa: BLE001 - reported to the parent
        out.put((worker_no, [], traceback.format_exc()))


def test_eight_processes_claim_each_of_10000_tasks_exactly_once(make_queue, prefix, redis_url):
    processes, total, batch = 8, 10_000, 50
    q = make_queue("drain")
    ids = [t.id for t in q.enqueue_many({"func": "app:job", "args": [i]} for i in range(total))]
    assert q.count("queued") == total

    ctx = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_drain, daemon=True,
                         args=(redis_url, prefix, q.name, n, batch, n % 2 == 0, barrier, out))
             for n in range(processes)]
    for p in procs:
        p.start()
    results = {}
    for _ in procs:
        worker_no, claimed, error = out.get(timeout=60)
        assert error is None, error
        results[worker_no] = claimed
    for p in procs:
        p.join(10)
        assert p.exitcode == 0

    everything = [tid for claimed in results.values() for tid in claimed]
    assert len(everything) == total, "a task was claimed twice"
    assert set(everything) == set(ids), "a task was never claimed"
    assert sum(1 for claimed in results.values() if claimed) > 1, "only one process got work"

    assert q.counts() == {s: (total if s == "completed" else 0) for s in STATUSES}
    stats = q.stats()
    assert (stats["created"], stats["started"], stats["completed"]) == (total, total, total)
    assert not {"retrying", "expired", "failed", "cancelled"} & set(stats)
    assert q.redis.hlen(q.qkeys.conc) == 0

    # Each task was completed by the process that claimed it, on its first attempt.
    pipe = q.redis.pipeline(transaction=False)
    for tid in ids:
        pipe.hmget(q.qkeys.task(tid), "status", "attempts", "worker", "result")
    by_id = dict(zip(ids, pipe.execute()))
    for worker_no, claimed in results.items():
        for tid in claimed:
            status, attempts, worker, result = by_id[tid]
            assert (status, attempts, worker) == ("completed", "1", f"proc-{worker_no}")
            assert result == f'{{"by":"proc-{worker_no}"}}'


# -- the same lease, many callers --------------------------------------------

def test_concurrent_completes_of_one_lease_take_effect_once(make_queue, redis_url):
    q, downstream = make_queue("dup"), make_queue("dup-downstream")
    rounds, callers = 8, 12
    clients = [own_client(redis_url) for _ in range(callers)]
    children, remote_children = [], []
    for _ in range(rounds):
        # Higher priority: claimed ahead of the children earlier rounds released.
        parent = q.enqueue("app:parent", priority=1)
        children.append(q.enqueue("app:child", depends_on=parent.id).id)
        remote_children.append(downstream.enqueue("app:child", depends_on=parent.id).id)
        [lease] = q.claim(1)
        assert lease.id == parent.id
        # The same lease (same task, same token) in every caller's hands.
        copies = [dataclasses.replace(lease, client=c) for c in clients]
        barrier = threading.Barrier(callers)
        outcomes: list[bool] = []

        def complete(copy, n):
            barrier.wait(5)
            if n % 3 == 0:  # some callers go through the batch helper
                outcomes.extend(complete_many(copy.client, [(copy, {"n": n})]))
            else:
                outcomes.append(copy.complete({"n": n}))

        run_threads([lambda c=c, n=n: complete(c, n) for n, c in enumerate(copies)])
        assert sorted(outcomes) == [False] * (callers - 1) + [True]
        assert q.get(parent.id).status == "completed"

    assert q.stats()["completed"] == rounds
    events = q.redis.xrange(q.qkeys.events)
    assert sum(1 for _, e in events if e["event"] == "completed") == rounds

    # Each dependent was released once: queued once here and in the other
    # queue (its outcome crossed over through the outbox exactly once).
    assert q.redis.llen(q.qkeys.outbox) == 0
    assert q.list_ids("queued", limit=100) == children
    assert sorted(downstream.list_ids("queued", limit=100)) == sorted(remote_children)
    assert sorted(lease.id for lease in q.claim(100)) == sorted(children)
    assert sorted(lease.id for lease in downstream.claim(100)) == sorted(remote_children)
    assert q.claim(100) == [] and downstream.claim(100) == []
    for c in clients:
        c.close()


def test_complete_racing_fail_on_one_lease_has_exactly_one_winner(make_queue, redis_url):
    q = make_queue("complete-vs-fail")
    rounds, callers = 12, 8
    clients = [own_client(redis_url) for _ in range(callers)]
    finals = Counter()
    for _ in range(rounds):
        t = q.enqueue("app:job", max_retries=0, priority=1)
        dependent = q.enqueue("app:after", depends_on=t.id)
        [lease] = q.claim(1)
        assert lease.id == t.id
        copies = [dataclasses.replace(lease, client=c) for c in clients]
        barrier = threading.Barrier(callers)
        completes, fails = [], []

        def act(copy, n):
            barrier.wait(5)
            try:
                if n % 2:
                    completes.append(copy.complete("ok"))
                else:
                    fails.append(copy.fail("boom", retryable=False))
            except LeaseLost:
                (completes if n % 2 else fails).append("lease lost")

        run_threads([lambda c=c, n=n: act(c, n) for n, c in enumerate(copies)])
        final = q.get(t.id).status
        finals[final] += 1
        if final == "completed":
            # One complete won; the others were harmless duplicates; every fail was refused.
            assert sorted(completes, key=str) == [False] * 3 + [True]
            assert fails == ["lease lost"] * 4
            assert q.get(dependent.id).status == "queued"
        else:
            assert final == "failed"
            # One fail won; the others were repeats, told the final status.
            assert completes == ["lease lost"] * 4
            assert fails == ["failed"] * 4
            assert q.get(dependent.id).status == "failed"
    stats = q.stats()
    assert stats.get("completed", 0) == finals["completed"]
    # Each parent that failed took its dependent with it: two failures.
    assert stats.get("failed", 0) == 2 * finals["failed"]
    for c in clients:
        c.close()


def test_a_duplicate_fail_reports_the_final_status(q):
    q.enqueue("app:job", max_retries=0)
    [lease] = q.claim(1)
    assert lease.fail("boom", retryable=False) == "failed"
    assert lease.fail("boom", retryable=False) == "failed"  # the harmless duplicate


def test_concurrent_retries_and_cancels_of_one_task_act_once(make_queue, redis_url):
    q = make_queue("once")
    callers = 10
    clients = [own_client(redis_url) for _ in range(callers)]
    queues = [Queue(q.name, redis=c, prefix=q.keys.prefix) for c in clients]

    def race(verb, task_id):
        barrier, outcomes = threading.Barrier(callers), []

        def act(qq):
            barrier.wait(5)
            try:
                outcomes.append(getattr(qq, verb)(task_id))
            except InvalidState as exc:
                outcomes.append(f"refused: {exc.status}")
        run_threads([lambda qq=qq: act(qq) for qq in queues])
        return Counter(outcomes)

    t = q.enqueue("app:job", max_retries=0)
    dependent = q.enqueue("app:after", depends_on=t.id)
    [lease] = q.claim(1)
    lease.fail("boom", retryable=False)

    # Many retries of one failed task: one requeues it, the rest see it queued.
    assert race("retry", t.id) == {"queued": 1, "refused: queued": callers - 1}
    assert q.redis.zscore(q.qkeys.queued, t.id) is not None
    assert q.stats()["retrying"] == 1

    # Many cancels of one queued task: one cancels it, the rest see it cancelled.
    other = q.enqueue("app:job")
    assert race("cancel", other.id) == {"cancelled": 1, "refused: cancelled": callers - 1}
    assert q.stats()["cancelled"] == 1
    assert q.get(dependent.id).status == "failed"  # failed once, when t first failed
    assert q.stats()["failed"] == 2
    assert_consistent(q, [t.id, dependent.id, other.id])
    for c in clients:
        c.close()


# -- expired leases -----------------------------------------------------------

def test_expired_lease_passes_to_the_next_claimer_and_the_slow_holder_changes_nothing(q, r):
    t = q.enqueue("app:slow", max_retries=3)
    [slow] = q.claim(1, lease=0.3, worker="slow")
    time.sleep(0.45)  # the slow holder misses its heartbeat

    # A claim reaps expired leases before leasing: the task runs again elsewhere.
    [fast] = q.claim(1, lease=30, worker="fast")
    assert fast.id == t.id and fast.token != slow.token
    got = q.get(t.id)
    assert (got.status, got.attempts, got.retries, got.worker) == ("running", 2, 1, "fast")

    before = r.hgetall(q.qkeys.task(t.id))
    late = {
        "complete": lambda: slow.complete("late"),
        "heartbeat": lambda: slow.heartbeat(),
        "extend": lambda: slow.extend(60),
        "checkpoint": lambda: slow.checkpoint({"page": 9}),
        "log": lambda: slow.log("still here"),
        "fail": lambda: slow.fail("late"),
        "cancelled": lambda: slow.cancelled(),
    }
    for name, act in late.items():
        with pytest.raises(LeaseLost):
            act()
        assert r.hgetall(q.qkeys.task(t.id)) == before, f"late {name} changed the task"
    # The batch helper reports a lost lease as not completed rather than raising.
    assert complete_many(r, [(slow, "late")]) == [False]
    assert r.hgetall(q.qkeys.task(t.id)) == before
    assert q.log_count(t.id) == 0

    assert fast.complete({"by": "fast"}) is True
    got = q.get(t.id)
    assert (got.status, got.result, got.attempts) == ("completed", {"by": "fast"}, 2)
    with pytest.raises(LeaseLost):
        slow.complete("even later")
    stats = q.stats()
    assert (stats["started"], stats["expired"], stats["retrying"], stats["completed"]) == (2, 1, 1, 1)


def test_a_heartbeat_after_expiry_cannot_revive_the_lease(q):
    t = q.enqueue("app:slow")
    [lease] = q.claim(1, lease=0.2)
    time.sleep(0.3)
    # Nothing has reaped the task yet: it still says running, but the lease is over.
    assert q.get(t.id).status == "running"
    for act in (lease.heartbeat, lambda: lease.extend(60), lease.complete):
        with pytest.raises(LeaseLost) as info:
            act()
        assert info.value.status == "expired"
    assert q.reap() == {"requeued": 1, "failed": 0, "promoted": 0}
    assert q.get(t.id).status == "queued"


def test_expiry_with_no_retries_left_fails_the_task_and_its_dependents(q):
    t = q.enqueue("app:slow", max_retries=0)
    dependent = q.enqueue("app:after", depends_on=t.id)
    [lease] = q.claim(1, lease=0.2)
    time.sleep(0.3)
    assert q.claim(1) == []  # the reaped task has no retry left: nothing to lease
    got = q.get(t.id)
    assert (got.status, got.error) == ("failed", "lease expired; no retries left")
    assert q.get(dependent.id).status == "failed"
    with pytest.raises(LeaseLost):
        lease.complete()
    assert_consistent(q, [t.id, dependent.id])
