"""What a worker runs for a task, shared by every worker class.

A task runs one of:
- a Python callable named by ``task.func`` (``module:function`` or a name
  registered with ``@taskq.task``), called with the task's args and kwargs
  inside ``taskq.current_task()``'s context; what it returns is the task's
  result, and only a value is: a coroutine (an ``async def`` function), an
  awaitable or a generator fails the task, not retried (NotAResult);
- a shell command (``task.meta["command"]``, the REST ``command`` field),
  only when the operator sets TASKQ_ALLOW_COMMANDS (workers.commands).

Every worker kind calls :func:`run_task`, so this is the one place a
return value becomes a result.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from taskq import Lease, resolve
from taskq.context import task_context

from .commands import (COMMAND_ENV, DEFAULT_TIMEOUT, LOG_FLUSH_SECONDS, OUTPUT_TAIL_LINES,
                       command_env, run_command, stop_commands)
from .task_errors import (CommandCancelled, CommandFailed, CommandsDisabled, CommandStopped,
                          NotAResult, NothingToRun, TaskError, TaskTimeout, is_retryable)

__all__ = [
    "run_task", "commands_allowed", "checked_result", "run_command", "command_env",
    "stop_commands", "COMMAND_ENV", "DEFAULT_TIMEOUT", "LOG_FLUSH_SECONDS", "OUTPUT_TAIL_LINES",
    "TaskError", "NothingToRun", "CommandsDisabled", "CommandFailed", "TaskTimeout",
    "NotAResult", "CommandStopped", "CommandCancelled", "is_retryable",
]


def commands_allowed() -> bool:
    return os.environ.get("TASKQ_ALLOW_COMMANDS", "").lower() in ("1", "true", "yes", "on")


def run_task(lease: Lease) -> Any:
    """Run the task's body and return its result; raises on failure."""
    task = lease.task
    with task_context(lease):
        if task.func:
            try:
                fn = resolve(task.func)
            except (ImportError, AttributeError, LookupError) as exc:
                raise NothingToRun(f"cannot import {task.func}: {exc}") from exc
            return checked_result(task.func, fn(*task.args, **task.kwargs))
        command = task.meta.get("command") if isinstance(task.meta, dict) else None
        if command:
            if not commands_allowed():
                raise CommandsDisabled("shell commands are disabled (set TASKQ_ALLOW_COMMANDS=1)")
            return run_command(lease, command, task.timeout or DEFAULT_TIMEOUT)
        raise NothingToRun("task has neither a function nor a command")


def checked_result(name: str, value: Any) -> Any:
    """``value`` when it is a function's value; NotAResult (after closing
    it, so Python warns of nothing) when the work it stands for never ran:
    a coroutine or other awaitable (an ``async def`` function: workers do
    not run an event loop), a generator or an async generator (its body
    never ran)."""
    what = None
    if inspect.iscoroutine(value):
        what = f"a coroutine (from async def {value.__qualname__})"
    elif inspect.isasyncgen(value):
        what = f"an async generator (from async def {value.__qualname__})"
    elif inspect.isgenerator(value):
        what = f"a generator (from {value.__qualname__}, a function that yields)"
    elif inspect.isawaitable(value):
        what = f"an awaitable {type(value).__qualname__}"
    if what is None:
        return value
    close = getattr(value, "close", None)
    if callable(close) and not inspect.isasyncgen(value):
        try:
            close()
        except Exception:
            pass
    raise NotAResult(f"{name} returned {what}, not a value: its work did not run "
                     f"(taskq workers call functions, they do not await or iterate "
                     f"what they return; use a plain def, or asyncio.run inside it)")
