"""What a worker runs for a task, shared by every worker class.

A task runs one of:
- a Python callable named by ``task.func`` (``module:function`` or a name
  registered with ``@taskq.task``), called with the task's args and kwargs
  inside ``taskq.current_task()``'s context; what it returns is the task's
  result. An ``async def`` function's coroutine (or any awaitable) is run
  to its end on an event loop (the pool worker's, workers.coroutines; the
  rq classes' one loop per process) and its value is the result; a
  generator fails the task, not retried (NotAResult);
- a shell command (``task.meta["command"]``, the REST ``command`` field),
  only when the operator sets TASKQ_ALLOW_COMMANDS (workers.commands).

Every worker kind calls :func:`run_task`, so this is the one place a
return value becomes a result, and where a task's on_success / on_failure
callbacks run (workers.callbacks).
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Callable

from taskq import Lease, resolve, tracing
from taskq.context import task_context

from . import callbacks
from .coroutines import run_in_process_loop
from .results import checked_result
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


def run_task(lease: Lease, run_coroutine: Callable[[Any], Any] = run_in_process_loop) -> Any:
    """Run the task's body and return its result; raises on failure. An
    awaitable the function returns is run by ``run_coroutine`` (default:
    this process's loop, in this thread)."""
    if tracing.recording():  # an OpenTelemetry span per attempt (taskq.tracing)
        with tracing.attempt(lease.task):
            return _run(lease, run_coroutine)
    return _run(lease, run_coroutine)


def _run(lease: Lease, run_coroutine: Callable[[Any], Any]) -> Any:
    if not callbacks.has_callbacks(lease.task):
        return _body(lease, run_coroutine)
    with task_context(lease):  # a callback may save_meta() / get_current_job(), as in RQ
        try:
            result = _body(lease, run_coroutine)
            callbacks.on_success(lease, result)
        except BaseException:
            callbacks.on_failure(lease)
            raise
    return result


def _body(lease: Lease, run_coroutine: Callable[[Any], Any]) -> Any:
    task = lease.task
    with task_context(lease):
        if task.func:
            try:
                fn = resolve(task.func)
            except (ImportError, AttributeError, LookupError) as exc:
                raise NothingToRun(f"cannot import {task.func}: {exc}") from exc
            value = fn(*task.args, **task.kwargs)
            if inspect.isawaitable(value):
                value = run_coroutine(value)
            return checked_result(task.func, value)
        command = task.meta.get("command") if isinstance(task.meta, dict) else None
        if command:
            if not commands_allowed():
                raise CommandsDisabled("shell commands are disabled (set TASKQ_ALLOW_COMMANDS=1)")
            return run_command(lease, command, task.timeout or DEFAULT_TIMEOUT)
        raise NothingToRun("task has neither a function nor a command")
