"""Races against a real Redis, part 2: concurrency limits, and everything
racing at once.

Every transition in taskq is one Lua script, and Redis runs one script at a
time, so racing callers are serialized. These tests show what that buys a
user: a task is leased to one claimer at a time, a lease whose holder went
quiet passes to the next claimer and the old holder can no longer change
anything, a concurrency limit holds at every moment, and whatever races with
whatever, each task ends in exactly one state, agreed on by its hash, the
status indexes and the queue's counters.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

from taskq import InvalidState, Queue
from taskq.keys import STATUSES

from race_helpers import ACTIVE, assert_consistent, Checker, run_threads, own_client


# -- concurrency limits -------------------------------------------------------

def test_a_concurrency_limit_holds_at_every_moment(make_queue, redis_url):
    q = make_queue("limited")
    limit, keyed_count, threads = 2, 40, 6
    keyed = {t.id for t in q.enqueue_many(
        {"func": "app:call_api", "concurrency_key": "api", "concurrency_limit": limit,
         "max_retries": 1, "backoff": "fixed", "backoff_base": 0} for _ in range(keyed_count))}
    free = {t.id for t in q.enqueue_many({"func": "app:other"} for _ in range(keyed_count))}

    lock = threading.Lock()
    running: set[str] = set()
    seen = {"max": 0, "violations": [], "redis_max": 0}
    done: Counter = Counter()
    stop = threading.Event()

    def worker(n):
        wq = Queue(q.name, redis=own_client(redis_url), prefix=q.keys.prefix)
        while True:
            leases = wq.claim(3, worker=f"t{n}")
            if not leases:
                if wq.count("queued") == 0 and wq.count("running") == 0:
                    return
                time.sleep(0.002)
                continue
            with lock:
                running.update(lease.id for lease in leases if lease.id in keyed)
                now = len(running)
                seen["max"] = max(seen["max"], now)
                if now > limit:
                    seen["violations"].append(sorted(running))
            for lease in leases:
                time.sleep(random.uniform(0.002, 0.01))  # the work
                # Leave the local running set before Redis frees the slot, so
                # the set never holds more than Redis counts as running.
                with lock:
                    running.discard(lease.id)
                if lease.id in keyed and lease.task.attempts == 1 and random.random() < 0.3:
                    assert lease.fail("rate limited") == "retrying"  # frees the slot too
                    with lock:
                        done["retried"] += 1
                else:
                    assert lease.complete() is True
                    with lock:
                        done["completed"] += 1

    def monitor():
        # Redis' own view: keyed tasks in the running index, and the slot counter.
        c = own_client(redis_url)
        while not stop.is_set():
            pipe = c.pipeline(transaction=True)
            pipe.zrange(q.qkeys.running, 0, -1)
            pipe.hget(q.qkeys.conc, "api")
            in_running, counter = pipe.execute()
            now = len(keyed.intersection(in_running))
            seen["redis_max"] = max(seen["redis_max"], now, int(counter or 0))
            if now > limit or int(counter or 0) > limit or now != int(counter or 0):
                seen["violations"].append(("redis", now, counter))
            time.sleep(0.001)

    mon = threading.Thread(target=monitor, daemon=True)
    mon.start()
    run_threads([lambda n=n: worker(n) for n in range(threads)])
    stop.set()
    mon.join(5)

    assert seen["violations"] == []
    assert seen["max"] == limit and seen["redis_max"] == limit  # the limit was reached, not just respected
    assert done["completed"] == len(keyed) + len(free)
    assert q.counts()["completed"] == len(keyed) + len(free)
    assert q.redis.hlen(q.qkeys.conc) == 0


def test_an_expired_holder_gives_its_concurrency_slot_back(q):
    a = q.enqueue("app:call_api", concurrency_key="api", concurrency_limit=1)
    b = q.enqueue("app:call_api", concurrency_key="api", concurrency_limit=1)
    [lease] = q.claim(5, lease=0.5)
    assert lease.id == a.id and q.claim(5) == []  # b waits for the slot, in its place
    assert q.list_ids("queued") == [b.id]
    time.sleep(0.6)
    [next_lease] = q.claim(5)  # reaps a's lease, which frees the slot
    assert next_lease.id == b.id  # a went back in line behind b
    assert q.redis.hget(q.qkeys.conc, "api") == "1"
    assert q.list_ids("queued") == [a.id]


# -- everything at once: each task ends in one consistent state ----------------

def test_cancel_racing_claim_leaves_every_task_in_one_state(make_queue, redis_url):
    q = make_queue("cancel-vs-claim")
    n = 300
    ids = [t.id for t in q.enqueue_many({"func": "app:job"} for _ in range(n))]
    lock = threading.Lock()
    claimed: dict[str, str] = {}        # id -> how its holder ended it
    claimed_twice: list[str] = []
    cancel_replies: dict[str, str] = {}
    cancellers_done = threading.Event()

    def claimer(k):
        wq = Queue(q.name, redis=own_client(redis_url), prefix=q.keys.prefix)
        while True:
            leases = wq.claim(5, worker=f"claimer-{k}")
            if not leases:
                if cancellers_done.is_set():
                    return
                time.sleep(0.001)
                continue
            for lease in leases:
                time.sleep(random.uniform(0, 0.002))
                # Cancel is cooperative: the holder learns of it at a heartbeat.
                if lease.heartbeat():
                    ended = lease.cancelled("asked to stop")
                else:
                    ended = "completed" if lease.complete() else "duplicate"
                with lock:
                    if lease.id in claimed:
                        claimed_twice.append(lease.id)
                    claimed[lease.id] = ended

    def canceller(share):
        wq = Queue(q.name, redis=own_client(redis_url), prefix=q.keys.prefix)
        for tid in share:
            try:
                reply = wq.cancel(tid, reason="no longer needed")
            except InvalidState as exc:
                reply = f"refused: {exc.status}"
            with lock:
                cancel_replies[tid] = reply
            time.sleep(random.uniform(0, 0.001))

    targets = random.sample(ids, n // 2)
    checker = Checker(q, ids)
    checker.start()
    cancel_threads = [threading.Thread(target=canceller, args=(targets[i::2],)) for i in range(2)]
    for t in cancel_threads:
        t.start()

    def wait_for_cancellers():
        for t in cancel_threads:
            t.join(30)
        cancellers_done.set()

    run_threads([lambda k=k: claimer(k) for k in range(3)] + [wait_for_cancellers])
    assert checker.finish() == [] and checker.snapshots > 0

    snap = assert_consistent(q, ids)
    status = snap["status"]
    assert claimed_twice == []
    assert set(status.values()) <= {"completed", "cancelled"}
    for tid in ids:
        reply = cancel_replies.get(tid)
        if tid in claimed:
            # The holder's view and the task agree.
            assert status[tid] == claimed[tid]
            assert reply != "cancelled", "a task cancelled while queued was still leased"
        else:
            assert reply == "cancelled" and status[tid] == "cancelled"
        if reply == "refused: completed":
            assert status[tid] == "completed"
    counts = Counter(status.values())
    stats = q.stats()
    assert stats["started"] == len(claimed)
    assert stats.get("completed", 0) == counts["completed"]
    assert stats.get("cancelled", 0) == counts["cancelled"]
    assert stats.get("cancel_requested", 0) == Counter(cancel_replies.values())["cancel_requested"]
    assert q.counts() == {s: counts[s] for s in STATUSES}


def test_retry_fail_and_cancel_racing_leave_every_task_in_one_state(make_queue, redis_url):
    q = make_queue("retry-vs-fail")
    n = 150
    ids = [t.id for t in q.enqueue_many(
        {"func": "app:flaky", "max_retries": 1, "backoff": "fixed", "backoff_base": 0}
        for _ in range(n))]
    lock = threading.Lock()
    events: Counter = Counter()     # what the callers were told
    attempts: Counter = Counter()   # leases handed out, per task
    retries: Counter = Counter()    # automatic and manual retries, per task
    stop_retriers = threading.Event()
    canceller_done = threading.Event()

    def note(name, tid=None, per_task=None):
        with lock:
            events[name] += 1
            if per_task is not None:
                per_task[tid] += 1

    def worker(k):
        wq = Queue(q.name, redis=own_client(redis_url), prefix=q.keys.prefix)
        while not stop_retriers.is_set():
            leases = wq.claim(5, worker=f"worker-{k}")
            if not leases:
                time.sleep(0.001)
                continue
            for lease in leases:
                note("started", lease.id, attempts)
                if lease.task.attempts >= 3:
                    assert lease.complete() is True
                    note("completed")
                    continue
                ended = lease.fail("flaky", retryable=random.random() < 0.5)
                note(ended)
                if ended == "retrying":
                    with lock:
                        retries[lease.id] += 1

    def retrier():
        wq = Queue(q.name, redis=own_client(redis_url), prefix=q.keys.prefix)
        while not stop_retriers.is_set():
            for tid in wq.list_ids("failed", limit=1000):
                try:
                    wq.retry(tid)
                except InvalidState:
                    continue  # another retrier (or a worker) got there first
                note("manual retry", tid, retries)
            time.sleep(0.001)

    def canceller():
        wq = Queue(q.name, redis=own_client(redis_url), prefix=q.keys.prefix)
        for tid in random.sample(ids, n // 5):
            time.sleep(random.uniform(0, 0.003))
            try:
                note("cancel: " + wq.cancel(tid))
            except InvalidState:
                note("cancel: refused")
        canceller_done.set()

    def until_settled():
        # Settled: the canceller is done and no task is active or failed.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            counts = q.counts()
            if canceller_done.is_set() and not any(counts[s] for s in ACTIVE + ("failed",)):
                break
            time.sleep(0.01)
        stop_retriers.set()

    checker = Checker(q, ids)
    checker.start()
    run_threads([lambda k=k: worker(k) for k in range(3)]
                + [retrier, retrier, canceller, until_settled])
    assert checker.finish() == []

    # A retrier may have acted on a stale list just before it stopped: finish
    # whatever it put back, so every task ends completed or cancelled.
    for tid in q.list_ids("failed", limit=1000):
        q.retry(tid)
        note("manual retry", tid, retries)
    for lease in q.claim(1000):
        note("started", lease.id, attempts)
        assert lease.complete() is True
        note("completed")

    snap = assert_consistent(q, ids)
    statuses = Counter(snap["status"].values())
    assert set(statuses) <= {"completed", "cancelled"}
    assert q.counts() == {s: statuses[s] for s in STATUSES}

    stats = q.stats()
    assert stats["started"] == events["started"]
    assert stats["completed"] == events["completed"] == statuses["completed"]
    assert stats.get("failed", 0) == events["failed"]
    assert stats.get("retrying", 0) == events["retrying"] + events["manual retry"]
    assert stats.get("cancelled", 0) == events["cancelled"] + events["cancel: cancelled"]
    assert stats.get("cancel_requested", 0) == events["cancel: cancel_requested"]

    pipe = q.redis.pipeline(transaction=False)
    for tid in ids:
        pipe.hmget(q.qkeys.task(tid), "attempts", "retries")
    for tid, (a, r_) in zip(ids, pipe.execute()):
        assert int(a or 0) == attempts[tid] and int(r_ or 0) == retries[tid], tid
