"""``async def`` task functions: an event loop of the worker's own.

The pool worker runs plain functions on its threads and coroutine
functions here, many at once on one loop in one thread (``--async-concurrency``,
separate from the thread pool), so a worker holds thousands of I/O-bound
tasks in flight without a thread each. Each coroutine runs in its own
asyncio Task, inside ``taskq.current_task()``'s context (contextvars), and
can be cancelled by the worker: at its task's ``timeout`` (CancelledError
inside the task, then TaskTimeout, retried by its policy), on a cancel
request (the task ends ``cancelled``), when its lease is lost (its outcome
is discarded) and on a cold stop (given back).

A coroutine that blocks the loop (a sync sleep or request inside
``async def``) stalls every other one. The loop beats every BEAT seconds;
a watchdog thread that sees no beat for SLOW_STEP seconds looks at the
loop thread's stack for the task running there, and once the loop is back
names it in a warning with how long it held the loop, as asyncio's debug
mode would, at no cost per task (debug mode times every callback).

The rq worker classes run one job at a time: :func:`run_in_process_loop`
runs a coroutine on one loop per process, not one per task.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import inspect
import logging
import os
import sys
import threading
import time
from typing import Any, Callable

from taskq import Lease, tracing
from taskq.context import enter_task_context

from .activity import describe
from .results import checked_result
from .task_errors import CancelledOnRequest, Stopped, TaskTimeout

log = logging.getLogger("taskq.worker")

SLOW_STEP = float(os.environ.get("TASKQ_SLOW_STEP", "0.1"))
"""Seconds one step of a coroutine may hold the event loop before the
worker warns (asyncio's own slow_callback_duration default)."""
BEAT = 0.02
"""Seconds between the loop's beats, which the watchdog checks."""

REASONS = {
    "timeout": None,  # the task's timeout: TaskTimeout, made where its length is known
    "cancelled": lambda: CancelledOnRequest("cancel requested: the coroutine was cancelled"),
    "stopped": lambda: Stopped("the worker stopped while the coroutine ran"),
    "lost": lambda: Stopped("the task's lease was lost while its coroutine ran"),
}
"""Why the worker cancels a coroutine, and what the task's attempt reports."""


def is_async_callable(fn: Any) -> bool:
    """Whether calling ``fn`` gives a coroutine: an ``async def`` function,
    a partial of one, or an object whose ``__call__`` is one."""
    while True:
        if inspect.iscoroutinefunction(fn):
            return True
        inner = getattr(fn, "func", None) or getattr(fn, "fn", None)  # partial, TaskFunction
        if inner is None or inner is fn:
            call = getattr(type(fn), "__call__", None)
            return call is not None and not inspect.isfunction(fn) and \
                inspect.iscoroutinefunction(call)
        fn = inner


class LoopRunner:
    """One event loop in one thread, running up to ``concurrency`` task
    coroutines at once; ``on_done([(lease, ok, result or error), ...])`` is
    called (from the loop's thread) with the tasks that ended, once per turn
    of the loop in which some did."""

    def __init__(self, concurrency: int, on_done: Callable[[list], None]):
        self.concurrency = concurrency
        self.on_done = on_done
        self.loop = asyncio.new_event_loop()
        self._running = 0
        self._queued: collections.deque[asyncio.Future] = collections.deque()
        self._ended: list[tuple[Lease, bool, Any]] = []
        self._beat_at = time.monotonic()
        self._stalled: tuple[Lease, float] | None = None  # set by the watchdog
        self._tasks: dict[str, asyncio.Task] = {}  # lease id -> its task (loop thread only)
        self._reasons: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, name="taskq-async", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._beat()
        threading.Thread(target=self._watch, args=(threading.get_ident(),),
                         name="taskq-async-watchdog", daemon=True).start()
        self.loop.run_forever()

    def _beat(self) -> None:
        self._beat_at = time.monotonic()
        if self._stalled is not None:  # the loop is back: say who held it, and how long
            lease, since = self._stalled
            self._stalled = None
            log.warning("task %s (%s) blocked the event loop for %.3f s (a blocking call "
                        "inside async def?); every coroutine of this worker waited",
                        lease.id, describe(lease.task), self._beat_at - since)
        self.loop.call_later(BEAT, self._beat)

    def _watch(self, loop_thread: int) -> None:
        """The watchdog: finds the task holding the loop past SLOW_STEP.
        A loop that misses its beats while the watchdog misses its own
        wake-ups too is not blamed on a task: the whole process was not
        running (a machine out of CPU), not one coroutine blocking."""
        late_at = time.monotonic()
        while not self.loop.is_closed():
            asleep = time.monotonic()
            time.sleep(BEAT)
            now = time.monotonic()
            if now - asleep > 2 * BEAT:  # the process itself was held up
                late_at = now
            since = self._beat_at
            if self._stalled is not None or now - max(since, late_at) < SLOW_STEP:
                continue
            lease = _running_lease(sys._current_frames().get(loop_thread))
            if lease is not None and self._beat_at == since:
                self._stalled = (lease, since)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, items: list[tuple[Lease, Callable[..., Any]]]) -> None:
        """Run each ``fn(*args, **kwargs)`` of its lease's task (any thread)."""
        self.loop.call_soon_threadsafe(self._start, items)

    def _start(self, items: list[tuple[Lease, Callable[..., Any]]]) -> None:
        for lease, fn in items:
            task = self.loop.create_task(self._execute(lease, fn), context=contextvars.Context())
            self._tasks[lease.id] = task

    async def _execute(self, lease: Lease, fn: Callable[..., Any]) -> None:
        task = lease.task
        try:
            if self._running >= self.concurrency:  # wait for a slot, first come first served
                slot = self.loop.create_future()
                self._queued.append(slot)
                try:
                    await slot
                except BaseException:
                    if not slot.cancelled() and slot.done():
                        self._next()  # handed a slot as it was cancelled: pass it on
                    raise
            else:
                self._running += 1
            try:
                enter_task_context(lease)  # this task's own Context (see _start)
                if tracing.recording():  # the attempt's span (taskq.tracing)
                    with tracing.attempt(task):
                        result = await self._call(task, fn)
                else:
                    result = await self._call(task, fn)
            finally:
                self._next()
            outcome = (lease, True, result)
        except asyncio.CancelledError:
            reason = self._reasons.pop(lease.id, None)
            if reason is None:  # the loop itself is closing: nobody to tell
                raise
            if reason == "timeout":
                error = TaskTimeout(f"task ran past its timeout of {task.timeout:g} s")
            else:
                error = REASONS[reason]()
            outcome = (lease, False, error)
        except BaseException as exc:  # noqa: BLE001  (report everything a task raises)
            outcome = (lease, False, exc)
        finally:
            self._tasks.pop(lease.id, None)
        if not self._ended:
            self.loop.call_soon(self._report)
        self._ended.append(outcome)

    @staticmethod
    async def _call(task: Any, fn: Callable[..., Any]) -> Any:
        """The task's function, awaited, within its timeout."""
        deadline = asyncio.timeout(task.timeout) if task.timeout else None
        try:
            if deadline is None:  # no `async with` of nothing: two calls fewer a task
                result = fn(*task.args, **task.kwargs)
                if inspect.isawaitable(result):
                    result = await result
            else:
                async with deadline:
                    result = fn(*task.args, **task.kwargs)
                    if inspect.isawaitable(result):
                        result = await result
            return checked_result(task.func, result)
        except TimeoutError:
            if deadline is None or not deadline.expired():
                raise
            raise TaskTimeout(f"task ran past its timeout of {task.timeout:g} s") from None

    def _next(self) -> None:
        """A slot is free: the next waiting coroutine takes it."""
        while self._queued:
            slot = self._queued.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self._running -= 1

    def _report(self) -> None:
        ended, self._ended = self._ended, []
        self.on_done(ended)

    def cancel(self, task_id: str, reason: str) -> None:
        """Cancel the task's coroutine, if it is running here (any thread)."""
        self.loop.call_soon_threadsafe(self._cancel, task_id, reason)

    def _cancel(self, task_id: str, reason: str) -> None:
        task = self._tasks.get(task_id)
        if task is not None and task_id not in self._reasons:
            self._reasons[task_id] = reason
            task.cancel()

    def cancel_all(self, reason: str) -> None:
        def cancel_them() -> None:
            for task_id in list(self._tasks):
                self._cancel(task_id, reason)
        self.loop.call_soon_threadsafe(cancel_them)

    def run_coroutine(self, awaitable: Any) -> Any:
        """Run an awaitable a plain function returned, here, from a worker
        thread; blocks that thread until it ends. It keeps the caller's
        context (the task's ``current_task()``)."""
        context = contextvars.copy_context()
        done: "asyncio.Future | None" = None
        box = threading.Event()
        outcome: list = []

        def start() -> None:
            nonlocal done
            done = self.loop.create_task(_awaited(awaitable), context=context)
            done.add_done_callback(lambda t: (outcome.append(t), box.set()))

        self.loop.call_soon_threadsafe(start)
        box.wait()
        return outcome[0].result()

    def close(self) -> None:
        """Cancel what still runs and stop the loop (any thread but its own)."""
        async def finish() -> None:
            tasks = list(self._tasks.values())
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()
        try:
            asyncio.run_coroutine_threadsafe(finish(), self.loop)
        except RuntimeError:  # already closed
            return
        self._thread.join(5.0)


