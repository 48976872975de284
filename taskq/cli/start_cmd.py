"""``taskq start``: the one-command start. It finds or starts a Redis, then
runs the Procfile's processes together with honcho and ``REDIS_URL`` set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import click

from .base import url_option


def _port(ctx, param, value) -> int:
    """--port / PORT: one line naming the setting unless it is a TCP port."""
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        raise click.BadParameter(f"PORT={value!r}: expected a TCP port, 1..65535")
    return port


@click.command()
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
    from taskq.local import start as local_start
    from taskq.local.embedded import child_preexec, display_url, ensure_redis
    from taskq.local.state_files import (JWT_SECRET_ENV, ensure_jwt_secret_file, remove_url_file,
                                         state_dir, write_url_file)

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
