"""The ``taskq`` group and what its commands share: ``--url`` (with the
``REDIS_URL`` variable and the URL a running ``taskq start`` wrote), a
Redis client that is ready (loaded, on the expected key schema), one line
for a Redis that cannot be reached, and the layers' commands found through
the ``taskq.commands`` entry points, each imported only when asked for."""

from __future__ import annotations

import logging
import signal
import threading

import click

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def url_option(func):
    """Add ``--url`` (env ``REDIS_URL``); the command receives ``url`` or None."""
    return click.option(
        "--url", envvar="REDIS_URL", default=None, metavar="URL",
        help=f"Redis URL [env: REDIS_URL; default: the one in .taskq/redis.url "
             f"while taskq start runs, else {DEFAULT_URL}].",
    )(func)


def redis_client(url: str | None):
    """A redis-py client for ``url``, else the Redis of a running ``taskq
    start`` (.taskq/redis.url), else the default local Redis (said on stderr)."""
    from taskq.connection import client_from_url
    from taskq.local.embedded import resolve_url

    url, note = resolve_url(url, DEFAULT_URL)
    if note:
        click.echo(note, err=True)
    return client_from_url(url)


def unreachable_redis_line(exc: BaseException) -> str | None:
    """``cannot reach Redis: <why>`` for a connection failure (a refused TLS
    certificate with what to set, taskq.tls), else None."""
    import redis
    from redis.exceptions import RedisClusterException

    from taskq.tls import certificate_problem

    if isinstance(exc, click.ClickException):  # said already, in the command's own words
        return None
    refused = certificate_problem(exc)
    if not refused and not isinstance(exc, (redis.ConnectionError, redis.TimeoutError)) and not (
            isinstance(exc, RedisClusterException) and "cannot be connected" in str(exc)):
        return None
    text = str(exc).strip()
    return f"cannot reach Redis: {refused or (text.splitlines()[0] if text else type(exc).__name__)}"


def ready_client(url: str | None, prefix: str | None = None, check_schema: bool = True):
    """``(url, client)`` for a command, as :func:`redis_client` finds them,
    once Redis has loaded its data set (one line while it waits) and, with
    ``check_schema``, the data is in this release's key schema
    (taskq.startup). Otherwise one line on stderr and exit 1."""
    import redis
    from redis.exceptions import RedisClusterException

    from taskq.connection import client_from_url
    from taskq.local.embedded import display_url, resolve_url
    from taskq.schema import SchemaError
    from taskq.startup import ready
    from taskq.tls import certificate_problem

    url, note = resolve_url(url, DEFAULT_URL)
    if note:
        click.echo(note, err=True)
    try:
        client = client_from_url(url)
        ready(client, prefix, say=lambda line: click.echo(f"taskq: {line}", err=True),
              check_schema=check_schema)
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    except (redis.RedisError, RedisClusterException, ValueError, OSError) as exc:
        reason = certificate_problem(exc) or (str(exc).splitlines()[0] if str(exc)
                                              else type(exc).__name__)
        raise click.ClickException(f"cannot reach Redis at {display_url(url)}: {reason}") from None
    return url, client


ENTRY_POINTS = "taskq.commands"
"""The entry-point group through which workers/ and api/ add commands."""


class LayeredGroup(click.Group):
    """The engine's commands plus those the layers declare as entry points,
    each imported only when asked for."""

    def _entry_points(self) -> dict:
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group=ENTRY_POINTS)}

    def list_commands(self, ctx) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._entry_points()))

    def format_commands(self, ctx, formatter) -> None:
        """Each command with its whole first sentence (click cuts it at the
        terminal's width; the formatter wraps it instead)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=300)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx):
        """A command that could not reach Redis ends with one line (exit 1),
        whatever the layer: tracebacks stay for every other error."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            line = unreachable_redis_line(exc)
            if line is None:
                raise
            raise click.ClickException(line) from None

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is None:
            ep = self._entry_points().get(name)
            if ep is not None:
                command = ep.load()
        return command


@click.group(cls=LayeredGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="taskq", prog_name="taskq")
def main() -> None:
    """taskq: a Redis-native task queue."""


def log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def stop_flag_on_signals(graceful: bool) -> threading.Event:
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
