"""The pool worker's ``async def`` tasks: which function goes to the event
loop (workers.coroutines) and which to the threads, how much the worker
claims for each, and the loop's cancels."""

from __future__ import annotations

import logging
from typing import Any

from taskq import Lease, resolve

from .callbacks import has_callbacks
from .coroutines import LoopRunner, is_async_callable

log = logging.getLogger("taskq.worker")

ASYNC_CONCURRENCY = 100
"""``async def`` tasks a worker runs at once by default (--async-concurrency)."""
KINDS_KEPT = 10_000
"""Task function names whose kind (coroutine function or not) a worker remembers."""


class CoroutineMixin:
    """For PoolWorker: needs ``capacity``, ``async_concurrency``,
    ``_coroutines`` (and its lock), ``_kinds``, ``_todo``, ``_done``, ``_wake``, ``worker_id``."""

    def _start_coroutines(self, leases: list[Lease]) -> list[Lease]:
        """Hand the tasks of ``async def`` functions to the event loop (in
        one go); returns the others, for the threads."""
        others, coroutines = [], []
        for lease in leases:
            # a task with callbacks runs in a thread, which awaits its coroutine on the loop
            fn = None if has_callbacks(lease.task) else self._coroutine_function(lease.task.func)
            if fn is None:
                others.append(lease)
            else:
                coroutines.append((lease, fn))
        if coroutines:
            self._loop_runner().submit(coroutines)
        return others

    def _coroutine_function(self, name: str | None) -> Any:
        if not name:
            return None
        try:
            return self._kinds[name]
        except KeyError:
            pass
        try:
            fn = resolve(name)
        except Exception:  # noqa: BLE001  (the thread reports why it cannot run)
            return None
        fn = fn if is_async_callable(fn) else None
        if len(self._kinds) < KINDS_KEPT:
            self._kinds[name] = fn
        return fn

    def _loop_runner(self) -> LoopRunner:
        with self._coroutines_lock:  # a thread may ask too (_run_awaitable)
            if self._coroutines is not None:
                return self._coroutines
            self._coroutines = LoopRunner(self.async_concurrency, self._finished)
            log.info("worker %s: an event loop runs async def tasks, %d at once",
                     self.worker_id, self.async_concurrency)
        return self._coroutines

    def _finished(self, ended: list) -> None:
        for item in ended:
            self._done.put(item)
        self._wake.interrupt()

    @property
    def _capacity(self) -> int:
        """Tasks held at most: the threads' prefetch, and the loop's room
        once the worker has met an async def task (a worker that never
        does claims no more than its threads can take)."""
        return self.capacity + (self.async_concurrency if self._coroutines is not None else 0)

    def _run_awaitable(self, awaitable: Any) -> Any:
        """What a plain function returned that must be awaited: run on the
        worker's loop while this thread waits."""
        return self._loop_runner().run_coroutine(awaitable)

    def _cancel_coroutine(self, task_id: str, reason: str) -> None:
        if self._coroutines is not None:
            self._coroutines.cancel(task_id, reason)

    def _cancel_coroutines(self, reason: str) -> None:
        if self._coroutines is not None:
            self._coroutines.cancel_all(reason)

    def _close_loop(self) -> None:
        if self._coroutines is not None:
            self._coroutines.close()
