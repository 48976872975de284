"""``taskq handlers``: publish this process's workflow handlers, list what is published."""

from __future__ import annotations

import sys

import click

from ..cli import redis_client, url_option


@click.group("handlers")
def handlers() -> None:
    """Workflow handlers (TASKQ_HANDLERS_PATH, TASKQ_EXAMPLES=1)."""


@handlers.command("publish")
@url_option
def publish_cmd(url: str | None) -> None:
    """Load the handlers the settings name and publish them in Redis, so
    every process (the web one too) lists them. Exit 2 on a bad definition."""
    from . import HandlerDefinitionError, Registry, load_configured, publish

    try:
        reg = load_configured(Registry())
    except HandlerDefinitionError as exc:
        click.echo(f"taskq handlers publish: {exc}", err=True)
        sys.exit(2)
    n = publish(redis_client(url), reg)
    click.echo(f"published {n} handler(s)")


@handlers.command("list")
@url_option
def list_cmd(url: str | None) -> None:
    """The published handlers, one ``namespace.name@version: steps`` a line."""
    from . import published

    for h in published(redis_client(url)).handlers():
        click.echo(f"{h.full_name}: {' -> '.join(h.execution_order)}")
