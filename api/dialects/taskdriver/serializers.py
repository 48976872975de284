"""Engine objects in the TaskDriver document's words.

A TaskDriver task is an engine task of a project's queue whose meta holds
projectId, typeId, instructions, variables and batchId; its status words are
queued (queued, delayed or blocked in the engine), running, completed and
failed (failed or cancelled). The engine result of a task completed over
REST is ``{"result": ..., "outputs": {...}}``.

/api/tasks/{id} answers the union of both dialects' fields. Where both name
a field (status, result, error) the task's own dialect gives the value: a
task of a project queue reads as TaskDriver, any other as DTS.
"""

from __future__ import annotations

import uuid
from typing import Any

from taskq import Task
from taskq.projects import Project, project_of_queue
from taskq.task import ms_to_dt
from taskq.task_types import TaskType

from ..dts.serializers import task_view as dts_task_view
from ...envelope import iso

STATUS = {"queued": "queued", "delayed": "queued", "blocked": "queued", "running": "running",
          "completed": "completed", "failed": "failed", "cancelled": "failed"}
"""Engine status -> TaskDriver status."""
STATUS_QUERY = {"queued": ("queued", "delayed", "blocked"), "running": ("running",),
                "completed": ("completed",), "failed": ("failed", "cancelled")}
"""TaskDriver status filter -> engine statuses."""
NO_TASKS = "No tasks available for assignment"


def canonical_id(value: str) -> str:
    """A UUID from a path as stored (canonical lower case); other text as given."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return value


def ms_iso(ms: int | None) -> str | None:
    return iso(ms_to_dt(ms)) if ms else None


def is_td_task(task: Task) -> bool:
    return project_of_queue(task.queue) is not None


def split_result(value: Any) -> tuple[Any, dict]:
    """The engine result -> (result, outputs)."""
    if isinstance(value, dict) and set(value) <= {"result", "outputs"} and value:
        outputs = value.get("outputs")
        return value.get("result"), outputs if isinstance(outputs, dict) else {}
    return value, {}


def task_view(task: Task) -> dict:
    meta = task.meta if isinstance(task.meta, dict) else {}
    status = task.status
    result, outputs = split_result(task.result) if status == "completed" else (None, None)
    ended = ms_iso(task.raw.get("finished"))
    return {
        "id": task.id,
        "projectId": meta.get("projectId") or project_of_queue(task.queue),
        "typeId": meta.get("typeId"),
        "instructions": meta.get("instructions"),
        "variables": meta.get("variables") or {},
        "status": STATUS.get(status, status),
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
    dts, td = dts_task_view(task), task_view(task)
    return {**dts, **td} if is_td_task(task) else {**td, **dts}


def stats_view(counts: dict[str, int]) -> dict:
    return {
        "totalTasks": sum(counts.values()),
        "completedTasks": counts.get("completed", 0),
        "failedTasks": counts.get("failed", 0) + counts.get("cancelled", 0),
        "queuedTasks": sum(counts.get(s, 0) for s in STATUS_QUERY["queued"]),
        "runningTasks": counts.get("running", 0),
    }


def project_view(p: Project, counts: dict[str, int]) -> dict:
    return {
        "id": p.id, "name": p.name, "description": p.description,
        "instructions": p.instructions, "status": p.status,
        "createdAt": ms_iso(p.created_ms), "updatedAt": ms_iso(p.updated_ms),
        "config": {"defaultMaxRetries": p.max_retries,
                   "defaultLeaseDurationMinutes": p.lease_minutes,
                   "reaperIntervalMinutes": p.reaper_minutes},
        "stats": stats_view(counts),
    }


def type_view(t: TaskType, project: Project | None = None) -> dict:
    """A task type; maxRetries and leaseDurationMinutes show the values its
    tasks get (its own, else its project's default)."""
    return {
        "id": t.id, "name": t.name, "projectId": t.project_id, "template": t.template,
        "variables": t.variables, "duplicateHandling": t.duplicate_handling,
        "maxRetries": t.retries_for(project) if project else t.max_retries,
        "leaseDurationMinutes": t.lease_for(project) if project else t.lease_minutes,
        "createdAt": ms_iso(t.created_ms), "updatedAt": ms_iso(t.updated_ms),
    }


def agent_view(lease: dict) -> dict:
    return {"agentName": lease["agent"], "taskId": lease["task_id"],
            "assignedAt": ms_iso(lease["leased_ms"]), "leaseExpiresAt": ms_iso(lease["expires_ms"]),
            "status": "running"}


def session_view(s) -> dict:
    return {"sessionId": s.id, "agentName": s.agent, "projectId": s.project_id,
            "createdAt": ms_iso(s.created_ms), "expiresAt": ms_iso(s.expires_ms),
            "lastActivity": ms_iso(s.last_activity_ms)}
