"""Every transition of a task, and every refusal."""

from __future__ import annotations

import json
import time

import pytest

from taskq import InvalidState, LeaseLost, TaskNotFound, complete_many
from taskq.lua import call


def test_claim_leases_with_token_and_counts_the_attempt(q):
    t = q.enqueue("f")
    [lease] = q.claim(1, lease=30, worker="w1")
    got = q.get(t.id)
    assert got.status == "running" and got.attempts == 1 and got.worker == "w1"
    assert got.raw["token"] == lease.token and len(lease.token) == 32
    assert 29 < (got.lease_expires_at - got.leased_at).total_seconds() <= 30
    assert q.claim(1) == []


def test_complete_is_idempotent_for_the_holder_and_refused_for_others(q):
    q.enqueue("f")
    [lease] = q.claim(1)
    assert lease.complete({"rows": 3}) is True
    assert lease.complete({"rows": 999}) is False  # duplicate: no-op
    got = q.get(lease.id)
    assert got.status == "completed" and got.result == {"rows": 3}
    assert q.stats()["completed"] == 1
    lease.token = "f" * 32
    with pytest.raises(LeaseLost):
        lease.complete()
    assert q.get(lease.id).result == {"rows": 3}


def test_stale_token_changes_nothing(q):
    q.enqueue("f")
    [lease] = q.claim(1)
    before = q.get(lease.id).raw
    lease.token = "0" * 32
    for act in (lambda: lease.heartbeat(), lambda: lease.checkpoint({"x": 1}),
                lambda: lease.log("hi"), lambda: lease.fail("x"), lambda: lease.complete()):
        with pytest.raises(LeaseLost):
            act()
    assert q.get(lease.id).raw == before


def test_heartbeat_renews_and_extend_pushes_expiry(q):
    q.enqueue("f")
    [lease] = q.claim(1, lease=1)
    first = q.get(lease.id).lease_expires_at
    assert lease.heartbeat(lease=60) is False
    renewed = q.get(lease.id).lease_expires_at
    assert (renewed - first).total_seconds() > 58
    extended = lease.extend(120)
    assert round((extended - renewed).total_seconds()) == 120
    assert q.redis.zscore(q.qkeys.running, lease.id) == int(extended.timestamp() * 1000)


def test_checkpoint_and_bounded_log(q):
    q.enqueue("f")
    [lease] = q.claim(1)
    lease.checkpoint({"step": 3, "done": [1, 2]})
    assert q.get(lease.id).checkpoint == {"step": 3, "done": [1, 2]}
    lease.log("started")
    lease.log_many([("error", "boom"), ("bogus-level", "kept as info")])
    lines = q.logs(lease.id)
    assert [(x["level"], x["message"]) for x in lines] == [
        ("info", "started"), ("error", "boom"), ("info", "kept as info")]
    assert all(isinstance(x["ts"], int) for x in lines)
    call(q.redis, "log", q.qkeys, lease.id, lease.token, 5, *(["info", "x"] * 10))
    assert q.log_count(lease.id) == 5


def test_fail_retries_with_backoff_then_fails_for_good(q):
    t = q.enqueue("f", max_retries=1, backoff="fixed", backoff_base=0.2)
    [lease] = q.claim(1)
    assert lease.fail("first") == "retrying"
    got = q.get(t.id)
    assert got.status == "delayed" and got.error == "first" and got.retries == 1
    assert 0.15 < (got.scheduled_at - got.updated_at).total_seconds() <= 0.2
    assert q.claim(1) == []
    time.sleep(0.25)
    [lease] = q.claim(1)
    assert lease.task.attempts == 2
    assert lease.fail("second") == "failed"
    got = q.get(t.id)
    assert got.status == "failed" and got.error == "second" and got.finished_at
    assert q.count("failed") == 1 and q.stats()["failed"] == 1


def test_non_retryable_failure_fails_at_once(q):
    t = q.enqueue("f", max_retries=5)
    [lease] = q.claim(1)
    assert lease.fail("bad input", retryable=False) == "failed"
    assert q.get(t.id).status == "failed"


def test_cancel_waiting_tasks_and_request_cancel_of_running(q):
    queued, delayed = q.enqueue("f"), q.enqueue("f", delay=60)
    blocker = q.enqueue("f", priority=9)
    blocked = q.enqueue("f", depends_on=[blocker])
    assert q.cancel(queued.id) == "cancelled"
    assert q.cancel(delayed.id, reason="not needed") == "cancelled"
    assert q.cancel(blocked.id) == "cancelled"
    assert q.get(delayed.id).error == "not needed"
    [lease] = q.claim(1)
    assert lease.id == blocker.id
    assert q.cancel(blocker.id) == "cancel_requested"
    assert q.get(blocker.id).cancel_requested
    assert lease.heartbeat() is True
    assert lease.cancelled() == "cancelled"
    assert q.get(blocker.id).status == "cancelled"
    with pytest.raises(InvalidState):
        q.cancel(blocker.id)
    assert q.counts()["cancelled"] == 4


def test_failing_a_cancel_requested_task_ends_it_cancelled(q):
    q.enqueue("f", max_retries=3)
    [lease] = q.claim(1)
    q.cancel(lease.id)
    assert lease.fail("stopped") == "cancelled"


def test_retry_failed_or_cancelled_and_refuse_others(q):
    t = q.enqueue("f", max_retries=0)
    [lease] = q.claim(1)
    lease.fail("x")
    assert q.retry(t.id) == "queued"
    got = q.get(t.id)
    assert got.status == "queued" and got.retries == 1 and got.error is None
    with pytest.raises(InvalidState):
        q.retry(t.id)
    c = q.enqueue("f")
    q.cancel(c.id)
    assert q.retry(c.id) == "queued"
    with pytest.raises(TaskNotFound):
        q.retry("default:nope")


