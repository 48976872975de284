"""Engine objects in the DTS document's words: workers and log lines (a
task's fields are shared with TaskDriver: api.shared_tasks.serializers)."""

from __future__ import annotations

from datetime import datetime, timezone

from taskq.worker_registry import WorkerInfo

from ...services.labels import is_project_task
from ...shared_tasks.serializers import dts_fields as task_view, task_name

__all__ = ["STATUS_QUERY", "log_view", "task_name", "task_view", "worker_view"]

STATUS_QUERY = {"pending": ("queued", "delayed", "blocked"), "running": ("running",),
                "completed": ("completed",), "failed": ("failed",), "cancelled": ("cancelled",)}
"""DTS status filter -> engine statuses."""


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
