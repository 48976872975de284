"""Backoff arithmetic (Python and Lua agree), retention, and the key
namespace: every key the engine writes belongs to a queue's hash tag."""

from __future__ import annotations

import time

import pytest

from taskq import backoff, maintenance
from taskq.errors import TaskqValueError
from taskq.lua import call
from taskq.retention import Retention


@pytest.mark.parametrize("strategy,attempt,expected", [
    ("fixed", 1, 1000), ("fixed", 5, 1000),
    ("linear", 1, 1000), ("linear", 4, 4000),
    ("exponential_jitter", 1, 500), ("exponential_jitter", 4, 4000),
    ("exponential_jitter", 40, backoff.DEFAULT_CAP_MS // 2),
])
def test_backoff_formula_at_zero_jitter(strategy, attempt, expected):
    assert backoff.delay_ms(strategy, attempt, 0.0) == expected


def test_exponential_jitter_stays_within_half_and_full_delay():
    for attempt in range(1, 8):
        full = 1000 * 2 ** (attempt - 1)
        assert backoff.delay_ms("exponential_jitter", attempt, 0.999999) <= full
        assert backoff.delay_ms("exponential_jitter", attempt, 0.0) == full // 2
    assert backoff.delay_ms("linear", 10_000, 0.5) == backoff.DEFAULT_CAP_MS


@pytest.mark.parametrize("strategy", backoff.STRATEGIES)
@pytest.mark.parametrize("attempt,jitter", [(1, 0.0), (2, 0.37), (3, 0.99), (9, 0.5), (30, 0.1)])
def test_lua_backoff_matches_python(q, strategy, attempt, jitter):
    t = q.enqueue("f", backoff=strategy, backoff_base=0.25, max_retries=100)
    # Put the task on its attempt-th run, then fail it through the script.
    q.redis.hset(q.qkeys.task(t.id), "attempts", attempt - 1)
    [lease] = q.claim(1)
    reply = call(q.redis, "fail", q.qkeys, t.id, lease.token, "x", "1", repr(jitter), "fail")
    assert reply[1] == "retrying"
    assert reply[2] == backoff.delay_ms(strategy, attempt, jitter, base_ms=250)


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 50])
def test_a_wait_per_retry_is_the_same_in_lua_and_python(q, attempt):
    """backoff=[...] (RQ's Retry(interval=[...])): retry n waits the n-th,
    every later one the last, uncapped."""
    t = q.enqueue("f", backoff=[0, 1.5, 7200], max_retries=100)
    assert t.backoff == "steps:0,1500,7200000"
    q.redis.hset(q.qkeys.task(t.id), "attempts", attempt - 1)
    [lease] = q.claim(1)
    reply = call(q.redis, "fail", q.qkeys, t.id, lease.token, "x", "1", "0.5", "fail")
    assert reply[2] == backoff.delay_ms(t.backoff, attempt, 0.5) == [0, 1500, 7200000, 7200000,
                                                                      7200000][min(attempt, 5) - 1]


@pytest.mark.parametrize("bad", [[], [-1], ["1"], [True], list(range(101)), [10 ** 9]])
def test_a_bad_list_of_waits_is_refused(q, bad):
    with pytest.raises(TaskqValueError, match="backoff steps"):
        q.enqueue("f", backoff=bad)


def test_retention_prunes_finished_tasks_and_old_buckets(q, keys):
    done = q.enqueue("f", tags=["t"])
    q.claim(1)[0].complete()
    waiting = q.enqueue("f")
    q.redis.hset(q.qkeys.series, mapping={"m:1:completed": 5, "h:1:completed": 5})
    assert maintenance.prune_all(q.redis, keys, ["default"]) == 0  # within retention
    time.sleep(0.01)
    pruned = maintenance.prune_all(q.redis, keys, ["default"], Retention(completed=0.005))
    assert pruned == 1
    assert q.get(done.id) is None and q.count(tag="t") == 0
    assert q.removed(done.id)["status"] == "completed"  # its tombstone
    assert q.get(waiting.id).status == "queued"
    assert q.redis.hget(q.qkeys.series, "m:1:completed") is None


def test_every_key_written_carries_the_queue_hash_tag(r, prefix, make_queue, keys):
    a, b = make_queue("alpha"), make_queue("beta")
    x = a.enqueue("f", tags=["t"], dedupe_key="d", concurrency_key="c")
    y = b.enqueue("f", depends_on=[x], delay=0)
    z = a.enqueue("f", depends_on=[x], max_retries=0)
    [lease] = a.claim(1)
    lease.heartbeat()
    lease.checkpoint({"n": 1})
    lease.log("hello")
    lease.complete()
    [lz] = a.claim(1)
    lz.fail("x")
    a.retry(z.id)
    a.cancel(z.id)
    a.pause()
    a.resume()
    b.claim(1, lease=0.01)
    time.sleep(0.02)
    maintenance.tick(r, keys, prune=True)
    a.delete(x.id)
    allowed = (f"{prefix}:{{alpha}}:", f"{prefix}:{{beta}}:")
    written = list(r.scan_iter(match=f"{prefix}:*"))
    assert written
    for key in written:
        assert key.startswith(allowed) or key == keys.queues, key
    assert y.id
