"""A task's shell command: started without a shell, with an allow-listed
environment, its output going line by line into the task's log, and no
process of it left behind.

On Linux the command runs under workers.command_supervisor, a small
process that is a child subreaper: whatever the command does with
sessions and process groups (``setsid``, double forks), its processes stay
below the supervisor, which kills them all when the command's own process
exits, at the task's timeout, on a cancel, when the worker stops, and when
the worker thread that started it dies (SIGKILL included). The task is
over only once they are gone. A command whose own process exits 0 while
something it started still runs completes; what it left running is killed
(SIGKILL), and the task's log says how many processes that was.

Elsewhere the command leads a process group of its own, killed whole at
the same moments; a process that leaves the group (``setsid``), or a
command whose worker is SIGKILLed, is not reached there.

Stopping the worker (SIGTERM, Ctrl-C) stops its commands at once: SIGTERM
to every process of the command, SIGKILL to what is left STOP_GRACE_SECONDS
later; their tasks go back to their queues, the attempt not counted.
"""

from __future__ import annotations

import atexit
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from taskq import Lease

from .task_errors import CommandCancelled, CommandFailed, CommandStopped, NothingToRun, TaskTimeout

DEFAULT_TIMEOUT = 3600.0
"""Seconds a command may run when its task sets no timeout."""
LOG_FLUSH_SECONDS = 0.2
"""Command output is sent to the task log at least this often."""
OUTPUT_TAIL_LINES = 20
"""Lines of stdout kept in a command task's result."""
REAP_SECONDS = 5.0
"""How long the worker waits for a killed command to be gone."""
DRAIN_SECONDS = 1.0
"""How long the worker waits, after the command is gone, for the rest of its
output (without a supervisor, a process that left the group may still hold
the pipes; its lines are not waited for past this)."""
STOP_GRACE_SECONDS = 2.0
"""When the worker stops: seconds between SIGTERM and SIGKILL for a running
command (short enough for honcho's 5 s and a platform's 10 to 30 s)."""

COMMAND_ENV = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR"})
"""What a command inherits from the worker's environment (with every LC_*
name): where programs are (PATH), the user's home for tools that keep
config there (HOME), the text encoding and locale its output is written in
(LANG, LC_*: the log decodes it), the local time zone (TZ), and where to
put temporary files (TMPDIR). Nothing else passes unless the operator lists
it in TASKQ_COMMAND_ENV; PYTHONPATH, USER, SHELL, proxies and every secret
stay behind."""

SUPERVISOR = Path(__file__).with_name("command_supervisor.py")
SUPERVISED = sys.platform.startswith("linux") and bool(sys.executable) and SUPERVISOR.is_file()
"""Whether commands run under workers.command_supervisor (Linux)."""
KILL_NOW = signal.SIGUSR1
"""What the supervisor takes as "kill everything now" (SIGTERM: gracefully)."""

_live: dict[int, "_Running"] = {}
"""The commands running in this process, by the pid the worker started
(the supervisor's, else the command's): stopped when the worker stops or
exits, so none is left behind."""
_live_lock = threading.RLock()  # re-entered by a signal handler in the main thread
_live_changed = threading.Condition(_live_lock)


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


def stop_commands(why: str, graceful: bool = False, task_id: str | None = None) -> int:
    """Stop the commands running in this process (only ``task_id``'s when
    given): ``graceful`` sends SIGTERM, then SIGKILL STOP_GRACE_SECONDS
    later; else SIGKILL at once. ``why`` ('stopped', 'cancelled', 'lost')
    decides how the task ends. Safe from a signal handler. Returns how many."""
    with _live_lock:
        runs = [r for r in _live.values() if task_id is None or r.task_id == task_id]
        for run in runs:
            run.stop(why, graceful)
    return len(runs)


def wait_commands_gone(seconds: float) -> bool:
    """Wait until no command runs in this process (False when some still do)."""
    with _live_changed:
        return _live_changed.wait_for(lambda: not _live, seconds)


