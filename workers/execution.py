"""What a worker runs for a task, shared by every worker class.

A task runs one of:
- a Python callable named by ``task.func`` (``module:function`` or a name
  registered with ``@taskq.task``), called with the task's args and kwargs
  inside ``taskq.current_task()``'s context;
- a shell command (``task.meta["command"]``, the REST ``command`` field),
  only when the operator sets TASKQ_ALLOW_COMMANDS: split into an argument
  list and run without a shell, killed at the task's timeout, its stdout and
  stderr going line by line into the task's log.
"""

from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import threading
import time
from typing import Any

from taskq import Lease, resolve
from taskq.context import task_context

DEFAULT_TIMEOUT = 3600.0
"""Seconds a command may run when its task sets no timeout."""
LOG_FLUSH_SECONDS = 0.2
"""Command output is sent to the task log at least this often."""
OUTPUT_TAIL_LINES = 20
"""Lines of stdout kept in a command task's result."""


class TaskError(Exception):
    """A task could not run; ``retryable`` says whether another attempt may help."""

    retryable = True


class NothingToRun(TaskError):
    retryable = False


class CommandsDisabled(TaskError):
    retryable = False


class CommandFailed(TaskError):
    pass


class TaskTimeout(TaskError):
    pass


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


def run_command(lease: Lease, command: str | list[str], timeout: float) -> dict[str, Any]:
    """Run a command as an argument list (never through a shell)."""
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise NothingToRun("empty command")
    try:
        # The command can post its own checkpoint over HTTP with these.
        env = dict(os.environ, TASKQ_TASK_ID=lease.id, TASKQ_LEASE_TOKEN=lease.token)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, errors="replace",
                                start_new_session=True, env=env)
    except OSError as exc:
        raise CommandFailed(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc
    lines: queue.Queue[tuple[str, str] | None] = queue.Queue()
    readers = [threading.Thread(target=_pump, args=(stream, level, lines), daemon=True)
               for stream, level in ((proc.stdout, "info"), (proc.stderr, "error"))]
    for t in readers:
        t.start()
    deadline = time.monotonic() + timeout
    tail: list[str] = []
    pending: list[tuple[str, str]] = []
    open_streams, last_flush, timed_out = 2, time.monotonic(), False
    try:
        while open_streams:
            try:
                item = lines.get(timeout=min(LOG_FLUSH_SECONDS, max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                item = ()
            if item is None:
                open_streams -= 1
            elif item:
                pending.append(item)
                if item[0] == "info":
                    tail = (tail + [item[1]])[-OUTPUT_TAIL_LINES:]
            now = time.monotonic()
            if pending and (now - last_flush >= LOG_FLUSH_SECONDS or len(pending) >= 100):
                lease.log_many(pending)
                pending, last_flush = [], now
            if now >= deadline:
                timed_out = True
                break
    finally:
        if timed_out or open_streams:
            _kill(proc)
        rc = proc.wait()
        if pending:
            try:
                lease.log_many(pending)
            except Exception:
                pass
    if timed_out:
        raise TaskTimeout(f"command timed out after {timeout:g} s")
    if rc != 0:
        raise CommandFailed(f"command exited with status {rc}")
    return {"exit_code": 0, "output": "\n".join(tail)}


def _pump(stream, level: str, out: queue.Queue) -> None:
    for line in stream:
        out.put((level, line.rstrip("\n")))
    out.put(None)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
