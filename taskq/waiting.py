"""Waiting for a task's outcome (Queue.result, Task.wait), pushed, not polled.

The watch script answers for a task that has ended and otherwise records
the caller as a waiter, atomically. The script that ends a task with a
waiter publishes its outcome on its queue's notify channel, once, with the
result or error text unless it is over 64 KiB (taskq/lua/includes/notify.lua);
a task nobody waits on pays nothing but one field read when it ends.

A waiting thread holds no connection: its client's hub (taskq.waiter_hub),
one thread and one pub/sub connection per process and client, is subscribed
to the queue's channel before it runs the watch script for the waiter (so
an ending after the check reaches it), and hands the waiter the reply or
the published outcome, result included. A thousand threads waiting cost two
connections, not a thousand. A waiter looks at its task again every RECHECK
seconds, in case a push was lost with a dropped connection, and once more
at its deadline.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Generator

from .errors import (E_NOT_FOUND, NOOP, OK, TaskCancelled, TaskExpired, TaskFailed, TaskNotFound,
                     WaitTimeout)
from .lua import call
from .task import Task
from .waiter_hub import Waiter, join

RECHECK = 30.0
"""Seconds between a waiter's own looks at its task while nothing was
pushed: how late it notices an outcome whose push was lost."""
FINAL_LOOK = 10.0
"""Seconds the look at the deadline may take before the wait gives up."""


def wait_for(queue, task_id: str, timeout: float | None = None) -> Any:
    """Block until the task has ended; return its result or raise what its
    ending calls for (see Queue.result)."""
    if timeout is not None and timeout <= 0:  # only look
        reply = call(queue.redis, "watch", queue.qkeys, task_id)
        return drive(glance(queue, task_id, reply, timeout), lambda req: queue.removed(task_id))
    deadline = None if timeout is None else time.monotonic() + timeout
    waiter = Waiter(queue.qkeys, task_id)
    hub = join(queue.redis, waiter)
    try:
        return drive(protocol(queue, task_id, deadline, timeout),
                     answering(waiter, hub, lambda: queue.removed(task_id)))
    finally:
        hub.leave(waiter)


def answering(waiter, hub, removed: Callable[[], Any]) -> Callable[[tuple], Any]:
    """What answers a :func:`protocol`'s requests for ``waiter`` of ``hub``
    (``removed()`` reads the task's tombstone); in taskq.aio, the answers
    to ``take`` and ``removed`` are awaited."""
    def handle(request: tuple) -> Any:
        verb = request[0]
        if verb == "take":
            return waiter.take(request[1])
        if verb == "look":
            return hub.look(waiter)
        if verb == "arm":
            return hub.arm(waiter)
        return removed()
    return handle


def drive(steps: Generator, handle) -> Any:
    """Run a wait protocol (a generator of requests, see :func:`protocol`),
    answering each request with ``handle(request)``; returns its value."""
    answer = None
    while True:
        try:
            request = steps.send(answer)
        except StopIteration as stop:
            return stop.value
        answer = handle(request)


def glance(queue, task_id: str, reply: list, timeout: float):
    """A wait with no time to wait (timeout <= 0): the watch's ``reply`` answers."""
    if reply[0] == NOOP:
        raise WaitTimeout(f"task {task_id} did not end within {timeout:g} s", task_id, timeout)
    return (yield from _answer(queue, task_id, reply, None))


def protocol(queue, task_id: str, deadline: float | None, timeout: float | None) -> Generator:
    """What a waiter does, as a generator of requests its driver answers
    (the thread's in :func:`wait_for`, the event loop's in taskq.aio), so
    both kinds of wait follow one protocol: ``("take", seconds)`` -> the
    next inbox item or None; ``("look",)`` asks the hub to run the watch
    script again; ``("arm",)`` tells the hub the waiter is registered;
    ``("removed",)`` -> the task's tombstone or None. Returns the result."""
    pushed: str | None = None
    pushed_seq = 0
    looked = final = False
    while True:
        if final:
            wait = FINAL_LOOK
        else:
            wait = RECHECK if deadline is None else min(RECHECK, deadline - time.monotonic())
        item = (yield ("take", wait)) if wait > 0 else None
        if item is None:
            if final:
                raise WaitTimeout(f"task {task_id} did not end within {timeout:g} s", task_id, timeout)
            final = deadline is not None and time.monotonic() >= deadline
            yield ("look",)  # nothing pushed for a while, or time is up: one more look
            continue
        kind, value, seq = item
        if kind == "error":
            raise value
        if kind == "push":
            pushed, pushed_seq = value, seq
            if looked:
                done, result = yield from _take_push(queue, task_id, value)
                if done:
                    return result
            # else the first look's reply (on its way) says what the push is worth
            continue
        first, looked = not looked, True
        if value[0] != NOOP:
            return (yield from _answer(queue, task_id, value, pushed))
        if first and pushed is not None:
            if pushed_seq <= seq:  # read before this look that found the task running: an earlier run's
                pushed = None
            else:  # it ended after this look
                done, result = yield from _take_push(queue, task_id, pushed)
                if done:
                    return result
                continue
        if pushed is not None:  # it ended while we waited, and is running again (retried)
            return _pushed_outcome(queue, task_id, pushed)
        if final:
            raise WaitTimeout(f"task {task_id} did not end within {timeout:g} s", task_id, timeout)
        yield ("arm",)


def _take_push(queue, task_id: str, pushed: str):
    """A completed task's result that came with the wake: (True, result);
    anything else is read from the task: (False, None), a look asked for."""
    status, carried, text = pushed.partition("\n")
    if status == "completed" and carried:
        return True, Task(task_id, {"status": status, "result": text}, queue).result
    yield ("look",)
    return False, None


def _answer(queue, task_id: str, reply: list, pushed: str | None):
    if reply[0] == OK:
        return outcome(Task.from_hash(task_id, reply[2], queue))
    if reply[0] == E_NOT_FOUND:
        if pushed and pushed.startswith("cancelled"):  # deleted before it ended
            return _pushed_outcome(queue, task_id, pushed)
        gone = yield ("removed",)
        if gone:  # ended, and retention removed it (its result with it)
            raise TaskExpired(f"task {task_id} {gone['status']} and was removed by retention "
                              "before its outcome was read", gone["status"], gone["finished"])
    raise TaskNotFound(f"task {task_id} not found")


def _pushed_outcome(queue, task_id: str, pushed: str) -> Any:
    """The outcome as it was published, for a task that is gone (deleted)
    or running again since: the exception carries the task as it ended."""
    status, carried, text = pushed.partition("\n")
    if status == "completed":
        return Task(task_id, {"status": status, "result": text}, queue).result
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


__all__ = ["RECHECK", "answering", "drive", "glance", "outcome", "protocol", "wait_for"]
