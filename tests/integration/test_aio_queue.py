"""taskq.aio.Queue against a real Redis (and, in the suite's cluster pass, a
Redis Cluster), driven as asyncio code would drive it: the ids, statuses and
errors are taskq.Queue's; ``await task.wait()`` is pushed through one
pub/sub connection per event loop and client, however many coroutines wait,
and survives that connection being killed; a real PoolWorker, in a thread,
runs the tasks.

Each test is a plain function that runs its coroutine with asyncio.run (in
a thread of its own: tests/aio_run.py): an
asyncio client belongs to the loop it is used on, so each test makes its
own (taskq.aio.connection.async_client_from_url: a RedisCluster in the
cluster pass) and closes it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import threading
import time
import uuid

import pytest

from tests.aio_run import run as run_async  # noqa: E402
import redis.asyncio as aredis
import redis.exceptions as redis_errors
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from taskq import (CyclicDependencyError, DependencyNotFound, InvalidState, Keys, Queue,
                   TaskCancelled, TaskExists, TaskFailed, TaskNotFound, TaskqValueError,
                   WaitTimeout, current_task, waiting)
from taskq import aio
from taskq.aio.connection import async_client_from_url
from taskq.connection import cluster_node_url
from taskq.embedded import free_port
from workers.pool import PoolWorker

from redis_clients import plain_client
from schedule_helpers import spec

ON_CLUSTER = os.environ.get("TASKQ_TEST_CLUSTER", "") == "1"
ME = __name__
"""This module as the in-process worker imports it: its task functions are f"{ME}:name"."""
N = 1000

# -- task functions the worker runs ----------------------------------------------

GATES: dict[str, threading.Event] = {}


def gated(name: str) -> str:
    """Runs until the test opens gate ``name`` (a minute at most)."""
    GATES[name].wait(60)
    return name


def fails_first(value):
    """Fails its first attempt; returns ``value`` from the next."""
    if current_task().attempt < 2:
        raise RuntimeError("first attempt fails")
    return value


# -- helpers -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def task_redis(redis_url, monkeypatch):
    """taskq.aio's default client and the worker's tasks use the test Redis."""
    monkeypatch.setenv("REDIS_URL", redis_url)


@pytest.fixture
def no_polling(monkeypatch):
    """A waiter's own looks come every 300 s: the tests using this bound their
    waits far below that, so only a push (or the hub's look after it
    subscribed again) can answer them in time."""
    monkeypatch.setattr(waiting, "RECHECK", 300.0)


@contextlib.asynccontextmanager
async def aclient(url: str, **kwargs):
    client = async_client_from_url(url, **kwargs)
    try:
        yield client
    finally:
        await client.aclose()


@contextlib.contextmanager
def worker(r, prefix: str, *queues: str, concurrency: int = 8):
    """A PoolWorker serving ``queues`` in a thread, stopped and joined on exit."""
    w = PoolWorker(r, list(queues), concurrency=concurrency, prefix=prefix)
    th = threading.Thread(target=w.run, daemon=True, name="aio-test-worker")
    th.start()
    try:
        yield w
    finally:
        for gate in GATES.values():
            gate.set()
        w.request_stop()
        for name in queues:
            r.lpush(Keys(prefix).queue(name).wake, "1")  # unblock it promptly
        th.join(30)
    assert not th.is_alive(), "the worker did not stop"


async def until(pred, timeout: float = 30.0, what: str = "the condition") -> None:
    """Poll ``pred`` (plain or async) until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def armed(r, q, task_id: str):
    """A predicate: a waiter of task_id has looked at it and waits for its push
    (the watch script sets the task's ``waiters`` flag)."""
    return lambda: r.hget(q.qkeys.task(task_id), "waiters") == "1"


def nodes(r) -> list:
    """A client per node: the one Redis, or each primary of the cluster."""
    if hasattr(r, "get_primaries"):
        return [r.get_redis_connection(n) for n in r.get_primaries()]
    return [r]


def connections(r, name: str) -> tuple[int, int]:
    """(connections named ``name``, those of them subscribed) on every node."""
    total = subscribed = 0
    for node in nodes(r):
        for c in node.client_list():
            if c.get("name") == name:
                total += 1
                subscribed += int(c.get("sub", 0)) > 0
    return total, subscribed


