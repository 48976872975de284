"""What a worker runs for a task, shared by every worker class.

A task runs one of:
- a Python callable named by ``task.func`` (``module:function`` or a name
  registered with ``@taskq.task``), called with the task's args and kwargs
  inside ``taskq.current_task()``'s context;
- a shell command (``task.meta["command"]``, the REST ``command`` field),
  only when the operator sets TASKQ_ALLOW_COMMANDS (workers.commands).
"""

from __future__ import annotations

import os
from typing import Any

from taskq import Lease, resolve
from taskq.context import task_context

from .commands import (COMMAND_ENV, DEFAULT_TIMEOUT, LOG_FLUSH_SECONDS, OUTPUT_TAIL_LINES,
                       command_env, run_command, stop_commands)
from .task_errors import (CommandCancelled, CommandFailed, CommandsDisabled, CommandStopped,
                          NothingToRun, TaskError, TaskTimeout, is_retryable)

__all__ = [
    "run_task", "commands_allowed", "run_command", "command_env",
    "stop_commands", "COMMAND_ENV", "DEFAULT_TIMEOUT", "LOG_FLUSH_SECONDS", "OUTPUT_TAIL_LINES",
    "TaskError", "NothingToRun", "CommandsDisabled", "CommandFailed", "TaskTimeout",
    "CommandStopped", "CommandCancelled", "is_retryable",
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
            return fn(*task.args, **task.kwargs)
        command = task.meta.get("command") if isinstance(task.meta, dict) else None
        if command:
            if not commands_allowed():
                raise CommandsDisabled("shell commands are disabled (set TASKQ_ALLOW_COMMANDS=1)")
            return run_command(lease, command, task.timeout or DEFAULT_TIMEOUT)
        raise NothingToRun("task has neither a function nor a command")
