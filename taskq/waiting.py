"""Waiting for a task's outcome (Queue.result, Task.wait), pushed, not polled.

One script call (watch) checks the task and, when it has not ended, records
the caller as a waiter on it, atomically; the script that ends the task then
pushes a token to the task's notify list, which the waiter blocks on with
BLPOP. A task nobody waits on pays nothing for this but one field read.

A blocking pop holds one connection of the client's pool while it waits, so
the wait is cut into slices of at most WAIT_SLICE seconds (and below the
client's socket timeout, if it has one), each followed by a fresh check:
``timeout=None`` waits forever without ever holding a connection for longer
than a slice, and a token that was lost (a waiter paused past the list's
expiry, more waiters than one ending pushes for) costs a slice, not the wait.
"""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import E_NOT_FOUND, OK, TaskCancelled, TaskFailed, TaskNotFound, WaitTimeout
from .keys import QueueKeys
from .scripts import call
from .task import Task, _s

WAIT_SLICE = 1.0
"""Longest single BLPOP, in seconds: bounds how long a wait holds a pooled
connection, and how late a waiter notices a wake it missed."""
MIN_SLICE = 0.01
"""Shortest BLPOP (0 would mean forever to Redis)."""
BLOCK_LATENESS = 0.15
"""Seconds a blocking pop may outlast its timeout (Redis checks them ~10 times a second)."""


def wait_for(redis, qkeys: QueueKeys, task_id: str, timeout: float | None = None) -> Task:
    """Block until the task has ended; returns its final snapshot.

    Raises TaskNotFound (no such task), WaitTimeout (not ended within
    ``timeout`` seconds; 0 checks once). A task that is retrying has not ended."""
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    notify = qkeys.notify(task_id)
    longest = _slice_limit(redis)
    new, token = "1", None
    while True:
        reply = call(redis, "watch", qkeys, task_id, new)
        if reply[0] == OK:
            return Task.from_hash(task_id, reply[2])
        if reply[0] == E_NOT_FOUND:
            if _s(token) == "cancelled":  # deleted unfinished: it ended cancelled, then went
                raise TaskCancelled(f"task {task_id} was deleted",
                                    Task(task_id, {"status": "cancelled", "error": "deleted"}), "deleted")
            raise TaskNotFound(f"task {task_id} not found")
        new = "0"
        wait = longest
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"task {task_id} did not end within {timeout:g} s", task_id, timeout)
            wait = min(wait, left)
        try:
            popped = redis.blpop([notify], timeout=max(MIN_SLICE, wait))
        except RedisTimeoutError:  # the socket timed out first: that connection is dropped
            continue
        if popped:
            token = popped[1]


def outcome(task: Task) -> Any:
    """An ended task's result, or the exception its ending calls for."""
    if task.status == "completed":
        return task.result
    error = task.error
    if task.status == "cancelled":
        raise TaskCancelled(f"task {task.id} was cancelled" + (f": {error}" if error else ""), task, error)
    raise TaskFailed(f"task {task.id} failed" + (f": {error}" if error else ""), task, error)


def _slice_limit(redis) -> float:
    """WAIT_SLICE, kept under the client's socket timeout (a BLPOP longer
    than it fails as a timed-out connection). Redis ends a blocking pop up to
    about 0.1 s after its timeout, hence the margin."""
    pool = getattr(redis, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None) or {}
    # redis-py 8 sets 5 s unless told otherwise; from_url keeps it as orig_*
    socket_timeout = kwargs.get("socket_timeout", kwargs.get("orig_socket_timeout"))
    if socket_timeout:
        return max(MIN_SLICE, min(WAIT_SLICE, socket_timeout - BLOCK_LATENESS))
    return WAIT_SLICE
