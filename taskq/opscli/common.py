"""What every operator command shares: finding Redis, the key prefix,
checking names, and errors that end the command with one line.

All Redis lookup goes through :func:`resolve_url`, so a new source of the
URL (e.g. a file written by ``taskq start``) is added in one place.
"""

from __future__ import annotations

import functools

import click

from taskq.cli import DEFAULT_URL, redis_client, url_option


class OpsError(click.ClickException):
    """One line on stderr (``Error: ...``) and exit code 1, or 2 for a usage error."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class Ops:
    """The command's connection: a checked client and the key prefix."""

    def __init__(self, url: str, prefix: str, client):
        self.url, self.prefix, self.redis = url, prefix, client

    @property
    def keys(self):
        from taskq.keys import Keys

        return Keys(self.prefix)

    def queue(self, name: str):
        from taskq.queue import Queue

        return Queue(check_queue(name), redis=self.redis, prefix=self.prefix)

    def queue_names(self) -> list[str]:
        from taskq.maintenance import queue_names

        return queue_names(self.redis, self.keys)


def resolve_url(url: str | None) -> str:
    """The Redis URL a command uses: ``--url`` / ``REDIS_URL``, else the one
    a running ``taskq start`` wrote (.taskq/redis.url), else the default,
    saying on stderr which it guessed (taskq.embedded.resolve_url)."""
    from taskq.embedded import resolve_url as find

    url, note = find(url, DEFAULT_URL)
    if note:
        click.echo(note, err=True)
    return url


def connect(url: str | None, prefix: str | None) -> Ops:
    """A client that answered PING, or OpsError naming the (masked) URL."""
    import redis
    from redis.exceptions import RedisClusterException

    from taskq.embedded import display_url
    from taskq.keys import DEFAULT_PREFIX
    from taskq.tls import certificate_problem

    url = resolve_url(url)
    try:
        client = redis_client(url)  # a cluster's reads its slot map here
        client.ping()
    except (redis.RedisError, RedisClusterException, ValueError, OSError) as exc:
        reason = certificate_problem(exc) or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise OpsError(f"cannot reach Redis at {display_url(url)}: {reason}") from None
    return Ops(url, prefix or DEFAULT_PREFIX, client)


def ops_command(func):
    """``--url``, ``--prefix`` and a connected :class:`Ops` as ``ops``."""
    @url_option
    @click.option("--prefix", envvar="TASKQ_PREFIX", default=None, metavar="PREFIX",
                  help="Key prefix [env: TASKQ_PREFIX; default: taskq].")
    @functools.wraps(func)
    def wrapper(*args, url=None, prefix=None, **kwargs):
        return func(*args, ops=connect(url, prefix), **kwargs)
    return wrapper


def check_queue(name: str) -> str:
    """A valid queue name, or a usage error (exit 2) in one line."""
    from taskq.keys import valid_queue_name

    if not valid_queue_name(name):
        raise OpsError(f"queue name {name!r} must be 1-128 characters of letters, "
                       "digits, '_', '.', '-'", exit_code=2)
    return name


def queue_callback(_ctx, _param, value):
    """click callback: check one name or a tuple of names."""
    if value is None:
        return value
    if isinstance(value, tuple):
        return tuple(check_queue(v) for v in value)
    return check_queue(value)


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print JSON (stable field names, ISO times) instead of a table.")
