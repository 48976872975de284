"""What every operator command shares: finding Redis, the key prefix,
checking names, and errors that end the command with one line.

Every command reaches Redis through :func:`connect` (taskq.cli.ready_client:
the URL found in one place, a loading Redis waited for, the key schema
checked).
"""

from __future__ import annotations

import functools

import click

from .base import ready_client, url_option


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


def connect(url: str | None, prefix: str | None, check_schema: bool = True) -> Ops:
    """A client to a Redis that answers, has its data set loaded and (with
    ``check_schema``) holds data in this release's key schema under
    ``prefix`` (taskq.cli.ready_client); else one line and exit 1."""
    from taskq.keys import DEFAULT_PREFIX

    prefix = prefix or DEFAULT_PREFIX
    url, client = ready_client(url, prefix, check_schema=check_schema)
    return Ops(url, prefix, client)


prefix_option = click.option("--prefix", envvar="TASKQ_PREFIX", default=None, metavar="PREFIX",
                             help="Key prefix [env: TASKQ_PREFIX; default: taskq].")


def ops_command(func):
    """``--url``, ``--prefix`` and a connected :class:`Ops` as ``ops``."""
    @url_option
    @prefix_option
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
