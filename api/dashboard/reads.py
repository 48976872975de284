"""What each dashboard page shows, as plain data (the page's template and
its JSON endpoint read the same dict). Every read goes through the engine
views the API and the CLI already use, through the app's services
(api.services: system for taskq.monitoring.overview as ``taskq info`` shows
it, tasks, projects, schedules, workflows); no read here talks to Redis
itself.
"""

from __future__ import annotations

import json
from typing import Any

from taskq.errors import TaskExpired, TaskNotFound
from taskq.isotime import iso, iso_ms
from taskq.keys import STATUSES, queue_of, valid_queue_name
from taskq.task import Task

from ..errors import ApiError
from ..numbers import NotANumber, parse_int

PAGE_SIZE = 25
MAX_PAGE = 10_000
SEARCH_MAX = 200
LOG_LINES = 200
"""Newest log lines a task page shows."""
CHART_WIDTH, CHART_HEIGHT = 600, 120


def pretty(value: Any) -> str:
    """A stored JSON value as indented text (ASCII-escaped: any stored string is shown safely)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def page_number(raw: str | None) -> int:
    """?page=N: 1 to MAX_PAGE; anything else is a 400 naming the field."""
    if raw in (None, ""):
        return 1
    try:
        return parse_int(raw, 1, MAX_PAGE)
    except NotANumber as e:
        raise ApiError(400, "invalid_page", f"page {e}") from None


def paging(total: int, page: int, size: int = PAGE_SIZE) -> dict:
    pages = max(1, (total + size - 1) // size)
    return {"page": page, "pages": pages, "total": total, "size": size,
            "prev": page - 1 if page > 1 else None, "next": page + 1 if page < pages else None}


# -- overview ---------------------------------------------------------------------
def chart(points: list[dict]) -> dict:
    """Bars per minute (completed up, failed stacked on top) scaled into a
    CHART_WIDTH x CHART_HEIGHT box, and the hour's totals."""
    peak = max((p["completed"] + p["failed"] for p in points), default=0) or 1
    step = CHART_WIDTH / max(1, len(points))
    bars = []
    for i, p in enumerate(points):
        done_h = CHART_HEIGHT * p["completed"] / peak
        fail_h = CHART_HEIGHT * p["failed"] / peak
        bars.append({"x": round(i * step, 2), "w": round(step * 0.8, 2), "minute": p["minute"],
                     "completed": p["completed"], "failed": p["failed"],
                     "done_y": round(CHART_HEIGHT - done_h, 2), "done_h": round(done_h, 2),
                     "fail_y": round(CHART_HEIGHT - done_h - fail_h, 2), "fail_h": round(fail_h, 2)})
    done = sum(p["completed"] for p in points)
    failed = sum(p["failed"] for p in points)
    return {"bars": bars, "width": CHART_WIDTH, "height": CHART_HEIGHT, "peak": peak,
            "completed": done, "failed": failed,
            "failure_rate": round(failed / (done + failed), 4) if done + failed else 0.0}


def overview_page(st) -> dict:
    snap = st.system.overview()
    names = [q["name"] for q in snap["queues"]]
    for q in snap["queues"]:
        q["total"] = sum(q["counts"].values())
    online = [w for w in snap["workers"] if w["status"] != "offline"]
    snap["workers_online"] = len(online)
    snap["workers_busy"] = sum(1 for w in online if w["status"] == "active")
    snap["chart"] = chart(st.system.last_hour(names))
    return snap


# -- queues and tasks ---------------------------------------------------------------
def queues_page(st) -> dict:
    rows = st.system.queue_rows()
    for q in rows:
        q["total"] = sum(q["counts"].values())
    return {"queues": rows, "statuses": list(STATUSES)}


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1][:200] if lines else ""


def task_row(t: Task) -> dict:
    return {"id": t.id, "status": t.status, "func": t.func, "priority": t.priority,
            "attempts": t.attempts, "max_retries": t.max_retries, "worker": t.worker,
            "tags": t.tags if isinstance(t.tags, list) else [],
            "created_at": iso(t.created_at), "finished_at": iso(t.finished_at),
            "error": _first_line(t.error)}


