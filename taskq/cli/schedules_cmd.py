"""``taskq schedules list|show|pause|resume|run-now``: the schedule store
(taskq.schedules) for operators, without the HTTP API."""

from __future__ import annotations

import json
import uuid

import click

from taskq.errors import TaskqError

from .common import OpsError, json_option, ops_command
from .output import emit_json, fields, table

STATUSES = ("active", "paused", "canceled", "finished")
KINDS = ("cron", "rrule", "once", "event")
"""taskq.schedules.model.STATUSES and timing.KINDS, spelled out so that every
``taskq`` command does not import croniter and dateutil (a test keeps them equal)."""
LIST_COLUMNS = (("id", "id"), ("title", "title"), ("kind", "schedule_kind"),
                ("expression", "schedule_expr"), ("timezone", "timezone"), ("status", "status"),
                ("next run (UTC)", "next_run_at"), ("last run (UTC)", "last_run_at"), ("runs", "runs_total"))
RUN_COLUMNS = ("run", "fired_at", "outcome", "status", "started_at", "ended_at", "error")
SHOW_FIELDS = ("id", "title", "description", "status", "schedule_kind", "schedule_expr", "event",
               "timezone", "next_run_at", "last_run_at", "runs_total", "priority", "max_retries",
               "backoff_strategy", "queue", "misfire_policy", "dedupe_key", "dedupe_window_seconds",
               "concurrency_key", "created_by", "created_at", "updated_at", "snooze_reason")


def store(ops):
    from taskq.schedules import Schedules

    return Schedules(ops.redis, prefix=ops.prefix)


def schedule_id(value: str) -> str:
    """A schedule id as stored (a UUID), or "not found" without asking Redis."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise OpsError(f"schedule {value!r} not found") from None


def engine_call(fn, *args):
    """The store's answer, or its refusal (not found, canceled, bad value)
    or a lost connection in one line."""
    import redis

    try:
        return fn(*args)
    except TaskqError as exc:
        raise OpsError(str(exc)) from None
    except redis.RedisError as exc:
        raise OpsError(f"Redis: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def when(text: str | None) -> str | None:
    """An ISO time of the store (UTC, with Z) as a table shows times."""
    return f"{text[:10]} {text[11:19]}" if text else text


TIME_FIELDS = ("next_run_at", "last_run_at", "created_at", "updated_at", "fired_at", "started_at",
               "ended_at")


def cells(row: dict, names) -> list:
    return [when(row.get(k)) if k in TIME_FIELDS else row.get(k) for k in names]


@click.group()
def schedules() -> None:
    """List and inspect schedules; pause, resume or run one now."""


@schedules.command("list")
@click.option("--status", "-s", type=click.Choice(STATUSES), help="Only schedules in this status.")
@click.option("--kind", "-k", type=click.Choice(KINDS), help="Only schedules of this kind.")
@click.option("--created-by", default=None, metavar="UUID", help="Only those this agent created.")
@click.option("--limit", "-n", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@json_option
@ops_command
def list_schedules(ops, status, kind, created_by, limit: int, offset: int, as_json: bool) -> None:
    """Schedules, newest first, with their next and last run."""
    if created_by is not None:
        try:
            created_by = str(uuid.UUID(created_by))
        except ValueError:
            raise OpsError(f"--created-by {created_by!r} is not a UUID", exit_code=2) from None
    views, total = engine_call(lambda: store(ops).list(status=status, created_by=created_by,
                                                        schedule_kind=kind, limit=limit, offset=offset))
    if as_json:
        emit_json({"schedules": views, "total": total, "limit": limit, "offset": offset})
        return
    click.echo(table([c for c, _ in LIST_COLUMNS], [cells(v, [k for _, k in LIST_COLUMNS]) for v in views],
                     empty="(no schedules)"))
    if total > len(views):
        click.echo(f"\n{len(views)} of {total} shown (--offset {offset}, --limit {limit})")


@schedules.command()
@click.argument("sid", metavar="ID")
@json_option
@ops_command
def show(ops, sid: str, as_json: bool) -> None:
    """A schedule's fields, payload and recent runs (newest first)."""
    view = engine_call(store(ops).get, schedule_id(sid))
    if as_json:
        emit_json(view)
        return
    click.echo(fields(zip([k for k in SHOW_FIELDS if k in view],
                          cells(view, [k for k in SHOW_FIELDS if k in view]))))
    click.echo(f"\npayload: {json.dumps(view.get('payload'))}")
    click.echo("\nrecent runs:")
    click.echo(table(RUN_COLUMNS, [cells(r, RUN_COLUMNS) for r in view.get("recent_runs", [])],
                     empty="(no runs yet)", max_width=80))


def _transition(name: str, verb: str, doc: str):
    @schedules.command(name, help=doc)
    @click.argument("sid", metavar="ID")
    @ops_command
    def command(ops, sid: str) -> None:
        view = engine_call(getattr(store(ops), verb), schedule_id(sid))
        nxt = view.get("next_run_at") or "none"
        click.echo(f"schedule {view['id']} {view['status']} (next run: {nxt})")
    return command


pause = _transition("pause", "pause", "Pause a schedule: no run until it is resumed.")
resume = _transition("resume", "resume", "Resume a paused schedule (missed runs are not made up).")


@schedules.command("run-now")
@click.argument("sid", metavar="ID")
@ops_command
def run_now(ops, sid: str) -> None:
    """One immediate run; the schedule itself is unchanged."""
    sid = schedule_id(sid)
    result = engine_call(store(ops).run_now, sid)
    tasks = ", ".join(result["task_ids"]) or "none"
    click.echo(f"schedule {sid} run {result['run']} {result['outcome']} (tasks: {tasks})")
