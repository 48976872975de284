"""Rate limits where tasks are claimed (taskq.rates, lua/includes/rate.lua):
no window of the period ever holds more starts than the limit, with many
claimers racing; per-key limits (1,000 keys, different limits, interleaved)
hold each key and never hold up tasks free to run; a limit set, changed or
removed while tasks wait takes effect at the next claim; a claimer is told
when to come back instead of spinning; parked tasks can be cancelled."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from taskq import Queue
from taskq.lease import claim_args
from taskq.lua import call
from taskq.rates import busiest_window


def claim_all(q: Queue, total: int, threads: int = 1, within: float = 30.0,
              batch: int = 20) -> list:
    """Claim (and complete) until ``total`` tasks were claimed, from
    ``threads`` racing claimers; returns every lease."""
    got, lock = [], threading.Lock()
    deadline = time.monotonic() + within

    def claimer():
        while time.monotonic() < deadline:
            with lock:
                if len(got) >= total:
                    return
            leases = q.claim(batch)
            for lease in leases:
                lease.complete(None)
            with lock:
                got.extend(leases)
            if not leases:
                time.sleep(0.005)

    workers = [threading.Thread(target=claimer) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return got


def started_ms(q: Queue, leases) -> list[int]:
    pipe = q.redis.pipeline(transaction=False)
    for lease in leases:
        pipe.hget(q.qkeys.task(lease.id), "leased")
    return [int(v) for v in pipe.execute()]


def test_a_queue_limit_holds_for_every_window_with_racing_claimers(q):
    q.set_rate_limit("40/s")
    q.enqueue_many([{"func": "m:f"} for _ in range(200)])
    leases = claim_all(q, 200, threads=8)
    assert len({lease.id for lease in leases}) == len(leases) == 200  # each claimed once
    starts = started_ms(q, leases)
    assert busiest_window(starts, 1000) <= 40
    assert (max(starts) - min(starts)) / 1000 >= 4.0  # 200 at 40/s: five windows
    assert q.rate_limits() == {"queue": "40/s", "keys": {}}


def test_a_thousand_keys_with_their_own_limits_hold_each_and_hold_up_nothing_else(q):
    limits = {f"customer-{i}": 1 + i % 3 for i in range(1000)}
    pipe_limits = [(k, f"{n}/s") for k, n in limits.items()]
    for key, spec in pipe_limits:
        q.set_rate_limit(spec, key=key)
    tasks = [{"func": "m:f", "rate_key": key, "priority": 5}
             for _ in range(3) for key in limits]  # interleaved: a, b, c, ..., a, b, c, ...
    q.enqueue_many(tasks)
    free = q.enqueue_many([{"func": "m:free"} for _ in range(50)])  # behind every limited one
    first = q.claim(3050)  # what every window allows now, and the free ones behind the rest
    claimed = {lease.id for lease in first}
    assert {t.id for t in free} <= claimed  # not held up by the parked ones ahead of them
    assert len(first) == sum(limits.values()) + 50
    leases = first + claim_all(q, 3000 + 50 - len(first), threads=3, batch=500)
    for lease in first:
        lease.complete(None)
    assert len({lease.id for lease in leases}) == 3050
    by_key = defaultdict(list)
    for lease, start in zip(leases, started_ms(q, leases)):
        if lease.task.rate_key:
            by_key[lease.task.rate_key].append(start)
    assert set(by_key) == set(limits)
    for key, starts in by_key.items():
        assert busiest_window(starts, 1000) <= limits[key], key


def test_raising_or_removing_a_limit_lets_parked_tasks_go_at_once(q):
    q.set_rate_limit("1/h", key="slow")
    ids = [t.id for t in q.enqueue_many([{"func": "m:f", "rate_key": "slow"} for _ in range(5)])]
    assert len(q.claim(10)) == 1
    assert q.claim(10) == [] and q.counts()["queued"] == 4  # parked: still queued
    q.set_rate_limit("100/s", key="slow")
    assert len(q.claim(10)) == 4
    q.set_rate_limit("1/h", key="slow")
    more = [t.id for t in q.enqueue_many([{"func": "m:f", "rate_key": "slow"} for _ in range(3)])]
    assert q.claim(10) == []  # the hour's one start is used
    q.set_rate_limit(None, key="slow")
    assert sorted(lease.id for lease in q.claim(10)) == sorted(more)
    assert len(set(ids) | set(more)) == 8


def test_a_queue_limit_changed_while_tasks_wait_applies_to_the_next_claim(q):
    q.set_rate_limit("2/h")
    q.enqueue_many([{"func": "m:f"} for _ in range(6)])
    assert len(q.claim(10)) == 2 and q.claim(10) == []
    q.set_rate_limit("3/h")
    assert len(q.claim(10)) == 1
    q.set_rate_limit(None)
    assert len(q.claim(10)) == 3


def test_a_claimer_is_told_when_the_window_has_room(q):
    """A worker sleeps until the claim's next_ms instead of claiming again."""
    q.set_rate_limit("2/s", key="k")
    q.enqueue_many([{"func": "m:f", "rate_key": "k"} for _ in range(3)])
    reply = call(q.redis, "claim", q.qkeys, *claim_args(10, "tok", 30.0, "w", False))
    assert len(reply) - 3 == 2
    assert 0 < int(reply[2]) <= 1000  # the parked one: when the key's window has room
    q.set_rate_limit("2/s")
    q.set_rate_limit(None, key="k")
    q.enqueue_many([{"func": "m:f"} for _ in range(3)])
    reply = call(q.redis, "claim", q.qkeys, *claim_args(10, "tok", 30.0, "w", False))
    assert len(reply) - 3 == 2  # the queue's window: 2 starts a second (its log starts now)
    assert 0 < int(reply[2]) <= 1000  # full: when it has room again