def kill_subscribers(r, name: str) -> int:
    """CLIENT KILL every pub/sub connection named ``name``; how many."""
    killed = 0
    for node in nodes(r):
        for c in node.client_list():
            if c.get("name") == name and int(c.get("sub", 0)) > 0:
                node.client_kill_filter(_id=c["id"])
                killed += 1
    return killed


def new_name() -> str:
    return f"tq-aio-{uuid.uuid4().hex[:8]}"


# -- parity with taskq.Queue ----------------------------------------------------------


def test_enqueue_get_list_and_counts_read_what_the_sync_queue_reads(r, redis_url, prefix):
    sq = Queue("default", redis=r, prefix=prefix)

    async def body():
        async with aclient(redis_url) as client:
            q = aio.Queue("default", redis=client, prefix=prefix)
            a = await q.enqueue("operator:add", 1, 2, task_id="a", priority=5, tags=["t"],
                                meta={"k": [1]})
            b = await q.enqueue_call("operator:add", args=(3, 4), kwargs={}, delay=60, task_id="b")
            c = await q.enqueue("operator:add", 5, 6)  # a plain task once registered: enqueue_one
            assert (a.id, b.id) == ("default:a", "default:b") and c.id.startswith("default:")
            assert (a.status, b.status, c.status) == ("queued", "delayed", "queued")
            for t in (a, b, c):  # what enqueue answered is what is stored
                stored = sq.get(t.id)
                assert (t.func, t.args, t.kwargs, t.priority, t.tags, t.meta, t.status) == (
                    stored.func, stored.args, stored.kwargs, stored.priority, stored.tags,
                    stored.meta, stored.status)
                assert t.created_at == stored.created_at
                assert (await q.get(t.id)).raw == stored.raw
            assert b.scheduled_at == sq.get(b.id).scheduled_at is not None
            assert (a.priority, a.tags, a.meta) == (5, ["t"], {"k": [1]})
            s = sq.enqueue("operator:add", 7, 8)  # the sync queue's task, read by the async one
            assert (await q.get(s.id)).raw == sq.get(s.id).raw
            assert await aio.get_task(s.id, redis=client, prefix=prefix) is not None

            for kwargs in ({}, {"limit": 2}, {"offset": 1, "limit": 2}, {"newest_first": False},
                           {"status": "queued"}, {"status": "delayed"}, {"tag": "t"}):
                assert await q.list_ids(**kwargs) == sq.list_ids(**kwargs), kwargs
                assert [t.raw for t in await q.list(**kwargs)] == [t.raw for t in sq.list(**kwargs)]
            assert await q.list_ids(tag="t") == [a.id]
            assert await q.counts() == sq.counts()
            assert (await q.counts())["queued"] == 3 and (await q.counts())["delayed"] == 1
            assert await q.count() == 4 == sq.count()
            assert await q.count("delayed") == 1 and await q.count(tag="t") == 1
            assert await q.stats() == sq.stats() and (await q.stats())["created"] == 4
            assert await q.get("default:nope") is None
            assert await q.get("other:a") is None and await q.get("no-colon") is None
            assert [t.id for t in await q.get_many([a.id, "default:nope", c.id])] == [a.id, c.id]
            assert await aio.get_task("no-colon", redis=client, prefix=prefix) is None

    run_async(body())


BAD_OPTIONS = [
    {"priority": 1001}, {"priority": 2.5}, {"delay": -1}, {"delay": float("nan")},
    {"backoff": "sometimes"}, {"max_retries": -1}, {"timeout": 0}, {"tags": "not-a-list"},
    {"dedupe_key": ""}, {"concurrency_key": "k", "concurrency_limit": 0},
    {"depends_on": ["not an id"]}, {"delay": 1, "scheduled_at": 5}, {"task_id": "other:1"},
    {"meta": []},
]


