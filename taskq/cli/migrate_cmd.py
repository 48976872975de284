"""``taskq migrate``: bring the data to this release's key schema."""

from __future__ import annotations

import click

from .base import url_option

from .common import OpsError, connect, prefix_option


@click.command()
@url_option
@prefix_option
def migrate(url: str | None, prefix: str | None) -> None:
    """Move data of an older key schema to this release's, then record the
    version; every process refuses older data until this ran.

    Safe to repeat (a second run changes nothing) and to run while workers
    of the previous release finish their tasks: run it before the new
    release's processes start (Procfile line "release: taskq migrate"),
    and again once the previous release's processes have stopped, to carry over
    what they wrote meanwhile. Exit 1 when a key could not be moved, or the
    data was written by a newer taskq.
    """
    from taskq.migrations import migrate as run
    from taskq.schema import SchemaError

    ops = connect(url, prefix, check_schema=False)
    try:
        report = run(ops.redis, ops.prefix)
    except SchemaError as exc:
        raise OpsError(str(exc)) from None
    click.echo(f"taskq migrate: {report.summary(ops.prefix)}")
