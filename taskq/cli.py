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

import inspect
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

    return redis.Redis.from_url(url or DEFAULT_URL)


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
              help="Seconds between maintenance passes.")
@url_option
def scheduler(interval: float, url: str | None) -> None:
    """Run the maintenance loop (reap expired leases, promote due tasks)."""
    try:
        from taskq.maintenance import run_forever
    except ImportError as exc:
        raise click.ClickException(
            f"the scheduler is not available in this build of taskq "
            f"(taskq.maintenance could not be imported: {exc})"
        ) from None
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    kwargs = {"interval": interval}
    graceful = "should_stop" in inspect.signature(run_forever).parameters
    stop = _stop_flag_on_signals(graceful)
    if graceful:
        kwargs["should_stop"] = stop.is_set  # finish the tick, then leave
    try:
        run_forever(redis_client(url), **kwargs)
    except KeyboardInterrupt:
        pass


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


if __name__ == "__main__":
    main()
