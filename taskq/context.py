"""What a running task body can reach: ``taskq.current_task()``.

A worker sets the context around each task it runs, so the body can save a
checkpoint (a restarted attempt resumes from it), write log lines and check
for a requested cancel, all fenced by the lease's token.

    from taskq import current_task

    def import_rows(path):
        ctx = current_task()
        start = (ctx.checkpoint or {}).get("row", 0)
        for n, row in enumerate(read(path)[start:], start):
            ...
            ctx.save_checkpoint({"row": n + 1})
"""

from __future__ import annotations

import asyncio
import contextlib
from contextvars import ContextVar
from typing import Any, Iterator

from .lease import Lease

_UNREAD = object()
_current: ContextVar["TaskContext | None"] = ContextVar("taskq_current_task", default=None)


class TaskContext:
    __slots__ = ("lease", "task", "_checkpoint")

    def __init__(self, lease: Lease):
        self.lease = lease
        self.task = lease.task
        self._checkpoint = _UNREAD  # decoded when asked for: most tasks never do

    @property
    def id(self) -> str:
        return self.task.id

    @property
    def attempt(self) -> int:
        return self.task.attempts

    @property
    def checkpoint(self) -> Any:
        """The latest checkpoint: from an earlier attempt, or saved by this one."""
        if self._checkpoint is _UNREAD:
            self._checkpoint = self.task.checkpoint
        return self._checkpoint

    def save_checkpoint(self, data: Any) -> None:
        self.lease.checkpoint(data)
        self._checkpoint = data

    def log(self, message: str, level: str = "info") -> None:
        self.lease.log(message, level)

    def cancel_requested(self) -> bool:
        """Renews the lease too; True when someone asked to cancel the task."""
        return self.lease.heartbeat()

    # In an async def task: the same calls, off the event loop (each is one
    # round trip on the worker's synchronous client, run in a thread).
    async def asave_checkpoint(self, data: Any) -> None:
        await asyncio.to_thread(self.save_checkpoint, data)

    async def alog(self, message: str, level: str = "info") -> None:
        await asyncio.to_thread(self.log, message, level)

    async def acancel_requested(self) -> bool:
        """A cancel request also cancels an async def task's coroutine
        (CancelledError at its next await); this asks without waiting for that."""
        return await asyncio.to_thread(self.cancel_requested)


def current_task() -> TaskContext | None:
    """The task this code runs as, or None outside a worker."""
    return _current.get()


def enter_task_context(lease: Lease) -> TaskContext:
    """Make ``lease`` the current task for the rest of the current context:
    for code that runs each task in a context of its own (the worker's
    event loop gives each coroutine a fresh one), where nothing needs resetting."""
    ctx = TaskContext(lease)
    _current.set(ctx)
    return ctx


@contextlib.contextmanager
def task_context(lease: Lease) -> Iterator[TaskContext]:
    ctx = TaskContext(lease)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