def test_the_same_errors_as_the_sync_queue(r, redis_url, prefix):
    sq = Queue("errs", redis=r, prefix=prefix)

    async def body():
        async with aclient(redis_url) as client:
            q = aio.Queue("errs", redis=client, prefix=prefix)
            for options in BAD_OPTIONS:
                with pytest.raises(TaskqValueError) as sync_error:
                    sq.enqueue("f", **options)
                with pytest.raises(TaskqValueError) as async_error:
                    await q.enqueue("f", **options)
                assert type(async_error.value) is type(sync_error.value), options
                assert str(async_error.value) == str(sync_error.value), options
            with pytest.raises(TaskqValueError):
                await q.enqueue_call("f", priorty=1)  # not an option
            with pytest.raises(TaskqValueError):
                await q.enqueue("f", object())  # not JSON
            with pytest.raises(TaskqValueError):
                await q.enqueue_many([{"func": "f"}, {"func": "f", "priority": 5000}])
            with pytest.raises(CyclicDependencyError):
                await q.enqueue("f", task_id="me", depends_on=["errs:me"])
            with pytest.raises(DependencyNotFound):
                await q.enqueue("f", depends_on=["errs:missing"])
            with pytest.raises(DependencyNotFound):
                await q.enqueue_many([{"func": "f"}, {"func": "f", "depends_on": ["errs:nope"]}])
            for kwargs in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"status": "sleeping"},
                           {"status": "queued", "tag": "t"}):
                with pytest.raises(TaskqValueError):
                    await q.list(**kwargs)
            with pytest.raises(TaskqValueError):
                await q.count("sleeping")
            with pytest.raises(TaskqValueError):
                aio.Queue("has{brace}", redis=client, prefix=prefix)
            assert await q.count() == 0 and sq.count() == 0  # nothing was written

            # an explicit id taken: TaskExists, through the batch script (the first
            # call of a Queue) and through the one-task script (once registered)
            sq.enqueue("f", task_id="fixed")
            with pytest.raises(TaskExists) as sync_error:
                sq.enqueue("f", task_id="fixed")
            with pytest.raises(TaskExists) as async_error:
                await aio.Queue("errs", redis=client, prefix=prefix).enqueue("f", task_id="fixed")
            assert str(async_error.value) == str(sync_error.value)
            await q.enqueue("f")  # registers q: a plain task now takes enqueue_one
            with pytest.raises(TaskExists):
                await q.enqueue("f", task_id="fixed")
            with pytest.raises(TaskExists):
                await q.enqueue_many([{"func": "f", "task_id": "fixed"}])

            # a dedupe key answers the task that holds it, whoever enqueued it
            first = await q.enqueue("f", dedupe_key="report:42")
            again = sq.enqueue("f", dedupe_key="report:42")
            third = await q.enqueue("f", dedupe_key="report:42")
            assert first.id == again.id == third.id and third.status == again.status == "queued"
            assert await q.count() == 3

            for call in (q.cancel, q.retry):
                with pytest.raises(TaskNotFound):
                    await call("errs:nope")
                with pytest.raises(TaskNotFound):
                    await call("elsewhere:x")
            with pytest.raises(TaskqValueError):
                await q.cancel(first.id, mode="now")

    run_async(body())


