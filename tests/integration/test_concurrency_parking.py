"""Concurrency keys without head-of-line blocking: a ready task whose key is
full is parked (still `queued` to every reader) and comes back to its place
when a slot of its key frees, whatever frees it."""

from __future__ import annotations

import random
import threading
import time

import pytest

from taskq import Queue

from race_helpers import assert_consistent, own_client, run_threads

KEYED = {"concurrency_key": "acct", "concurrency_limit": 1}


def parked(q: Queue, key: str = "acct") -> list[str]:
    return q.redis.zrange(q.qkeys.parked(key), 0, -1)


def keyed_batch(q: Queue, n: int, priority: int = 10, **extra) -> list[str]:
    return [t.id for t in q.enqueue_many(
        dict(func="app:job", priority=priority, **KEYED, **extra) for _ in range(n))]


def fill_key(q: Queue, priority: int = 10):
    """A running task holding the key's only slot; returns its lease."""
    keyed_batch(q, 1, priority)
    [lease] = q.claim(1)
    return lease


# -- starvation ------------------------------------------------------------------

def test_a_free_task_behind_a_full_key_is_claimed_in_one_call(q):
    """1,001 tasks of a full key at priority 10, one free task at priority 0."""
    first = fill_key(q)
    keyed = keyed_batch(q, 1001)
    free = q.enqueue("app:free", priority=0)
    [lease] = q.claim(1)
    assert lease.id == free.id
    assert len(parked(q)) == 1001  # their key was full at enqueue
    assert first.task.concurrency_key == "acct"
    # parked tasks are still queued to every reader
    assert q.counts()["queued"] == 1001 and q.count("queued") == 1001
    assert set(q.list_ids("queued", limit=1000)) | set(q.list_ids("queued", offset=1000)) == set(keyed)


def test_tasks_queued_before_their_key_filled_do_not_starve_a_free_task(q):
    keyed = keyed_batch(q, 1002)
    free = q.enqueue("app:free", priority=0)
    [lease] = q.claim(1)
    assert lease.id == keyed[0]
    [lease] = q.claim(1)  # parks the other 1,001 on its way, takes the free one
    assert lease.id == free.id
    assert len(parked(q)) == 1001 and q.count("queued") == 1001


def test_a_claim_never_reads_parked_tasks(q):
    """More parked tasks than one claim may look at: were they read, the free
    task behind them would not be found."""
    fill_key(q)
    for _ in range(12):
        keyed_batch(q, 1000)
    free = q.enqueue("app:free", priority=-5)
    assert [x.id for x in q.claim(3)] == [free.id]


# -- order and limits --------------------------------------------------------------

def test_parked_tasks_come_back_in_priority_then_fifo_order(q):
    holder = fill_key(q)
    b0 = keyed_batch(q, 1, priority=0)[0]
    c5 = keyed_batch(q, 1, priority=5)[0]
    d0 = keyed_batch(q, 1, priority=0)[0]
    e5 = keyed_batch(q, 1, priority=5)[0]
    assert parked(q) == [c5, e5, b0, d0]
    order = []
    lease = holder
    for _ in range(4):
        lease.complete()
        [lease] = q.claim(5)  # one slot: one task at a time
        order.append(lease.id)
    assert order == [c5, e5, b0, d0]
    lease.complete()
    assert q.claim(1) == [] and parked(q) == [] and q.redis.hlen(q.qkeys.conc) == 0


def test_an_unparked_task_goes_back_to_its_place_among_free_tasks(q):
    holder = fill_key(q, priority=0)
    keyed = keyed_batch(q, 1, priority=5)[0]
    low = q.enqueue("app:free", priority=1).id
    high = q.enqueue("app:free", priority=9).id
    holder.complete()
    assert [x.id for x in q.claim(3)] == [high, keyed, low]


def test_tasks_of_one_key_with_different_limits(q):
    wide = dict(func="app:job", concurrency_key="acct", concurrency_limit=3)
    t1, t2 = q.enqueue_many([wide, wide])
    l1, l2 = q.claim(2)
    narrow = q.enqueue("app:job", concurrency_key="acct", concurrency_limit=1)  # 2 run: full for it
    assert parked(q) == [narrow.id]
    t3 = q.enqueue_call("app:job", **{k: v for k, v in wide.items() if k != "func"})
    [l3] = q.claim(5)  # the wide task fits (2 < 3); the narrow one stays parked
    assert l3.id == t3.id and parked(q) == [narrow.id]
    t4 = q.enqueue_call("app:job", concurrency_key="acct", concurrency_limit=3)
    assert parked(q) == [narrow.id, t4.id]  # 3 run: full for it too
    l1.complete()  # 2 run: room for t4 only
    [l4] = q.claim(5)
    assert l4.id == t4.id and parked(q) == [narrow.id]
    l2.complete()
    l3.complete()
    assert q.claim(5) == []  # 1 still runs
    l4.complete()
    [ln] = q.claim(5)
    assert ln.id == narrow.id


# -- every way a slot comes back --------------------------------------------------

def _free_by(q, how, lease):
    if how == "complete":
        lease.complete()
    elif how == "fail":
        assert lease.fail("boom", retryable=False) == "failed"
    elif how == "retry_later":
        assert lease.fail("boom") == "retrying"  # backoff: the retry waits, delayed
    elif how == "release":
        assert lease.release() == "queued"
    elif how == "force_cancel":
        assert q.cancel(lease.id, mode="force") == "cancelled"
    elif how == "delete":
        q.delete(lease.id, force=True)
    elif how == "expire":
        time.sleep(0.25)
        q.reap()
    elif how == "acknowledged_cancel":
        assert q.cancel(lease.id) == "cancel_requested"
        assert lease.cancelled() == "cancelled"


