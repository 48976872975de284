"""What an operator looks at first, read once for every view of it:
``taskq info`` (taskq.cli.info_cmd) and the dashboard's overview
(api.dashboard) both call :func:`snapshot`.

Queues with their counts by status and paused flag, workers, the
scheduler leader, Redis's version and memory, the schedules due next and
the workflows in flight; :func:`last_hour` adds the per-minute completed
and failed counts of the engine's series (taskq.monitoring.series reads them).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from .. import leadership, lua
from . import latency, series
from ..isotime import iso
from ..keys import STATUSES, Keys, ScheduleKeys
from ..maintenance import queue_names
from ..worker_registry import WorkerInfo, WorkerRegistry

SCHEDULES_DUE = 5
"""Schedules ``snapshot`` lists, soonest first."""
WORKFLOWS_IN_FLIGHT = 10
"""Workflows ``snapshot`` lists (pending or in progress), newest first."""
CHART_MINUTES = 60


def queue_rows(redis, keys: Keys, names: Sequence[str],
               found: Sequence[WorkerInfo] | None = None) -> list[dict]:
    """Each queue's name, paused flag, task counts by status (a task
    parked behind a full concurrency key counts as queued), latency in
    seconds and whether a live worker serves it (taskq.monitoring.latency: counts alone
    hide a queue nobody serves); one round trip, and one to the worker
    registry unless ``found`` (its entries) is given."""
    pipe = redis.pipeline(transaction=False)
    for name in names:
        qk = keys.queue(name)
        pipe.hget(qk.meta, "paused")
        for s in STATUSES:
            pipe.zcard(qk.status_index(s))
    latency.add_reads(pipe, keys, names)
    replies = lua.execute(pipe) if names else []
    per = 1 + len(STATUSES)
    out = []
    for i, name in enumerate(names):
        row = replies[i * per:(i + 1) * per]
        out.append({"name": name, "paused": row[0] in ("1", b"1"),
                    "counts": dict(zip(STATUSES, (int(n) for n in row[1:])))})
    found = WorkerRegistry(redis, keys).all() if found is None else found
    waits = latency.shown(latency.take_reads(names, replies[len(names) * per:]), found)
    for row in out:
        row.update(waits[row["name"]])
    return out


def worker_row(w: WorkerInfo) -> dict:
    return {"id": w.id, "status": w.status, "queues": w.queues, "kind": w.kind,
            "hostname": w.hostname, "pid": w.pid, "current_task_ids": w.current_task_ids,
            "tasks_completed": w.tasks_completed, "tasks_failed": w.tasks_failed,
            "cpu_usage": w.resources.get("cpu_usage"), "memory_usage": w.resources.get("memory_usage"),
            "version": w.version, "registered_at": iso(w.registered_at),
            "last_heartbeat": iso(w.last_heartbeat)}


def workers(redis, keys: Keys, only: Sequence[str] = (),
            found: Sequence[WorkerInfo] | None = None) -> list[dict]:
    """Known workers, most recently heard from first (those serving one of
    ``only`` when given)."""
    found = WorkerRegistry(redis, keys).all() if found is None else list(found)
    if only:
        found = [w for w in found if set(w.queues) & set(only)]
    return [worker_row(w) for w in found]


def redis_info(redis) -> dict:
    server, memory = redis.info("server"), redis.info("memory")
    return {"version": server.get("redis_version"), "used_memory": memory.get("used_memory"),
            "used_memory_human": memory.get("used_memory_human"),
            "maxmemory": memory.get("maxmemory") or None}


def schedules_due(redis, prefix: str, limit: int = SCHEDULES_DUE) -> list[dict]:
    """The active timed schedules that fire next: id, title, kind, next run."""
    sk = ScheduleKeys(prefix)
    due = redis.zrange(sk.due, 0, limit - 1, withscores=True)
    pipe = redis.pipeline(transaction=False)
    for sid, _ in due:
        pipe.hmget(sk.schedule(sid), ["title", "schedule_kind", "schedule_expr", "timezone"])
    out = []
    for (sid, at), (title, kind, expr, tz) in zip(due, pipe.execute() if due else []):
        if title is None:
            continue
        out.append({"id": sid, "title": title, "schedule_kind": kind, "schedule_expr": expr,
                    "timezone": tz, "next_run_at": iso(at / 1000)})
    return out


def workflows_in_flight(redis, prefix: str, limit: int = WORKFLOWS_IN_FLIGHT) -> dict:
    """Workflows not finished, newest first: {"total", "workflows": [...]},
    each with its handler, status and steps done out of all."""
    from ..workflows import list_workflows

    rows, total = [], 0
    for status in ("in_progress", "pending"):
        page, n = list_workflows(redis, status=status, limit=max(0, limit - len(rows)), prefix=prefix)
        total += n
        rows += page
    return {"total": total, "workflows": [{
        "id": wf["id"], "handler": wf["full_name"], "status": wf["status"],
        "created_at": wf["created_at"],
        "steps_done": sum(s["status"] in ("complete", "skipped") for s in wf["steps"]),
        "steps": len(wf["steps"])} for wf in rows]}


def snapshot(redis, prefix: str, only: Sequence[str] = ()) -> dict[str, Any]:
    """Everything ``taskq info`` shows, as plain data (its --json shape)."""
    keys = Keys(prefix)
    names = list(only) if only else queue_names(redis, keys)
    found = WorkerRegistry(redis, keys).all()
    return {
        "queues": queue_rows(redis, keys, names, found),
        "workers": workers(redis, keys, only, found),
        "scheduler": leadership.status(redis, keys),
        "redis": redis_info(redis),
        "schedules_due": schedules_due(redis, prefix),
        "workflows_in_flight": workflows_in_flight(redis, prefix),
    }


def last_hour(redis, keys: Keys, names: Sequence[str], now: float | None = None,
              minutes: int = CHART_MINUTES) -> list[dict]:
    """Completed and failed tasks per minute over the last ``minutes``,
    oldest first, summed over ``names``: [{minute (ISO), completed, failed}]."""
    last = series.bucket_of(series.MINUTE, time.time() if now is None else now)
    buckets = range(last - minutes + 1, last + 1)
    counts = series.read(redis, [keys.queue(n).series for n in names], series.MINUTE, buckets,
                         ("completed", "failed"))
    return [{"minute": iso(b * 60), "completed": counts.get((b, "completed"), 0),
             "failed": counts.get((b, "failed"), 0)} for b in buckets]