def test_cancel_retry_and_pause_answer_as_the_sync_queue(r, redis_url, prefix):
    sq = Queue("cr", redis=r, prefix=prefix)

    async def outcome(call):
        """("ok", value) or ("raised", type, status) of a call, plain or async."""
        try:
            value = call()
            if inspect.isawaitable(value):
                value = await value
            return "ok", value
        except Exception as exc:  # noqa: BLE001
            return "raised", type(exc), getattr(exc, "status", None)

    async def same(sync_call, async_call):
        """The same change on a task of each queue: the async one answers as the sync one."""
        expected, got = await outcome(sync_call), await outcome(async_call)
        assert got == expected
        return got

    async def body():
        async with aclient(redis_url) as client:
            q = aio.Queue("cr", redis=client, prefix=prefix)
            sq.enqueue("f", task_id="s")
            await q.enqueue("f", task_id="a")
            assert await same(lambda: sq.cancel("cr:s", "stop"),
                              lambda: q.cancel("cr:a", "stop")) == ("ok", "cancelled")
            assert (await q.get("cr:a")).error == "stop"
            assert (await same(lambda: sq.cancel("cr:s"), lambda: q.cancel("cr:a")))[1] is InvalidState
            assert await same(lambda: sq.retry("cr:s"), lambda: q.retry("cr:a")) == ("ok", "queued")
            assert await same(lambda: sq.retry("cr:s"),
                              lambda: q.retry("cr:a")) == ("raised", InvalidState, "queued")

            # running (claimed): a cancel request, then a forced cancel
            assert sorted(lease.task.id for lease in sq.claim(2)) == ["cr:a", "cr:s"]
            assert await same(lambda: sq.cancel("cr:s"),
                              lambda: q.cancel("cr:a")) == ("ok", "cancel_requested")
            assert (await q.get("cr:a")).cancel_requested
            assert await same(lambda: sq.cancel("cr:s", mode="force"),
                              lambda: q.cancel("cr:a", mode="force")) == ("ok", "cancelled")

            # failed for good: run again
            sq.enqueue("f", task_id="s3", max_retries=0)
            await q.enqueue("f", task_id="a3", max_retries=0)
            for lease in sq.claim(2):
                assert lease.fail("boom") == "failed"
            assert await same(lambda: sq.retry("cr:s3"), lambda: q.retry("cr:a3")) == ("ok", "queued")
            assert (await q.get("cr:a3")).status == "queued"

            await q.pause()
            assert sq.is_paused and sq.claim(5) == []
            await q.resume()
            assert not sq.is_paused and len(sq.claim(5)) == 2

    run_async(body())


# -- clients ----------------------------------------------------------------------------


def test_a_plain_asyncio_client_works_and_still_answers_bytes_to_its_owner(r, redis_url, prefix):
    async def body():
        if ON_CLUSTER:
            plain = AsyncRedisCluster.from_url(cluster_node_url(redis_url))
        else:  # a pool of 3 that makes a caller wait up to 7 s for a connection
            plain = aredis.Redis(connection_pool=aredis.BlockingConnectionPool.from_url(
                redis_url, max_connections=3, timeout=7))
        try:
            q = aio.Queue("plain", redis=plain, prefix=prefix)
            assert q.redis is not plain and q.redis is q.redis  # one decoding twin
            if not ON_CLUSTER:  # the twin keeps the caller's pool settings
                pool = q.redis.connection_pool
                assert isinstance(pool, aredis.BlockingConnectionPool)
                assert (pool.max_connections, pool.timeout) == (3, 7)
            tasks = await asyncio.gather(*(q.enqueue("operator:add", i, 1) for i in range(50)))
            assert all(isinstance(t.id, str) and t.status == "queued" for t in tasks)
            assert set(await q.list_ids(limit=100)) == {t.id for t in tasks}
            assert (await q.get(tasks[0].id)).args == [0, 1]
            with worker(r, prefix, "plain"):
                assert await asyncio.gather(*(t.wait(60) for t in tasks)) == [i + 1 for i in range(50)]
            assert (await q.counts())["completed"] == 50
            key = f"{prefix}:mine"
            await plain.set(key, "value")
            assert await plain.get(key) == b"value"  # the caller's client still answers bytes
            raw = await plain.hgetall(q.qkeys.task(tasks[0].id))
            assert raw[b"status"] == b"completed"
        finally:
            await plain.aclose()

    run_async(body())


def test_a_synchronous_client_or_a_pipeline_is_refused_at_once(r, redis_url):
    sync_plain = plain_client(redis_url)
    try:
        for client in (r, sync_plain):
            with pytest.raises(TypeError, match="taskq.Queue"):
                aio.Queue("default", redis=client)
    finally:
        sync_plain.close()

    async def body():
        async with aclient(redis_url) as client:
            with pytest.raises(TypeError, match="pipeline"):
                aio.Queue("default", redis=client.pipeline(transaction=False))

    run_async(body())


@pytest.mark.single_redis  # a redis.asyncio pool: redis-py's asyncio RedisCluster has none that waits
def test_more_concurrent_calls_than_connections_wait_for_a_free_one(r, redis_url, prefix):
    name = new_name()

    async def body():
        async with aclient(redis_url, max_connections=4, client_name=name) as client:
            q = aio.Queue("burst", redis=client, prefix=prefix)
            tasks = await asyncio.gather(*(q.enqueue("operator:add", i, 1) for i in range(300)))
            assert len({t.id for t in tasks}) == 300 and await q.count("queued") == 300
            assert connections(r, name)[0] <= 4

    run_async(body())