@pytest.mark.parametrize("how", ["complete", "fail", "retry_later", "release", "force_cancel",
                                 "delete", "expire", "acknowledged_cancel"])
def test_every_end_of_a_lease_lets_a_parked_task_in(q, how):
    first = q.enqueue("app:job", max_retries=3, backoff="fixed", backoff_base=60_000, **KEYED)
    [lease] = q.claim(1, lease=0.2)
    second = q.enqueue("app:job", **KEYED)
    assert parked(q) == [second.id] and q.claim(1) == []
    _free_by(q, how, lease)
    assert [x.id for x in q.claim(1)] == [second.id]  # it was first in line
    assert parked(q) == []
    if how in ("release", "expire"):
        assert q.list_ids("queued") == [first.id]  # back in line, behind it
    assert q.redis.hget(q.qkeys.conc, "acct") == "1"


# -- what readers and managers do with parked tasks --------------------------------

def test_cancel_delete_update_retry_and_dedupe_of_parked_tasks(q):
    holder = fill_key(q)
    a, b, c, d = (q.enqueue("app:job", dedupe_key=f"k{i}", **KEYED) for i in range(4))
    assert parked(q) == [a.id, b.id, c.id, d.id]
    assert q.get(a.id).status == "queued"
    assert q.enqueue("app:job", dedupe_key="k0", **KEYED).id == a.id  # it still holds its key

    assert q.cancel(a.id) == "cancelled"
    q.delete(b.id)
    assert q.update(d.id, priority=50) == "queued"  # moves ahead of c, still parked
    assert parked(q) == [d.id, c.id]
    assert q.update(c.id, scheduled_at=time.time() + 3600) == "delayed"
    assert parked(q) == [d.id]
    assert q.counts()["queued"] == 1 and q.counts()["delayed"] == 1
    assert q.enqueue("app:job", dedupe_key="k0", **KEYED).id != a.id  # cancel released it

    assert q.retry(a.id) == "queued"  # back in line: parked, the key is still full
    assert a.id in parked(q)
    holder.complete()
    [nxt] = q.claim(5)
    assert nxt.id == d.id
    assert_consistent(q, [x for x in q.list_ids(limit=100)])


@pytest.mark.parametrize("how", ["cancel", "delete", "delay"])
def test_a_task_let_back_in_line_that_leaves_it_hands_its_turn_on(q, how):
    """The slot a parked task was let back for must not be lost when that
    task leaves the line before anyone claims it."""
    holder = fill_key(q)
    a, b = keyed_batch(q, 2)
    holder.complete()
    assert parked(q) == [b]  # a is back in line for the free slot
    if how == "cancel":
        q.cancel(a)
    elif how == "delete":
        q.delete(a)
    else:
        q.update(a, scheduled_at=time.time() + 3600)
    assert [x.id for x in q.claim(5)] == [b]


def test_pause_keeps_parked_tasks_parked_and_resume_lets_them_run(q):
    holder = fill_key(q)
    waiting = keyed_batch(q, 1)[0]
    q.pause()
    holder.complete()  # the slot frees while paused: the task is back in line
    assert q.claim(1) == [] and parked(q) == []
    q.resume()
    assert [x.id for x in q.claim(1)] == [waiting]


# -- racing claimers ---------------------------------------------------------------

def test_racing_claimers_never_run_more_than_the_limit_of_a_parked_key(make_queue, redis_url):
    q = make_queue("parking-race")
    limit, n, threads = 2, 60, 6
    spec = dict(func="app:job", concurrency_key="api", concurrency_limit=limit,
                max_retries=1, backoff="fixed", backoff_base=0)
    first = [t.id for t in q.enqueue_many([spec] * limit)]
    q.claim(limit, worker="starter")  # the key is full: what follows is parked at enqueue
    keyed = set(first) | {t.id for t in q.enqueue_many([spec] * (n - limit))}
    assert len(parked(q, "api")) == n - limit
    for lease_id in first:  # hand the starters' slots back: two come back in line
        q.cancel(lease_id, mode="force")
    lock = threading.Lock()
    running: set[str] = set()
    seen = {"max": 0, "violations": []}
    stop = threading.Event()

    def worker(i):
        wq = Queue(q.name, redis=own_client(redis_url), prefix=q.keys.prefix)
        while True:
            leases = wq.claim(2, worker=f"t{i}")
            if not leases:
                if wq.count("queued") == 0 and wq.count("running") == 0:
                    return
                time.sleep(0.002)
                continue
            with lock:
                running.update(x.id for x in leases)
                seen["max"] = max(seen["max"], len(running))
                if len(running) > limit:
                    seen["violations"].append(sorted(running))
            for lease in leases:
                time.sleep(random.uniform(0.001, 0.005))
                with lock:
                    running.discard(lease.id)
                roll = random.random()
                if roll < 0.2 and lease.task.attempts == 1:
                    lease.fail("rate limited")
                elif roll < 0.3:
                    lease.release()
                else:
                    lease.complete()

    def monitor():
        c = own_client(redis_url)
        while not stop.is_set():
            busy = int(c.hget(q.qkeys.conc, "api") or 0)
            if busy > limit:
                seen["violations"].append(("redis", busy))
            time.sleep(0.001)

    mon = threading.Thread(target=monitor, daemon=True)
    mon.start()
    run_threads([lambda i=i: worker(i) for i in range(threads)], timeout=60)
    stop.set()
    mon.join(5)
    assert seen["violations"] == [] and seen["max"] == limit
    counts = q.counts()
    assert counts["completed"] == n - limit and counts["cancelled"] == limit
    assert counts["queued"] == counts["running"] == 0
    assert parked(q, "api") == [] and q.redis.hlen(q.qkeys.conc) == 0
    assert_consistent(q, keyed)
