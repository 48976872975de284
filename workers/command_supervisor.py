"""The process between a worker and a shell command (Linux only).

A command may fork, double-fork, ``setsid`` or ``setpgid``: its process
group is no fence. This small process holds the whole subtree instead:

- it is a *child subreaper* (``PR_SET_CHILD_SUBREAPER``), so every process
  the command starts stays its descendant, whatever it does with sessions
  and groups: an orphan is re-parented to it, not to PID 1;
- when the command's own process exits, everything it left running is
  killed (SIGKILL) and reaped before this process reports and exits: a
  task is over only when no process of it is left;
- SIGTERM (the worker stopping): every process of the command gets
  SIGTERM, and what is left after GRACE seconds gets SIGKILL;
- SIGUSR1 (a timeout, a cancel, a cold stop), or the death of the worker
  thread that started it (``PR_SET_PDEATHSIG``, so a SIGKILLed worker too):
  every process of the command gets SIGKILL at once.

It is started as ``python -I -S command_supervisor.py STATUS_FD GRACE
PARENT_PID LC_CTYPE[=VALUE] -- ARGV...`` in a session of its own, with the
command's environment, and imports nothing but the standard library. The
command gets that environment exactly: Python sets LC_CTYPE at start in a C
locale (PEP 538), so the argument says what LC_CTYPE was (absent without
``=``). The command runs
in its group (not as a group leader, so ``setsid prog`` runs ``prog`` itself
instead of forking it away), with the default signal dispositions. Its
stdout and stderr are this process's, which never writes to them. On
STATUS_FD it writes one line as it exits: ``exit CODE LEFT STUCK``,
``signal NUM LEFT STUCK``, ``stopped - LEFT STUCK``, ``killed - LEFT
STUCK`` or ``error ERRNO - -``, where LEFT counts the processes killed
after the command's own process exited and STUCK those that would not die
within REAP_SECONDS (a process blocked in the kernel).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
KILL_NOW = signal.SIGUSR1
"""Kill every process of the command at once (also the parent-death signal)."""
STOP = signal.SIGTERM
"""Pass SIGTERM to every process of the command; SIGKILL after the grace."""
WATCHED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, KILL_NOW}
REAP_SECONDS = 5.0
"""How long a kill waits for the command's processes to die."""
DEFAULTED = {signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
             signal.SIGUSR1, signal.SIGCHLD}
"""Dispositions the command gets back (Python ignores SIGPIPE and SIGXFSZ,
and an ignored signal would stay ignored through exec)."""


def _prctl(option: int, value: int) -> bool:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def descendants(root: int) -> list[int]:
    """Every live (not zombie) process below ``root``, read from /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), ()):
            found.append(pid)
            todo.append(pid)
    return found


class Supervisor:
    def __init__(self, argv: list[str]):
        self.argv = argv
        self.me = os.getpid()
        self.main: int | None = None
        self.outcome: tuple[str, str] | None = None  # ("exit", code) | ("signal", num)

    def reap(self) -> bool:
        """Reap every child that has ended; False when none is left."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True
            if pid == self.main:
                if os.WIFSIGNALED(status):
                    self.outcome = ("signal", str(os.WTERMSIG(status)))
                else:
                    self.outcome = ("exit", str(os.waitstatus_to_exitcode(status)))

    def signal_all(self, signum: int) -> set[int]:
        sent = set()
        for pid in descendants(self.me):
            try:
                os.kill(pid, signum)
                sent.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
        return sent

    def kill_all(self) -> tuple[int, int]:
        """SIGKILL every process of the command, again as new ones appear,
        until none is left (or REAP_SECONDS pass); (killed, stuck)."""
        killed: set[int] = set()
        until = time.monotonic() + REAP_SECONDS
        while True:
            killed |= self.signal_all(signal.SIGKILL)
            if not self.reap():
                return len(killed), 0
            if time.monotonic() > until:
                return len(killed), len(descendants(self.me))
            signal.sigtimedwait({signal.SIGCHLD}, 0.01)

    def wait(self, seconds: float | None) -> int | None:
        """The next watched signal (reaping on SIGCHLD); None at the deadline."""
        if seconds is None:
            info = signal.sigwaitinfo(WATCHED)
        else:
            info = signal.sigtimedwait(WATCHED, max(0.0, seconds))
            if info is None:
                return None
        if info.si_signo == signal.SIGCHLD:
            self.reap()
        return info.si_signo

    def run(self, grace: float) -> str:
        request = None
        while self.outcome is None and request is None:
            signo = self.wait(None)
            if signo == KILL_NOW:
                request = "killed"
            elif signo != signal.SIGCHLD:
                request = "stopped"
        if request == "stopped":
            self.signal_all(signal.SIGTERM)
            until = time.monotonic() + grace
            while self.reap() and time.monotonic() < until:
                if self.wait(until - time.monotonic()) == KILL_NOW:
                    break
        left, stuck = self.kill_all()
        if request is not None:
            return f"{request} - {left} {stuck}"
        kind, value = self.outcome
        return f"{kind} {value} {left} {stuck}"


def main(args: list[str]) -> int:
    status_fd, grace, parent = int(args[0]), float(args[1]), int(args[2])
    _, given, lc_ctype = args[3].partition("=")
    argv = args[5:]
    env = dict(os.environ)
    if given:
        env["LC_CTYPE"] = lc_ctype
    else:
        env.pop("LC_CTYPE", None)
    os.set_inheritable(status_fd, False)
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    if not (_prctl(PR_SET_CHILD_SUBREAPER, 1) and _prctl(PR_SET_PDEATHSIG, KILL_NOW)):
        os.write(status_fd, b"error 95 - -\n")  # EOPNOTSUPP: the worker runs it unsupervised
        return 1
    if os.getppid() != parent:  # the worker died before the parent-death signal was set
        os.write(status_fd, b"killed - 0 0\n")
        return 0
    sup = Supervisor(argv)
    try:
        sup.main = os.posix_spawnp(argv[0], argv, env, setsigmask=(),
                                   setsigdef=DEFAULTED)
    except OSError as exc:
        os.write(status_fd, f"error {exc.errno or 0} - -\n".encode())
        return 0
    line = sup.run(grace)
    os.write(status_fd, (line + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
