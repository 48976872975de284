"""``taskq info``: queues, workers, the scheduler leader, Redis, the
schedules due next and the workflows in flight, at a glance."""

from __future__ import annotations

import time

import click

from .common import json_option, ops_command, queue_callback
from .output import emit_json, fields, table
from .queues_cmd import queue_table


def snapshot(ops, only: tuple[str, ...]) -> dict:
    """Everything ``info`` shows, as plain data (the --json shape; taskq.monitoring.overview)."""
    from taskq.monitoring.overview import snapshot as read

    return read(ops.redis, ops.prefix, only)


def render(data: dict) -> str:
    workers = table(["worker", "status", "queues", "current tasks", "last heartbeat"],
                    [[w["id"], w["status"], w["queues"], w["current_task_ids"],
                      w["last_heartbeat"]] for w in data["workers"]],
                    empty="(no workers)")
    sched, redis = data["scheduler"], data["redis"]
    due = table(["schedule", "title", "kind", "next run"],
                [[s["id"], s["title"], s["schedule_kind"], s["next_run_at"]]
                 for s in data["schedules_due"]], empty="(no schedules due)")
    flight = data["workflows_in_flight"]
    workflows = table(["workflow", "handler", "status", "steps done", "created"],
                      [[w["id"], w["handler"], w["status"], f"{w['steps_done']}/{w['steps']}",
                        w["created_at"]] for w in flight["workflows"]], empty="(none)")
    shown = len(flight["workflows"])
    more = f" (newest {shown} shown)" if flight["total"] > shown else ""
    return "\n\n".join([
        queue_table(data["queues"]),
        f"{len(data['workers'])} worker{'' if len(data['workers']) == 1 else 's'}\n{workers}",
        fields([("scheduler leader", sched["leader_id"] or "(none)"),
                ("schedulers alive", sched["instance_count"]),
                ("redis", f"{redis['version']}, {redis['used_memory_human']} used")]),
        f"schedules due next\n{due}",
        f"{flight['total']} workflow{'' if flight['total'] == 1 else 's'} in flight{more}\n{workflows}",
    ])


@click.command()
@click.option("--queue", "-q", "only", multiple=True, callback=queue_callback,
              help="Only this queue (repeatable).")
@click.option("--interval", "-i", type=click.FloatRange(min=0.1), default=None,
              help="Refresh every N seconds until Ctrl-C.")
@click.option("--count", type=click.IntRange(min=1), default=None, hidden=True,
              help="Stop after this many refreshes (tests).")
@json_option
@ops_command
def info(ops, only, interval: float | None, count: int | None, as_json: bool) -> None:
    """Queues with counts by status, workers, the scheduler leader, Redis.

    With --interval the screen is redrawn in place (with --json: one JSON
    document per line, per refresh).
    """
    shown = 0
    try:
        while True:
            data = snapshot(ops, only)
            if as_json:
                emit_json(data)
            else:
                if interval is not None:
                    click.clear()
                    click.echo(f"taskq info, every {interval:g} s (Ctrl-C to stop)\n")
                click.echo(render(data))
            shown += 1
            if interval is None or (count is not None and shown >= count):
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
