"""``taskq handlers``: publish this process's workflow handlers, list what is published."""

from __future__ import annotations

import sys

import click

from .base import ready_client, url_option


@click.group("handlers")
def handlers() -> None:
    """Workflow handlers (TASKQ_HANDLERS_PATH, TASKQ_EXAMPLES=1)."""


@handlers.command("publish")
@click.option("--no-import-check", is_flag=True,
              help="Publish without importing each step's handler_class first.")
@url_option
def publish_cmd(no_import_check: bool, url: str | None) -> None:
    """Load the handlers the settings name, check that every step's code
    imports here, and publish them in Redis, so every process (the web one
    too) lists them. Exit 2 on a bad definition or step code that does not import."""
    from taskq.workflows import HandlerDefinitionError, Registry, load_configured, publish
    from taskq.workflows.handlers import check_step_code

    try:
        reg = load_configured(Registry())
        if not no_import_check:
            check_step_code(reg)
    except HandlerDefinitionError as exc:
        click.echo(f"taskq handlers publish: {exc}", err=True)
        sys.exit(2)
    n = publish(ready_client(url)[1], reg)
    click.echo(f"published {n} handler(s)")


@handlers.command("list")
@url_option
def list_cmd(url: str | None) -> None:
    """The published handlers, one a line (namespace.name@version: steps);
    a stored definition that does not load is named on stderr."""
    from taskq.workflows import published

    reg = published(ready_client(url)[1])
    for h in reg.handlers():
        click.echo(f"{h.full_name}: {' -> '.join(h.execution_order)}")
    for name in reg.skipped:
        click.echo(f"taskq handlers list: skipped {name}: does not load (see the log)", err=True)
