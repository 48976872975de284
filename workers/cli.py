"""The worker layer's commands of ``taskq`` (declared as ``taskq.commands``
entry points in pyproject.toml): ``taskq worker`` and ``taskq scheduler``.

Both are long-running: a setting they cannot work with (a queue name
``Queue()`` would refuse, a REDIS_URL that is not one) ends them at start
with one line and status 2, data in another key schema with one line and
status 1 (taskq.startup); an unreachable Redis does not (they wait for it,
see workers.outage), nor does one loading its data set (taskq.startup)."""

from __future__ import annotations

import logging
import os
import signal
import sys

import click

from taskq.errors import TaskqValueError

from taskq.cli import DEFAULT_URL, log_to_stderr, redis_client, stop_flag_on_signals, url_option
from taskq.lease import WORKER_LEASE
from taskq.schema import SchemaError

from .outage import WrongRedis


def _setting_error(text: str) -> None:
    """One line on stderr and exit status 2 (click's usage-error status)."""
    click.echo(f"taskq: {text}", err=True)
    raise SystemExit(2)


def checked_url(url: str | None) -> str | None:
    """``url`` as given, refused when it is not a Redis URL; the worker
    layer's other settings (workers.settings) and the Redis TLS settings
    (taskq.tls) are checked here too."""
    from taskq.tls import TlsSettingError, tls_kwargs

    from .outage import masked, url_problem
    from .settings import SettingError, check

    try:
        check()
    except SettingError as exc:
        _setting_error(str(exc))

    problem = url_problem(url) if url is not None else None
    if problem:
        _setting_error(f"REDIS_URL={masked(url)!r} is not a Redis URL: {problem}")
    try:
        tls_kwargs(url or DEFAULT_URL)
    except TlsSettingError as exc:
        _setting_error(str(exc))
    return url


def _wrong_schema(exc: Exception) -> None:
    """Data in another key schema: one line, exit 1 (``taskq migrate``, or
    another release, fixes it; a supervisor may start the process again)."""
    click.echo(f"taskq: {exc}", err=True)
    raise SystemExit(1)


def _wrong_redis(url: str | None, exc: Exception) -> None:
    from .outage import masked

    _setting_error(f"REDIS_URL={masked(url or DEFAULT_URL)!r}: not a Redis this process can "
                   f"use ({exc})")


def client_for(url: str | None):
    """The Redis client of a long-running process: connecting gives up after
    CONNECT_TIMEOUT (an unreachable host must not hang it), then it retries."""
    from redis.exceptions import RedisClusterException

    from taskq.connection import client_from_url, cluster_node_url
    from taskq.tls import certificate_problem

    if url is not None and cluster_node_url(url) is not None:
        try:  # a cluster client reads the slot map as it is made
            return client_from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)
        except RedisClusterException as exc:
            refused = certificate_problem(exc)
            if refused:
                _wrong_redis(url, refused)
            raise
    client = redis_client(url)
    client.connection_pool.connection_kwargs.setdefault("socket_connect_timeout", CONNECT_TIMEOUT)
    return client


CONNECT_TIMEOUT = 5.0


def queue_names(given: tuple[str, ...]) -> list[str]:
    """The queues named on the command line, in order: each argument may be a
    comma-separated list (``default,emails``); invalid names are refused."""
    from taskq.errors import TaskqValueError
    from taskq.options import check_queue_name

    names: list[str] = []
    for arg in given:
        parts = arg.split(",") if "," in arg else [arg]
        for name in parts:
            try:
                check_queue_name(name)
            except TaskqValueError as exc:
                _setting_error(f"invalid queue {arg!r}: {exc}")
            if name not in names:
                names.append(name)
    return names or ["default"]


def add_import_paths(paths: tuple[str, ...]) -> None:
    """Make the user's modules importable (``myapp.tasks:add``), as ``rq
    worker --path`` does: each path, the working directory by default, goes
    on ``sys.path`` as an absolute path (after the installed packages)."""
    for path in paths:
        path = os.path.abspath(path)
        if path not in sys.path:
            sys.path.append(path)


def verbosity(func):
    """``--verbose`` / ``--quiet``, as ``rq worker`` has them."""
    func = click.option("--quiet", "-q", is_flag=True,
                        help="Log only warnings and errors (failures, Redis outages).")(func)
    return click.option("--verbose", "-v", is_flag=True,
                        help="Log every task, not only failures and summaries.")(func)


