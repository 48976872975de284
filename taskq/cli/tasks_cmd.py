"""``taskq tasks list|show|retry|cancel|delete``."""

from __future__ import annotations

import json

import click

from taskq.errors import TaskqError, TaskqValueError
from taskq.keys import STATUSES, queue_of

from .common import OpsError, json_option, ops_command, queue_callback
from .output import emit_json, fields, iso, table

JSON_FIELDS = ("args", "kwargs", "meta", "checkpoint", "result")
LIST_COLUMNS = ("id", "status", "func", "priority", "attempts", "created_at", "finished_at")
SHOW_LOG_LINES = 1000
"""Log lines ``tasks show`` prints (the newest ones when a task has more)."""


def task_json(task) -> dict:
    return task.to_dict()


def find(ops, task_id: str):
    """The task, or OpsError "task ... not found" (exit 1)."""
    try:
        queue = queue_of(task_id)
    except ValueError:
        raise OpsError(f"task {task_id} not found") from None
    task = ops.queue(queue).get(task_id)
    if task is None:
        raise OpsError(f"task {task_id} not found")
    return task


@click.group()
def tasks() -> None:
    """List and inspect tasks; retry, cancel or delete them."""


@tasks.command("list")
@click.option("--queue", "-q", default="default", show_default=True, callback=queue_callback)
@click.option("--status", "-s", type=click.Choice(STATUSES), help="Only tasks in this status.")
@click.option("--tag", "-t", help="Only tasks with this tag (not with --status).")
@click.option("--limit", "-n", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@json_option
@ops_command
def list_tasks(ops, queue: str, status: str | None, tag: str | None, limit: int,
               offset: int, as_json: bool) -> None:
    """Tasks of one queue, in their status's order (all: newest first)."""
    if status and tag:
        raise OpsError("filter by --status or by --tag, not both", exit_code=2)
    try:
        found = ops.queue(queue).list(status=status, tag=tag, offset=offset, limit=limit)
    except TaskqValueError as exc:
        raise OpsError(str(exc), exit_code=2) from None
    if as_json:
        emit_json([task_json(t) for t in found])
    else:
        click.echo(table(LIST_COLUMNS, [[getattr(t, c) for c in LIST_COLUMNS] for t in found],
                         empty="(no tasks)"))


@tasks.command()
@click.argument("task_id")
@json_option
@ops_command
def show(ops, task_id: str, as_json: bool) -> None:
    """Every field of a task, its log lines and its result or error."""
    task = find(ops, task_id)
    q = ops.queue(task.queue)
    total = q.log_count(task_id)
    logs = q.logs(task_id, offset=max(0, total - SHOW_LOG_LINES), limit=SHOW_LOG_LINES)
    logs = [dict(line, ts=iso(line["ts"] / 1000)) for line in logs]
    if as_json:
        emit_json({"task": task_json(task), "logs": logs, "log_count": total})
        return
    data = task.to_dict()
    error = data.pop("error")
    for name in JSON_FIELDS:  # shown exactly, not as a table cell
        data[name] = json.dumps(data[name], default=str)
    result = data.pop("result")
    click.echo(fields(data.items()))
    click.echo(f"\nresult: {result}")
    if error:
        click.echo(f"error:\n{error}")
    shown = f" (last {len(logs)} of {total})" if total > len(logs) else ""
    click.echo(f"\nlog{shown}:")
    click.echo(table(["ts", "level", "message"],
                     [[line["ts"], line["level"], line["message"]] for line in logs],
                     empty="(no log lines)", max_width=200))


def _each(ops, task_ids, action) -> None:
    """Run ``action(queue, id)`` on every id; print one line per id. Every
    id is tried; any failure makes the exit code 1."""
    failed = 0
    for task_id in task_ids:
        try:
            task = find(ops, task_id)
            click.echo(f"{task_id}: {action(ops.queue(task.queue), task_id)}")
        except (OpsError, TaskqError) as exc:
            failed += 1
            click.echo(f"Error: {exc.message if isinstance(exc, OpsError) else exc}", err=True)
    if failed:
        raise click.exceptions.Exit(1)


@tasks.command()
@click.argument("task_ids", nargs=-1, required=True, metavar="ID...")
@ops_command
def retry(ops, task_ids) -> None:
    """Run failed or cancelled tasks again."""
    _each(ops, task_ids, lambda q, tid: q.retry(tid))


@tasks.command()
@click.argument("task_ids", nargs=-1, required=True, metavar="ID...")
@click.option("--force", is_flag=True,
              help="End a running task now (its lease is revoked) instead of asking its worker.")
@click.option("--reason", default="", help="Recorded on the task.")
@ops_command
def cancel(ops, task_ids, force: bool, reason: str) -> None:
    """Cancel tasks (a running one: ask its worker to stop, or --force)."""
    mode = "force" if force else "request"
    _each(ops, task_ids, lambda q, tid: q.cancel(tid, reason=reason, mode=mode))


@tasks.command()
@click.argument("task_ids", nargs=-1, required=True, metavar="ID...")
@click.option("--force", is_flag=True, help="Delete a running task too.")
@ops_command
def delete(ops, task_ids, force: bool) -> None:
    """Delete tasks (a running one only with --force)."""
    def run(q, tid):
        q.delete(tid, force=force)
        return "deleted"
    _each(ops, task_ids, run)