RATE_KEYS_SHOWN = 20
"""Rate keys a queue's page lists (the CLI lists them all)."""


def known_queue(st, name: str) -> str:
    if not valid_queue_name(name) or not st.system.has_queue(name):
        raise ApiError(404, "queue_not_found", f"no queue named {name[:130]!r}")
    return name


def queue_page(st, name: str, status: str | None, page_raw: str | None, search: str | None) -> dict:
    """One queue: counts, then one page of its tasks in a status (or all),
    newest first, or the tasks matching a search (a task id, else a tag)."""
    name = known_queue(st, name)
    if status not in (None, "", "all") and status not in STATUSES:
        raise ApiError(400, "invalid_status", f"status must be one of all, {', '.join(STATUSES)}")
    status = status if status in STATUSES else "all"
    search = (search or "").strip()
    if len(search) > SEARCH_MAX:
        raise ApiError(400, "invalid_search", f"a search is at most {SEARCH_MAX} characters")
    page = page_number(page_raw)
    row = st.system.queue_rows([name])[0]
    found, total, kind = _find_tasks(st, name, status, search, page)
    limits = st.tasks.queue(name).rate_limits()
    return {"queue": row, "status": status, "statuses": list(STATUSES), "search": search,
            "search_kind": kind, "tasks": [task_row(t) for t in found], "paging": paging(total, page),
            "rate_limit": limits["queue"], "key_limits": list(limits["keys"].items())[:RATE_KEYS_SHOWN],
            "key_limits_total": len(limits["keys"])}


def _find_tasks(st, queue: str, status: str, search: str, page: int) -> tuple[list[Task], int, str | None]:
    statuses = [] if status == "all" else [status]
    offset = (page - 1) * PAGE_SIZE
    if search:
        for candidate in (search, f"{queue}:{search}"):
            try:
                if queue_of(candidate) != queue:
                    continue
            except ValueError:
                continue
            task = st.tasks.queue(queue).get(candidate)
            if task is not None:
                hit = not statuses or task.status in statuses
                return ([task] if hit and page == 1 else []), int(hit), "id"
        tasks, total = st.tasks.search(queue, statuses, tag=search, offset=offset, limit=PAGE_SIZE)
        return tasks, total, "tag"
    tasks, total = st.tasks.search(queue, statuses, offset=offset, limit=PAGE_SIZE)
    return tasks, total, None


def task_page(st, task_id: str) -> dict:
    try:
        task = st.tasks.get(task_id)
    except TaskExpired as gone:
        raise ApiError(404, "task_expired", f"this task {gone.status} and was removed by "
                       "retention") from None
    except TaskNotFound:
        raise ApiError(404, "task_not_found", "no task with this id") from None
    q = st.tasks.queue(task.queue)
    log_total = q.log_count(task.id)
    logs = q.logs(task.id, max(0, log_total - LOG_LINES), LOG_LINES)
    events = st.tasks.timeline(task)
    d = task.to_dict()
    meta = d["meta"] if isinstance(d["meta"], dict) else {}
    return {
        "task": {**task_row(task), "queue": task.queue, "error": task.error,
                 "scheduled_at": iso(task.scheduled_at), "started_at": iso(task.started_at),
                 "updated_at": iso(task.updated_at), "leased_at": iso(task.leased_at),
                 "lease_expires_at": iso(task.lease_expires_at) if task.status == "running" else None,
                 "lease_seconds": task.lease_seconds, "timeout": task.timeout,
                 "retries": task.retries, "backoff": task.backoff,
                 "dependencies": d["dependencies"], "dependency_policy": d["dependency_policy"],
                 "dedupe_key": d["dedupe_key"], "concurrency_key": d["concurrency_key"],
                 "rate_key": d["rate_key"],
                 "cancel_requested": d["cancel_requested"],
                 "args": pretty(d["args"]), "kwargs": pretty(d["kwargs"]), "meta": pretty(d["meta"]),
                 "result": pretty(d["result"]) if d["result"] is not None else None,
                 "checkpoint": pretty(d["checkpoint"]) if d["checkpoint"] is not None else None,
                 "workflow": meta.get("workflow") if isinstance(meta.get("workflow"), str) else None},
        "logs": [{"ts": iso_ms(line.get("ts")),
                  "level": str(line.get("level", "")), "message": str(line.get("message", ""))}
                 for line in logs],
        "log_total": log_total,
        "timeline": {"events": events.events, "truncated": events.truncated, "trimmed": events.trimmed},
    }