def _logging(verbose: bool, quiet: bool) -> None:
    if verbose and quiet:
        _setting_error("--verbose and --quiet cannot be used together")
    log_to_stderr()
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.getLogger().setLevel(level)
    if verbose:  # our own detail, not every library's
        for noisy in ("urllib3", "asyncio"):
            logging.getLogger(noisy).setLevel(logging.INFO)


@click.command()
@click.option("--interval", default=1.0, show_default=True, type=float,
              help="Seconds between upkeep passes.")
@click.option("--rq-scheduler", is_flag=True, envvar="TASKQ_RQ_SCHEDULER",
              help="Also move rq-scheduler's due jobs into taskq queues (as "
                   "`rqscheduler --queue-class taskq.rq.Queue` does).")
@verbosity
@url_option
def scheduler(interval: float, rq_scheduler: bool, verbose: bool, quiet: bool,
              url: str | None) -> None:
    """Run the scheduler: reap expired leases, promote due tasks, deliver
    dependency outcomes and more, every second. Several may run; a lock in
    Redis elects the one that acts, and a standby takes over on its death."""
    from .upkeep import Upkeep

    url = checked_url(url)
    _logging(verbose, quiet)
    stop = stop_flag_on_signals(graceful=True)
    try:
        upkeep = Upkeep(client_for(url), interval=interval, url=url or DEFAULT_URL,
                        rq_scheduler=rq_scheduler)
        upkeep.run(should_stop=stop.is_set)
    except KeyboardInterrupt:
        pass
    except TaskqValueError as exc:  # --rq-scheduler on a Redis Cluster
        _setting_error(str(exc))
    except WrongRedis as exc:
        _wrong_redis(url, exc)
    except SchemaError as exc:
        _wrong_schema(exc)


@click.command()
@click.argument("queues", nargs=-1)
@click.option("--concurrency", "-c", default=8, show_default=True, type=click.IntRange(min=1),
              help="Threads running tasks.")
@click.option("--lease", default=WORKER_LEASE, show_default=True, type=float,
              help="Seconds each claim holds a task, running or prefetched (all renewed "
                   "in one call per queue every third of it): how soon a killed "
                   "worker's tasks run elsewhere.")
@click.option("--prefetch", default=None, type=click.IntRange(min=1),
              help="Tasks held at once, running or waiting for a thread "
                   "[default: 4 per thread, at least 16].")
@click.option("--async-concurrency", default=100, show_default=True,
              type=click.IntRange(min=1),
              help="async def tasks run at once on the worker's event loop, beside "
                   "the threads (the worker claims room for them once it meets one).")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option("--path", "-P", "paths", default=["."], multiple=True, show_default=True,
              help="Where task modules are imported from (repeatable; as rq worker --path).")
@verbosity
@url_option
def worker(queues: tuple[str, ...], concurrency: int, lease: float, prefetch: int | None,
           async_concurrency: int, burst: bool, paths: tuple[str, ...], verbose: bool, quiet: bool,
           url: str | None) -> None:
    """Run the fast pool worker on QUEUES (default: default), in that order;
    a,b names two queues. Serving the workflows queue, it first loads the
    workflow handlers (TASKQ_HANDLERS_PATH, TASKQ_EXAMPLES=1), refuses to
    start when a step's code does not import, and publishes them.

    Plain functions run on the threads, async def ones on an event loop
    of the worker's own (--async-concurrency at once).

    SIGTERM or Ctrl-C: finish the tasks in hand (coroutines included), then
    exit. A second one: cancel them, give their leases back and exit."""
    from .handlers import handlers_to_publish
    from .pool import PoolWorker

    names = queue_names(queues)
    url = checked_url(url)
    add_import_paths(paths)
    handlers = handlers_to_publish(names)
    _logging(verbose, quiet)
    pool = PoolWorker(client_for(url), names, concurrency=concurrency, lease=lease,
                      capacity=prefetch, url=url or DEFAULT_URL, handlers=handlers,
                      async_concurrency=async_concurrency)

    def handler(_signum, _frame):
        pool.request_stop(cold=pool._stop.is_set())

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    try:
        pool.run(burst=burst)
    except WrongRedis as exc:
        _wrong_redis(url, exc)
    except SchemaError as exc:
        _wrong_schema(exc)