def is_supervisor(cmdline: list[str]) -> bool:
    """Whether a process's command line is a command supervisor's."""
    return str(SUPERVISOR) in cmdline[:4]


class _Running:
    """A command in flight: how to stop it, why it was stopped, and when a
    graceful stop turns into a kill. Changed under _live_lock only, so the
    process is never reaped (its pid reused) while it is being signalled."""

    def __init__(self, task_id: str, proc: subprocess.Popen, supervised: bool):
        self.task_id = task_id
        self.proc = proc
        self.supervised = supervised
        self.why: str | None = None
        self.kill_at: float | None = None
        self.killed = False

    def stop(self, why: str, graceful: bool) -> None:
        self.why = self.why or why
        if self.killed or (graceful and self.kill_at is not None):
            return
        if graceful:
            self.kill_at = time.monotonic() + STOP_GRACE_SECONDS
        else:
            self.killed, self.kill_at = True, time.monotonic()
        pid = self.proc.pid
        try:
            if self.supervised:
                os.kill(pid, signal.SIGTERM if graceful else KILL_NOW)
            else:
                os.killpg(pid, signal.SIGTERM if graceful else signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _start(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, int | None]:
    """Start the command (under a supervisor where there is one), in a
    session of its own; returns the process and the supervisor's status fd."""
    popen = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                 text=True, errors="replace", start_new_session=True, env=env)
    if not SUPERVISED:
        try:
            return subprocess.Popen(argv, **popen), None
        except OSError as exc:
            raise CommandFailed(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc
    status_r, status_w = os.pipe()
    try:
        lc_ctype = "LC_CTYPE" + (f"={env['LC_CTYPE']}" if "LC_CTYPE" in env else "")
        launcher = [sys.executable, "-I", "-S", str(SUPERVISOR), str(status_w),
                    repr(STOP_GRACE_SECONDS), str(os.getpid()), lc_ctype, "--"]
        proc = subprocess.Popen(launcher + argv, pass_fds=(status_w,), **popen)
    except OSError as exc:
        os.close(status_r)
        raise CommandFailed(f"cannot start the command supervisor: {exc.strerror or exc}") \
            from exc
    finally:
        os.close(status_w)
    return proc, status_r


def run_command(lease: Lease, command: str | list[str], timeout: float) -> dict[str, Any]:
    """Run a command as an argument list (never through a shell) until its
    own process exits, its timeout, a stop or a cancel; no process of it
    outlives the call. Returns ``{"exit_code": 0, "output": <stdout tail>}``
    or raises (CommandFailed, TaskTimeout, CommandStopped, CommandCancelled)."""
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise NothingToRun("empty command")
    proc, status_fd = _start(argv, command_env(lease))
    run = _Running(lease.id, proc, status_fd is not None)
    with _live_lock:
        _live[proc.pid] = run
    out = _Output(lease)
    readers = [threading.Thread(target=_pump, args=(stream, level, out.lines), daemon=True)
               for stream, level in ((proc.stdout, "info"), (proc.stderr, "error"))]
    for t in readers:
        t.start()
    deadline = time.monotonic() + timeout
    report = None
    try:
        _watch(run, out, deadline)
    finally:
        _end(run)
        rc = _reap(proc)
        if status_fd is not None:
            report = _read_report(status_fd)
            _log_leftovers(out, report)
        drain_until = time.monotonic() + DRAIN_SECONDS
        for t in readers:
            t.join(max(0.0, drain_until - time.monotonic()))
        out.take_all()
        out.flush(quiet=True)
    return _outcome(run, argv, timeout, rc, report, out)


def _watch(run: _Running, out: "_Output", deadline: float) -> None:
    """Pass on the command's output until the process the worker started
    exits; stop it at the deadline; turn a graceful stop into a kill when
    its grace is over."""
    proc = run.proc
    while not _exited(proc):
        now = time.monotonic()
        if now >= deadline and run.why is None:
            with _live_lock:
                run.stop("timeout", graceful=False)
        if run.kill_at is not None:
            if now >= run.kill_at and not run.killed:
                with _live_lock:
                    run.stop(run.why or "stopped", graceful=False)
            if run.killed and now >= run.kill_at + REAP_SECONDS + 1.0:
                return  # it would not die: _end kills its group and gives up
        wait = LOG_FLUSH_SECONDS if run.why else max(0.001, min(LOG_FLUSH_SECONDS, deadline - now))
        if out.open_streams:
            out.take(wait)
        else:
            _wait_exited(proc, wait)
        out.flush_if_due()


def _end(run: _Running) -> None:
    """After the watch (or an exception in it): make sure nothing of the
    command runs, before its process is reaped. A supervisor is asked to
    kill what is left and given the time to; then its group is killed (all
    there is without a supervisor)."""
    proc = run.proc
    with _live_lock:
        if run.supervised and not _exited(proc):
            run.stop(run.why or "stopped", graceful=False)
    if run.supervised:
        _wait_exited(proc, REAP_SECONDS + 1.0)
    with _live_lock:
        _kill_group(proc.pid)  # the leader is not reaped yet: its group id is not reused
        _live.pop(proc.pid, None)
        _live_changed.notify_all()


def _outcome(run: _Running, argv: list[str], timeout: float, rc: int | None,
             report: list[str] | None, out: "_Output") -> dict[str, Any]:
    if run.why == "timeout":
        raise TaskTimeout(f"command timed out after {timeout:g} s")
    if run.why == "stopped":
        raise CommandStopped("the worker stopped while the command ran")
    if run.why == "cancelled":
        raise CommandCancelled("cancel requested: the command was killed")
    if run.why == "lost":
        raise CommandFailed("the task's lease was lost: the command was killed")
    if run.supervised:
        if not report:
            raise CommandFailed("the command's supervisor ended without a report")
        kind, value = report[0], report[1]
        if kind == "error":
            errno = int(value)
            if errno == 95:
                raise CommandFailed("cannot supervise the command (prctl refused)")
            raise CommandFailed(f"cannot start {argv[0]}: {os.strerror(errno)}")
        if kind not in ("exit", "signal"):  # a signal to the supervisor from elsewhere
            raise CommandFailed(f"the command was {kind} by a signal from outside the worker")
        code = int(value) if kind == "exit" else -int(value)
    elif rc is None:
        raise CommandFailed("the command could not be reaped after it was killed")
    else:
        code = rc
    if code < 0:
        raise CommandFailed(f"command was killed by signal {_signal_name(-code)}")
    if code != 0:
        raise CommandFailed(f"command exited with status {code}")
    return {"exit_code": 0, "output": "\n".join(out.tail)}


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)


def _read_report(fd: int) -> list[str] | None:
    """The supervisor's last line (it has exited, or been killed)."""
    try:
        os.set_blocking(fd, False)
        data = b""
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    except (BlockingIOError, OSError):
        pass
    finally:
        os.close(fd)
    lines = data.decode("ascii", "replace").split()
    return lines[-4:] if len(lines) >= 4 else None


def _log_leftovers(out: "_Output", report: list[str] | None) -> None:
    if not report or report[0] not in ("exit", "signal"):
        return
    left, stuck = int(report[2]), int(report[3])
    if left:
        out.pending.append(("warn", f"taskq: killed {left} process(es) the command left "
                                    f"running when it exited"))
    if stuck:
        out.pending.append(("error", f"taskq: {stuck} process(es) of the command did not die "
                                     f"within {REAP_SECONDS:g} s of SIGKILL"))


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
    """Whether the process has exited, without reaping it."""
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
def _stop_at_exit() -> None:
    """A worker that exits takes its commands down (their supervisors also
    see the worker's threads end)."""
    stop_commands("stopped")