def test_the_default_client_follows_redis_url_and_each_event_loop_gets_its_own(r, prefix):
    q = aio.Queue("dflt", prefix=prefix)  # no client: this loop's client for $REDIS_URL

    async def once(x: int):
        t = await q.enqueue("operator:add", x, 1)
        return t.id, await t.wait(30)

    with worker(r, prefix, "dflt"):
        first, result = run_async(once(1))
        assert first.startswith("dflt:") and result == 2
        assert run_async(once(2))[1] == 3  # a second loop: the first loop's client is not used
    assert Queue("dflt", redis=r, prefix=prefix).count("completed") == 2


# -- waiting ------------------------------------------------------------------------------


def test_a_thousand_concurrent_enqueues_then_waits_on_two_connections(r, redis_url, prefix):
    name = new_name()

    async def body():
        async with aclient(redis_url) as producer, aclient(redis_url, client_name=name) as waiting_client:
            q = aio.Queue("many", redis=producer, prefix=prefix)
            # redis-py's asyncio RedisCluster raises MaxConnectionsError past 100 commands in
            # flight to a node (it has no pool that waits): on a cluster, bound them here
            limit = asyncio.Semaphore(50) if ON_CLUSTER else contextlib.nullcontext()

            async def enqueue(i: int):
                async with limit:
                    return await q.enqueue("operator:add", i, N)

            tasks = await asyncio.gather(*(enqueue(i) for i in range(N)))
            assert len({t.id for t in tasks}) == N and {t.status for t in tasks} == {"queued"}
            assert await q.count("queued") == N

            wq = aio.Queue("many", redis=waiting_client, prefix=prefix)
            mine = await wq.get_many([t.id for t in tasks])
            assert len(mine) == N
            waits = asyncio.ensure_future(asyncio.gather(*(t.wait(240) for t in mine)))
            await until(lambda: connections(r, name)[1] == 1, what="the hub's subscription")
            samples = []
            with worker(r, prefix, "many"):
                while not waits.done():
                    samples.append(connections(r, name))
                    await asyncio.wait([waits], timeout=0.1)
                results = await waits
            assert results == [i + N for i in range(N)]
            # one pub/sub connection, and one for the looks (and the get_many) per node
            assert max(total for total, _ in samples) <= len(nodes(r)) + 1, samples
            assert {subscribed for _, subscribed in samples} == {1}, samples

    run_async(body())


def test_wait_timeouts(r, redis_url, prefix):
    sq = Queue("slow", redis=r, prefix=prefix)

    async def body():
        async with aclient(redis_url) as client:
            q = aio.Queue("slow", redis=client, prefix=prefix)  # no worker serves it
            t = await q.enqueue("f")
            start = time.monotonic()
            with pytest.raises(WaitTimeout) as info:
                await t.wait(0.3)
            took = time.monotonic() - start
            assert 0.3 <= took < 3.0
            assert isinstance(info.value, TimeoutError) and info.value.task_id == t.id
            start = time.monotonic()
            with pytest.raises(WaitTimeout):
                await q.result(t.id, 0)  # 0: look once
            with pytest.raises(WaitTimeout):
                await q.result(t.id, -1)
            assert time.monotonic() - start < 1.0

            # a wait cancelled by its caller (asyncio.wait_for) leaves the hub serving others
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(t.wait(30), 0.2)
            w = asyncio.ensure_future(t.wait(30))
            await until(armed(r, sq, t.id), what="the waiter")
            sq.claim()[0].complete("late")
            assert await asyncio.wait_for(w, 20) == "late"

    run_async(body())


