"""The ``taskq`` command line: one click group that later commands join.

``taskq start`` is the one-command start: it finds or starts a Redis, then
runs the Procfile's processes together (honcho) with ``REDIS_URL`` set.
Each other process (``taskq scheduler``, later workers) reads ``REDIS_URL``
through the shared ``--url`` option.

To add a command: decorate a function with ``@main.command()`` and, if it
talks to Redis, ``@url_option``; import heavy modules inside the function so
``taskq --help`` stays fast and works while parts are still being written.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading

import click

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def url_option(func):
    """Add ``--url`` (env ``REDIS_URL``); the command receives ``url`` or None."""
    return click.option(
        "--url", envvar="REDIS_URL", default=None, metavar="URL",
        help=f"Redis URL [env: REDIS_URL; default: {DEFAULT_URL}].",
    )(func)


def redis_client(url: str | None):
    """A redis-py client for ``url`` (or the default local Redis)."""
    import redis

    return redis.Redis.from_url(url or DEFAULT_URL, decode_responses=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="taskq", prog_name="taskq")
def main() -> None:
    """taskq: a Redis-native task queue."""


@main.command()
@click.option("--procfile", "-f", default="Procfile", show_default=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Processes to run together.")
@click.option("--data-dir", default=".taskq/redis", show_default=True,
              help="Data and AOF of the embedded Redis, when one is needed.")
@url_option
def start(procfile: str, data_dir: str, url: str | None) -> None:
    """Run the Procfile's processes, with a Redis (embedded if none answers).

    Uses REDIS_URL when it answers; otherwise starts the redis-server shipped
    with taskq (persistent, in --data-dir) and stops it on exit.
    """
    from taskq.embedded import child_preexec, display_url, ensure_redis

    try:
        url, server = ensure_redis(url, data_dir)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    where = f"embedded, pid {server.pid}, data in {data_dir}" if server else "external"
    click.echo(f"taskq: using Redis at {display_url(url)} ({where})")

    env = dict(os.environ, REDIS_URL=url)
    # Procfile lines say `taskq ...`: make this interpreter's scripts win.
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    try:
        # Own session: a terminal's Ctrl-C reaches honcho once, through us.
        child = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", procfile],
            env=env, start_new_session=True, preexec_fn=child_preexec(),
        )
        code = _wait_forwarding_signals(child)
    finally:
        if server is not None:
            click.echo("taskq: stopping the embedded Redis")
            server.stop()
    # A child killed by signal N reports -N; shells say 128 + N.
    click.get_current_context().exit(code if code >= 0 else 128 - code)


def _wait_forwarding_signals(child: subprocess.Popen) -> int:
    """Wait for ``child``, passing it SIGINT/SIGTERM; return its exit code."""
    def forward(signum, _frame):
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@main.command()
@click.option("--interval", default=1.0, show_default=True, type=float,
              help="Seconds between upkeep passes.")
@url_option
def scheduler(interval: float, url: str | None) -> None:
    """Run the scheduler: reap expired leases, promote due tasks, deliver
    dependency outcomes and more, every second. Several may run; a lock in
    Redis elects the one that acts, and a standby takes over on its death."""
    from workers.scheduler import Scheduler

    _log_to_stderr()
    stop = _stop_flag_on_signals(graceful=True)
    try:
        Scheduler(redis_client(url), interval=interval).run(should_stop=stop.is_set)
    except KeyboardInterrupt:
        pass


@main.command()
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
    from workers.pool import PoolWorker

    _log_to_stderr()
    pool = PoolWorker(redis_client(url), list(queues) or ["default"],
                      concurrency=concurrency, lease=lease, capacity=prefetch)

    def handler(_signum, _frame):
        pool.request_stop(cold=pool._stop.is_set())

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    pool.run(burst=burst)


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def _stop_flag_on_signals(graceful: bool) -> threading.Event:
    """An event set by SIGTERM/SIGINT (honcho stops processes with SIGTERM).

    Without ``graceful`` (or on a second signal) the signal interrupts at once.
    """
    stop = threading.Event()

    def handler(_signum, _frame):
        if stop.is_set() or not graceful:
            raise KeyboardInterrupt
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    return stop


@main.command(name="auth", add_help_option=False,
              context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def auth(ctx) -> None:
    """Mint JWTs and manage API keys for the HTTP API (taskq auth --help)."""
    from api.cli import cli  # here, not at import: the engine never imports api/ eagerly

    cli.main(args=ctx.args, prog_name="taskq auth")


if __name__ == "__main__":
    main()
