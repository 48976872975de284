"""Process plumbing the taskq RQ worker classes share: the taskq Redis
client beside RQ's connection, the lease setting, and signal handling for
a worker, its helper threads and its horses."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

import redis

from taskq.lease import DEFAULT_LEASE


def env_lease() -> float:
    return float(os.environ.get("TASKQ_LEASE") or DEFAULT_LEASE)


def taskq_client(connection: redis.Redis) -> redis.Redis:
    """A client to the same server as RQ's connection, decoding replies to
    str (the engine compares script replies with str); its own pool, so a
    forked horse reconnects on first use."""
    pool = connection.connection_pool
    kwargs = dict(pool.connection_kwargs, decode_responses=True)
    return redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=pool.connection_class, **kwargs))


def ignore_signal(signum, frame) -> None:
    """A handler that does nothing (unlike SIG_IGN, it does not survive exec)."""


_MAIN_THREAD_SIGNALS = {signal.SIGALRM, signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def signals_to_main_thread():
    """Start helper threads inside this block: they inherit a mask that
    blocks the signals RQ handles, so the kernel delivers those to the main
    thread, whose blocking call (the parent's wait for its horse) they must
    interrupt. A SIGALRM taken by RQ's pub/sub thread instead (as after a
    SIGSTOP/SIGCONT) would leave the parent in wait4 until the horse exits,
    its lease unrenewed."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _MAIN_THREAD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this horse when its parent dies: a horse
    orphaned by a SIGKILLed worker would run on unleased while its task runs
    again elsewhere."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
