"""DTS workers: /api/workers, read from the engine's worker registry."""

from __future__ import annotations

from ...auth import current_principal, secured
from ...blueprint import Blueprint
from ...envelope import ok, page_meta
from ...errors import ApiError
from ...schemas import PageMetaSchema, envelope
from ...services.labels import is_project_task
from ...app_state import state
from .schemas_workers import (WorkerDetailSchema, WorkerListArgsSchema, WorkerSchema,
                              WorkerTaskArgsSchema, WorkerTaskSchema)
from .serializers import STATUS_QUERY, task_name, task_view, worker_view

blp = Blueprint("Workers", __name__, description="Workers: who runs tasks, and what they hold")


def _sees_projects() -> bool:
    """Project ids are capabilities: only projects:read may see them."""
    p = current_principal()
    return p is not None and p.allows("projects:read")


def _labels(workers) -> dict[str, str] | None:
    """None when the caller may see project ids; else every queue's label."""
    if _sees_projects():
        return None
    return state().labels.of(sorted({q for w in workers for q in w.queues}))


def _worker(worker_id: str):
    w = state().workers.get(worker_id)
    if w is None:
        raise ApiError(404, "not_found", f"worker {worker_id} not found")
    return w


@blp.route("/workers", methods=["GET"])
@secured("workers:read")
@blp.arguments(WorkerListArgsSchema, location="query")
@blp.response(200, envelope(WorkerSchema, True, PageMetaSchema))
def list_workers(args):
    """List workers, most recently heard from first."""
    page, limit = args["page"], args["limit"]
    workers = state().workers.all(args.get("status"))
    chunk = workers[(page - 1) * limit: page * limit]
    labels = _labels(chunk)
    return ok([worker_view(w, labels=labels) for w in chunk], page_meta(page, limit, len(workers)))


@blp.route("/workers/<worker_id>", methods=["GET"])
@secured("workers:read")
@blp.response(200, envelope(WorkerDetailSchema))
def get_worker(worker_id):
    """One worker, with the ids of the tasks it holds and its resource use."""
    w = _worker(worker_id)
    return ok(worker_view(w, detail=True, labels=_labels([w])))


@blp.route("/workers/<worker_id>/tasks", methods=["GET"])
@secured("workers:read")
@blp.arguments(WorkerTaskArgsSchema, location="query")
@blp.response(200, envelope(WorkerTaskSchema, True, PageMetaSchema))
def worker_tasks(args, worker_id):
    """Tasks the worker holds now, and recent ones it finished."""
    w = _worker(worker_id)
    statuses = STATUS_QUERY[args["status"]] if args.get("status") else None
    tasks = state().tasks.by_worker(w.id, w.queues, w.current_task_ids, statuses)
    if not _sees_projects():
        tasks = [t for t in tasks if not is_project_task(t.id)]
    tasks.sort(key=lambda t: (t.started_at is None, -(t.started_at.timestamp() if t.started_at else 0)))
    page, limit = args["page"], args["limit"]
    rows = []
    for t in tasks[(page - 1) * limit: page * limit]:
        v = task_view(t)
        rows.append({"id": t.id, "name": task_name(t), "status": v["status"], "priority": t.priority,
                     "started_at": t.started_at, "completed_at": v["completed_at"]})
    return ok(rows, page_meta(page, limit, len(tasks)))
