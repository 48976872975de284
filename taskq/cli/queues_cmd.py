"""``taskq queues list|pause|resume|purge|retention``."""

from __future__ import annotations

import dataclasses

import click

from taskq.errors import TaskqValueError
from taskq.keys import STATUSES

from .common import OpsError, json_option, ops_command, queue_callback
from .output import emit_json, table


def queue_rows(ops, names: list[str]) -> list[dict]:
    """Each queue's name, paused flag and counts by status (taskq.monitoring.overview)."""
    from taskq.monitoring.overview import queue_rows as read

    return read(ops.redis, ops.keys, names)


def queue_table(rows: list[dict]) -> str:
    """Counts, plus latency (seconds the oldest runnable task has waited)
    and whether a live worker serves the queue (taskq.monitoring.latency)."""
    return table(["queue", "paused", *STATUSES, "latency", "served"],
                 [[r["name"], r["paused"], *(r["counts"][s] for s in STATUSES),
                   f"{r['latency_seconds']:.1f}s", "yes" if r["served"] else "NO"]
                  for r in rows],
                 empty="(no queues)")


@click.group()
def queues() -> None:
    """List queues; pause, resume or purge one; show or set its retention."""


@queues.command("list")
@json_option
@ops_command
def list_queues(ops, as_json: bool) -> None:
    """Every known queue with its counts by status."""
    rows = queue_rows(ops, ops.queue_names())
    if as_json:
        emit_json(rows)
    else:
        click.echo(queue_table(rows))


@queues.command()
@click.argument("queue", callback=queue_callback)
@ops_command
def pause(ops, queue: str) -> None:
    """Stop workers claiming from QUEUE (running tasks go on)."""
    ops.queue(queue).pause()
    click.echo(f"queue {queue} paused")


@queues.command()
@click.argument("queue", callback=queue_callback)
@ops_command
def resume(ops, queue: str) -> None:
    """Let workers claim from QUEUE again."""
    ops.queue(queue).resume()
    click.echo(f"queue {queue} resumed")


@queues.command()
@click.argument("queue", callback=queue_callback)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@ops_command
def purge(ops, queue: str, yes: bool) -> None:
    """Delete every key of QUEUE: its tasks in every status, logs, stats."""
    if not yes:
        click.confirm(f"Delete every task and key of queue {queue!r}?", abort=True)
    n = ops.queue(queue).purge()
    click.echo(f"queue {queue} purged: {n} keys deleted")


@queues.command()
@click.argument("queue", callback=queue_callback)
@click.option("--completed", type=float, help="Seconds a completed task is kept (0: removed at once).")
@click.option("--failed", type=float, help="Seconds a failed or cancelled task is kept.")
@click.option("--completed-count", type=int, help="Completed tasks kept, at most.")
@click.option("--failed-count", type=int, help="Failed (and, apart, cancelled) tasks kept, at most.")
@click.option("--clear", "clear", multiple=True,
              type=click.Choice(["completed", "failed", "completed-count", "failed-count"]),
              help="Back to the default for this setting (repeatable).")
@json_option
@ops_command
def retention(ops, queue: str, completed, failed, completed_count, failed_count, clear,
              as_json: bool) -> None:
    """Show QUEUE's retention settings, or set or clear them (see the
    README's Retention: unset ones follow the scheduler's TASKQ_KEEP_*)."""
    changes = {k: v for k, v in (("completed", completed), ("failed", failed),
                                 ("completed_count", completed_count),
                                 ("failed_count", failed_count)) if v is not None}
    changes.update({name.replace("-", "_"): None for name in clear})
    q = ops.queue(queue)
    if changes:
        try:
            q.set_retention(**changes)
        except TaskqValueError as exc:
            raise OpsError(str(exc), exit_code=2) from None
    settings = dataclasses.asdict(q.retention_settings())
    if as_json:
        emit_json({"queue": queue, **settings})
    else:
        click.echo(table(["queue", *settings], [[queue, *("default" if v is None else v
                                                         for v in settings.values())]]))


@queues.command("rate-limit")
@click.argument("queue", callback=queue_callback)
@click.argument("limit", required=False)
@click.option("--key", help="The rate key whose limit this is (tasks enqueued with rate_key=KEY); "
                            "without it, the queue's own limit.")
@click.option("--clear", is_flag=True, help="Remove the limit.")
@json_option
@ops_command
def rate_limit(ops, queue: str, limit: str | None, key: str | None, clear: bool,
               as_json: bool) -> None:
    """Show QUEUE's rate limits, or set LIMIT (100/s, 10/m, 5/10s, 1000/h)
    on the queue or one of its rate keys (--key), or remove it (--clear).
    A change applies at the next claim (see the README's Rate limits)."""
    if limit is not None and clear:
        raise OpsError("give a LIMIT or --clear, not both", exit_code=2)
    if key is not None and limit is None and not clear:
        raise OpsError("--key needs a LIMIT or --clear", exit_code=2)
    q = ops.queue(queue)
    if limit is not None or clear:
        try:
            q.set_rate_limit(None if clear else limit, key=key)
        except TaskqValueError as exc:
            raise OpsError(str(exc), exit_code=2) from None
    found = q.rate_limits()
    if as_json:
        emit_json({"queue": queue, "limit": found["queue"], "keys": found["keys"]})
        return
    rows = [[queue, "(queue)", found["queue"] or "none"]]
    rows += [[queue, k, v] for k, v in found["keys"].items()]
    click.echo(table(["queue", "key", "limit"], rows))
