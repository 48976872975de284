"""Races against a real Redis: many processes and threads at once.

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
import random
import threading
import time
import traceback
from collections import Counter

import pytest
import redis

from taskq import InvalidState, LeaseLost, Queue, complete_many
from taskq.keys import STATUSES

ACTIVE = ("queued", "delayed", "blocked", "running")


# -- helpers ---------------------------------------------------------------

def snapshot(q: Queue, ids) -> dict:
    """One atomic view (MULTI/EXEC) of every status index, the `all` index
    and the status field of each task in ``ids``."""
    ids = list(ids)
    pipe = q.redis.pipeline(transaction=True)
    for s in STATUSES:
        pipe.zrange(q.qkeys.status_index(s), 0, -1)
    pipe.zrange(q.qkeys.all, 0, -1)
    for tid in ids:
        pipe.hget(q.qkeys.task(tid), "status")
    replies = pipe.execute()
    n = len(STATUSES)
    return {
        "index": {s: set(m) for s, m in zip(STATUSES, replies[:n])},
        "all": set(replies[n]),
        "status": dict(zip(ids, replies[n + 1:])),
    }


def inconsistencies(snap: dict) -> list[str]:
    """What is wrong in a snapshot: a task in no index or in several, an
    index that disagrees with the task's hash, an index entry that is not in
    `all` (or the other way round)."""
    problems = []
    for tid, status in snap["status"].items():
        holders = [s for s in STATUSES if tid in snap["index"][s]]
        if holders != [status]:
            problems.append(f"{tid}: hash says {status}, indexes {holders}")
    indexed = set().union(*snap["index"].values())
    if indexed != snap["all"]:
        problems.append(f"status indexes and `all` differ by {sorted(indexed ^ snap['all'])[:5]}")
    return problems


def assert_consistent(q: Queue, ids) -> dict:
    snap = snapshot(q, ids)
    assert inconsistencies(snap) == []
    assert snap["all"] == set(ids)
    return snap


class Checker(threading.Thread):
    """Takes atomic snapshots while a race runs and keeps any inconsistency
    it sees: the invariant must hold at every moment, not only at the end."""

    def __init__(self, q: Queue, ids):
        super().__init__(daemon=True)
        self.q, self.ids = q, list(ids)
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.snapshots = 0

    def run(self):
        while not self.stop.is_set():
            self.problems += inconsistencies(snapshot(self.q, self.ids))
            self.snapshots += 1
            time.sleep(0.005)

    def finish(self) -> list[str]:
        self.stop.set()
        self.join(10)
        return self.problems


def run_threads(targets, timeout: float = 30) -> None:
    """Run callables in threads; re-raise the first exception any of them hit."""
    errors: list[BaseException] = []

    def wrap(fn):
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(fn,), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a racing thread did not finish in time"
    if errors:
        raise errors[0]


def own_client(url: str) -> redis.Redis:
    """A client with its own connection pool, so racing threads really
    arrive at Redis concurrently instead of queueing for one connection."""
    return redis.Redis.from_url(url, decode_responses=True)


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
