"""Waiting from asyncio with taskq.aio: ``await task.wait()`` and
``await q.result(id)`` are pushed through one pub/sub connection per event
loop and client, however many coroutines wait (a thousand here), answer
timeouts, failures, cancels, retries, deletions and unknown ids as
taskq.Queue's waits do, and survive that connection being killed.

Each test runs its coroutine with asyncio.run in a thread of its own
(tests/aio_run.py); what the tests share is in aio_helpers.py."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid

import pytest
import redis.exceptions as redis_errors

from taskq import Queue, TaskCancelled, TaskFailed, TaskNotFound, WaitTimeout, waiting
from taskq import aio
from taskq.aio.connection import async_client_from_url
from taskq.local.embedded import free_port

from tests.aio_run import run as run_async
from aio_helpers import (GATES, ME, N, ON_CLUSTER, aclient, armed, connections, kill_subscribers,
                         new_name, nodes, until, worker)


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
