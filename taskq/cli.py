"""The ``taskq`` command line: one click group that the layers join.

The engine's own commands are here (``taskq start``, the one-command start:
it finds or starts a Redis, then runs the Procfile's processes together with
honcho and ``REDIS_URL`` set). The upper layers add theirs through the
``taskq.commands`` entry points (pyproject.toml: ``taskq worker`` and
``taskq scheduler`` from workers/cli.py, ``taskq auth`` from api/cli.py), so
this package imports neither workers/ nor api/; a command's module is
imported only when that command (or ``--help``) is asked for.

To add a command to a layer: a click command in that layer's cli module,
``@url_option`` if it talks to Redis, and a line under
``[project.entry-points."taskq.commands"]``.
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
        help=f"Redis URL [env: REDIS_URL; default: the one in .taskq/redis.url "
             f"while taskq start runs, else {DEFAULT_URL}].",
    )(func)


def redis_client(url: str | None):
    """A redis-py client for ``url``, else the Redis of a running ``taskq
    start`` (.taskq/redis.url), else the default local Redis (said on stderr)."""
    from taskq.connection import client_from_url
    from taskq.embedded import resolve_url

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
    from taskq.embedded import display_url, resolve_url
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


def _port(ctx, param, value) -> int:
    """--port / PORT: one line naming the setting unless it is a TCP port."""
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        raise click.BadParameter(f"PORT={value!r}: expected a TCP port, 1..65535")
    return port


@main.command()
@click.option("--procfile", "-f", default="Procfile", show_default=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Processes to run together.")
@click.option("--data-dir", default=None,
              help="Data and AOF of the embedded Redis, when one is needed "
                   "[default: .taskq/redis, or $TASKQ_STATE_DIR/redis].")
@click.option("--port", "-p", envvar="PORT", default="8000", show_default=True, callback=_port,
              help="Port of the web process [env: PORT].")
@click.option("--bind", "-b", envvar="TASKQ_BIND", default="127.0.0.1", show_default=True,
              help="Address the web process listens on; 0.0.0.0 to serve other "
                   "machines [env: TASKQ_BIND].")
@url_option
def start(procfile: str, data_dir: str | None, port: int, bind: str, url: str | None) -> None:
    """Run the Procfile's processes, with a Redis (embedded unless REDIS_URL is set).

    With REDIS_URL set, that Redis must answer (else exit 1). Without it the
    redis-server shipped with taskq starts (persistent, in --data-dir), its
    URL goes to .taskq/redis.url for the other taskq commands, and on a fresh
    store an admin API key is created and printed, once. The web process
    listens on --bind:--port (127.0.0.1:8000 unless told otherwise).

    Unless TASKQ_JWT_SECRET is set, the processes get the secret kept in
    .taskq/jwt.secret (made on the first start, mode 0600), which taskq auth
    token signs with too.

    Before the processes start: a Redis loading its data set is waited for,
    the Procfile's release command (taskq migrate) runs once, as on
    Heroku, and the key schema is checked; the other lines then run together.
    """
    from taskq import local_start
    from taskq.embedded import (JWT_SECRET_ENV, child_preexec, display_url, ensure_jwt_secret_file,
                                ensure_redis, remove_url_file, state_dir, write_url_file)

    data_dir = data_dir or str(state_dir() / "redis")
    try:
        url, server = ensure_redis(url, data_dir)
    except RuntimeError as exc:  # RedisUnreachable included: one line, exit 1
        raise click.ClickException(str(exc)) from None
    where = f"embedded, pid {server.pid}, data in {data_dir}" if server else "external"
    click.echo(f"taskq: using Redis at {display_url(url)} ({where})")

    # honcho hands each process type its own PORT (base + 100 per type), so
    # the web line reads the port from a variable honcho leaves alone.
    env = dict(os.environ, REDIS_URL=url, TASKQ_WEB_PORT=str(port), TASKQ_BIND=bind)
    if not env.get(JWT_SECRET_ENV):  # an explicit one wins; else the kept local one
        try:
            env[JWT_SECRET_ENV] = ensure_jwt_secret_file()
        except OSError as exc:
            click.echo(f"taskq: no local JWT secret ({exc}); JWTs will be refused, API keys "
                       f"work", err=True)
    # Procfile lines say `taskq ...`: make this interpreter's scripts win.
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    try:
        if server is not None:
            write_url_file(url)
        # Before any process starts: Redis has loaded its data, the release
        # command ran, the key schema is this release's (one line if not).
        try:
            names = local_start.prepare(url, env, procfile)
        except local_start.StartError as exc:
            raise click.ClickException(str(exc)) from None
        if server is not None:
            way_in = local_start.first_admin_key(url, env)
        else:
            way_in = local_start.key_command_hint()
        # Own session: a terminal's Ctrl-C reaches honcho once, through us.
        child = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", procfile, *names],
            env=env, start_new_session=True, preexec_fn=child_preexec(),
        )
        announcer = local_start.announce_when_up(child, bind, port, way_in, env)
        code = _wait_forwarding_signals(child)
        announcer.join(timeout=5)  # a key made on this start is printed, whatever happened
    finally:
        if server is not None:
            click.echo("taskq: stopping the embedded Redis")
            server.stop()
            remove_url_file(url)
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


from taskq import opscli  # noqa: E402,F401  (adds info, tasks, queues to main)
from taskq.workflows.cli import handlers as _handlers  # noqa: E402  (taskq handlers)

main.add_command(_handlers)

if __name__ == "__main__":
    # `python -m taskq.cli`: run the group the command modules registered on.
    from taskq.cli import main as registered_main

    registered_main()