def test_a_failed_task_raises_task_failed_with_its_error(r, redis_url, prefix, no_polling):
    async def body():
        async with aclient(redis_url) as client:
            q = aio.Queue("fails", redis=client, prefix=prefix)
            t = await q.enqueue("operator:truediv", 1, 0, max_retries=0)
            w = asyncio.ensure_future(t.wait(60))
            await until(armed(r, q, t.id), what="the waiter")
            with worker(r, prefix, "fails"):
                with pytest.raises(TaskFailed) as info:
                    await asyncio.wait_for(w, 30)
            assert "division by zero" in info.value.error and "division by zero" in str(info.value)
            assert info.value.task.id == t.id and info.value.task.status == "failed"
            assert info.value.task.attempts == 1  # the task as stored, not just the push
            with pytest.raises(TaskFailed):
                await q.result(t.id, 0)  # ended: answered by the look alone

    run_async(body())


def test_a_cancelled_task_raises_task_cancelled(r, redis_url, prefix, no_polling):
    async def body():
        async with aclient(redis_url) as client:
            q = aio.Queue("cancels", redis=client, prefix=prefix)
            t = await q.enqueue("f")
            w = asyncio.ensure_future(t.wait(60))
            await until(armed(r, q, t.id), what="the waiter")
            assert await q.cancel(t.id, "not needed") == "cancelled"
            with pytest.raises(TaskCancelled) as info:
                await asyncio.wait_for(w, 20)
            assert info.value.error == "not needed" and not isinstance(info.value, TaskFailed)

            # running: force-cancelled while the worker still runs it
            gate = f"cancel-{uuid.uuid4().hex}"
            GATES[gate] = threading.Event()
            with worker(r, prefix, "cancels"):
                u = await q.enqueue(f"{ME}:gated", gate)
                await until(lambda: r.hget(q.qkeys.task(u.id), "status") == "running",
                            what="the task to run")
                w = asyncio.ensure_future(u.wait(60))
                await until(armed(r, q, u.id), what="the waiter")
                assert await q.cancel(u.id, "enough", mode="force") == "cancelled"
                with pytest.raises(TaskCancelled) as info:
                    await asyncio.wait_for(w, 20)
                assert info.value.error == "enough"
                GATES[gate].set()
            assert (await q.get(u.id)).status == "cancelled"  # the late result changed nothing

    run_async(body())


def test_a_task_is_waited_for_until_a_retry_completes_it(r, redis_url, prefix, no_polling):
    sq = Queue("retries", redis=r, prefix=prefix)

    async def body():
        async with aclient(redis_url) as client:
            q = aio.Queue("retries", redis=client, prefix=prefix)
            # retried by the engine: the waiter sees the failed attempt pass
            t = await q.enqueue(f"{ME}:fails_first", "second time", max_retries=1,
                                backoff="fixed", backoff_base=0)
            w = asyncio.ensure_future(t.wait(60))
            await until(armed(r, q, t.id), what="the waiter")
            with worker(r, prefix, "retries"):
                assert await asyncio.wait_for(w, 30) == "second time"
            assert (await q.get(t.id)).attempts == 2

            # retried by hand: a new waiter waits for the new run, not the old failure
            u = await q.enqueue("f", max_retries=0)
            w = asyncio.ensure_future(u.wait(60))
            await until(armed(r, q, u.id), what="the waiter")
            sq.claim()[0].fail("first")
            with pytest.raises(TaskFailed, match="first"):
                await asyncio.wait_for(w, 20)
            assert await q.retry(u.id) == "queued"
            w = asyncio.ensure_future(u.wait(60))
            await until(armed(r, q, u.id), what="the new waiter")
            assert not w.done()
            sq.claim()[0].complete("second")
            assert await asyncio.wait_for(w, 20) == "second"

    run_async(body())


