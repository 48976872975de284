"""A full Redis (maxmemory reached, noeviction policy) refuses writes: every
taskq transition either happens whole or not at all, producers get
RedisFull (an OutOfMemoryError), what drains work (claim, complete, fail,
release, renew, reap, retention) still goes through, and everything works
again once memory is freed. On a private redis-server of
each version this machine has: the one taskq ships (6.2) and, when
installed, the system's."""

from __future__ import annotations

import shutil
import time

import pytest
import redis

from taskq import Queue
from taskq.local.embedded import redis_server_path
from taskq.errors import RedisFull
from taskq.lease import renew_many

from full_redis import fill, free, private_server, snapshot, unlimited
from race_helpers import assert_consistent

BINARIES = [pytest.param(redis_server_path(), id="embedded")]
if shutil.which("redis-server"):
    BINARIES.append(pytest.param(shutil.which("redis-server"), id="system"))

NOOP = "tests.workers.outage_tasks:note_run"
pytestmark = pytest.mark.single_redis  # private servers of their own: nothing to run on a cluster


@pytest.fixture(params=BINARIES)
def server(request, tmp_path):
    with private_server(request.param, tmp_path) as url:
        yield redis.Redis.from_url(url, decode_responses=True)


def whole_or_nothing(server, q, ids, call) -> bool:
    """Run ``call`` on a full Redis: refused with RedisFull and not a byte
    changed under the prefix, or (a transition whose first write cannot
    grow memory, which Redis lets through) done whole, the queue's indexes
    consistent. True when it went through."""
    before = snapshot(server, "tqfull")
    try:
        call()
    except RedisFull as exc:
        assert isinstance(exc, redis.exceptions.OutOfMemoryError)  # redis-py's handlers hold
        assert snapshot(server, "tqfull") == before
        return False
    with unlimited(server):  # MULTI/EXEC, which a full Redis refuses even for reads
        assert_consistent(q, ids)
    return True


def test_every_transition_on_a_full_redis_is_whole_or_nothing(server):
    q = Queue("full", server, prefix="tqfull")
    ids = [q.enqueue(NOOP, "/dev/null").id for _ in range(6)]
    ids.append(q.enqueue(NOOP, delay=3600).id)
    leases = q.claim(4, lease=60)
    fill(server)

    new_work = {
        "enqueue": lambda: q.enqueue(NOOP, "/dev/null"),
        "enqueue_many (two script calls)": lambda: q.enqueue_many(
            [{"func": NOOP} for _ in range(1500)]),
    }
    for name, call in new_work.items():
        assert not whole_or_nothing(server, q, ids, call), f"{name} went through a full Redis"
    # what drains the queue goes through (includes/full.lua), whole
    draining = {
        "complete": lambda: leases[0].complete("a result"),
        "fail": lambda: leases[1].fail("an error", retryable=True),
        "release": lambda: leases[2].release(),
        "claim": lambda: q.claim(1),
        "renew": lambda: renew_many(server, [leases[3]]),
    }
    for name, call in draining.items():
        assert whole_or_nothing(server, q, ids, call), f"{name} was refused by a full Redis"
    assert q.get(leases[0].id).status == "completed" and q.get(leases[0].id).result == "a result"
    # whatever these do on a full Redis, they do whole
    for call in (lambda: q.cancel(ids[-2]),
                 lambda: q.retry(ids[-1]) if q.get(ids[-1]).status != "delayed" else None):
        whole_or_nothing(server, q, ids, call)

    free(server)
    assert len(q.enqueue_many([{"func": NOOP} for _ in range(1500)])) == 1500
    assert len(q.claim(2)) == 2


def test_an_expired_lease_is_reaped_while_redis_is_full(server):
    q = Queue("reap", server, prefix="tqfull")
    task = q.enqueue(NOOP, "/dev/null")
    q.claim(1, lease=0.2)
    fill(server)
    deadline = time.monotonic() + 10
    while q.get(task.id).status == "running" and time.monotonic() < deadline:
        q.reap()  # its first write (a ZREM) cannot grow memory: Redis lets it through
        time.sleep(0.05)
    assert q.get(task.id).status == "queued"


def test_a_partly_refused_batch_says_which_tasks_went_in(server, monkeypatch):
    q = Queue("batch", server, prefix="tqfull")
    q.enqueue(NOOP)  # registered
    real = server.pipeline
    filler = redis.Redis(connection_pool=server.connection_pool)

    def pipeline_that_fills_after_the_first_call(*a, **kw):
        pipe = real(*a, **kw)
        execute = pipe.execute

        def execute_filling(raise_on_error=True):
            if len(pipe.command_stack) >= 2:  # enqueue_many's calls: let the first in
                stack = pipe.command_stack
                pipe.command_stack = stack[:1]
                first = execute(raise_on_error=False)
                fill(filler)
                pipe.command_stack = stack[1:]
                return first + execute(raise_on_error=False)
            return execute(raise_on_error=raise_on_error)

        pipe.execute = execute_filling
        return pipe

    monkeypatch.setattr(server, "pipeline", pipeline_that_fills_after_the_first_call)
    with pytest.raises(RedisFull) as refused:
        q.enqueue_many([{"func": NOOP} for _ in range(1500)])
    assert len(refused.value.enqueued) == 1000
    assert "refused 500 of 1500" in str(refused.value)
    free(server)
    assert q.count("queued") == 1001