def test_delete_removes_everything_and_refuses_running_unless_forced(q):
    t = q.enqueue("f", tags=["x"], dedupe_key="d")
    q.delete(t.id)
    assert q.get(t.id) is None and q.count() == 0 and q.count(tag="x") == 0
    assert q.redis.get(q.qkeys.dedupe_prefix + "d") is None
    r = q.enqueue("f", concurrency_key="g")
    [lease] = q.claim(1)
    lease.log("something")
    with pytest.raises(InvalidState):
        q.delete(r.id)
    q.delete(r.id, force=True)
    assert not q.redis.exists(q.qkeys.log(r.id), q.qkeys.task(r.id))
    assert q.redis.hget(q.qkeys.conc, "g") is None
    with pytest.raises(TaskNotFound):
        q.delete(r.id)
    with pytest.raises(TaskNotFound):  # the holder learns its task is gone
        lease.complete()


def test_unknown_ids(q):
    for bad in ("default:nope", "other:x", "garbage"):
        with pytest.raises(TaskNotFound):
            q.cancel(bad)
        assert q.get(bad) is None


def test_expired_lease_is_reaped_counting_the_attempt(q):
    t = q.enqueue("f", max_retries=1)
    [lease] = q.claim(1, lease=0.05)
    time.sleep(0.1)
    with pytest.raises(LeaseLost):
        lease.heartbeat()
    assert q.reap() == {"requeued": 1, "failed": 0, "promoted": 0}
    got = q.get(t.id)
    assert got.status == "queued" and got.error == "lease expired" and got.attempts == 1
    [lease2] = q.claim(1, lease=0.05)
    time.sleep(0.1)
    assert q.reap()["failed"] == 1
    assert q.get(t.id).status == "failed"
    with pytest.raises(LeaseLost):
        lease2.complete()


def test_completing_clears_the_error_of_an_earlier_attempt(q, wait_for):
    """An earlier attempt's error (its failure, its expired lease) is not the
    outcome of a task that then completes, whichever way it is completed."""
    expired = q.enqueue("f", max_retries=2)
    failed = q.enqueue("g", max_retries=2, backoff="fixed", backoff_base=0.05)
    alone = q.enqueue("h", max_retries=2)
    first = {lease.id: lease for lease in q.claim(3, lease=0.2)}
    first[failed.id].fail("first attempt broke")
    first[alone.id].fail("so did this one")
    # the reaper requeues the expired lease and promotes the others after their backoff
    assert wait_for(lambda: q.reap() and q.count("queued") == 3, 10)
    assert q.get(failed.id).error == "first attempt broke"
    second = {lease.id: lease for lease in q.claim(3)}
    assert set(second) == {expired.id, failed.id, alone.id}
    assert q.get(expired.id).error == "lease expired"  # kept while the retry runs
    assert second[alone.id].complete("done") is True  # one at a time
    assert complete_many(q.redis, [(second[expired.id], 1), (second[failed.id], 2)]) == [True] * 2
    for t in (expired, failed, alone):
        got = q.get(t.id)
        assert got.status == "completed" and got.error is None and "error" not in got.raw
        assert got.attempts == 2


def test_expired_lease_with_cancel_requested_ends_cancelled(q):
    t = q.enqueue("f")
    q.claim(1, lease=0.05)
    q.cancel(t.id)
    time.sleep(0.1)
    q.reap()
    assert q.get(t.id).status == "cancelled"


def test_pause_and_resume(q):
    q.enqueue("f")
    q.pause()
    assert q.is_paused and q.claim(1) == []
    q.enqueue("f")  # producing goes on while paused
    q.resume()
    assert not q.is_paused and len(q.claim(5)) == 2


def test_concurrency_key_limits_running_tasks(q):
    a = [q.enqueue("f", concurrency_key="acct-1", concurrency_limit=2).id for _ in range(4)]
    other = q.enqueue("f", priority=-1).id
    leases = q.claim(10)
    assert [x.id for x in leases] == a[:2] + [other]
    assert q.redis.hget(q.qkeys.conc, "acct-1") == "2"
    leases[0].complete()
    leases[1].fail("x", retryable=False)
    assert [x.id for x in q.claim(10)] == a[2:]


def test_complete_many_in_one_round_trip(q):
    q.enqueue_many([{"func": "f"} for _ in range(50)])
    leases = q.claim(100)
    stale = leases[0]
    stale.complete()
    assert complete_many(q.redis, [(x, i) for i, x in enumerate(leases)]) == [False] + [True] * 49
    assert q.counts()["completed"] == 50


def test_events_stream_and_counters_record_transitions(q):
    t = q.enqueue("f")
    q.claim(1)[0].complete()
    events = [(e["event"], e["id"]) for _, e in q.redis.xrange(q.qkeys.events)]
    assert events == [("created", t.id), ("started", t.id), ("completed", t.id)]
    stats = q.stats()
    assert (stats["created"], stats["started"], stats["completed"]) == (1, 1, 1)
    series = q.redis.hgetall(q.qkeys.series)
    assert sum(int(v) for k, v in series.items() if k.startswith("m:") and k.endswith(":completed")) == 1


def test_claim_result_payload(q):
    q.enqueue("pkg.mod:fn", 1, 2, x=json.dumps({"a": 1}))
    [lease] = q.claim(1)
    assert lease.task.func == "pkg.mod:fn" and lease.task.args == [1, 2]
    assert lease.task.status == "running"