# -- workers ------------------------------------------------------------------------
def workers_page(st) -> dict:
    rows = st.system.worker_rows()
    return {"workers": rows, "online": sum(1 for w in rows if w["status"] != "offline")}


# -- schedules ----------------------------------------------------------------------
def schedules_page(st, page_raw: str | None) -> dict:
    page = page_number(page_raw)
    views, total = st.schedules.store.list(limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return {"schedules": views, "paging": paging(total, page)}


def schedule_page(st, sid: str) -> dict:
    return {"schedule": st.schedules.store.get(sid)}


# -- workflows ----------------------------------------------------------------------
WORKFLOW_STATUSES = ("pending", "in_progress", "complete", "error", "cancelled")


def workflows_page(st, status: str | None, page_raw: str | None) -> dict:
    if status not in (None, "", "all") and status not in WORKFLOW_STATUSES:
        raise ApiError(400, "invalid_status", f"status must be one of all, {', '.join(WORKFLOW_STATUSES)}")
    status = status if status in WORKFLOW_STATUSES else "all"
    page = page_number(page_raw)
    found, total = st.workflows.list(namespace=None, name=None, version=None,
                                     status=None if status == "all" else status,
                                     page=page, per_page=PAGE_SIZE)
    rows = [{"id": wf["id"], "handler": wf["full_name"], "status": wf["status"],
             "created_at": wf["created_at"], "updated_at": wf["updated_at"], "steps": len(wf["steps"]),
             "steps_done": sum(s["status"] in ("complete", "skipped") for s in wf["steps"])}
            for wf in found]
    return {"workflows": rows, "status": status, "statuses": list(WORKFLOW_STATUSES),
            "paging": paging(total, page)}


def workflow_page(st, workflow_id: str) -> dict:
    if not isinstance(workflow_id, str) or not 1 <= len(workflow_id) <= 64:
        raise ApiError(404, "workflow_not_found", "no workflow with this id")
    wf = st.workflows.get(workflow_id)
    return {"workflow": wf, "mermaid": mermaid_source(wf)}


def mermaid_source(wf: dict) -> str:
    """The workflow as Mermaid flowchart text (taskq.workflows.diagram, the
    Tasker diagram's own) without its click links, which lead to the Tasker
    API (the steps table links each step's dashboard page)."""
    from taskq.workflows.diagram import mermaid, task_diagram

    lines = mermaid(task_diagram(wf)).splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("click ")) + "\n"


# -- TaskDriver projects --------------------------------------------------------------
def projects_page(st) -> dict:
    projects, _ = st.projects.list(status="all", limit=1000)
    counts = st.project_tasks.counts_many([p.id for p in projects])
    rows = []
    for p in projects:
        leases = st.projects.leases(p.id)
        agents: dict[str, list[dict]] = {}
        for lease in leases:
            agents.setdefault(lease["agent"], []).append({
                "task_id": lease["task_id"],
                "expires_at": iso_ms(lease["expires_ms"])})
        rows.append({"id": p.id, "name": p.name, "status": p.status, "queue": p.queue,
                     "counts": counts[p.id], "available": st.projects.available(p.id),
                     "lease_minutes": p.lease_minutes,
                     "agents": [{"name": a, "leases": ls} for a, ls in sorted(agents.items())]})
    return {"projects": rows, "statuses": list(STATUSES)}
