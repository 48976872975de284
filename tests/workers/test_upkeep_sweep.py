"""The scheduler's incremental upkeep (maintenance.Sweep): an idle tick's
cost does not grow with the queue count, and a queue no worker claims from
still has its expired leases reaped, its due delayed tasks promoted and its
outbox delivered within the stated bound."""

from __future__ import annotations

import math
import time

from taskq import maintenance
from taskq.lua import call
from taskq.worker_registry import WorkerRegistry


class Clock:
    """The sweep's clock, moved by the test: one tick per interval."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def bound_ticks(queues: int) -> int:
    """The stated bound, in 1 s ticks."""
    return math.ceil(max(maintenance.SWEEP_SECONDS, queues / maintenance.SWEEP_PER_TICK))


def register(r, keys, n: int) -> None:
    r.sadd(keys.queues, *[f"idle{i:04d}" for i in range(n)])


def test_idle_tick_cost_does_not_grow_with_queues(counted, keys):
    per_tick = {}
    for n in (100, 1000):
        counted.delete(keys.queues)
        register(counted, keys, n)
        clock = Clock()
        sweep = maintenance.Sweep(1.0, clock)
        sweep.tick(counted, keys)  # new queues: all visited once
        counted.counts.clear()
        for _ in range(20):
            clock.t += 1.0
            sweep.tick(counted, keys)
        per_tick[n] = sum(counted.counts.values()) / 20
        assert counted.counts["LRANGE"] == 0  # empty outboxes are not read
    # SMEMBERS, the late-worker ZRANGEBYSCORE, and a slice: N / SWEEP_SECONDS
    # visits, at most SWEEP_PER_TICK
    assert per_tick[100] <= 2 + 100 / maintenance.SWEEP_SECONDS
    assert per_tick[1000] <= 2 + maintenance.SWEEP_PER_TICK
    assert per_tick[1000] < 1000 / 10  # a full pass each second would be 1,001


def test_expired_lease_and_due_task_met_within_the_bound(r, make_queue, keys):
    register(r, keys, 300)
    q = make_queue("zz-nobody")  # sorts last: the slices reach it last
    r.sadd(keys.queues, q.name)  # known before its first task
    clock = Clock()
    sweep = maintenance.Sweep(1.0, clock)
    sweep.tick(r, keys)  # every queue seen, none with a timer
    t = q.enqueue("f", max_retries=2)
    [lease] = q.claim(1, lease=0.05)  # then its worker dies
    d = q.enqueue("f", delay=0.05)
    time.sleep(0.1)
    requeued = promoted = 0
    ticks = 0
    while not (requeued and promoted):
        ticks += 1
        assert ticks <= bound_ticks(301), "not met within the bound"
        clock.t += 1.0
        totals = sweep.tick(r, keys)
        requeued += totals["requeued"]
        promoted += totals["promoted"]
    assert ticks > 1  # met by the slices, not by a visit of every queue
    assert q.get(t.id).status == "queued" and q.get(d.id).status == "queued"
    assert lease.id == t.id


def test_a_dead_workers_queues_are_visited_when_its_heartbeat_goes_late(r, make_queue, keys):
    register(r, keys, 1000)
    q = make_queue("zz-dead")
    r.sadd(keys.queues, q.name)
    clock = Clock()
    sweep = maintenance.Sweep(1.0, clock)
    sweep.tick(r, keys)
    WorkerRegistry(r, keys).register("w-dead", [q.name])
    t = q.enqueue("f", max_retries=2)
    q.claim(1, lease=0.05, worker="w-dead")
    time.sleep(0.1)
    clock.t += 1.0
    assert sweep.tick(r, keys)["requeued"] == 0  # alive by its heartbeat: the slices' turn
    late = int(time.time() * 1000 - maintenance.LATE_AFTER * 1000) - 1000
    r.zadd(keys.workers, {"w-dead": late})  # then its heartbeat stops
    clock.t += 1.0
    assert sweep.tick(r, keys)["requeued"] == 1
    assert q.get(t.id).status == "queued"
    clock.t += 1.0
    sweep.tick(r, keys)
    assert "w-dead" in sweep.late  # taken for dead once, not every tick


def test_a_known_timer_is_visited_when_due_not_at_the_slice(r, make_queue, keys):
    register(r, keys, 1000)
    clock = Clock()
    sweep = maintenance.Sweep(1.0, clock)
    sweep.tick(r, keys)  # every queue new: all visited (slow on a busy machine), none has a timer
    q = make_queue("zz-later")  # sorts last: no slice of the next ticks reaches it
    d = q.enqueue("f", delay=0.5)
    clock.t += 1.0
    assert sweep.tick(r, keys)["promoted"] == 0  # new, so visited: learns the timer
    due_ms = r.zscore(q.qkeys.delayed, d.id)
    while redis_ms(r) <= due_ms:  # due by Redis's clock
        time.sleep(0.02)
    clock.t += 1.0
    assert sweep.tick(r, keys)["promoted"] == 1
    assert q.get(d.id).status == "queued"


def redis_ms(r) -> float:
    seconds, micros = r.time()
    return seconds * 1000 + micros / 1000


def test_outbox_left_behind_is_delivered_by_the_sweep(make_queue, keys):
    ingest, report = make_queue("ingest"), make_queue("report")
    register(ingest.redis, keys, 100)
    a = ingest.enqueue("f")
    b = report.enqueue("f", depends_on=[a])
    clock = Clock()
    sweep = maintenance.Sweep(1.0, clock)
    sweep.tick(ingest.redis, keys)
    [lease] = ingest.claim(1)
    # completed by a process that died before delivering the outcome
    assert call(ingest.redis, "complete", ingest.qkeys, 1, a.id, lease.token, "null")[1] == 1
    delivered, ticks = 0, 0
    while not delivered:
        ticks += 1
        assert ticks <= bound_ticks(102)
        clock.t += 1.0
        delivered = sweep.tick(ingest.redis, keys)["delivered"]
    assert delivered == 1 and report.get(b.id).status == "queued"
    assert ingest.redis.llen(ingest.qkeys.outbox) == 0
