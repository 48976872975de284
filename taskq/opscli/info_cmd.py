"""``taskq info``: queues, workers, the scheduler leader and Redis at a glance."""

from __future__ import annotations

import time

import click

from .common import json_option, ops_command, queue_callback
from .output import emit_json, fields, iso, table
from .queues_cmd import queue_rows, queue_table


def snapshot(ops, only: tuple[str, ...]) -> dict:
    """Everything ``info`` shows, as plain data (the --json shape)."""
    from taskq import leadership
    from taskq.worker_registry import WorkerRegistry

    names = list(only) if only else ops.queue_names()
    workers = WorkerRegistry(ops.redis, ops.keys).all()
    if only:
        workers = [w for w in workers if set(w.queues) & set(only)]
    server = ops.redis.info("server")
    memory = ops.redis.info("memory")
    return {
        "queues": queue_rows(ops, names),
        "workers": [{"id": w.id, "status": w.status, "queues": w.queues, "kind": w.kind,
                     "hostname": w.hostname, "pid": w.pid,
                     "current_task_ids": w.current_task_ids,
                     "tasks_completed": w.tasks_completed, "tasks_failed": w.tasks_failed,
                     "last_heartbeat": iso(w.last_heartbeat)} for w in workers],
        "scheduler": leadership.status(ops.redis, ops.keys),
        "redis": {"version": server.get("redis_version"),
                  "used_memory": memory.get("used_memory"),
                  "used_memory_human": memory.get("used_memory_human")},
    }


def render(data: dict) -> str:
    workers = table(["worker", "status", "queues", "current tasks", "last heartbeat"],
                    [[w["id"], w["status"], w["queues"], w["current_task_ids"],
                      w["last_heartbeat"]] for w in data["workers"]],
                    empty="(no workers)")
    sched, redis = data["scheduler"], data["redis"]
    return "\n\n".join([
        queue_table(data["queues"]),
        f"{len(data['workers'])} worker{'' if len(data['workers']) == 1 else 's'}\n{workers}",
        fields([("scheduler leader", sched["leader_id"] or "(none)"),
                ("schedulers alive", sched["instance_count"]),
                ("redis", f"{redis['version']}, {redis['used_memory_human']} used")]),
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
