"""The pool worker's step with many finished tasks: their completion goes
from a helper thread beside the next claim (workers.pool.SPLIT_AT). Every
task still completes exactly once, and when one of the two round trips
fails (Redis going away between them) the half that went through is kept:
completions are not sent twice, claimed tasks are not dropped."""

from __future__ import annotations

import threading

import pytest
import redis

from workers import pool as pool_module
from workers.pool import SPLIT_AT, PoolWorker

T = "tests.workers.pool_tasks"


@pytest.fixture(autouse=True)
def task_redis(redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)


def _spy(monkeypatch, fail=None, reply_lost=False):
    """Record each complete_and_claim call as (completions, room); ``fail``
    ('claim' or 'complete') refuses that half once with a ConnectionError,
    on the first step that sends the halves apart: before it reaches Redis,
    or (``reply_lost``) after Redis ran it, as when the connection drops
    while the reply is on its way."""
    calls, real, state = [], pool_module.complete_and_claim, {"failed": False}

    def spy(client, keys, items, queues, n, *args, **kwargs):
        calls.append((len(items), n))
        apart = "worker" in state and len(state["worker"]._unsent) >= pool_module.SPLIT_AT
        half = None
        if apart and not items and n:
            half = "claim"
        elif items and not n and threading.current_thread().name.startswith("taskq-report"):
            half = "complete"
        if fail is not None and fail == half and not state["failed"]:
            state["failed"] = True
            if reply_lost:
                real(client, keys, items, queues, n, *args, **kwargs)
            raise redis.ConnectionError("Redis went away")
        return real(client, keys, items, queues, n, *args, **kwargs)

    monkeypatch.setattr(pool_module, "complete_and_claim", spy)
    return calls, state


def _fill(q, prefix, n):
    key = f"{prefix}:count"
    q.enqueue_many([{"func": f"{T}:incr", "args": [key]} for _ in range(n)])
    return key


def test_a_drain_sends_big_batches_of_completions_beside_the_claims(r, q, prefix, monkeypatch):
    calls, _ = _spy(monkeypatch)
    key = _fill(q, prefix, 2000)
    w = PoolWorker(r, ["default"], concurrency=4, prefix=prefix, capacity=100)
    w.run(burst=True)
    assert int(r.get(key)) == 2000 and w.completed == 2000
    assert q.counts()["completed"] == 2000 and q.stats()["completed"] == 2000
    apart = [c for c in calls if (c[0] == 0 and c[1] > 0) or (c[0] >= SPLIT_AT and c[1] == 0)]
    assert apart, "no step sent its completions beside its claim"
    assert all(items < SPLIT_AT or n == 0 for items, n in calls)   # never together past SPLIT_AT


@pytest.mark.parametrize("fail", ["claim", "complete"])
def test_when_one_half_fails_the_other_is_kept(r, q, prefix, monkeypatch, caplog, fail):
    monkeypatch.setattr(pool_module, "SPLIT_AT", 2)  # every step with 2 finished tasks splits
    calls, state = _spy(monkeypatch, fail)
    key = _fill(q, prefix, 600)
    w = PoolWorker(r, ["default"], concurrency=4, prefix=prefix, capacity=100)
    state["worker"] = w
    w.outage.pause = lambda *a, **k: None        # no backoff sleep after the one failure
    w.run(burst=True)
    assert state["failed"]
    assert int(r.get(key)) == 600                 # every task ran once: none dropped, none run twice
    counts = q.counts()
    assert counts["completed"] == 600 and counts["running"] == 0 and counts["queued"] == 0
    assert q.stats()["completed"] == 600
    assert w.completed == 600                     # each completion counted once, never refused
    assert "completion was refused" not in caplog.text


def test_completions_whose_reply_was_lost_count_once_when_sent_again(r, q, prefix, monkeypatch, caplog):
    monkeypatch.setattr(pool_module, "SPLIT_AT", 2)
    calls, state = _spy(monkeypatch, "complete", reply_lost=True)
    key = _fill(q, prefix, 600)
    w = PoolWorker(r, ["default"], concurrency=4, prefix=prefix, capacity=100)
    state["worker"] = w
    w.outage.pause = lambda *a, **k: None
    w.run(burst=True)
    assert state["failed"] and int(r.get(key)) == 600
    assert q.counts()["completed"] == 600 and q.stats()["completed"] == 600
    assert w.completed == 600                     # the resent ones are this worker's completions
    assert "completion was refused" not in caplog.text