def test_a_parked_task_can_be_cancelled_updated_and_deleted(q):
    q.set_rate_limit("1/h", key="k")
    a, b, c, d = q.enqueue_many([{"func": "m:f", "rate_key": "k"} for _ in range(4)])
    assert [lease.id for lease in q.claim(10)] == [a.id]
    assert q.cancel(b.id) == "cancelled"
    q.delete(c.id)
    q.update(d.id, priority=9)
    assert q.counts()["queued"] == 1
    q.set_rate_limit(None, key="k")
    assert [lease.id for lease in q.claim(10)] == [d.id]
    assert q.get(b.id).status == "cancelled" and q.get(c.id) is None


def test_a_retry_is_a_start_again(q):
    q.set_rate_limit("2/h", key="k")
    t = q.enqueue("m:f", rate_key="k", max_retries=5, backoff="fixed", backoff_base=0)
    [lease] = q.claim(1)
    lease.fail("boom", retryable=True)
    [lease] = q.claim(1)
    lease.fail("boom", retryable=True)
    assert q.claim(1) == [] and q.get(t.id).status == "queued"


@pytest.mark.parametrize("spec", ["0/s", "x", (1, 0)])
def test_a_bad_limit_is_refused_and_nothing_changes(q, spec):
    from taskq.errors import TaskqValueError
    with pytest.raises(TaskqValueError):
        q.set_rate_limit(spec)
    assert q.rate_limits() == {"queue": None, "keys": {}}


def test_a_dts_task_created_over_http_counts_against_its_rate_key(r, prefix):
    from api import create_app
    from tests.api.apihelpers import SECRET, bearer

    app = create_app({"REDIS": r, "TASKQ_PREFIX": prefix, "TASKQ_JWT_SECRET": SECRET,
                      "TASKQ_RATE_LIMIT": "100000/60"})
    dts = Queue("dts", redis=r, prefix=prefix)
    dts.set_rate_limit("1/h", key="partner-api")
    client = app.test_client()
    ids = []
    for _ in range(2):
        resp = client.post("/api/tasks", json={"name": "call", "command": "true",
                                               "rate_key": "partner-api"}, headers=bearer("admin"))
        assert resp.status_code == 201, resp.get_json()
        ids.append(resp.get_json()["data"]["id"])
    assert [dts.get(i).rate_key for i in ids] == ["partner-api"] * 2
    assert len(dts.claim(10)) == 1 and dts.claim(10) == []
    bad = client.post("/api/tasks", json={"name": "call", "command": "true", "rate_key": ""},
                      headers=bearer("admin"))
    assert bad.status_code == 422  # the DTS document's answer to a field it refuses
