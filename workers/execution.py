"""What a worker runs for a task, shared by every worker class.

A task runs one of:
- a Python callable named by ``task.func`` (``module:function`` or a name
  registered with ``@taskq.task``), called with the task's args and kwargs
  inside ``taskq.current_task()``'s context;
- a shell command (``task.meta["command"]``, the REST ``command`` field),
  only when the operator sets TASKQ_ALLOW_COMMANDS: split into an argument
  list and run without a shell, with an allow-listed environment
  (COMMAND_ENV, TASKQ_COMMAND_ENV), in a process group killed whole at the
  task's timeout or when the command exits, its stdout and stderr going line
  by line into the task's log.
"""

from __future__ import annotations

import atexit
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


COMMAND_ENV = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR"})
"""What a command inherits from the worker's environment (with every LC_*
name): where programs are (PATH), the user's home for tools that keep
config there (HOME), the text encoding and locale its output is written in
(LANG, LC_*: the log decodes it), the local time zone (TZ), and where to
put temporary files (TMPDIR). Nothing else passes unless the operator lists
it in TASKQ_COMMAND_ENV; PYTHONPATH, USER, SHELL, proxies and every secret
stay behind."""
REAP_SECONDS = 5.0
"""How long the worker waits for a killed command to be reaped."""
DRAIN_SECONDS = 1.0
"""How long the worker waits, after the command's process group is gone,
for the rest of its output (a process that left the group may still hold
the pipes; its lines are not waited for past this)."""

_live_groups: set[int] = set()
"""Process groups of the commands running in this process: killed at exit,
so a worker that shuts down leaves none of them behind."""
_live_lock = threading.Lock()


def command_env(lease: Lease) -> dict[str, str]:
    """The environment a command runs with: an allow-list, never the
    worker's whole environment (TASKQ_JWT_SECRET, REDIS_URL with its
    password, cloud credentials...). COMMAND_ENV and LC_* pass, with the
    names the operator lists in TASKQ_COMMAND_ENV (comma-separated), and
    the task's id and lease token, so the command can post its own
    checkpoint over HTTP."""
    extra = {n.strip() for n in os.environ.get("TASKQ_COMMAND_ENV", "").split(",") if n.strip()}
    env = {k: v for k, v in os.environ.items()
           if k in COMMAND_ENV or k in extra or k.startswith("LC_")}
    env.setdefault("PATH", os.defpath)
    env.update(TASKQ_TASK_ID=lease.id, TASKQ_LEASE_TOKEN=lease.token)
    return env


def run_command(lease: Lease, command: str | list[str], timeout: float) -> dict[str, Any]:
    """Run a command as an argument list (never through a shell), in a
    process group of its own that is killed whole when the command's own
    process exits, at the deadline, or when the worker stops: background
    children never outlive the task, and closing stdout does not escape
    the timeout."""
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise NothingToRun("empty command")
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, errors="replace",
                                start_new_session=True, env=command_env(lease))
    except OSError as exc:
        raise CommandFailed(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc
    with _live_lock:
        _live_groups.add(proc.pid)
    out = _Output(lease)
    readers = [threading.Thread(target=_pump, args=(stream, level, out.lines), daemon=True)
               for stream, level in ((proc.stdout, "info"), (proc.stderr, "error"))]
    for t in readers:
        t.start()
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            if out.open_streams:
                out.take(min(LOG_FLUSH_SECONDS, left))
                if _exited(proc):  # what it left running may still hold the pipes
                    break
            elif _wait_exited(proc, min(LOG_FLUSH_SECONDS, left)):
                break
            out.flush_if_due()
    finally:
        # Kill before reaping: while the leader is unreaped its pid, hence
        # the group id, cannot be reused by another process.
        _kill_group(proc.pid)
        rc = _reap(proc)
        with _live_lock:
            _live_groups.discard(proc.pid)
        drain_until = time.monotonic() + DRAIN_SECONDS
        for t in readers:
            t.join(max(0.0, drain_until - time.monotonic()))
        out.take_all()
        out.flush(quiet=True)
    if timed_out:
        raise TaskTimeout(f"command timed out after {timeout:g} s")
    if rc is None:
        raise CommandFailed("the command could not be reaped after it was killed")
    if rc != 0:
        raise CommandFailed(f"command exited with status {rc}")
    return {"exit_code": 0, "output": "\n".join(out.tail)}


class _Output:
    """A command's output on its way to the task log, and its stdout tail."""

    def __init__(self, lease: Lease):
        self.lease = lease
        self.lines: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self.open_streams = 2
        self.tail: list[str] = []
        self.pending: list[tuple[str, str]] = []
        self.last_flush = time.monotonic()

    def _add(self, item: tuple[str, str] | None) -> None:
        if item is None:
            self.open_streams -= 1
            return
        self.pending.append(item)
        if item[0] == "info":
            self.tail = (self.tail + [item[1]])[-OUTPUT_TAIL_LINES:]

    def take(self, wait: float) -> None:
        try:
            self._add(self.lines.get(timeout=wait))
        except queue.Empty:
            pass

    def take_all(self) -> None:
        while True:
            try:
                self._add(self.lines.get_nowait())
            except queue.Empty:
                return

    def flush_if_due(self) -> None:
        if self.pending and (time.monotonic() - self.last_flush >= LOG_FLUSH_SECONDS
                             or len(self.pending) >= 100):
            self.flush()

    def flush(self, quiet: bool = False) -> None:
        if not self.pending:
            return
        pending, self.pending, self.last_flush = self.pending, [], time.monotonic()
        try:
            self.lease.log_many(pending)
        except Exception:
            if not quiet:
                raise


def _pump(stream, level: str, out: queue.Queue) -> None:
    try:
        for line in stream:
            out.put((level, line.rstrip("\n")))
    except (OSError, ValueError):
        pass
    out.put(None)


def _exited(proc: subprocess.Popen) -> bool:
    """Whether the command's own process has exited, without reaping it."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped already
        return True


def _wait_exited(proc: subprocess.Popen, seconds: float) -> bool:
    until, step = time.monotonic() + seconds, 0.001
    while not _exited(proc):
        left = until - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(step, left))
        step = min(step * 2, 0.05)
    return True


def _reap(proc: subprocess.Popen) -> int | None:
    try:
        return proc.wait(REAP_SECONDS)
    except subprocess.TimeoutExpired:  # e.g. stuck in the kernel: leave it
        return None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def _kill_live_groups() -> None:
    with _live_lock:
        groups = list(_live_groups)
    for pgid in groups:
        _kill_group(pgid)
