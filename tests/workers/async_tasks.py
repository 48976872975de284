"""async def task functions the asyncio worker tests run (imported by name
by in-process workers and by `taskq worker` processes alike)."""

from __future__ import annotations

import asyncio
import os
import time

import redis.asyncio as aredis

from taskq import current_task

_clients: dict[int, aredis.Redis] = {}
running = 0
most_running = 0


def _redis() -> aredis.Redis:
    """One client per event loop (its connections belong to that loop)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None:
        url = os.environ.get("TASKQ_TEST_REDIS_URL") or os.environ["REDIS_URL"]
        from taskq.aio.connection import async_client_from_url
        # room for every coroutine of a worker at once: an asyncio
        # RedisCluster raises, rather than waits, past max_connections
        client = _clients[id(loop)] = async_client_from_url(url, max_connections=2000)
    return client


async def double_later(x: int, seconds: float = 0.01) -> int:
    await asyncio.sleep(seconds)
    return 2 * x


async def my_id_after_a_while() -> str:
    before = current_task().id
    await asyncio.sleep(0.02)
    after = current_task().id
    return after if before == after else f"changed from {before} to {after}"


async def raise_value_error(message: str) -> None:
    await asyncio.sleep(0)
    raise ValueError(message)


async def sleep_noting_cancel(seconds: float, key: str) -> None:
    """Sleeps; a cancel that reaches the coroutine is counted at ``key``."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        await _redis().incr(key)
        raise


async def block_the_loop(seconds: float) -> str:
    time.sleep(seconds)  # the mistake the worker warns about
    return "blocked"


async def count_running(seconds: float) -> int:
    global running, most_running
    running += 1
    most_running = max(most_running, running)
    try:
        await asyncio.sleep(seconds)
    finally:
        running -= 1
    return most_running


async def started_then_done(seconds: float, started: str, done: str) -> str:
    """INCR ``started``; sleep; count this task's end in hash ``done``."""
    await _redis().incr(started)
    await asyncio.sleep(seconds)
    task_id = current_task().id
    await _redis().hincrby(done, task_id, 1)
    return task_id


async def checkpoint_and_log(n: int) -> int:
    ctx = current_task()
    start = (ctx.checkpoint or {}).get("n", 0)
    await ctx.asave_checkpoint({"n": start + n})
    await ctx.alog(f"added {n}")
    assert await ctx.acancel_requested() is False
    return ctx.checkpoint["n"]


async def async_step(context, inputs, dependencies):
    """A workflow step written as async def."""
    await asyncio.sleep(0.01)
    if context.get("fail"):
        raise ValueError("the async step fails, on purpose")
    return {"n": context["n"] * 10}
