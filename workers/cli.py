"""The worker layer's commands of ``taskq`` (declared as ``taskq.commands``
entry points in pyproject.toml): ``taskq worker`` and ``taskq scheduler``."""

from __future__ import annotations

import signal

import click

from taskq.cli import log_to_stderr, redis_client, stop_flag_on_signals, url_option


@click.command()
@click.option("--interval", default=1.0, show_default=True, type=float,
              help="Seconds between upkeep passes.")
@url_option
def scheduler(interval: float, url: str | None) -> None:
    """Run the scheduler: reap expired leases, promote due tasks, deliver
    dependency outcomes and more, every second. Several may run; a lock in
    Redis elects the one that acts, and a standby takes over on its death."""
    from .upkeep import Upkeep

    log_to_stderr()
    stop = stop_flag_on_signals(graceful=True)
    try:
        Upkeep(redis_client(url), interval=interval).run(should_stop=stop.is_set)
    except KeyboardInterrupt:
        pass


@click.command()
@click.argument("queues", nargs=-1)
@click.option("--concurrency", "-c", default=8, show_default=True, type=click.IntRange(min=1),
              help="Threads running tasks.")
@click.option("--lease", default=30.0, show_default=True, type=float,
              help="Seconds each claim holds a task (renewed while it runs).")
@click.option("--prefetch", default=None, type=click.IntRange(min=1),
              help="Tasks held at once, running or waiting for a thread "
                   "[default: 4 per thread, at least 16].")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@url_option
def worker(queues: tuple[str, ...], concurrency: int, lease: float, prefetch: int | None,
           burst: bool, url: str | None) -> None:
    """Run the fast pool worker on QUEUES (default: default), in that order.

    SIGTERM or Ctrl-C: finish the tasks in hand, then exit. A second one:
    give their leases back at once and exit."""
    from .pool import PoolWorker

    log_to_stderr()
    pool = PoolWorker(redis_client(url), list(queues) or ["default"],
                      concurrency=concurrency, lease=lease, capacity=prefetch)

    def handler(_signum, _frame):
        pool.request_stop(cold=pool._stop.is_set())

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    pool.run(burst=burst)
