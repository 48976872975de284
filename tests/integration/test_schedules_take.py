"""Taking due schedules in disjoint batches, against a real Redis: racing
scheduler processes each take their own schedules (none is read or fired by
two), a scheduler that dies holding a batch or before enqueueing what it
fired loses no run, and the take repairs a due index that disagrees with
the hashes."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from taskq import Keys
from taskq.connection import client_from_url
from taskq.schedules import firing

from schedule_helpers import spec
from test_schedules_batched import arm, far_rules, many


class Died(Exception):
    """A scheduler killed at this point (nothing after it runs)."""


def lease_runs_out(sched, sids) -> None:
    """Every taken schedule's lease ends: its index score is its due time again."""
    pipe = sched.redis.pipeline(transaction=False)
    for sid in sids:
        pipe.hget(sched.sk.schedule(sid), "due")
    sched.redis.zadd(sched.sk.due, {sid: int(d) for sid, d in zip(sids, pipe.execute())})


def race(redis_url: str, prefix: str, start, out) -> None:
    """One scheduler process: fire until nothing is due, report its counts."""
    client = client_from_url(redis_url)
    start.wait()
    totals = {"due": 0, "fired": 0, "lost": 0, "delivered": 0}
    while True:
        counts = firing.fire_due(client, prefix)
        for k in totals:
            totals[k] += counts[k]
        if counts["due"] == 0:
            break
    out.put(totals)


def test_three_scheduler_processes_take_disjoint_batches_and_fire_each_schedule_once(
        sched, q, prefix, redis_url):
    n = 3000
    sids = many(sched, n, far_rules())
    arm(sched, sids, sched.now_ms() - 1000)
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=race, args=(redis_url, prefix, start, out)) for _ in range(3)]
    for p in procs:
        p.start()
    start.set()
    totals = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert sum(t["due"] for t in totals) == n  # each schedule taken by one process only
    assert sum(t["lost"] for t in totals) == 0
    assert sum(t["fired"] for t in totals) == n and sum(t["delivered"] for t in totals) == n
    assert q.count() == n
    pipe = sched.redis.pipeline(transaction=False)
    for sid in sids:
        pipe.hget(sched.sk.schedule(sid), "runs_total")
    assert set(pipe.execute()) == {"1"}
    assert sched.redis.xlen(sched.sk.outbox) == 0


def fire_then_die(redis_url: str, prefix: str) -> None:
    """A scheduler process SIGKILLed right after its first fire, before enqueueing."""
    firing.enqueue_entries = lambda *_a, **_k: os.kill(os.getpid(), signal.SIGKILL)
    firing.fire_due(client_from_url(redis_url), prefix)


def test_a_scheduler_killed_between_fire_and_enqueue_loses_no_run(sched, q, prefix, redis_url,
                                                                  monkeypatch):
    sids = many(sched, 2 * firing.FIRE_BATCH + 7, far_rules()[:1])
    arm(sched, sids, sched.now_ms() - 1000)
    proc = multiprocessing.get_context("spawn").Process(target=fire_then_die, args=(redis_url, prefix))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == -signal.SIGKILL
    # its first batch fired (due times moved, its runs one outbox entry), none
    # enqueued; it had taken the next batch too (in the same round trip): its
    # lease runs out
    entries = sched.redis.xrange(sched.sk.outbox)
    assert q.count() == 0 and len(entries) == 1
    assert len({fields["sid"] for _, fields in firing.entry_runs(*entries[0])}) == firing.FIRE_BATCH
    lease_runs_out(sched, sids)
    counts = firing.fire_due(sched.redis, prefix)  # the next scheduler: fires the rest
    assert counts["fired"] == len(sids) - firing.FIRE_BATCH
    assert q.count() == len(sids) - firing.FIRE_BATCH  # the dead one's runs are young yet
    monkeypatch.setattr(firing, "ORPHAN_MS", 0)
    assert firing.fire_due(sched.redis, prefix)["delivered"] == firing.FIRE_BATCH
    assert q.count() == len(sids) and sched.redis.xlen(sched.sk.outbox) == 0
    firing.upkeep(sched.redis, Keys(prefix))
    assert q.count() == len(sids)  # nothing fired or enqueued twice


def test_a_scheduler_killed_between_take_and_fire_leaves_its_batch_to_the_next(
        sched, q, prefix, monkeypatch):
    sids = many(sched, 30, far_rules()[:1])
    due = sched.now_ms() - 1000
    arm(sched, sids, due)
    with monkeypatch.context() as m:
        m.setattr(firing, "fire_batch", lambda *a, **k: (_ for _ in ()).throw(Died()))
        with pytest.raises(Died):
            firing.fire_due(sched.redis, prefix)
    # taken: leased ahead in the due index, the hashes untouched
    assert firing.fire_due(sched.redis, prefix)["due"] == 0
    assert all(sched.redis.hget(sched.sk.schedule(sid), "due") == str(due) for sid in sids)
    lease = sched.redis.zscore(sched.sk.due, sids[0]) - sched.now_ms()
    assert 0 < lease <= firing.TAKE_LEASE_MS
    lease_runs_out(sched, sids)
    assert firing.fire_due(sched.redis, prefix)["fired"] == len(sids)
    assert q.count() == len(sids)


def test_take_repairs_index_entries_that_disagree_with_their_schedules(sched, prefix):
    now = sched.now_ms()
    ahead = sched.create(spec())["id"]  # hourly: its hash is due later than its index says
    paused = sched.create(spec())["id"]
    sched.pause(paused)
    sched.redis.zadd(sched.sk.due, {ahead: now - 10, paused: now - 10, "gone": now - 10})
    counts = firing.fire_due(sched.redis, prefix)
    assert counts["due"] == 0 and counts["fired"] == 0
    assert sched.redis.zscore(sched.sk.due, ahead) == int(sched.redis.hget(sched.sk.schedule(ahead), "due"))
    assert sched.redis.zscore(sched.sk.due, paused) is None
    assert sched.redis.zscore(sched.sk.due, "gone") is None
    assert counts["next_due_ms"] == sched.redis.zscore(sched.sk.due, ahead)


def test_the_wait_after_a_pass_is_to_the_next_due_time_the_fire_set_not_the_lease(sched, q, prefix):
    sid = sched.create(spec(schedule_expr="* * * * * */2"))["id"]  # every two seconds
    due = sched.now_ms() - 100
    arm(sched, [sid], due)
    wait = firing.upkeep(sched.redis, Keys(prefix))
    nxt = int(sched.redis.hget(sched.sk.schedule(sid), "due"))
    assert q.count() == 1 and nxt <= due + 2000
    assert wait is not None and wait <= 2.0  # not the 10 s lease it was taken with
    assert sched.redis.zscore(sched.sk.due, sid) == nxt