def test_result_with_no_time_to_wait(r, redis_url, prefix):
    sq = Queue("glance", redis=r, prefix=prefix)

    async def body():
        async with aclient(redis_url) as client:
            q = aio.Queue("glance", redis=client, prefix=prefix)
            done = await q.enqueue("f")
            sq.claim()[0].complete({"big": 12345678901234567, "text": "a\nb"})
            failed = await q.enqueue("f", max_retries=0)
            sq.claim()[0].fail("nope")
            running = await q.enqueue("f")
            [lease] = sq.claim()
            assert lease.task.id == running.id
            lease.log_many([("info", "one"), ("warn", "two"), ("info", "three")])
            assert [x["message"] for x in await q.logs(running.id)] == ["one", "two", "three"]
            assert await q.logs(running.id, offset=1, limit=1) == sq.logs(running.id, 1, 1)
            assert (await q.logs(running.id, 1, 1))[0]["level"] == "warn"
            queued = await q.enqueue("f")
            start = time.monotonic()
            assert await q.result(done.id, 0) == {"big": 12345678901234567, "text": "a\nb"}
            assert await done.wait(0) == {"big": 12345678901234567, "text": "a\nb"}
            with pytest.raises(TaskFailed, match="nope"):
                await q.result(failed.id, 0)
            for t in (running, queued):
                with pytest.raises(WaitTimeout):
                    await q.result(t.id, 0)
                with pytest.raises(WaitTimeout):
                    await t.wait(0)
            assert time.monotonic() - start < 2.0
            assert await q.result(done.id, 30) == {"big": 12345678901234567, "text": "a\nb"}

    run_async(body())


def test_deleted_and_unknown_ids(r, redis_url, prefix, no_polling):
    sq = Queue("gone", redis=r, prefix=prefix)

    async def body():
        async with aclient(redis_url) as client:
            q = aio.Queue("gone", redis=client, prefix=prefix)
            t = await q.enqueue("f")
            w = asyncio.ensure_future(t.wait(60))
            await until(armed(r, q, t.id), what="the waiter")
            sq.delete(t.id)
            with pytest.raises(TaskCancelled) as info:
                await asyncio.wait_for(w, 20)
            assert info.value.error == "deleted"
            start = time.monotonic()
            for timeout in (0, 5, None):
                with pytest.raises(TaskNotFound):
                    await q.result(t.id, timeout)
            for task_id in ("gone:never", "elsewhere:x", "no-colon"):
                with pytest.raises(TaskNotFound):
                    await q.result(task_id, 5)
            assert time.monotonic() - start < 3.0  # answered, not waited out
            assert await q.get(t.id) is None and await q.removed(t.id) is None
            with pytest.raises(TaskNotFound):
                await q.cancel(t.id)

    run_async(body())


def test_a_wait_survives_its_pubsub_connection_being_killed(r, redis_url, prefix, no_polling):
    sq = Queue("kill", redis=r, prefix=prefix)
    name = new_name()

    async def body():
        async with aclient(redis_url, client_name=name) as client:
            q = aio.Queue("kill", redis=client, prefix=prefix)
            t = await q.enqueue("f")
            w = asyncio.ensure_future(t.wait(60))
            await until(armed(r, q, t.id), what="the waiter")
            # Nothing awaits between the kill and the completion: the hub cannot read
            # (and so reconnect) before the outcome is published to nobody.
            assert kill_subscribers(r, name) == 1
            sq.claim()[0].complete("while away")
            assert await asyncio.wait_for(w, 20) == "while away"
            # subscribed again: the next outcome is pushed as before
            u = await q.enqueue("f")
            w = asyncio.ensure_future(u.wait(60))
            await until(armed(r, q, u.id), what="the next waiter")
            sq.claim()[0].complete("after")
            assert await asyncio.wait_for(w, 20) == "after"
            assert connections(r, name)[1] == 1

    run_async(body())


def test_waiters_that_join_while_their_queue_is_subscribed_share_that_subscription(
        r, redis_url, prefix, no_polling):
    sq = Queue("join", redis=r, prefix=prefix)

    async def body():
        # Redis cannot be reached: every waiter gets the error, not only the first
        nowhere = async_client_from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=2)
        try:
            lost = aio.Queue("join", redis=nowhere, prefix=prefix)
            waits = [asyncio.ensure_future(lost.result("join:x", None)) for _ in range(3)]
            done, pending = await asyncio.wait(waits, timeout=30)
            for w in pending:
                w.cancel()
            assert not pending, "a waiter was left waiting"
            assert all(isinstance(w.exception(), redis_errors.ConnectionError) for w in done)
        finally:
            await nowhere.aclose()

        # the first waiter is cancelled while it subscribes: the others still wait
        async with aclient(redis_url) as client:
            q = aio.Queue("join", redis=client, prefix=prefix)
            t = await q.enqueue("f")
            first = asyncio.ensure_future(q.result(t.id, 60))
            second = asyncio.ensure_future(t.wait(60))
            await asyncio.sleep(0)  # both have joined; the subscription is on its way
            first.cancel()
            await until(armed(r, q, t.id), what="the second waiter")
            sq.claim()[0].complete("still here")
            assert await asyncio.wait_for(second, 20) == "still here"
            assert first.cancelled()

    run_async(body())


