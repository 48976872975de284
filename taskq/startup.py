"""What every taskq process does first with its Redis: wait while it loads
its data set, then check the key schema. One function, :func:`ready`,
called by every entry point (``taskq start`` and ``migrate``, the worker,
the scheduler, the web process, the CLI commands, the RQ worker classes).

A restarted Redis answers INFO while it loads its RDB or AOF, and every
other command with a LOADING error (redis-py's BusyLoadingError), for
seconds or minutes. Each process waits it out with one line (with the
progress INFO reports), never a traceback. INFO is what it asks first,
since it answers during loading: a command that fails with LOADING is
retried by redis-py for seconds before the error even reaches us.

Then one GET reads the schema version (taskq.schema): the schema check
costs one round trip per process start, never one per task. A Redis that does
not answer at all is not waited for here: the long-running processes ride
that out with their outage handling (workers.outage) and call this again;
the commands report it in one line.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

import redis

from .cluster import is_cluster
from .connection import as_taskq_client
from .keys import DEFAULT_PREFIX, Keys
from .schema import check

POLL = 0.25
"""Seconds between INFO polls while Redis loads."""
PROGRESS_EVERY = 30.0
"""A long load gets another line this often (a short one gets one line)."""


def _stderr(line: str) -> None:
    print(f"taskq: {line}", file=sys.stderr, flush=True)


def ready(client, prefix: str | None = None, say: Callable[[str], None] = _stderr,
          should_stop: Callable[[], bool] = lambda: False, check_schema: bool = True) -> bool:
    """Return once Redis has its data set loaded and (``check_schema``) the
    data under ``prefix`` is in this release's key schema; False when
    ``should_stop`` came first. Raises taskq.schema.SchemaError (one-line
    message) for data in another schema, and redis errors other than
    loading (an unreachable Redis) for the caller's outage handling."""
    client = as_taskq_client(client)
    if not wait_while_loading(client, say, should_stop):
        return False
    if check_schema:
        prefix = prefix or DEFAULT_PREFIX
        check(client, prefix, client.get(Keys(prefix).schema))
    return True


def ready_when_reachable(client, prefix: str | None = None,
                         say: Callable[[str], None] = _stderr, retry_every: float = 1.0) -> None:
    """:func:`ready`, first waiting for a Redis that does not answer yet
    (one line): for a process with no outage handling of its own that is
    useless without Redis (the web process, before its workers boot). A
    refused password is raised, not waited for."""
    told = False
    while True:
        try:
            ready(client, prefix, say)
            return
        except redis.ConnectionError as exc:
            if isinstance(exc, redis.AuthenticationError):
                raise
            if not told:
                first = (str(exc).strip().splitlines() or ["no detail"])[0]
                say(f"cannot reach Redis at {where(client)} ({type(exc).__name__}: {first}); "
                    f"waiting for it")
                told = True
            time.sleep(retry_every)


def wait_while_loading(client, say: Callable[[str], None] = _stderr,
                       should_stop: Callable[[], bool] = lambda: False) -> bool:
    """Return once no node of ``client`` is loading its data set (False when
    ``should_stop`` came first); one line when it has to wait."""
    started = told = None
    while True:
        loading = loading_progress(client)
        if loading is None:
            return True
        now = time.monotonic()
        if told is None or now - told >= PROGRESS_EVERY:
            if started is None:
                started = now
                say(f"Redis at {where(client)} is loading its data set into memory "
                    f"({loading}); waiting for it")
            else:
                say(f"Redis at {where(client)} is still loading ({loading}, "
                    f"{now - started:.0f} s so far)")
            told = now
        if should_stop():
            return False
        time.sleep(POLL)


def loading_progress(client) -> str | None:
    """None when Redis is not loading, else how far it is (its INFO
    persistence: loading_loaded_perc, loading_eta_seconds); on a cluster,
    the node that is furthest behind."""
    try:
        if is_cluster(client):
            found = client.info("persistence", target_nodes=client.PRIMARIES)
            infos = [v for v in found.values() if isinstance(v, dict)] or [found]
        else:
            infos = [client.info("persistence")]
    except redis.BusyLoadingError:  # INFO answers while loading; a proxy might not
        return "no progress reported"
    except redis.ResponseError:  # INFO not allowed (an ACL, a managed service): PING says
        try:
            client.ping()
        except redis.BusyLoadingError:
            return "no progress reported"
        return None
    behind = [i for i in infos if str(i.get("loading", "0")) == "1"]
    if not behind:
        return None
    info = min(behind, key=lambda i: float(i.get("loading_loaded_perc") or 0))
    perc, eta = info.get("loading_loaded_perc"), info.get("loading_eta_seconds")
    if perc is None:
        return "no progress reported"
    text = f"{float(perc):.0f}% loaded"
    if eta is not None and int(eta) > 0:
        text += f", about {int(eta)} s left"
    return text


def where(client) -> str:
    """host:port (or socket path) of a client, for a log line."""
    if is_cluster(client):
        node = client.get_default_node()
        return f"{node.host}:{node.port} (cluster)"
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    if kwargs.get("path"):
        return str(kwargs["path"])
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


__all__ = ["loading_progress", "ready", "ready_when_reachable", "wait_while_loading", "where"]
