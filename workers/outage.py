"""Riding out a Redis outage in a long-running process (worker, scheduler).

A process that loses Redis says so once, waits with a doubling backoff,
says once that Redis is back, and goes on: never an exit, never a traceback
per retry. Several threads of one process share one :class:`Outage`, so
the pair of lines is written once whichever thread notices first.

Also here: the check of a Redis URL given to such a process (a setting
error is reported once and ends the process with status 2, since retrying
cannot fix it).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from urllib.parse import urlsplit

import redis

from taskq.connection import cluster_node_url
from taskq.local.embedded import display_url
from taskq.errors import is_oom
from taskq.tls import certificate_problem

OUTAGE_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.OutOfMemoryError)
"""What an unreachable, restarting (BusyLoadingError is a ConnectionError),
vanished or full Redis raises (a full one, at maxmemory under noeviction,
refuses writes: taskq.errors.RedisFull is an OutOfMemoryError): worth
waiting for, unlike a script or data error."""
FIRST_DELAY = 0.5


class WrongRedis(Exception):
    """What answers at the URL, before anything ever worked there, is not a
    Redis this process can use (a wrong password, another kind of server):
    waiting will not help, the setting must change."""

MAX_DELAY = 10.0
URL_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")


class Outage:
    """Whether Redis is reachable, as the last operation found it, and how
    long to wait before the next try (FIRST_DELAY doubling to MAX_DELAY)."""

    def __init__(self, log: logging.Logger, what: str, url: str | None = None,
                 first: float = FIRST_DELAY, most: float = MAX_DELAY, reached: bool = False):
        self.log = log
        self.what = what
        self.where = f" at {masked(url)}" if url else ""
        self.first, self.most = first, most
        self._lock = threading.Lock()
        self._since: float | None = None
        self._full = False  # this outage is a full Redis refusing writes, not a lost one
        self._delay = first
        self._reached = reached  # whether Redis ever answered this process
        self.ended = 0  # outages over so far: a caller compares it to redo what a restart loses

    @property
    def down(self) -> bool:
        return self._since is not None

    @property
    def full(self) -> bool:
        """Down because Redis refuses writes (it answers reads): only a
        write that goes through ends it (see :meth:`probe`)."""
        return self._since is not None and self._full

    def probe(self, client, key: str) -> None:
        """Raise unless Redis is usable again: a PING after a lost
        connection; after a full Redis, ``SET key 1 XX``, a write Redis
        refuses while full and that, on a key nobody creates, writes
        nothing when accepted. Notes success (:meth:`ok`)."""
        if self.full:
            client.set(key, "1", xx=True)
        else:
            client.ping()
        self.ok()

    def lost(self, exc: BaseException, advance: bool = True) -> float:
        """Note a failed operation; the seconds to wait before the next try.
        Logs one line when the outage begins. ``advance`` False: a thread
        that does not own the retry noticed it (the backoff stays)."""
        with self._lock:
            if self._since is None:
                self._since = time.monotonic()
                self._delay = self.first
                self._full = is_oom(exc)
                if self._full:
                    self.log.warning("%s: Redis%s is full and refuses writes (%s); nothing is "
                                     "lost, retrying with backoff up to %g s", self.what,
                                     self.where, _first_line(exc), self.most)
                else:
                    self.log.warning("%s: %s Redis%s (%s: %s); retrying with backoff up to %g s",
                                     self.what, "lost" if self._reached else "cannot reach",
                                     self.where, type(exc).__name__, _first_line(exc), self.most)
                return self._delay
            if advance:
                self._delay = min(self._delay * 2, self.most)
            return self._delay

    def ok(self, wrote: bool = True) -> None:
        """Note a successful operation; logs one line when it ends an outage.
        ``wrote`` False: it only read (or renewed, which goes through a full
        Redis): that does not end a full Redis's outage."""
        self._reached = True
        if self._since is None or (self._full and not wrote):
            return
        with self._lock:
            if self._since is None:
                return
            gone = time.monotonic() - self._since
            self._since = None
            self._delay = self.first
            self.ended += 1
            self.log.warning("%s: Redis%s %s after %.1f s", self.what, self.where,
                             "accepts writes again" if self._full else "is back", gone)


    def unusable(self, exc: BaseException) -> WrongRedis | None:
        """The WrongRedis to raise for ``exc`` when it comes before Redis
        ever answered this process and is not an outage (a refused password
        counts, though redis-py files it as a ConnectionError, and so does a
        TLS certificate refused by this process's settings, taskq.tls)."""
        if self._reached or not isinstance(exc, redis.RedisError):
            return None
        refused = certificate_problem(exc)  # waiting will not make it acceptable
        if refused:
            return WrongRedis(refused)
        if isinstance(exc, OUTAGE_ERRORS) and not isinstance(exc, redis.AuthenticationError):
            return None
        return WrongRedis(f"{type(exc).__name__}: {_first_line(exc)}")

    def pause(self, seconds: float, should_stop=lambda: False) -> None:
        """Wait before the next try, ending early on a stop or when another
        thread found Redis back."""
        until = time.monotonic() + seconds
        while self.down and not should_stop():
            left = until - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"


def masked(url: str) -> str:
    """``url`` with its password masked, even when it does not parse
    (display_url needs a valid port)."""
    try:
        return display_url(url)
    except ValueError:
        return re.sub(r"(//[^/:@]*):[^/@]*@", r"\1:***@", url)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a Redis URL (None when it can)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in URL_SCHEMES:
        return ("expected redis://[[user]:password@]host[:port][/db], rediss://..., "
                "redis+cluster://host:port or unix:///path")
    if parts.scheme == "unix" and not parts.path:
        return "expected a socket path, as in unix:///run/redis.sock"
    try:
        redis.Redis.from_url(cluster_node_url(url) or url)  # parses only; connects on first use
    except ValueError as exc:
        return f"{exc}"
    return None


def pubsub_outage_pause(outage: Outage | None, exc: BaseException, otherwise) -> None:
    """For RQ's command-channel thread (its ``_pubsub_exception_handler``):
    a connection error is the worker's outage (its one line, not RQ's line
    every 2 s); the thread waits and tries again. Anything else goes to
    ``otherwise``, RQ's own handler."""
    if outage is None or not isinstance(exc, redis.ConnectionError):
        otherwise()
        return
    outage.lost(exc, advance=False)
    time.sleep(2.0)