# -- dependencies and events ------------------------------------------------------------------


def test_enqueue_many_with_dependencies_inside_the_batch(r, redis_url, prefix):
    async def body():
        async with aclient(redis_url) as client:
            q = aio.Queue("deps", redis=client, prefix=prefix)
            child, parent, free = await q.enqueue_many([
                {"func": "operator:add", "args": [1, 2], "task_id": "child",
                 "depends_on": ["deps:parent"]},
                {"func": "operator:mul", "args": [3, 4], "task_id": "parent"},
                {"func": "operator:neg", "args": [5], "tags": ["bulk"]},
            ])
            assert (child.id, parent.id) == ("deps:child", "deps:parent")
            assert [t.status for t in (child, parent, free)] == ["blocked", "queued", "queued"]
            assert (await q.get(child.id)).dependencies == [parent.id]
            assert await q.count(tag="bulk") == 1
            with worker(r, prefix, "deps"):
                assert await child.wait(30) == 3
            assert await parent.wait(0) == 12 and await free.wait(0) == -5
            p, c = await q.get(parent.id), await q.get(child.id)
            assert c.started_at >= p.finished_at
            assert await q.enqueue_many([]) == []

    run_async(body())


def test_enqueue_many_with_dependencies_on_other_queues(r, redis_url, prefix):
    async def body():
        async with aclient(redis_url) as client:
            first = aio.Queue("first", redis=client, prefix=prefix)
            then = aio.Queue("then", redis=client, prefix=prefix)
            parent = await first.enqueue("operator:add", 1, 1)
            child, other = await then.enqueue_many([  # linked across queues (in a thread)
                {"func": "operator:add", "args": [2, 2], "depends_on": [parent.id]},
                {"func": "operator:add", "args": [3, 3]},
            ])
            assert child.id.startswith("then:") and [child.status, other.status] == ["blocked", "queued"]
            assert (await then.get(child.id)).dependencies == [parent.id]
            with pytest.raises(DependencyNotFound):
                await then.enqueue("f", depends_on=["elsewhere:missing"])
            with pytest.raises(DependencyNotFound):
                await then.enqueue_many([{"func": "f", "depends_on": ["first:missing"]}])
            assert await then.count() == 2
            with worker(r, prefix, "first", "then"):
                assert await child.wait(30) == 4  # the snapshot waits through the async queue
            assert await parent.wait(0) == 2
            # on a task that has ended: released as it is linked (the snapshot, as
            # taskq.Queue's, says "blocked": it was, when the script answered)
            late = await then.enqueue("operator:add", 5, 5, depends_on=[parent.id])
            assert (await then.get(late.id)).status == "queued"

    run_async(body())


def test_publish_fires_an_event_schedule(sched, redis_url, prefix):
    ev = sched.create(spec(schedule_kind="event", schedule_expr="invoice.paid", queue="events"))
    other = sched.create(spec(schedule_kind="event", schedule_expr="invoice.void", queue="events"))

    async def body():
        async with aclient(redis_url) as client:
            created = await aio.publish("invoice.paid", {"n": 2 ** 60 + 1}, redis=client, prefix=prefix)
            assert len(created) == 1
            events = aio.Queue("events", redis=client, prefix=prefix)
            [task] = await events.list()
            assert task.meta["schedule_id"] == ev["id"] and task.meta["event"] == {"n": 2 ** 60 + 1}
            assert len(await events.publish("invoice.paid")) == 1  # the queue's Redis and prefix
            assert await events.count() == 2
            assert await aio.publish("nobody.listens", redis=client, prefix=prefix) == []

    run_async(body())
    assert sched.get(ev["id"])["runs_total"] == 2 and sched.get(other["id"])["runs_total"] == 0
