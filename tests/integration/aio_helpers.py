"""What the taskq.aio tests share: their clients (one per test and event
loop), a PoolWorker in a thread, task functions a worker imports by this
module's name, and ways to watch connections and push waiters."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import threading
import time
import uuid

from taskq import Keys, current_task
from taskq.aio.connection import async_client_from_url
from workers.pool import PoolWorker


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
