"""Engine objects in the DTS document's words: a task's name, description,
command and checkpoint_enabled live in its meta; statuses queued, delayed
and blocked all read as ``pending``."""

from __future__ import annotations

from datetime import datetime, timezone

from taskq import Task
from taskq.webhooks import PUBLIC_STATUS
from taskq.worker_registry import WorkerInfo

from ...services.labels import is_project_task

STATUS_QUERY = {"pending": ("queued", "delayed", "blocked"), "running": ("running",),
                "completed": ("completed",), "failed": ("failed",), "cancelled": ("cancelled",)}
"""DTS status filter -> engine statuses."""


def _meta(task: Task) -> dict:
    return task.meta if isinstance(task.meta, dict) else {}


def task_name(task: Task) -> str:
    return str(_meta(task).get("name") or task.func or task.id)


def _seconds(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def task_view(task: Task) -> dict:
    meta = _meta(task)
    terminal = task.status in ("completed", "failed", "cancelled")
    return {
        "id": task.id, "name": task_name(task), "description": meta.get("description"),
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


def _dt(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=timezone.utc) if epoch else None


def worker_view(w: WorkerInfo, detail: bool = False, labels: dict[str, str] | None = None) -> dict:
    """``labels``: for a caller without projects:read, each queue's label
    (api.services.labels); a project's task ids are then left out."""
    out = {
        "id": w.id, "hostname": w.hostname, "status": w.status,
        "tasks_completed": w.tasks_completed, "tasks_failed": w.tasks_failed,
        "current_tasks": w.current_tasks, "last_heartbeat": _dt(w.last_heartbeat),
        "registered_at": _dt(w.registered_at), "version": w.version, "tags": w.tags,
        "queues": [labels.get(q, q) for q in w.queues] if labels is not None else w.queues,
    }
    if detail:
        ids = w.current_task_ids
        out["current_task_ids"] = ids if labels is None else [i for i in ids if not is_project_task(i)]
        out["resources"] = w.resources
    return out


def log_view(line: dict) -> dict:
    ts = line.get("ts")
    return {"timestamp": datetime.fromtimestamp(int(ts) / 1000, tz=timezone.utc) if ts else None,
            "level": line.get("level", "info"), "message": str(line.get("message", ""))}
