"""One engine task in each dialect's words, and their union.

DTS: a task's name, description, command and checkpoint_enabled live in its
meta; statuses queued, delayed and blocked all read as ``pending``.
TaskDriver: a task of a project's queue whose meta holds projectId, typeId,
instructions, variables and batchId; its statuses are queued (queued,
delayed or blocked), running, completed and failed (failed or cancelled);
a task completed over REST has the engine result ``{"result", "outputs"}``.

/api/tasks/{id} answers the union. Where both name a field (status, result,
error) the task's own dialect gives the value: a task of a project queue
reads as TaskDriver, any other as DTS.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from taskq import Task
from taskq.isotime import iso_ms
from taskq.projects.store import project_of_queue
from taskq.webhooks.store import PUBLIC_STATUS

from ..envelope import ok
from ..schemas import FlatDump
from .schemas import UnionTaskSchema

TD_STATUS = {"queued": "queued", "delayed": "queued", "blocked": "queued", "running": "running",
             "completed": "completed", "failed": "failed", "cancelled": "failed"}
"""Engine status -> TaskDriver status."""
DTS_META_FIELDS = ("name", "description", "command", "checkpoint_enabled")
"""DTS fields kept in the engine task's meta."""
DTS_RENAMES = {"priority": "priority", "max_retries": "max_retries", "scheduled_at": "scheduled_at",
               "timeout_seconds": "timeout", "tags": "tags", "dependencies": "depends_on",
               "rate_key": "rate_key"}
"""DTS field -> Queue.enqueue / Queue.update option."""
_UNION_DUMP = FlatDump(UnionTaskSchema)


def engine_options(body: dict) -> dict:
    """DTS fields -> Queue.enqueue / Queue.update options."""
    out = {}
    meta = {k: body[k] for k in DTS_META_FIELDS if k in body}
    if meta:
        out["meta"] = meta
    out.update({engine: body[dts] for dts, engine in DTS_RENAMES.items() if dts in body})
    return out


def _meta(task: Task) -> dict:
    meta = task.meta
    return meta if isinstance(meta, dict) else {}


def task_name(task: Task, meta: dict | None = None) -> str:
    return str((_meta(task) if meta is None else meta).get("name") or task.func or task.id)


def _seconds(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


ms_iso = iso_ms


def is_td_task(task: Task) -> bool:
    return project_of_queue(task.queue) is not None


def split_result(value: Any) -> tuple[Any, dict]:
    """The engine result -> (result, outputs)."""
    if isinstance(value, dict) and set(value) <= {"result", "outputs"} and value:
        outputs = value.get("outputs")
        return value.get("result"), outputs if isinstance(outputs, dict) else {}
    return value, {}


def dts_fields(task: Task) -> dict:
    meta = _meta(task)
    terminal = task.status in ("completed", "failed", "cancelled")
    return {
        "id": task.id, "name": task_name(task, meta), "description": meta.get("description"),
        "command": meta.get("command"), "status": PUBLIC_STATUS.get(task.status, task.status),
        "priority": task.priority, "retry_count": task.retries, "max_retries": task.max_retries,
        "created_at": task.created_at, "updated_at": task.updated_at,
        "scheduled_at": task.scheduled_at, "started_at": task.started_at,
        "completed_at": task.finished_at if terminal else None,
        "timeout_seconds": _seconds(task.timeout), "tags": task.tags,
        "dependencies": task.dependencies, "worker_id": task.worker,
        "result": task.result, "error": task.error, "checkpoint_data": task.checkpoint,
        "checkpoint_enabled": bool(meta.get("checkpoint_enabled", False)),
        "cancel_requested": task.cancel_requested,
    }


def td_fields(task: Task) -> dict:
    meta = _meta(task)
    status = task.status
    result, outputs = split_result(task.result) if status == "completed" else (None, None)
    ended = ms_iso(task.raw.get("finished"))
    return {
        "id": task.id,
        "projectId": meta.get("projectId") or project_of_queue(task.queue),
        "typeId": meta.get("typeId"),
        "instructions": meta.get("instructions"),
        "variables": meta.get("variables") or {},
        "status": TD_STATUS.get(status, status),
        "assignedTo": task.worker,
        "assignedAt": ms_iso(task.raw.get("leased")) if task.worker else None,
        "leaseExpiresAt": ms_iso(task.raw.get("expires")) if status == "running" else None,
        "createdAt": ms_iso(task.raw.get("created")),
        "updatedAt": ms_iso(task.raw.get("updated")),
        "completedAt": ended if status == "completed" else None,
        "failedAt": ended if status in ("failed", "cancelled") else None,
        "batchId": meta.get("batchId"),
        "result": result,
        "outputs": outputs,
        "error": task.error,
        "retryCount": task.retries,
        "maxRetries": task.max_retries,
        "priority": task.priority,
    }


def union_view(task: Task) -> dict:
    """Both dialects' fields; the task's own dialect wins where they share a name."""
    dts, td = dts_fields(task), td_fields(task)
    return {**dts, **td} if is_td_task(task) else {**td, **dts}


def union_response(task: Task, status: int = 200):
    """The answer of a route documented as ``envelope(UnionTaskSchema)``, built
    without marshmallow's dump machinery (api.schemas.FlatDump: the same body)."""
    return jsonify(ok(_UNION_DUMP(union_view(task)))), status
