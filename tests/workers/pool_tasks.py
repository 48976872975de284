"""Task functions the worker tests enqueue (importable by worker processes
as ``tests.workers.pool_tasks:<name>``). They leave side effects in Redis
keys the test names, so a test can count how often a body really ran."""

from __future__ import annotations

import time

from taskq import current_task
from taskq.connection import get_redis


def incr(key: str) -> int:
    return get_redis().incr(key)


def sleep_then_incr(seconds: float, started_key: str, done_key: str) -> str:
    get_redis().incr(started_key)
    time.sleep(seconds)
    get_redis().incr(done_key)
    return "slept"


def fail(message: str) -> None:
    raise RuntimeError(message)


def resume_from_checkpoint(steps: int, crash_key: str, seconds_per_step: float = 0.0) -> list:
    """Counts steps; saves a checkpoint after each. If crash_key is set in
    Redis the body sleeps forever at step 2 (so a test can kill its worker)."""
    ctx = current_task()
    done = list((ctx.checkpoint or {}).get("done", []))
    for step in range(len(done), steps):
        if step == 2 and get_redis().get(crash_key):
            get_redis().delete(crash_key)
            ctx.log("about to hang", "warn")
            time.sleep(3600)
        time.sleep(seconds_per_step)
        done.append(step)
        ctx.save_checkpoint({"done": done})
        ctx.log(f"step {step} done")
    return done


def now() -> float:
    return time.time()


async def async_double(x: int) -> int:
    return 2 * x


def plain_returning_coroutine(x: int):
    """A plain function whose value is awaitable: workers await it."""
    return async_double(x)


async def loop_and_task_id():
    import asyncio

    from taskq import current_task
    return id(asyncio.get_running_loop()), current_task().id


def countdown(n: int):
    """A generator function: its body would run only when iterated."""
    yield from range(n, 0, -1)


async def async_ticks(n: int):
    for i in range(n):
        yield i


def fail_once_then_now(key: str) -> float:
    """The first attempt fails; a retry returns the time it ran."""
    if get_redis().incr(key) == 1:
        raise RuntimeError("the first attempt fails, on purpose")
    return time.time()
