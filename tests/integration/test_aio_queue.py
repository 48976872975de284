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
import inspect

import pytest
import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from taskq import (CyclicDependencyError, DependencyNotFound, InvalidState, Queue, TaskExists,
                   TaskNotFound, TaskqValueError)
from taskq import aio
from taskq.connection import cluster_node_url

from tests.aio_run import run as run_async
from redis_clients import plain_client
from schedule_helpers import spec
from aio_helpers import ON_CLUSTER, aclient, worker, connections, new_name


@pytest.fixture(autouse=True)
def task_redis(redis_url, monkeypatch):
    """taskq.aio's default client and the worker's tasks use the test Redis."""
    monkeypatch.setenv("REDIS_URL", redis_url)


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


def test_update_delete_retry_limit_rate_limits_and_retention(r, redis_url, prefix):
    """The rare changes, made through the synchronous engine in a thread:
    the same results and errors."""
    sq = Queue("ch", redis=r, prefix=prefix)

    async def body():
        async with aclient(redis_url) as client:
            q = aio.Queue("ch", redis=client, prefix=prefix)
            await q.enqueue("f", task_id="u", meta={"a": 1}, delay=60)
            assert await q.update("ch:u", priority=7, meta={"b": 2}) == "delayed"
            task = await q.get("ch:u")
            assert task.priority == 7 and task.meta == {"a": 1, "b": 2}
            await q.enqueue("f", task_id="run")
            [lease] = sq.claim(1)
            with pytest.raises(InvalidState):
                await q.update("ch:run", priority=1)  # started: refused, as the sync queue does
            assert await q.set_retry_limit("ch:run", 9) == "running"
            assert (await q.get("ch:run")).max_retries == 9
            with pytest.raises(InvalidState):
                await q.delete("ch:run")  # running: only with force
            await q.delete("ch:run", force=True)
            assert await q.get("ch:run") is None
            with pytest.raises(TaskNotFound):
                await q.delete("ch:nope")
            await q.set_rate_limit("10/s")
            assert (await q.rate_limits()) == sq.rate_limits() and sq.rate_limits()
            await q.set_retention(completed=5)
            assert sq.retention_settings().completed == 5

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