def _running_lease(frame: Any) -> Lease | None:
    """The lease of the task whose code runs in ``frame``'s stack."""
    while frame is not None:
        if frame.f_code is _EXECUTE_CODE:
            return frame.f_locals.get("lease")
        frame = frame.f_back
    return None


_EXECUTE_CODE = LoopRunner._execute.__code__


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


_process_loop: tuple[int, asyncio.AbstractEventLoop] | None = None


def run_in_process_loop(awaitable: Any) -> Any:
    """Run ``awaitable`` to its end on this process's loop (made once per
    process), in the calling thread and its context. If something
    interrupts it (an rq job timeout raised from a signal handler), the
    loop is closed with what it still runs, so nothing of this job resumes
    during the next one."""
    global _process_loop
    if _process_loop is None or _process_loop[0] != os.getpid() or _process_loop[1].is_closed():
        _process_loop = (os.getpid(), asyncio.new_event_loop())
    loop = _process_loop[1]
    task = loop.create_task(_awaited(awaitable))
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            _discard(loop)
        raise


def _discard(loop: asyncio.AbstractEventLoop) -> None:
    global _process_loop
    _process_loop = None
    try:
        for t in asyncio.all_tasks(loop):
            t.cancel()
        loop.run_until_complete(asyncio.sleep(0))
    except BaseException:  # noqa: BLE001  (interrupted again: drop it as it is)
        pass
    finally:
        try:
            loop.close()
        except Exception:  # noqa: BLE001
            pass


__all__ = ["LoopRunner", "SLOW_STEP", "is_async_callable", "run_in_process_loop"]
