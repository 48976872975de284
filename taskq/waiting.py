"""Waiting for a task's outcome (Queue.result, Task.wait), pushed, not polled.

One script call (watch) answers for a task that has ended and otherwise
records the caller as a waiter, atomically. The script that ends a task with
a waiter pushes its outcome (``<status>\\n<result or error text>``) to the
task's notify list, once; each waiter takes it with a blocking BLMOVE from
the list to itself, which leaves it in place for the next waiter, so one push
wakes them all and the completed result arrives with the wake itself, with no
further round trip. The check and the blocking call go in one pipeline (the
check leaves the outcome of a task that has already ended listed, so the
blocking call returns at once). The list expires on its own. A task nobody
waits on pays nothing but one field read when it ends.

A blocking call holds one connection of the client's pool while it waits, so
the wait is cut into slices of at most WAIT_SLICE seconds (and under the
client's socket timeout), each followed by a fresh check: ``timeout=None``
waits as long as it takes without holding a connection for longer than a
slice, and a wake that was missed (the list expired, or a manual retry of the
task cleared it) costs at most one slice.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import E_NOT_FOUND, NOOP, OK, TaskCancelled, TaskFailed, TaskNotFound, WaitTimeout
from .keys import TERMINAL_STATUSES
from .lua import call
from .task import Task, _s

WAIT_SLICE = 1.0
"""Longest single blocking call, in seconds: bounds how long a wait holds a
pooled connection, and how late a waiter notices a wake it missed."""
MIN_SLICE = 0.01
"""Shortest blocking call (0 would mean forever to Redis)."""
BLOCK_LATENESS = 0.15
"""Seconds a blocking call may outlast its timeout (Redis checks them about
ten times a second): the margin kept under a client's socket timeout."""


def wait_for(queue, task_id: str, timeout: float | None = None) -> Any:
    """Block until the task has ended; return its result or raise what its
    ending calls for (see Queue.result)."""
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    redis, qkeys = queue.redis, queue.qkeys
    notify = qkeys.notify(task_id)
    longest = _slice_limit(redis)
    while True:
        wait = longest
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
        if wait <= 0:  # time is up: one last look
            reply = call(redis, "watch", qkeys, task_id, "0")
            if reply[0] == NOOP:
                raise WaitTimeout(f"task {task_id} did not end within {timeout:g} s", task_id, timeout)
            return _answer(queue, task_id, reply, None)
        reply, pushed = _watch_and_block(redis, qkeys, task_id, notify, max(MIN_SLICE, wait))
        if reply is not None and (reply[0] != NOOP or pushed is not None):
            return _answer(queue, task_id, reply, pushed)


def _watch_and_block(redis, qkeys, task_id: str, notify: str, wait: float):
    """The check (which registers the waiter) and one blocking slice: in one
    round trip once this client has run the script (a pipelined EVALSHA
    refused with NOSCRIPT would leave the pop with nothing registered).
    Returns (watch reply or None, pushed outcome text or None)."""
    try:
        if _proven(redis):
            pipe = redis.pipeline(transaction=False)
            call(pipe, "watch", qkeys, task_id, "1")
            pipe.blmove(notify, notify, wait, "LEFT", "RIGHT")
            reply, pushed = pipe.execute(raise_on_error=False)
            if isinstance(reply, Exception):  # not run (NOSCRIPT): what was popped means nothing
                _PROVEN.discard(redis)
                return None, None
            if isinstance(pushed, Exception):
                raise pushed
        else:
            reply = call(redis, "watch", qkeys, task_id, "0")
            _remember(redis)
            if reply[0] != NOOP:
                return reply, None
            pushed = redis.blmove(notify, notify, wait, "LEFT", "RIGHT")
    except RedisTimeoutError:  # the socket gave up first (that connection is dropped)
        return None, None
    return reply, None if pushed is None else _s(pushed)


def _answer(queue, task_id: str, reply: list, pushed: str | None) -> Any:
    if reply[0] == OK:
        return outcome(Task.from_hash(task_id, reply[2], queue))
    if reply[0] == E_NOT_FOUND:
        if pushed and pushed.startswith("cancelled\n"):  # deleted before it ended
            return _pushed_outcome(queue, task_id, pushed)
        raise TaskNotFound(f"task {task_id} not found")
    return _pushed_outcome(queue, task_id, pushed)


_PROVEN: "weakref.WeakSet" = weakref.WeakSet()
"""Clients on which the watch script has run (so Redis has it loaded)."""


def _proven(redis) -> bool:
    try:
        return redis in _PROVEN
    except TypeError:
        return False


def _remember(redis) -> None:
    try:
        _PROVEN.add(redis)
    except TypeError:  # a client that cannot be weakly referenced: never pipelined
        pass


def _pushed_outcome(queue, task_id: str, pushed: str) -> Any:
    status, _, text = pushed.partition("\n")
    if status == "completed":
        return Task(task_id, {"status": status, "result": text}, queue).result
    # Failed or cancelled: the exception carries the task as it is now, or,
    # once it is gone (deleted) or running again, as it ended.
    task = queue.get(task_id)
    if task is None or task.status not in TERMINAL_STATUSES:
        task = Task(task_id, {"status": status, **({"error": text} if text else {})}, queue)
    return outcome(task)


def outcome(task: Task) -> Any:
    """An ended task's result, or the exception its ending calls for."""
    if task.status == "completed":
        return task.result
    error = task.error
    if task.status == "cancelled":
        raise TaskCancelled(f"task {task.id} was cancelled" + (f": {error}" if error else ""), task, error)
    raise TaskFailed(f"task {task.id} failed" + (f": {error}" if error else ""), task, error)


def _slice_limit(redis) -> float:
    """WAIT_SLICE, kept under the client's socket timeout (a blocking call
    that outlasts it fails as a timed-out connection)."""
    pool = getattr(redis, "connection_pool", None)
    if pool is None and hasattr(redis, "get_default_node"):  # a cluster: its nodes' settings
        pool = getattr(redis.get_default_node().redis_connection, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None) or {}
    # redis-py 8 sets 5 s unless told otherwise; from_url keeps it as orig_*
    socket_timeout = kwargs.get("socket_timeout", kwargs.get("orig_socket_timeout"))
    if socket_timeout:
        return max(MIN_SLICE, min(WAIT_SLICE, socket_timeout - BLOCK_LATENESS))
    return WAIT_SLICE
